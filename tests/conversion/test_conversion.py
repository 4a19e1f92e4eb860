"""Conversion as institutions and learners use it: rules, requests, decisions, caps, progress."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from creditbank.audit import audit
from creditbank.conversion.models import Conversion
from creditbank.ledger.models import Lot
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in

TODAY = date.today()


@pytest.fixture
def world(client):
    hc = institution(client, "HCZCEC", "皇城镇社区教育中心")
    for i, title in enumerate(["春季蔬菜田间管理培训", "大棚套种技术", "秋季西红柿种植"]):
        outcome(
            client,
            hc,
            f"HC-AGRI-{i}",
            title_zh=title,
            category="community",
            level=2,
            credits=1.5,
            validity_years=5,
        )
    yc = institution(client, "YCCEC", "永川区社区教育学院")
    outcome(
        client,
        yc,
        "YC-NANNY",
        title_zh="家政育婴师培训",
        title_en="Domestic nanny training",
        category="vocational_certificate",
        level=4,
        credits=2,
    )
    ou = institution(client, "CQOUYC", "重庆开放大学永川分校")
    outcome(
        client,
        ou,
        "OU-AGRI",
        title_zh="现代农业技术基础",
        title_en="Modern agricultural technology",
        category="academic",
        level=5,
        credits=2,
    )
    outcome(
        client,
        ou,
        "OU-PRESCHOOL",
        title_zh="学前教育学",
        title_en="Preschool education",
        category="academic",
        level=5,
        credits=3,
    )
    person = learner(client, hc, name="赵大山")
    me = signed_in(client, person, "12345678")
    return {"hc": hc, "yc": yc, "ou": ou, "person": person, "me": me}


def post(client, world, code, who="hc", **fields):
    r = client.post(
        "/api/v1/completions",
        json=completion_body(world["person"]["account_no"], code, **fields),
        headers=world[who],
    )
    assert r.status_code == 201, r.text
    return r.json()


def rule(client, headers, **fields):
    body = {
        "code": "AGRI-3",
        "name_zh": "社区农业学分转现代农业技术基础",
        "name_en": "Community farming to modern agriculture",
        "target_outcome_code": "OU-AGRI",
        "credits": 2,
        "source": {"credits": {"category": "community", "min_level": 2, "amount": 3, "within_years": 5}},
        "effective_from": (TODAY - timedelta(days=30)).isoformat(),
    } | fields
    return client.post("/api/v1/conversion-rules", json=body, headers=headers)


def approved(client, headers, **fields) -> dict:
    r = rule(client, headers, **fields)
    assert r.status_code == 201, r.text
    a = client.post(f"/api/v1/conversion-rules/{r.json()['id']}/approve", headers=OPERATOR)
    assert a.status_code == 200 and a.json()["state"] == "approved"
    return a.json()


def balance(client, world) -> dict:
    return client.get("/api/v1/me/balance", headers=world["me"]).json()


class TestRules:
    def test_rule_for_another_institutions_outcome_is_refused(self, client, world):
        r = rule(client, world["hc"], target_outcome_code="CQOUYC:OU-AGRI")
        assert r.status_code == 403 and r.json()["code"] == "rule_target_not_owned"

    def test_cycle_is_refused(self, client, world):
        approved(
            client,
            world["ou"],
            code="NANNY",
            target_outcome_code="OU-PRESCHOOL",
            credits=3,
            source={"all_of": ["YCCEC:YC-NANNY"]},
        )
        back = rule(
            client,
            world["yc"],
            code="BACK",
            target_outcome_code="YC-NANNY",
            credits=2,
            source={"all_of": ["CQOUYC:OU-PRESCHOOL"]},
        )
        assert back.status_code == 422 and back.json()["code"] == "rule_cycle"
        # The refusal names the loop so the clerk can see which rule closes it.
        assert "YCCEC:YC-NANNY" in back.json()["title"] and "CQOUYC:OU-PRESCHOOL" in back.json()["title"]

    def test_a_bare_source_code_is_the_proposers_own_outcome(self, client, world):
        """SPEC §4: other institutions' outcomes are INSTITUTION:CODE; a bare CODE is the caller's
        own — as in a qualification's requirements."""
        r = rule(client, world["ou"], source={"any_n_of": {"n": 1, "outcomes": ["OU-PRESCHOOL"]}})
        assert r.status_code == 201, r.text
        assert r.json()["source"] == {"any_n_of": {"n": 1, "outcomes": ["CQOUYC:OU-PRESCHOOL"]}}
        r = rule(client, world["ou"], code="AGRI-4", source={"all_of": ["OU-PRESCHOOL"]})
        assert r.status_code == 201, r.text
        assert r.json()["source"] == {"all_of": ["CQOUYC:OU-PRESCHOOL"]}
        # Not another institution's outcome of that code: HC-AGRI-0 is 皇城镇's, not the proposer's.
        r = rule(client, world["ou"], code="AGRI-5", source={"all_of": ["HC-AGRI-0"]})
        assert r.status_code == 404 and r.json()["code"] == "outcome_not_found"

    def test_unknown_source_outcome_and_missing_credits(self, client, world):
        r = rule(client, world["ou"], source={"all_of": ["YCCEC:NOPE"]})
        assert r.status_code == 404 and r.json()["code"] == "outcome_not_found"
        r = rule(client, world["ou"], credits=None)
        assert r.status_code == 422 and r.json()["code"] == "credits_or_ratio_required"

    def test_rules_are_public_once_approved(self, client, world):
        rule(client, world["ou"])
        assert client.get("/api/v1/conversion-rules").json() == []
        approved(client, world["ou"], code="AGRI-2")
        listed = client.get("/api/v1/conversion-rules").json()
        assert [(r["code"], r["state"], r["source"]["credits"]["amount"]) for r in listed] == [
            ("AGRI-2", "approved", 3.0)
        ]

    def test_item14_proposed_rules_are_seen_only_by_their_owner_and_the_operator(self, client, world):
        """Issue 9 item 14: drafts are not public. Anonymous callers, learners and other
        institutions see no proposed rule; the owner sees its own, the operator all."""
        rule(client, world["ou"], code="OU-DRAFT")
        rule(client, world["yc"], code="YC-DRAFT", target_outcome_code="YC-NANNY")

        def proposed(headers=None):
            r = client.get("/api/v1/conversion-rules?state=proposed", headers=headers or {})
            assert r.status_code == 200, r.text
            return sorted(x["code"] for x in r.json())

        assert proposed() == []
        assert proposed({"Authorization": "Bearer nonsense"}) == []
        assert proposed(world["me"]) == []
        assert proposed(world["hc"]) == []
        assert proposed(world["ou"]) == ["OU-DRAFT"]
        assert proposed(world["yc"]) == ["YC-DRAFT"]
        assert proposed(OPERATOR) == ["OU-DRAFT", "YC-DRAFT"]

    def test_a_new_version_replaces_the_old_on_approval(self, client, world):
        first = approved(client, world["ou"])
        second = approved(client, world["ou"], credits=2.5)
        assert (first["version"], second["version"]) == (1, 2)
        assert [r["version"] for r in client.get("/api/v1/conversion-rules").json()] == [2]


