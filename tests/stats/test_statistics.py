"""The district office's figures equal what the test computes itself from what it posted (SPEC §3.9),
on SQLite and PostgreSQL: participation by every group, the rate against the population entered,
coverage against the area list, credits, conversions, certificates and their verifications; the CSV
and XLSX exports carry exactly the table's numbers; bad input changes nothing."""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.conftest import OPERATOR, completion_body, institution, learner, national_id, outcome

START, END = date(2026, 1, 1), date(2026, 6, 30)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
PLACES = [
    ("永川区", "中山路街道"),
    ("永川区", "胜利路街道"),
    ("永川区", None),
    ("临淄区", "皇城镇"),
    (None, None),
]
OUTCOMES = {  # (institution, code) -> (category, credits)
    ("YCCEC", "YC-ELEC"): ("community", 1.5),
    ("YCCEC", "YC-WECHAT"): ("senior", 2.0),
    ("HCZ", "HC-VEG"): ("vocational_training", 3.0),
    ("HCZ", "HC-FAMILY"): ("community", 1.0),
}


@dataclass
class Person:
    account_no: str
    district: str | None
    township: str | None
    birth_year: int
    gender: str


@dataclass
class Posted:
    id: str
    person: Person
    institution: str
    code: str
    on: date
    revoked: bool = False

    @property
    def active_in_period(self) -> bool:
        return not self.revoked and START <= self.on <= END


def band(birth_year: int) -> str:
    age = END.year - birth_year
    return "under_18" if age < 18 else "60_plus" if age >= 60 else "18_59"


def _places(client: TestClient) -> None:
    areas = [
        {"district": "永川区", "township": "中山路街道", "village": "萱花社区"},
        {"district": "永川区", "township": "胜利路街道", "village": "双竹社区"},
        {"district": "永川区", "township": "南大街街道"},
        {"district": "临淄区", "township": "皇城镇", "village": "东门村"},
        {"district": "临淄区", "township": "皇城镇", "village": "西门村"},
    ]
    assert client.put("/api/v1/stats/areas", json=areas, headers=OPERATOR).status_code == 200


def build(client: TestClient, seed: int = 7) -> tuple[list[Person], list[Posted]]:
    rng = random.Random(seed)
    heads = {
        "YCCEC": institution(client, "YCCEC", "永川区社区教育学院"),
        "HCZ": institution(client, "HCZ", "皇城镇社区教育中心"),
    }
    for code, place in (
        ("YCCEC", {"district": "永川区", "township": "中山路街道"}),
        ("HCZ", {"district": "临淄区", "township": "皇城镇", "village": "东门村"}),
    ):
        r = client.put(f"/api/v1/institutions/{code}/location", json=place, headers=OPERATOR)
        assert r.status_code == 200 and r.json()["township"] == place["township"], r.text
    for (inst, code), (category, credits) in OUTCOMES.items():
        outcome(client, heads[inst], code, category=category, credits=credits, title_zh=code)
    people = []
    for i in range(24):
        district, township = PLACES[i % len(PLACES)]
        born = date(rng.choice([1940, 1955, 1966, 1967, 1980, 2000, 2009, 2010, 2012]), 3, 4)
        gender = rng.choice(["male", "female"])
        body = {"name": f"学员{i}", "national_id": national_id(born, gender=gender), "gender": gender}
        body |= {k: v for k, v in (("district", district), ("township", township)) if v}
        account = None
        for head in heads.values():  # both institutions enrol them: the same account
            r = client.post("/api/v1/learners", json=body, headers=head)
            assert r.status_code in (200, 201), r.text
            account = r.json()["account_no"]
        assert account is not None
        people.append(Person(account, district, township, born.year, gender))
    posted = []
    for person in people:
        for inst, code in rng.sample(list(OUTCOMES), rng.randint(0, 3)):
            on = START + timedelta(days=rng.randint(-40, 220))  # some before, some after the period
            r = client.post(
                "/api/v1/completions",
                json=completion_body(person.account_no, code, completed_on=on.isoformat()),
                headers=heads[inst],
            )
            assert r.status_code == 201, r.text
            posted.append(Posted(r.json()["id"], person, inst, code, on))
    revoked = next(p for p in posted if p.active_in_period)
    r = client.post(
        f"/api/v1/completions/{revoked.id}/revoke",
        json={"reason": "录入错误"},
        headers=heads[revoked.institution],
    )
    assert r.status_code == 200, r.text
    revoked.revoked = True
    return people, posted


def expected_participation(posted: list[Posted], key) -> dict:
    learners: dict = defaultdict(set)
    completions: dict = defaultdict(int)
    for p in posted:
        if p.active_in_period:
            k = key(p)
            learners[k].add(p.person.account_no)
            completions[k] += 1
    return {k: (len(learners[k]), completions[k]) for k in learners}