class TestEligibility:
    def test_explains_what_is_missing(self, client, world):
        approved(client, world["ou"])
        post(client, world, "HC-AGRI-0")
        [option] = client.get("/api/v1/me/conversion-options", headers=world["me"]).json()
        assert option["eligible"] is False
        assert option["missing"] == [
            {
                "zh": "还差 1.5 个社区教育学分（等级 ≥ 2）",
                "en": "still need 1.5 community credits (level ≥ 2)",
            }
        ]

    def test_not_yet_effective_rule_cannot_be_applied(self, client, world):
        approved(client, world["ou"], effective_from=(TODAY + timedelta(days=10)).isoformat())
        post(client, world, "HC-AGRI-0")
        post(client, world, "HC-AGRI-1")
        r = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
        assert r.status_code == 409 and r.json()["code"] == "rule_not_available"

    def test_unapproved_rule_is_not_available(self, client, world):
        proposed = rule(client, world["ou"]).json()
        r = client.post("/api/v1/me/conversions", json={"rule_id": proposed["id"]}, headers=world["me"])
        assert r.status_code == 409 and r.json()["code"] == "rule_not_available"

    def test_lots_of_another_learner_are_refused(self, client, world):
        approved(client, world["ou"])
        other = learner(client, world["hc"], name="钱小花")
        theirs = client.post(
            "/api/v1/completions", json=completion_body(other["account_no"], "HC-AGRI-0"), headers=world["hc"]
        ).json()
        with client.app.state.db.reader() as session:
            lot_id = session.execute(select(Lot.id).where(Lot.completion_id == theirs["id"])).scalar_one()
        r = client.post(
            "/api/v1/me/conversions", json={"rule_code": "AGRI-3", "lot_ids": [lot_id]}, headers=world["me"]
        )
        assert r.status_code == 403 and r.json()["code"] == "lot_not_yours"