def figure(client: TestClient, path: str, **params) -> dict:
    r = client.get(f"/api/v1/stats/{path}", params=PERIOD | params, headers=OPERATOR)
    assert r.status_code == 200, r.text
    return r.json()


def numbers(fig: dict, *columns: str) -> dict:
    return {row["key"]: tuple(row[c] for c in columns) for row in fig["rows"] if any(row[c] for c in columns)}


class TestParticipation:
    def test_every_grouping_counts_distinct_learners_and_completions_as_posted(self, client):
        _, posted = build(client)
        keys = {
            "district": lambda p: p.person.district,
            "township": lambda p: f"{p.person.district} {p.person.township}" if p.person.township else None,
            "age_band": lambda p: band(p.person.birth_year),
            "gender": lambda p: p.person.gender,
            "category": lambda p: OUTCOMES[(p.institution, p.code)][0],
            "month": lambda p: p.on.strftime("%Y-%m"),
        }
        for group, key in keys.items():
            got = numbers(figure(client, "participation", group_by=group), "learners", "completions")
            assert got == expected_participation(posted, key), group

    def test_months_without_completions_show_zero(self, client):
        build(client)
        months = [row["key"] for row in figure(client, "participation", group_by="month")["rows"]]
        assert months == [f"2026-{m:02d}" for m in range(1, 7)]

    def test_one_district_only(self, client):
        _, posted = build(client)
        got = numbers(
            figure(client, "participation", group_by="age_band", district="永川区"), "learners", "completions"
        )
        want = expected_participation(
            [p for p in posted if p.person.district == "永川区"], lambda p: band(p.person.birth_year)
        )
        assert got == want

    def test_a_period_that_ends_before_it_starts_is_refused(self, client):
        r = client.get(
            "/api/v1/stats/participation", params={"from": "2026-05-01", "to": "2026-04-01"}, headers=OPERATOR
        )
        assert (r.status_code, r.json()["code"]) == (422, "stats_period_invalid")

    @pytest.mark.parametrize("figure_name", ["participation", "conversions", "certificates"])
    @pytest.mark.parametrize(("start", "end"), [("0001-01-01", "0001-01-02"), ("2026-01-01", "9999-12-31")])
    def test_a_period_at_the_ends_of_the_calendar_is_refused_not_a_server_error(
        self, client, figure_name, start, end
    ):
        r = client.get(f"/api/v1/stats/{figure_name}", params={"from": start, "to": end}, headers=OPERATOR)
        assert (r.status_code, r.json()["code"]) == (422, "stats_period_out_of_range")


class TestParticipationRate:
    def test_rate_is_participants_over_the_population_entered(self, client):
        _, posted = build(client)
        residents = {"under_18": 40, "18_59": 90, "60_plus": 30}
        body = [{"district": "永川区", "age_band": b, "residents": n} for b, n in residents.items()]
        assert client.put("/api/v1/stats/population", json=body, headers=OPERATOR).status_code == 200
        assert client.put(
            "/api/v1/stats/targets", json={"senior_participation": 25}, headers=OPERATOR
        ).json() == {
            "participation": 60.0,
            "senior_participation": 25.0,
            "township_coverage": 80.0,
            "village_coverage": 60.0,
        }
        per_band = expected_participation(
            [p for p in posted if p.person.district == "永川区"], lambda p: band(p.person.birth_year)
        )
        rows = {row["age_band"]: row for row in figure(client, "participation-rate")["rows"]}
        assert set(rows) == {"all", "under_18", "18_59", "60_plus"}
        for b, n in residents.items():
            learners = per_band.get(b, (0, 0))[0]
            assert (rows[b]["learners"], rows[b]["residents"]) == (learners, n)
            assert rows[b]["rate"] == round(learners / n, 4)
        total = sum(v[0] for v in per_band.values())
        assert (rows["all"]["learners"], rows["all"]["residents"]) == (total, 160)
        assert rows["all"]["rate"] == round(total / 160, 4)
        assert (rows["all"]["target"], rows["60_plus"]["target"], rows["18_59"]["target"]) == (
            0.6,
            0.25,
            None,
        )
        assert rows["all"]["met_zh"] == ("✓ 达标" if total / 160 >= 0.6 else "✗ 未达标")

    @pytest.mark.parametrize("residents", [0, -5, "many", "12.5", True])
    def test_a_population_that_is_not_a_positive_number_changes_nothing(self, client, residents):
        ok = [{"district": "永川区", "age_band": "60_plus", "residents": 1000}]
        assert client.put("/api/v1/stats/population", json=ok, headers=OPERATOR).status_code == 200
        bad = [
            {"district": "永川区", "age_band": "under_18", "residents": 50},
            {"district": "永川区", "age_band": "60_plus", "residents": residents},
        ]
        r = client.put("/api/v1/stats/population", json=bad, headers=OPERATOR)
        assert r.status_code == 422, r.text
        assert client.get("/api/v1/stats/population", headers=OPERATOR).json() == ok

    def test_a_target_over_100_percent_is_refused(self, client):
        r = client.put("/api/v1/stats/targets", json={"participation": 120}, headers=OPERATOR)
        assert r.status_code == 422
        assert client.get("/api/v1/stats/targets", headers=OPERATOR).json()["participation"] == 60.0