class TestRequestAndDecide:
    def _ready(self, client, world):
        approved(client, world["ou"])
        for i in range(3):
            post(client, world, f"HC-AGRI-{i}")

    def test_request_locks_approval_consumes_partially_and_deposits(self, client, world, db):
        self._ready(client, world)
        r = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
        assert r.status_code == 201 and r.json()["state"] == "pending"
        assert sorted(x["credits"] for x in r.json()["locked"]) == [1.5, 1.5]
        assert balance(client, world)["convertible"] == 1.5  # 4.5 held, 3 locked
        pending = client.get("/api/v1/conversions", headers=world["ou"]).json()
        assert [p["id"] for p in pending] == [r.json()["id"]]
        d = client.post(
            f"/api/v1/conversions/{r.json()['id']}/decide", json={"decision": "approve"}, headers=world["ou"]
        )
        assert d.status_code == 200 and d.json()["state"] == "approved" and d.json()["transaction_id"]
        b = balance(client, world)
        assert b["total"] == 3.5 and b["by_category"] == {"academic": 2.0, "community": 1.5}
        with db.reader() as session:
            assert audit(session).ok

    def test_reject_releases_the_lock(self, client, world):
        self._ready(client, world)
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        r = client.post(
            f"/api/v1/conversions/{cid}/decide",
            json={"decision": "reject", "reason": "材料不全"},
            headers=world["ou"],
        )
        assert r.status_code == 200 and r.json()["state"] == "rejected" and r.json()["reason"] == "材料不全"
        assert balance(client, world)["convertible"] == 4.5

    @pytest.mark.parametrize("body", [{"decision": "reject"}, {"decision": "reject", "reason": "  "}])
    def test_a_rejection_without_a_reason_says_none_was_given(self, client, world, body):
        """SPEC §4: ``{decision, reason?}`` — the reason is optional, and the learner reads that none
        was given rather than an empty line."""
        self._ready(client, world)
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        r = client.post(f"/api/v1/conversions/{cid}/decide", json=body, headers=world["ou"])
        assert r.status_code == 200 and r.json()["state"] == "rejected", r.text
        assert balance(client, world)["convertible"] == 4.5
        [mine] = client.get("/api/v1/me/conversions", headers=world["me"]).json()
        assert mine["reason"] == "未说明理由 / No reason given"
        client.cookies.set("cb_session", world["me"]["Authorization"].removeprefix("Bearer "))
        assert "原因：未说明理由" in client.get("/me/conversions/requests").text

    def test_deciding_twice_or_someone_elses_is_refused(self, client, world):
        self._ready(client, world)
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        other = client.post(
            f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["yc"]
        )
        assert other.status_code == 404 and other.json()["code"] == "conversion_not_found"
        client.post(f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"])
        again = client.post(
            f"/api/v1/conversions/{cid}/decide",
            json={"decision": "reject", "reason": "x"},
            headers=world["ou"],
        )
        assert again.status_code == 409 and again.json()["code"] == "conversion_already_decided"

    def test_expired_request_releases_its_lots(self, client, world, db):
        self._ready(client, world)
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        with db.engine.begin() as connection:
            connection.execute(
                update(Conversion)
                .where(Conversion.id == cid)
                .values(expires_at=datetime.now(UTC) - timedelta(days=1))
            )
        r = client.post(
            f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"]
        )
        assert r.status_code == 409 and r.json()["code"] == "conversion_expired"
        assert balance(client, world)["convertible"] == 4.5

    def test_revoking_a_consumed_completion_needs_the_operator_cascade(self, client, world, db):
        approved(client, world["ou"])
        first = post(client, world, "HC-AGRI-0")
        post(client, world, "HC-AGRI-1")
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        client.post(f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"])
        refused = client.post(
            f"/api/v1/completions/{first['id']}/revoke", json={"reason": "登记错误"}, headers=world["hc"]
        )
        assert refused.status_code == 409 and refused.json()["code"] == "lot_consumed"
        not_allowed = client.post(
            f"/api/v1/completions/{first['id']}/revoke",
            json={"reason": "x", "force": True},
            headers=world["hc"],
        )
        assert not_allowed.status_code == 403
        forced = client.post(
            f"/api/v1/completions/{first['id']}/revoke",
            json={"reason": "登记错误", "force": True},
            headers=OPERATOR,
        )
        assert forced.status_code == 200 and forced.json()["state"] == "revoked"
        mine = client.get("/api/v1/me/conversions", headers=world["me"]).json()
        assert mine[0]["state"] == "reversed"
        b = balance(client, world)
        assert b["total"] == 1.5 and b["by_category"] == {"community": 1.5}
        with db.reader() as session:
            assert audit(session).ok

    def test_revoking_a_completion_locked_by_a_pending_request_says_so(self, client, world, db):
        """Its credits were only locked, not used: the refusal said 该学分已用于学分转换 (already used)."""
        approved(client, world["ou"])
        first = post(client, world, "HC-AGRI-0")
        post(client, world, "HC-AGRI-1")
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        refused = client.post(
            f"/api/v1/completions/{first['id']}/revoke", json={"reason": "登记错误"}, headers=world["hc"]
        )
        assert refused.status_code == 409 and refused.json()["code"] == "lot_locked", refused.text
        title = refused.json()["title"]
        assert "尚未使用" in title and "待审核" in title and cid in title and "已用于" not in title
        english = client.post(
            f"/api/v1/completions/{first['id']}/revoke",
            json={"reason": "登记错误"},
            headers=world["hc"] | {"Accept-Language": "en"},
        )
        assert english.json()["title"].startswith("The credits are not used yet but are locked")
        # Once the deciding school rejects the request, the completion can be revoked.
        r = client.post(
            f"/api/v1/conversions/{cid}/decide",
            json={"decision": "reject", "reason": "登记有误"},
            headers=world["ou"],
        )
        assert r.status_code == 200, r.text
        revoked = client.post(
            f"/api/v1/completions/{first['id']}/revoke", json={"reason": "登记错误"}, headers=world["hc"]
        )
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked", revoked.text
        with db.reader() as session:
            assert audit(session).ok


def _capped_option(client, world) -> dict:
    """The learner's one option: AGRI-3 (3 community credits for 2) bound to a 3-credit qualification
    whose conversions may give half of it, so the cap allows 1.5 of the 2."""
    q = client.put(
        "/api/v1/qualifications/OU-AGRI-DIP",
        headers=world["ou"],
        json={
            "name_zh": "现代农业专科",
            "total_credits": 3,
            "max_transfer_ratio": 0.5,
            "requirements": [{"category": "academic", "min_credits": 2}],
        },
    )
    assert q.status_code == 201, q.text
    approved(client, world["ou"], qualification_code="OU-AGRI-DIP")
    post(client, world, "HC-AGRI-0")
    post(client, world, "HC-AGRI-1")
    [option] = client.get("/api/v1/me/conversion-options", headers=world["me"]).json()
    return option


class TestCapsAndProgress:
    def test_transfer_cap_binds_and_is_named(self, client, world):
        option = _capped_option(client, world)
        assert (
            option["eligible"] is True
            and option["grant"] == 1.5
            and option["bound_by_cap"] == "max_transfer_ratio"
        )

    def test_a_capped_option_says_how_many_credits_it_uses_and_how_many_it_gives(self, client, world):
        """The cap halves the grant but approval still consumes all 3 credits used: said plainly, not
        only in a note."""
        option = _capped_option(client, world)
        assert (option["uses"], option["grant"]) == (3.0, 1.5)
        assert option["exchange"] == {
            "zh": "将使用 3 学分，换得 1.5 学分：本资历的转换比例上限只允许换得这些，所用的 3 学分仍会全部用掉",
            "en": "Uses 3 credits of yours to receive 1.5 credits: the qualification's cap on converted "
            "credits allows no more, and all 3 credits used are still spent",
        }

    def test_progress_shows_requirements_what_if_and_warnings(self, client, world):
        q = client.put(
            "/api/v1/qualifications/OU-AGRI-DIP",
            headers=world["ou"],
            json={
                "name_zh": "现代农业专科",
                "name_en": "Modern agriculture diploma",
                "total_credits": 10,
                "max_transfer_ratio": 0.5,
                "requirements": [{"category": "academic", "min_credits": 6}, {"outcome": "CQOUYC:OU-AGRI"}],
            },
        )
        assert q.status_code == 201
        approved(client, world["ou"], qualification_code="OU-AGRI-DIP")
        post(client, world, "HC-AGRI-0")
        post(client, world, "HC-AGRI-1", completed_on=(TODAY - timedelta(days=5 * 365 - 30)).isoformat())
        progress = client.get("/api/v1/me/progress/OU-AGRI-DIP", headers=world["me"]).json()
        assert progress["met"] is False and progress["total"]["counted"] == 0
        reqs = {(r.get("category") or r.get("outcome")): r for r in progress["requirements"]}
        assert reqs["academic"]["missing"] == {
            "zh": "还差 6 个学历教育学分",
            "en": "still need 6 academic credits",
        }
        assert reqs["CQOUYC:OU-AGRI"]["missing"]["zh"] == "还差学习成果「现代农业技术基础」"
        assert progress["what_if"]["total_after"] == 2.0
        assert [c["rule"]["code"] for c in progress["what_if"]["conversions"]] == ["AGRI-3"]
        [warning] = progress["warnings"]
        assert warning["title_zh"] == "大棚套种技术" and "过期" in warning["zh"]


def _qualification(client, world, code: str) -> None:
    q = client.put(
        f"/api/v1/qualifications/{code}",
        headers=world["ou"],
        json={
            "name_zh": "学前教育专业",
            "name_en": "Preschool diploma",
            "total_credits": 60,
            "requirements": [{"category": "academic", "min_credits": 30}],
        },
    )
    assert q.status_code == 201, q.text


def _convert(client, world) -> None:
    for i in range(3):
        post(client, world, f"HC-AGRI-{i}")
    cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
        "id"
    ]
    decided = client.post(
        f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"]
    )
    assert decided.json()["state"] == "approved", decided.text


class TestProgressCountsConvertedCredits:
    def test_credits_converted_into_the_qualifications_institution_count(self, client, world):
        _qualification(client, world, "OU-PRESCHOOL-DIP")
        approved(client, world["ou"])  # bound to no qualification, like the demo's AGRI-TO-MODERN
        _convert(client, world)
        progress = client.get("/api/v1/me/progress/OU-PRESCHOOL-DIP", headers=world["me"]).json()
        [academic] = progress["requirements"]
        assert academic["counted"] == 2.0
        assert academic["missing"]["zh"] == "还差 28 个学历教育学分"
        assert progress["total"]["counted"] == 2.0 and progress["total"]["transferred"] == 2.0
        assert progress["not_counted"] == []

    def test_credits_a_rule_binds_to_another_qualification_are_excluded_naming_the_rule(self, client, world):
        _qualification(client, world, "OU-PRESCHOOL-DIP")
        _qualification(client, world, "OU-AGRI-DIP")
        approved(client, world["ou"], qualification_code="OU-AGRI-DIP")
        _convert(client, world)
        progress = client.get("/api/v1/me/progress/OU-PRESCHOOL-DIP", headers=world["me"]).json()
        [academic] = progress["requirements"]
        assert academic["counted"] == 0.0
        assert "按转换规则 AGRI-3 转换的 2 学分计入资历 OU-AGRI-DIP" in academic["missing"]["zh"]
        assert "converted under rule AGRI-3 count toward OU-AGRI-DIP" in academic["missing"]["en"]
        [excluded] = progress["not_counted"]
        assert excluded["rule"] == "AGRI-3" and excluded["credits"] == 2.0
        counted_there = client.get("/api/v1/me/progress/OU-AGRI-DIP", headers=world["me"]).json()
        assert counted_there["requirements"][0]["counted"] == 2.0


class TestTranscriptProvenance:
    def test_transcript_shows_converted_credits_with_their_sources(self, client, world):
        approved(client, world["ou"])
        first = post(client, world, "HC-AGRI-0", completed_on="2026-01-05")
        post(client, world, "HC-AGRI-1", completed_on="2026-02-05")
        post(client, world, "HC-AGRI-2", completed_on="2026-03-05")
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        client.post(f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"])
        transcript = client.post(
            "/api/v1/me/certificates", json={"kind": "transcript"}, headers=world["me"]
        ).json()
        lines = client.get(f"/api/v1/verify/{transcript['id']}").json()["certificate"]
        assert float(lines["total_credits"]) == balance(client, world)["total"] == 3.5
        converted = [line for line in lines["lines"] if "学分转换" in line["title_zh"]]
        assert [c["title_zh"] for c in converted] == [
            "现代农业技术基础（学分转换，来源：春季蔬菜田间管理培训、大棚套种技术）"
        ]
        # The transcript rests on the source completions: forcing their revocation revokes it.
        client.post(
            f"/api/v1/completions/{first['id']}/revoke",
            json={"reason": "登记错误", "force": True},
            headers=OPERATOR,
        )
        assert client.get(f"/api/v1/verify/{transcript['id']}").json()["verdict"] == "revoked"


def test_audit_catches_a_lot_freed_behind_the_ledgers_back(client, world, db):
    """Setting a consumed lot back to 'unused' would let its credits be converted twice."""
    approved(client, world["ou"])
    post(client, world, "HC-AGRI-0")
    post(client, world, "HC-AGRI-1")
    cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
        "id"
    ]
    client.post(f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"])
    with db.reader() as session:
        assert audit(session).ok
    with db.engine.begin() as connection:
        connection.execute(update(Lot).where(Lot.consumed_units > 0).values(consumed_units=0))
    with db.reader() as session:
        report = audit(session)
    assert not report.ok and any("consumed" in p for p in report.problems)


class TestConversionAndQualificationCertificates:
    def test_conversion_certificate_names_its_sources(self, client, world):
        approved(client, world["ou"])
        post(client, world, "HC-AGRI-0", completed_on="2026-01-05")
        post(client, world, "HC-AGRI-1", completed_on="2026-02-05")
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        pending = client.post(
            "/api/v1/me/certificates", json={"kind": "conversion", "conversion_id": cid}, headers=world["me"]
        )
        assert pending.status_code == 404 and pending.json()["code"] == "conversion_not_found"
        client.post(f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"])
        cert = client.post(
            "/api/v1/me/certificates", json={"kind": "conversion", "conversion_id": cid}, headers=world["me"]
        )
        assert cert.status_code == 201, cert.text
        credential = cert.json()["credential"]
        assert credential["credentialSubject"]["achievement"]["name"].startswith("现代农业技术基础")
        assert credential["credentialSubject"]["creditsEarned"] == 2
        assert [e["name"] for e in credential["evidence"]] == [
            "来源 Source: 春季蔬菜田间管理培训",
            "来源 Source: 大棚套种技术",
        ]
        verdict = client.get(f"/api/v1/verify/{cert.json()['id']}").json()
        assert verdict["valid"] is True and verdict["certificate"]["total_credits"] == 2

    def test_qualification_certificate_only_when_requirements_are_met(self, client, world):
        client.put(
            "/api/v1/qualifications/OU-AGRI-CERT",
            headers=world["ou"],
            json={
                "name_zh": "现代农业入门证书",
                "name_en": "Modern agriculture starter",
                "total_credits": 2,
                "max_transfer_ratio": 1,
                "requirements": [{"outcome": "CQOUYC:OU-AGRI"}],
            },
        )
        approved(client, world["ou"], qualification_code="OU-AGRI-CERT")
        post(client, world, "HC-AGRI-0")
        refused = client.post(
            "/api/v1/me/certificates",
            json={"kind": "qualification", "qualification_code": "OU-AGRI-CERT"},
            headers=world["me"],
        )
        assert refused.status_code == 422 and refused.json()["code"] == "qualification_not_met"
        assert refused.json()["errors"][0]["message_zh"] == "还差学习成果「现代农业技术基础」"
        post(client, world, "HC-AGRI-1")
        cid = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"]).json()[
            "id"
        ]
        client.post(f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=world["ou"])
        cert = client.post(
            "/api/v1/me/certificates",
            json={"kind": "qualification", "qualification_code": "OU-AGRI-CERT"},
            headers=world["me"],
        )
        assert cert.status_code == 201, cert.text
        achievement = cert.json()["credential"]["credentialSubject"]["achievement"]
        assert achievement["achievementType"] == "Diploma" and achievement["humanCode"] == "OU-AGRI-CERT"
        assert client.get(f"/api/v1/verify/{cert.json()['id']}").json()["valid"] is True


class TestRejectRule:
    """The operator turns a proposed rule down with a reason the proposing institution reads."""

    def test_a_rejected_rule_keeps_its_reason_for_its_owner_and_is_never_used(self, client, world):
        proposed = rule(client, world["ou"])
        assert proposed.status_code == 201
        rule_id = proposed.json()["id"]
        no_reason = client.post(
            f"/api/v1/conversion-rules/{rule_id}/reject", json={"reason": ""}, headers=OPERATOR
        )
        assert no_reason.status_code == 422
        blank = client.post(  # a reason of spaces says nothing to the institution either
            f"/api/v1/conversion-rules/{rule_id}/reject", json={"reason": "   "}, headers=OPERATOR
        )
        assert blank.status_code == 422 and blank.json()["errors"][0]["code"] == "blank_text"
        rejected = client.post(
            f"/api/v1/conversion-rules/{rule_id}/reject", json={"reason": "学时证明不足"}, headers=OPERATOR
        )
        assert rejected.status_code == 200
        assert (rejected.json()["state"], rejected.json()["rejection_reason"]) == ("rejected", "学时证明不足")
        mine = client.get("/api/v1/conversion-rules?state=rejected", headers=world["ou"]).json()
        assert [(r["id"], r["rejection_reason"]) for r in mine] == [(rule_id, "学时证明不足")]
        assert client.get("/api/v1/conversion-rules?state=rejected", headers=world["yc"]).json() == []
        assert client.get("/api/v1/conversion-rules?state=rejected").json() == []
        assert client.get("/api/v1/conversion-rules?state=proposed", headers=OPERATOR).json() == []
        late = client.post(f"/api/v1/conversion-rules/{rule_id}/approve", headers=OPERATOR)
        assert late.status_code == 409 and late.json()["code"] == "rule_state_conflict"
        # Proposed again with a change: a new version, waiting again.
        again = rule(client, world["ou"], credits=1)
        assert again.status_code == 201 and (again.json()["version"], again.json()["state"]) == (
            2,
            "proposed",
        )

    def test_only_a_proposed_rule_can_be_rejected(self, client, world):
        rule_id = approved(client, world["ou"])["id"]
        refused = client.post(
            f"/api/v1/conversion-rules/{rule_id}/reject", json={"reason": "x"}, headers=OPERATOR
        )
        assert refused.status_code == 409 and refused.json()["code"] == "rule_state_conflict"
        assert (
            client.post(
                f"/api/v1/conversion-rules/{rule_id}/reject", json={"reason": "x"}, headers=world["ou"]
            ).status_code
            == 403
        )


# -- withdrawing a pending request -----------------------------------------------------------------
# A learner (many are over 60) asked by mistake or changed their mind: before, the credits stayed locked
# until the school decided or 30 days passed. Withdrawing releases the locks exactly as a rejection does
# (state ``withdrawn``), only while the request waits, only by the learner who asked; again is the same
# answer; the school can no longer decide it. The race against an approval is in test_conversion_races.py.

PROBLEM = "application/problem+json"


def _ask(client, world) -> dict:
    approved(client, world["ou"])
    for i in range(3):
        post(client, world, f"HC-AGRI-{i}")
    r = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
    assert r.status_code == 201, r.text
    assert balance(client, world)["convertible"] == 1.5  # 4.5 held, 3 locked
    return r.json()


def _withdraw(client, world, conversion_id: str, headers: dict | None = None):
    return client.post(f"/api/v1/me/conversions/{conversion_id}/withdraw", headers=headers or world["me"])


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code, body
    return body


def _locked(db) -> int:
    with db.reader() as session:
        return sum(session.execute(select(Lot.locked_units)).scalars())


def _state(db, conversion_id: str) -> str:
    with db.reader() as session:
        return session.get(Conversion, conversion_id).state


class TestWithdraw:
    def test_withdrawing_gives_the_credits_back_at_once_and_the_learner_may_ask_again(
        self, client, world, db
    ):
        asked = _ask(client, world)
        r = _withdraw(client, world, asked["id"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["id"], body["state"], body["transaction_id"]) == (asked["id"], "withdrawn", None)
        assert body["decided_at"] is not None
        # Released exactly as a rejection releases: nothing locked, nothing consumed, nothing posted.
        assert balance(client, world)["convertible"] == 4.5
        assert _locked(db) == 0
        with db.reader() as session:
            assert audit(session).ok
        # The school no longer has it to decide, and sees it as withdrawn.
        assert client.get("/api/v1/conversions", headers=world["ou"]).json() == []
        listed = client.get("/api/v1/conversions?state=withdrawn", headers=world["ou"]).json()
        assert [(c["id"], c["state"]) for c in listed] == [(asked["id"], "withdrawn")]
        mine = client.get("/api/v1/me/conversions", headers=world["me"]).json()
        assert [(c["id"], c["state"]) for c in mine] == [(asked["id"], "withdrawn")]
        # The rule is open again (a withdrawn request no longer counts as asked for), and asking works.
        (option,) = client.get("/api/v1/me/conversion-options", headers=world["me"]).json()
        assert option["eligible"] is True and option["taken"] is None
        again = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
        assert again.status_code == 201 and again.json()["id"] != asked["id"], again.text

    def test_withdrawing_again_answers_the_same_and_an_idempotency_key_is_honoured(self, client, world, db):
        asked = _ask(client, world)
        keyed = world["me"] | {"Idempotency-Key": "withdraw-1"}
        first = _withdraw(client, world, asked["id"], keyed)
        assert first.status_code == 200, first.text
        replay = _withdraw(client, world, asked["id"], keyed)
        assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
        assert replay.json() == first.json()
        # Without the key (a second tap on the button): the request as it is, not an error.
        plain = _withdraw(client, world, asked["id"])
        assert plain.status_code == 200 and plain.json() == first.json()
        assert balance(client, world)["convertible"] == 4.5 and _locked(db) == 0

    def test_the_school_cannot_decide_a_withdrawn_request(self, client, world, db):
        asked = _ask(client, world)
        assert _withdraw(client, world, asked["id"]).status_code == 200
        for decision in ({"decision": "approve"}, {"decision": "reject", "reason": "材料不全"}):
            r = client.post(f"/api/v1/conversions/{asked['id']}/decide", json=decision, headers=world["ou"])
            body = _problem(r, 409, "conversion_withdrawn")
            assert "已撤回" in body["title"] and "withdrew" in body["detail"]
        assert _state(db, asked["id"]) == "withdrawn"
        b = balance(client, world)
        assert (b["total"], b["convertible"]) == (4.5, 4.5)

    def test_a_decided_request_cannot_be_withdrawn(self, client, world, db):
        asked = _ask(client, world)
        d = client.post(
            f"/api/v1/conversions/{asked['id']}/decide", json={"decision": "approve"}, headers=world["ou"]
        )
        assert d.status_code == 200, d.text
        r = _withdraw(client, world, asked["id"])
        body = _problem(r, 409, "conversion_not_withdrawable")
        assert "已经批准" in body["title"] and "不能再撤回" in body["title"]
        english = _withdraw(client, world, asked["id"], world["me"] | {"Accept-Language": "en"})
        assert _problem(english, 409, "conversion_not_withdrawable")["title"].startswith(
            "This conversion request was already approved"
        )
        assert _state(db, asked["id"]) == "approved"
        assert balance(client, world)["by_category"] == {"academic": 2.0, "community": 1.5}

    def test_a_rejected_request_cannot_be_withdrawn(self, client, world, db):
        asked = _ask(client, world)
        d = client.post(
            f"/api/v1/conversions/{asked['id']}/decide",
            json={"decision": "reject", "reason": "材料不全"},
            headers=world["ou"],
        )
        assert d.status_code == 200, d.text
        body = _problem(_withdraw(client, world, asked["id"]), 409, "conversion_not_withdrawable")
        assert "拒绝" in body["title"]
        assert _state(db, asked["id"]) == "rejected"

    def test_an_expired_request_says_it_expired(self, client, world, db):
        asked = _ask(client, world)
        with db.engine.begin() as connection:
            connection.execute(
                update(Conversion)
                .where(Conversion.id == asked["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(days=1))
            )
        _problem(_withdraw(client, world, asked["id"]), 409, "conversion_expired")
        assert _state(db, asked["id"]) == "expired"  # released by the expiry, which is kept
        assert balance(client, world)["convertible"] == 4.5

    def test_another_learners_request_is_not_found_and_stays_as_it_was(self, client, world, db):
        asked = _ask(client, world)
        stranger = learner(client, world["hc"], name="钱秀英")
        their = signed_in(client, stranger, "12345678")
        r = _withdraw(client, world, asked["id"], their)
        _problem(r, 404, "conversion_not_found")
        unknown = _withdraw(client, world, "cnv_nosuchrequest")
        _problem(unknown, 404, "conversion_not_found")
        assert _state(db, asked["id"]) == "pending" and _locked(db) == 300
        # An institution's key is not a learner's session.
        assert _withdraw(client, world, asked["id"], world["ou"]).status_code == 403
        assert _state(db, asked["id"]) == "pending"


# -- a course held through a conversion is not posted again (SPEC 3.4) ------------------------------
# A completion is "not a duplicate of the same outcome for the same learner": one of a course the
# learner already holds through an approved conversion was accepted, and the course counted twice.


class TestACourseHeldThroughConversion:
    def _converted(self, client, world) -> str:
        """The learner holds OU-AGRI (2 academic credits) through rule AGRI-3; returns the conversion."""
        approved(client, world["ou"])
        for i in range(2):
            post(client, world, f"HC-AGRI-{i}")
        asked = client.post("/api/v1/me/conversions", json={"rule_code": "AGRI-3"}, headers=world["me"])
        assert asked.status_code == 201, asked.text
        d = client.post(
            f"/api/v1/conversions/{asked.json()['id']}/decide",
            json={"decision": "approve"},
            headers=world["ou"],
        )
        assert d.status_code == 200, d.text
        return asked.json()["id"]

    def _post_target(self, client, world, headers: dict | None = None):
        return client.post(
            "/api/v1/completions",
            json=completion_body(world["person"]["account_no"], "OU-AGRI"),
            headers=world["ou"] | (headers or {}),
        )

    def test_posting_it_is_refused_naming_the_conversion_any_version(self, client, world, db):
        cid = self._converted(client, world)
        r = self._post_target(client, world)
        assert r.status_code == 409 and r.json()["code"] == "outcome_held_by_conversion", r.text
        title = r.json()["title"]
        assert "已通过学分转换“社区农业学分转现代农业技术基础”" in title, title
        assert "AGRI-3" in title and cid in title and "OU-AGRI" in title and "不能重复计入" in title
        english = self._post_target(client, world, {"Accept-Language": "en"}).json()["title"]
        assert english.startswith("The learner already holds outcome OU-AGRI through the conversion")
        assert "“Community farming to modern agriculture”" in english and cid in english
        # A new version of the course is the same course.
        outcome(
            client,
            world["ou"],
            "OU-AGRI",
            title_zh="现代农业技术基础（新版）",
            category="academic",
            level=5,
            credits=3,
        )
        r = self._post_target(client, world)
        assert r.status_code == 409 and r.json()["code"] == "outcome_held_by_conversion", r.text
        assert balance(client, world)["by_category"] == {"academic": 2.0}
        # Another course of the same school is posted as ever.
        other = client.post(
            "/api/v1/completions",
            json=completion_body(world["person"]["account_no"], "OU-PRESCHOOL"),
            headers=world["ou"],
        )
        assert other.status_code == 201, other.text
        with db.reader() as session:
            assert audit(session).ok

    @pytest.mark.parametrize("mode", ["partial", "all_or_nothing"])
    def test_a_batch_refuses_that_row_alone(self, client, world, mode):
        cid = self._converted(client, world)
        other = learner(client, world["ou"], name="钱秀英")
        rows = [
            "external_id,account_no,outcome_code,completed_on,score,hours",
            f"OU-1,{other['account_no']},OU-AGRI,2026-03-01,,",
            f"OU-2,{world['person']['account_no']},OU-AGRI,2026-03-01,,",
            f"OU-3,{world['person']['account_no']},OU-PRESCHOOL,2026-03-01,,",
        ]
        r = client.post(
            f"/api/v1/completions/batch?mode={mode}",
            content=("\n".join(rows) + "\n").encode(),
            headers=world["ou"] | {"Content-Type": "text/csv"},
        )
        errors = r.json()["errors"]
        assert [(e["line"], e["code"], e.get("field")) for e in errors] == [
            (3, "outcome_held_by_conversion", "outcome_code")
        ], r.text
        assert cid in errors[0]["message_zh"] and "AGRI-3" in errors[0]["message_en"]
        if mode == "partial":
            assert r.status_code == 200 and (r.json()["accepted"], r.json()["rejected"]) == (2, 1), r.text
            by_category = balance(client, world)["by_category"]
            assert by_category == {"academic": 5.0}  # OU-PRESCHOOL's 3, not OU-AGRI again
        else:
            assert r.status_code == 422 and r.json()["code"] == "batch_rejected", r.text
            assert balance(client, world)["by_category"] == {"academic": 2.0}

    def test_a_reversed_conversion_holds_nothing_any_more(self, client, world):
        cid = self._converted(client, world)
        source = client.get("/api/v1/me/ledger", headers=world["me"]).json()["items"][0]["completion_id"]
        forced = client.post(
            f"/api/v1/completions/{source}/revoke",
            json={"reason": "登记错误", "force": True},
            headers=OPERATOR,
        )
        assert forced.status_code == 200, forced.text
        mine = {c["id"]: c["state"] for c in client.get("/api/v1/me/conversions", headers=world["me"]).json()}
        assert mine[cid] == "reversed"
        r = self._post_target(client, world)
        assert r.status_code == 201, r.text
        assert balance(client, world)["by_category"] == {"academic": 2.0, "community": 1.5}