class TestCoverage:
    def test_share_of_areas_with_an_accredited_institution(self, client):
        build(client)
        _places(client)
        # A pending institution in 胜利路街道/双竹社区 covers nothing until it is accredited.
        client.post(
            "/api/v1/institutions",
            json={
                "code": "SZ",
                "name_zh": "双竹社区学校",
                "district": "永川区",
                "township": "胜利路街道",
                "village": "双竹社区",
            },
            headers=OPERATOR,
        )
        rows = {row["key"]: row for row in figure(client, "coverage")["rows"]}
        yc, lz, everything = rows["永川区"], rows["临淄区"], rows[None]
        assert (yc["townships"], yc["townships_covered"], yc["villages"], yc["villages_covered"]) == (
            3,
            1,
            2,
            0,
        )
        assert (lz["townships"], lz["townships_covered"], lz["villages"], lz["villages_covered"]) == (
            1,
            1,
            2,
            1,
        )
        assert (yc["township_coverage"], lz["village_coverage"]) == (round(1 / 3, 4), 0.5)
        assert (everything["townships"], everything["townships_covered"]) == (4, 2)
        assert (yc["township_target"], yc["village_target"]) == (0.8, 0.6)

        assert client.post("/api/v1/institutions/SZ/accredit", headers=OPERATOR).status_code == 200
        yc = {row["key"]: row for row in figure(client, "coverage")["rows"]}["永川区"]
        assert (yc["townships_covered"], yc["villages_covered"], yc["village_coverage"]) == (2, 1, 0.5)

    def test_replacing_a_districts_area_list_keeps_the_others(self, client):
        _places(client)
        r = client.put(
            "/api/v1/stats/areas", json=[{"district": "临淄区", "township": "皇城镇"}], headers=OPERATOR
        )
        listed = {(a["district"], a["township"], a["village"]) for a in r.json()}
        assert ("临淄区", "皇城镇", "东门村") not in listed
        assert ("永川区", "胜利路街道", "双竹社区") in listed


class TestCreditsConversionsCertificates:
    def test_credits_per_institution_and_category(self, client):
        _, posted = build(client)
        want: dict = defaultdict(lambda: [0, 0])
        for p in posted:
            if p.active_in_period:
                category, credits = OUTCOMES[(p.institution, p.code)]
                want[f"{p.institution}/{category}"][0] += 1
                want[f"{p.institution}/{category}"][1] += round(credits * 100)
        got = {row["key"]: [row["completions"], row["credits"]] for row in figure(client, "credits")["rows"]}
        # Credits as credits (SPEC §4: a JSON number, 1.5), as the balance shows them — not hundredths.
        assert got == {key: [n, units / 100] for key, (n, units) in want.items()}

    def test_certificates_issued_verified_and_revoked(self, client):
        head = institution(client, "YCCEC", "永川区社区教育学院")
        outcome(client, head, "YC-ELEC")
        person = client.post(
            "/api/v1/learners", json={"name": "张桂兰", "national_id": national_id()}, headers=head
        ).json()
        done = client.post(
            "/api/v1/completions", json=completion_body(person["account_no"], "YC-ELEC"), headers=head
        ).json()
        token = client.post(
            "/api/v1/auth/activate",
            json={
                "account_no": person["account_no"],
                "activation_code": person["activation_code"],
                "password": "长城长城12345",
            },
        ).json()["access_token"]
        me = {"Authorization": f"Bearer {token}"}
        ids = []
        for body in ({"kind": "achievement", "completion_id": done["id"]}, {"kind": "transcript"}):
            r = client.post("/api/v1/me/certificates", json=body, headers=me)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for certificate_id in (ids[0], ids[0], ids[1]):
            assert client.get(f"/api/v1/verify/{certificate_id}").status_code == 200
        r = client.post(f"/api/v1/certificates/{ids[1]}/revoke", json={"reason": "重发"}, headers=OPERATOR)
        assert r.status_code == 200, r.text
        client.app.state.verifier.tally.flush()
        today = {
            "from": date.today().replace(day=1).isoformat(),
            "to": (date.today() + timedelta(days=1)).isoformat(),
        }
        r = client.get("/api/v1/stats/certificates", params=today, headers=OPERATOR)
        rows = {row["key"]: row for row in r.json()["rows"]}
        got = {k: (v["issued"], v["revoked"], v["verifications"], v["verified"]) for k, v in rows.items()}
        assert got["achievement"] == (1, 0, 2, 1)
        assert got["transcript"] == (1, 1, 1, 1)

    def test_conversions_count_requests_by_state(self, client):
        fig = figure(client, "conversions")
        assert {row["key"]: row["requests"] for row in fig["rows"]} == {
            "approved": 0,
            "rejected": 0,
            "pending": 0,
            "expired": 0,
            "reversed": 0,
            "withdrawn": 0,
            "superseded": 0,
        }


class TestExports:
    def test_csv_and_xlsx_carry_exactly_the_tables_numbers(self, client):
        _, posted = build(client)
        want = expected_participation(posted, lambda p: band(p.person.birth_year))
        r = client.get(
            "/api/v1/stats/participation",
            params=PERIOD | {"group_by": "age_band", "format": "csv"},
            headers=OPERATOR,
        )
        assert r.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert lines[0] == ["分组", "参与人数", "人次"]
        labels = {"18 岁以下": "under_18", "18–59 岁": "18_59", "60 岁及以上": "60_plus"}
        got = {labels[row[0]]: (int(row[1]), int(row[2])) for row in lines[1:] if int(row[1])}
        assert got == want

        r = client.get(
            "/api/v1/stats/participation",
            params=PERIOD | {"group_by": "age_band", "format": "xlsx"},
            headers=OPERATOR | {"Accept-Language": "en"},
        )
        sheet = load_workbook(io.BytesIO(r.content)).active
        cells = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert cells[0] == ["group", "learners", "completions"]
        english = {"under 18": "under_18", "18–59": "18_59", "60 and over": "60_plus"}
        got = {english[row[0]]: (row[1], row[2]) for row in cells[1:4] if row[1]}
        assert got == want

    def test_rates_export_as_the_percent_the_table_shows(self, client):
        build(client)
        body = [
            {"district": "临淄区", "age_band": b, "residents": 7} for b in ("under_18", "18_59", "60_plus")
        ]
        client.put("/api/v1/stats/population", json=body, headers=OPERATOR)
        fig = figure(client, "participation-rate")
        r = client.get(
            "/api/v1/stats/participation-rate", params=PERIOD | {"format": "csv"}, headers=OPERATOR
        )
        lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert lines[0][4] == "参与率 (%)"
        for row, line in zip(fig["rows"], lines[1:]):
            assert float(line[4]) == round(row["rate"] * 100, 1)


def formula_world(client: TestClient) -> None:
    """One learner enrolled with a district and 乡镇/街道 a spreadsheet would compute, one completion."""
    head = institution(client)
    outcome(client, head, "YC-ELEC")
    person = learner(client, head, district="=1+2", township="@SUM(1)")
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=head)
    assert r.status_code == 201, r.text


class TestExportsHoldNoFormulas:
    """A place name an institution typed is text in the office's spreadsheet, never a formula
    (CSV injection): ``=1+2`` as a district stays the text ``=1+2``."""

    def _get(self, client, path: str, **params: str):
        r = client.get(f"/api/v1/stats/{path}", params=PERIOD | params, headers=OPERATOR)
        assert r.status_code == 200, r.text
        return r

    def test_csv_cells_that_would_be_formulas_start_with_a_quote(self, client):
        formula_world(client)
        r = self._get(client, "participation", group_by="district", format="csv")
        assert "=1+2,1,1" not in r.text.splitlines()
        assert ["'=1+2", "1", "1"] in list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        r = self._get(client, "participation", group_by="township", format="csv")
        assert ["'=1+2@SUM(1)", "1", "1"] in list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))

    def test_xlsx_cells_are_text_as_shown_and_numbers_stay_numbers(self, client):
        formula_world(client)
        for group, label in (("district", "=1+2"), ("township", "=1+2@SUM(1)")):
            r = self._get(client, "participation", group_by=group, format="xlsx")
            cells = list(load_workbook(io.BytesIO(r.content)).active.iter_rows())
            assert not [c.coordinate for row in cells for c in row if c.data_type == "f"]
            row = next(row for row in cells if row[0].value == label)
            assert [(c.value, c.data_type) for c in row] == [(label, "s"), (1, "n"), (1, "n")]
