"""A stateful property test of conversions (SPEC §3.4–§3.6), driven through the HTTP API.

Hypothesis plays two institutions and two learners: a community centre (A) and an open university
(B) post completions; the learners request conversions under two rules of B — a quantity rule
("≥ 1.5 community credits at level ≥ 2 earned within 5 years → 2 credits of B:T", partial use of the
last lot) and an all_of rule ("A:X and B:T → 3 credits of B:ADV", so the lot a quantity conversion
deposited can be used again) — both capped by a qualification, and each granting its target once
(a request is refused while the learner holds the target or has asked for it) (at most 50 % of 10 credits may be
transferred); B (or the operator) approves and rejects; completions are revoked by their
institution (refused with ``lot_consumed`` while their lot is consumed, ``lot_locked`` while it is only
locked by pending requests) or by the
operator with ``force`` (the cascade releases pending requests and reverses approved ones,
recursively); pending requests expire (``expires_at`` moved into the past, then the expiry is
triggered by a new request, by a decision, or by the sweep ``expire_pending``); learners withdraw
their pending requests (``withdrawn``, released like a rejection; refused once decided); a completion
of B:T is refused while the learner holds it through an approved conversion (``outcome_held_by_conversion``),
and one posted while the learner's request for it waits ends that request (``superseded``, released
like a rejection; deciding it then is ``conversion_superseded``).

The machine keeps its own model of every lot, conversion and completion, predicts each answer
(status, code, which lots are locked with how many units, the grant and the binding cap) and
checks after every step, straight from the database, that

* all postings sum to zero and every account's balance is the sum of its postings;
* every lot has 0 ≤ consumed, 0 ≤ locked, consumed + locked ≤ amount, and equals the model;
* a lot's locked units are exactly the conversion_lot units of pending conversions, its consumed
  units exactly those of approved ones (every consumed unit traceable to one approved conversion);
* every approved conversion has exactly one target lot (lot.conversion_id) of its grant, and its
  ledger transaction takes exactly its conversion_lot units from the learner;
* each learner's ``GET /me/balance`` equals the model;

and at teardown that ``audit`` finds nothing wrong. The database is not reset between examples:
each example makes its own institutions (fresh codes from a counter) and compares only its own.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import hypothesis
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update

from creditbank.audit import audit
from creditbank.conversion import service as conversions
from creditbank.conversion.models import Conversion, ConversionLot
from creditbank.conversion.rules import years_before
from creditbank.kit import clock, idcard
from creditbank.ledger.models import LedgerAccount, LedgerTransaction, Lot, Posting
from tests.conftest import OPERATOR, completion_body, institution, learner, outcome, signed_in

PASSWORD = "长城长城12345"
PROBLEM = "application/problem+json"

# institution index -> outcome code -> (category, level, credits)
CATALOGUES = [
    {
        "C1": ("community", 2, 1.0),
        "C2": ("community", 3, 1.5),
        "C3": ("community", 2, 0.5),
        "C0": ("community", 1, 1.0),
        "X": ("academic", 5, 2.0),
    },
    {"CB": ("community", 2, 0.5), "T": ("academic", 5, 2.0), "ADV": ("academic", 6, 3.0)},
]
QTY_AMOUNT, QTY_GRANT, QTY_YEARS = 150, 200, 5
ALL_GRANT = 300
CAP_UNITS = 500  # the qualification: total 10 credits, max_transfer_ratio 0.5
N_LEARNERS = 2
# (institution, outcome) each learner starts with; no B:T, so the all_of rule mostly spends the B:T lot a
# quantity conversion deposited — and a forced revocation of a community completion cascades through both.
STARTER = [(0, "C1"), (0, "C2"), (0, "C3"), (1, "CB"), (0, "X")]


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at the smallest cost (as in tests/api/conftest.py): every example activates learners."""
    from argon2 import PasswordHasher

    from creditbank.learners import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def sequential_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Completion, lot and conversion ids in creation order (a counter, then the usual random part;
    completion and lot ids are time-ordered already, but not within one millisecond).

    The engine breaks ties between lots earned on the same day by lot id, and the cascade walks
    conversions in id order: with random ids Hypothesis could not replay (let alone shrink) a
    failing walk, since the same draws would pick other lots."""
    from creditbank.completions import service as completions_service
    from creditbank.kit.tokens import new_id

    counter = itertools.count(1)
    sequential = lambda prefix: f"{prefix}_{next(counter):09d}{new_id('')}"  # noqa: E731
    monkeypatch.setattr(completions_service, "new_ordered_id", sequential)
    monkeypatch.setattr(conversions, "new_id", sequential)


def _units(credits: float) -> int:
    return round(credits * 100)


def _problem(r, status: int, code: str) -> None:
    assert r.status_code == status, (status, code, r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    assert r.json()["code"] == code, r.text


def _rule(client, headers: dict, body: dict) -> int:
    r = client.post("/api/v1/conversion-rules", headers=headers, json=body | {"effective_from": "2020-01-01"})
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    assert client.post(f"/api/v1/conversion-rules/{rule_id}/approve", headers=OPERATOR).status_code == 200
    return rule_id


# -- the model ------------------------------------------------------------------------------------


@dataclass
class MLot:
    id: str
    learner: int
    ref: str
    category: str
    level: int
    earned_on: date
    amount: int
    consumed: int = 0
    locked: int = 0
    state: str = "active"
    conversion: str | None = None

    @property
    def available(self) -> int:
        return self.amount - self.consumed - self.locked


@dataclass
class MConversion:
    id: str
    learner: int
    rule: str
    held: list[tuple[str, int]]
    grant: int
    state: str = "pending"
    target_lot: str | None = None


@dataclass
class MCompletion:
    id: str
    inst: int
    learner: int
    outcome_code: str
    lot: str
    state: str = "active"


@dataclass
class World:
    codes: list[str]
    headers: list[dict[str, str]]
    rule_ids: dict[str, int]
    accounts: list[str]
    tokens: list[dict[str, str]]
    lots: dict[str, MLot] = field(default_factory=dict)
    conversions: dict[str, MConversion] = field(default_factory=dict)
    completions: dict[str, MCompletion] = field(default_factory=dict)


def test_conversion_state_machine(client, db, db_url, sequential_ids):
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    examples, steps = (10, 18) if backend == "sqlite" else (4, 18)
    today = clock.today()
    cutoff = years_before(today, QTY_YEARS)
    days = [
        today,
        today - timedelta(days=30),
        today - timedelta(days=400),
        cutoff,
        cutoff - timedelta(days=1),
    ]

    class ConversionMachine(RuleBasedStateMachine):
        counter = itertools.count(1)

        def __init__(self) -> None:
            super().__init__()
            n = next(ConversionMachine.counter)
            codes = [f"CSM{n}A", f"CSM{n}B"]
            headers = []
            for i, code in enumerate(codes):
                headers.append(institution(client, code, f"转换状态机机构{n}{'AB'[i]}"))
                for outcome_code, (category, level, credits) in CATALOGUES[i].items():
                    outcome(
                        client,
                        headers[i],
                        outcome_code,
                        title_zh=f"成果{outcome_code}",
                        category=category,
                        level=level,
                        credits=credits,
                    )
            a, b = codes
            r = client.put(
                f"/api/v1/qualifications/CSMQ{n}",
                headers=headers[1],
                json={
                    "name_zh": "现代农业专科",
                    "total_credits": 10,
                    "max_transfer_ratio": 0.5,
                    "requirements": [{"category": "academic", "min_credits": 6}],
                },
            )
            assert r.status_code == 201, r.text
            rule_ids = {
                "QTY": _rule(
                    client,
                    headers[1],
                    {
                        "code": "QTY",
                        "name_zh": "社区学分转现代农业技术基础",
                        "target_outcome_code": "T",
                        "credits": QTY_GRANT / 100,
                        "qualification_code": f"CSMQ{n}",
                        "source": {
                            "credits": {
                                "category": "community",
                                "min_level": 2,
                                "amount": QTY_AMOUNT / 100,
                                "within_years": QTY_YEARS,
                            }
                        },
                    },
                ),
                "ALL": _rule(
                    client,
                    headers[1],
                    {
                        "code": "ALL",
                        "name_zh": "进阶",
                        "target_outcome_code": "ADV",
                        "credits": ALL_GRANT / 100,
                        "qualification_code": f"CSMQ{n}",
                        "source": {"all_of": [f"{a}:X", f"{b}:T"]},
                    },
                ),
            }
            # Own ID numbers (a birthday per example): conftest's national_id() repeats after 1000 draws.
            born = date(1950, 1, 1) + timedelta(days=n)
            people = [
                learner(
                    client, headers[0], name=f"学员{n}-{k}", national_id=idcard.make("500118", born, 100 + k)
                )
                for k in range(N_LEARNERS)
            ]
            assert all(p["created"] for p in people), people
            self.w = World(
                codes=codes,
                headers=headers,
                rule_ids=rule_ids,
                accounts=[p["account_no"] for p in people],
                tokens=[signed_in(client, p, PASSWORD) for p in people],
            )

        # -- the model's predictions --------------------------------------------------------------
        def refused(self, rule_name: str, lot: MLot) -> bool:
            """Whether a lot the learner named cannot count for the rule (engine.select's refusals)."""
            if lot.state != "active" or lot.available <= 0:
                return True
            if rule_name == "QTY":
                return lot.category != "community" or lot.level < 2 or lot.earned_on < cutoff
            return lot.ref not in self.all_refs()

        def all_refs(self) -> list[str]:
            return [f"{self.w.codes[0]}:X", f"{self.w.codes[1]}:T"]

        def transferred(self, person: int) -> int:
            return sum(
                c.grant
                for c in self.w.conversions.values()
                if c.learner == person and c.state in ("pending", "approved")
            )

        def predict(
            self, person: int, rule_name: str, lot_ids: list[str] | None = None
        ) -> tuple[list[tuple[str, int]], int, int] | None:
            """(lots locked with units, grant, base grant) — or None for 422 not_eligible."""
            if lot_ids is not None:
                named = [self.w.lots[i] for i in lot_ids]
                if any(self.refused(rule_name, lot) for lot in named):
                    return None
                pool = named
            else:
                pool = [
                    lot
                    for lot in self.w.lots.values()
                    if lot.learner == person and not self.refused(rule_name, lot)
                ]
            pool = sorted(pool, key=lambda lot: (lot.earned_on, lot.id))
            uses: list[tuple[str, int]] = []
            if rule_name == "QTY":
                need = QTY_AMOUNT
                if sum(lot.available for lot in pool) < need:
                    return None
                for lot in pool:
                    take = min(lot.available, need)
                    uses.append((lot.id, take))
                    need -= take
                    if need == 0:
                        break
                base = QTY_GRANT
            else:
                for ref in self.all_refs():
                    held = [lot for lot in pool if lot.ref == ref]
                    if not held:
                        return None
                    uses.append((held[0].id, held[0].available))
                base = ALL_GRANT
            grant = min(base, max(0, CAP_UNITS - self.transferred(person)))
            if grant == 0:
                return None
            return sorted(uses), grant, base

        def target_ref(self, rule_name: str) -> str:
            return f"{self.w.codes[1]}:{'T' if rule_name == 'QTY' else 'ADV'}"

        def holds(self, person: int, ref: str) -> bool:
            """A live lot of the outcome: a completion of it, or a conversion approved into it."""
            return any(
                lot.learner == person and lot.ref == ref and lot.state == "active"
                for lot in self.w.lots.values()
            )

        def taken(self, person: int, rule_name: str) -> str | None:
            """Why a request would be refused before its credits are counted: a target is granted once
            (each rule here has its own target, so a pending request of the rule is one for the target)."""
            if self.holds(person, self.target_ref(rule_name)):
                return "conversion_target_held"
            if any(c.learner == person and c.rule == rule_name for c in self.pending()):
                return "conversion_already_requested"
            return None

        # -- applying decided facts to the model ---------------------------------------------------
        def release(self, conversion: MConversion, state: str) -> None:
            for lot_id, units in conversion.held:
                self.w.lots[lot_id].locked -= units
            conversion.state = state

        def reverse_for_lot(self, lot_id: str, depth: int = 0) -> None:
            """The forced revocation cascade, as SPEC §3.4 describes it."""
            uses = sorted(
                (
                    c
                    for c in self.w.conversions.values()
                    if c.state in ("pending", "approved") and lot_id in {i for i, _ in c.held}
                ),
                key=lambda c: c.id,
            )
            for conversion in uses:
                hypothesis.event(
                    f"cascade: {conversion.state} {conversion.rule}{' (recursive)' if depth else ''}"
                )
                if conversion.state == "pending":
                    self.release(conversion, "rejected")
                    continue
                self.reverse_for_lot(conversion.target_lot, depth + 1)
                for held_id, units in conversion.held:
                    self.w.lots[held_id].consumed -= units
                self.w.lots[conversion.target_lot].state = "reversed"
                conversion.state = "reversed"

        def pending(self) -> list[MConversion]:
            return [c for c in self.w.conversions.values() if c.state == "pending"]

        # -- steps ----------------------------------------------------------------------------------
        @initialize(data=st.data())
        def starting_credits(self, data: st.DataObject) -> None:
            """Credits to convert from the start, so that short walks reach approvals and cascades."""
            for person in range(N_LEARNERS):
                for inst, code in STARTER:
                    if data.draw(st.integers(0, 4), label=f"skip {code}?") < 4:
                        self.post(inst, person, code, data.draw(st.sampled_from(days), label="completed_on"))

        @rule(data=st.data())
        def post_completion(self, data: st.DataObject) -> None:
            inst = data.draw(st.integers(0, 1), label="institution")
            person = data.draw(st.integers(0, N_LEARNERS - 1), label="learner")
            code = data.draw(st.sampled_from(sorted(CATALOGUES[inst])), label="outcome")
            self.post(inst, person, code, data.draw(st.sampled_from(days), label="completed_on"))

        def post(self, inst: int, person: int, code: str, day: date) -> None:
            held = any(
                c.inst == inst and c.learner == person and c.outcome_code == code and c.state == "active"
                for c in self.w.completions.values()
            )
            # B:T held through an approved (not reversed) quantity conversion counts as held too.
            converted = any(
                lot.learner == person
                and lot.ref == f"{self.w.codes[inst]}:{code}"
                and lot.conversion is not None
                and lot.state == "active"
                for lot in self.w.lots.values()
            )
            r = client.post(
                "/api/v1/completions",
                headers=self.w.headers[inst],
                json=completion_body(self.w.accounts[person], code, completed_on=day.isoformat()),
            )
            if held:
                _problem(r, 409, "duplicate_completion")
                return
            if converted:
                hypothesis.event("post: a course held through a conversion")
                _problem(r, 409, "outcome_held_by_conversion")
                return
            assert r.status_code == 201, r.text
            completion_id = r.json()["id"]
            # The learner's pending request for this course ends: the course is held, once.
            for c in self.pending():
                if c.learner == person and self.target_ref(c.rule) == f"{self.w.codes[inst]}:{code}":
                    hypothesis.event("post: supersedes a pending request")
                    self.release(c, "superseded")
            with db.reader() as session:
                lot_id = session.execute(
                    select(Lot.id).where(Lot.completion_id == completion_id)
                ).scalar_one()
            category, level, credits = CATALOGUES[inst][code]
            self.w.lots[lot_id] = MLot(
                lot_id, person, f"{self.w.codes[inst]}:{code}", category, level, day, _units(credits)
            )
            self.w.completions[completion_id] = MCompletion(completion_id, inst, person, code, lot_id)

        def send_request(self, person: int, rule_name: str, lot_ids: list[str] | None = None):
            taken = self.taken(person, rule_name)
            expected = self.predict(person, rule_name, lot_ids)
            body = {"rule_id": self.w.rule_ids[rule_name]} | (
                {"lot_ids": lot_ids} if lot_ids is not None else {}
            )
            r = client.post("/api/v1/me/conversions", json=body, headers=self.w.tokens[person])
            if taken is not None:
                hypothesis.event(f"request {rule_name}: {taken}")
                _problem(r, 409, taken)
                return r
            hypothesis.event(
                f"request {rule_name}{' naming lots' if lot_ids else ''}: "
                f"{'eligible' if expected else 'not eligible'}"
            )
            if expected is None:
                _problem(r, 422, "not_eligible")
                return r
            assert r.status_code == 201, (r.text, expected)
            out = r.json()
            uses, grant, base = expected
            assert out["state"] == "pending" and out["transaction_id"] is None, out
            assert sorted((x["lot_id"], _units(x["credits"])) for x in out["locked"]) == uses, (out, uses)
            assert _units(out["grant"]) == grant, (out, grant)
            assert out["bound_by_cap"] == (None if grant == base else "max_transfer_ratio"), out
            if grant < base:
                hypothesis.event("request: grant cut by the transfer cap")
            for lot_id, units in uses:
                self.w.lots[lot_id].locked += units
            self.w.conversions[out["id"]] = MConversion(out["id"], person, rule_name, uses, grant)
            return r

        @rule(data=st.data())
        def request(self, data: st.DataObject) -> None:
            person = data.draw(st.integers(0, N_LEARNERS - 1), label="learner")
            rule_name = data.draw(st.sampled_from(["QTY", "ALL"]), label="rule")
            mine = sorted(lot.id for lot in self.w.lots.values() if lot.learner == person)
            fit = [i for i in mine if not self.refused(rule_name, self.w.lots[i])]
            lot_ids = None
            if mine and data.draw(st.integers(0, 3), label="name lots?") == 3:
                # Mostly lots that can count (the learner chose which to spend), sometimes any of theirs.
                pool = fit if fit and data.draw(st.integers(0, 3), label="any lot?") < 3 else mine
                lot_ids = data.draw(
                    st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True), label="lot_ids"
                )
            self.send_request(person, rule_name, lot_ids)

        @rule(data=st.data())
        def request_again(self, data: st.DataObject) -> None:
            """Requests are the heart of it: a second rule doubles their share of the steps."""
            self.request(data)

        @rule(data=st.data())
        def convert_and_build_on_it(self, data: st.DataObject) -> None:
            """A quantity conversion approved, then the all_of rule on the B:T lot it deposited (pending or
            approved): the chain a forced revocation of a community completion must unwind recursively."""
            person = data.draw(st.integers(0, N_LEARNERS - 1), label="learner")
            r = self.send_request(person, "QTY")
            if r.status_code != 201:
                return
            self.decide_one(self.w.conversions[r.json()["id"]], "approve", "owner")
            r = self.send_request(person, "ALL")
            if r.status_code == 201 and data.draw(st.booleans(), label="approve the all_of one?"):
                self.decide_one(self.w.conversions[r.json()["id"]], "approve", "owner")

        @precondition(lambda self: self.pending())
        @rule(data=st.data())
        def approve_pending(self, data: st.DataObject) -> None:
            conversion = data.draw(
                st.sampled_from(sorted(self.pending(), key=lambda c: c.id)), label="pending"
            )
            self.decide_one(conversion, "approve", "owner")

        @precondition(lambda self: self.w.conversions)
        @rule(data=st.data())
        def decide(self, data: st.DataObject) -> None:
            conversion = self.w.conversions[
                data.draw(st.sampled_from(sorted(self.w.conversions)), label="conversion")
            ]
            decision = data.draw(st.sampled_from(["approve", "reject"]), label="decision")
            actor = data.draw(st.sampled_from(["owner", "operator", "other"]), label="actor")
            self.decide_one(conversion, decision, actor)

        def decide_one(self, conversion: MConversion, decision: str, actor: str) -> None:
            headers = {"owner": self.w.headers[1], "operator": OPERATOR, "other": self.w.headers[0]}[actor]
            body = {"decision": decision} | ({"reason": "材料不全"} if decision == "reject" else {})
            hypothesis.event(f"decide {decision} by {actor}: {conversion.state}")
            r = client.post(f"/api/v1/conversions/{conversion.id}/decide", json=body, headers=headers)
            if actor == "other":
                _problem(r, 404, "conversion_not_found")
                return
            if conversion.state == "expired":
                _problem(r, 409, "conversion_expired")
                return
            if conversion.state == "withdrawn":
                _problem(r, 409, "conversion_withdrawn")
                return
            if conversion.state == "superseded":
                _problem(r, 409, "conversion_superseded")
                return
            if conversion.state == {"approve": "approved", "reject": "rejected"}[decision]:
                # The same decision again answers the request as it stands; nothing moves.
                assert r.status_code == 200 and r.json()["state"] == conversion.state, r.text
                return
            if conversion.state != "pending":
                _problem(r, 409, "conversion_already_decided")
                return
            # (A target posted to the learner as a completion after the request superseded it, above.)
            assert r.status_code == 200, r.text
            out = r.json()
            if decision == "reject":
                assert out["state"] == "rejected" and out["transaction_id"] is None, out
                self.release(conversion, "rejected")
                return
            assert out["state"] == "approved" and out["transaction_id"] and out["target_lot_id"], out
            for lot_id, units in conversion.held:
                lot = self.w.lots[lot_id]
                lot.locked -= units
                lot.consumed += units
            code = "T" if conversion.rule == "QTY" else "ADV"
            category, level, _ = CATALOGUES[1][code]
            target = out["target_lot_id"]
            self.w.lots[target] = MLot(
                target,
                conversion.learner,
                f"{self.w.codes[1]}:{code}",
                category,
                level,
                today,
                conversion.grant,
                conversion=conversion.id,
            )
            conversion.state, conversion.target_lot = "approved", target

        @precondition(lambda self: self.w.conversions)
        @rule(data=st.data())
        def withdraw(self, data: st.DataObject) -> None:
            """The learner takes a request back (another learner's is not found): only a pending one,
            released as a rejection is; again answers the same."""
            conversion = self.w.conversions[
                data.draw(st.sampled_from(sorted(self.w.conversions)), label="conversion")
            ]
            who = data.draw(st.sampled_from(["learner", "learner", "other"]), label="who")
            person = conversion.learner if who == "learner" else (conversion.learner + 1) % N_LEARNERS
            hypothesis.event(f"withdraw by {who}: {conversion.state}")
            r = client.post(f"/api/v1/me/conversions/{conversion.id}/withdraw", headers=self.w.tokens[person])
            if who == "other":
                _problem(r, 404, "conversion_not_found")
                return
            if conversion.state in ("pending", "withdrawn"):
                assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
                if conversion.state == "pending":
                    self.release(conversion, "withdrawn")
                return
            _problem(
                r,
                409,
                "conversion_expired" if conversion.state == "expired" else "conversion_not_withdrawable",
            )

        @precondition(lambda self: self.w.completions)
        @rule(data=st.data())
        def revoke(self, data: st.DataObject) -> None:
            """Half the time a completion whose credits are locked or consumed: refused (lot_consumed),
            unless the operator forces the cascade."""
            in_use = self.in_use()
            if in_use and data.draw(st.booleans(), label="in use?"):
                c = data.draw(st.sampled_from(sorted(in_use, key=lambda c: c.id)), label="in use")
                actor = data.draw(st.sampled_from(["force", "owner", "force", "operator"]), label="actor")
            else:
                c = self.w.completions[
                    data.draw(st.sampled_from(sorted(self.w.completions)), label="completion")
                ]
                actor = data.draw(
                    st.sampled_from(["owner", "force", "operator", "other", "owner-force"]), label="actor"
                )
            self.revoke_one(c, actor)

        def in_use(self) -> list[MCompletion]:
            return [
                c
                for c in self.w.completions.values()
                if c.state == "active" and (self.w.lots[c.lot].consumed or self.w.lots[c.lot].locked)
            ]

        def revoke_one(self, c: MCompletion, actor: str) -> None:
            headers = {
                "owner": self.w.headers[c.inst],
                "other": self.w.headers[1 - c.inst],
                "owner-force": self.w.headers[c.inst],
            }.get(actor, OPERATOR)
            force = actor in ("force", "owner-force")
            lot = self.w.lots[c.lot]
            used = bool(lot.consumed or lot.locked)
            hypothesis.event(f"revoke by {actor}: {c.state}{', lot in use' if used else ''}")
            r = client.post(
                f"/api/v1/completions/{c.id}/revoke",
                json={"reason": "登记错误", "force": force},
                headers=headers,
            )
            if actor == "owner-force":
                _problem(r, 403, "forbidden")
                return
            if actor == "other":
                _problem(r, 404, "completion_not_found")
                return
            if c.state == "revoked":
                assert r.status_code == 200 and r.json()["state"] == "revoked", r.text
                return
            if used and not force:
                _problem(r, 409, "lot_consumed" if lot.consumed else "lot_locked")
                return
            assert r.status_code == 200 and r.json()["state"] == "revoked", r.text
            if used:
                self.reverse_for_lot(lot.id)
            assert lot.consumed == 0 and lot.locked == 0, lot
            lot.state = "reversed"
            c.state = "revoked"

        @precondition(lambda self: self.pending())
        @rule(data=st.data())
        def expire(self, data: st.DataObject) -> None:
            conversion = data.draw(
                st.sampled_from(sorted(self.pending(), key=lambda c: c.id)), label="expiring"
            )
            trigger = data.draw(st.sampled_from(["request", "decide", "sweep"]), label="trigger")
            with db.unit_of_work() as session:
                session.execute(
                    update(Conversion)
                    .where(Conversion.id == conversion.id)
                    .values(expires_at=clock.now() - timedelta(days=1))
                )
            self.release(conversion, "expired")
            if trigger == "request":
                # A new request by the same learner expires the overdue one first — but only a request
                # that succeeds commits; pick one the model says will.
                choices = [
                    name
                    for name in ("QTY", "ALL")
                    if self.taken(conversion.learner, name) is None and self.predict(conversion.learner, name)
                ]
                if choices:
                    self.send_request(conversion.learner, data.draw(st.sampled_from(choices), label="rule"))
                else:
                    trigger = "sweep"
            elif trigger == "decide":
                r = client.post(
                    f"/api/v1/conversions/{conversion.id}/decide",
                    json={"decision": "approve"},
                    headers=self.w.headers[1],
                )
                _problem(r, 409, "conversion_expired")  # and the release is committed all the same
            hypothesis.event(f"expire via {trigger}")
            if trigger == "sweep":
                with db.unit_of_work() as session:
                    assert conversions.expire_pending(session) == 1
            with db.reader() as session:
                assert session.get(Conversion, conversion.id).state == "expired"
            r = client.post(
                f"/api/v1/conversions/{conversion.id}/decide",
                json={"decision": "reject", "reason": "晚了"},
                headers=self.w.headers[1],
            )
            _problem(r, 409, "conversion_expired")

        # -- invariants -----------------------------------------------------------------------------
        @invariant()
        def ledger_is_balanced(self) -> None:
            with db.reader() as session:
                assert (
                    session.execute(select(func.coalesce(func.sum(Posting.amount_units), 0))).scalar_one()
                    == 0
                )
                sums = (
                    select(Posting.account_id, func.sum(Posting.amount_units).label("units"))
                    .group_by(Posting.account_id)
                    .subquery()
                )
                wrong = session.execute(
                    select(LedgerAccount.code, LedgerAccount.balance_units, func.coalesce(sums.c.units, 0))
                    .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
                    .where(LedgerAccount.balance_units != func.coalesce(sums.c.units, 0))
                ).all()
                assert not wrong, wrong

        @invariant()
        def lots_are_exact(self) -> None:
            with db.reader() as session:
                lots = {lot.id: lot for lot in session.execute(select(Lot)).scalars()}
                held = session.execute(
                    select(
                        ConversionLot.conversion_id,
                        ConversionLot.lot_id,
                        ConversionLot.units,
                        Conversion.state,
                    ).join(Conversion, Conversion.id == ConversionLot.conversion_id)
                ).all()
                approved = {
                    c.id: c
                    for c in session.execute(
                        select(Conversion).where(Conversion.state == "approved")
                    ).scalars()
                }
                targets = defaultdict(list)
                for lot in lots.values():
                    if lot.conversion_id is not None:
                        targets[lot.conversion_id].append(lot)
                learner_postings = defaultdict(list)
                if approved:
                    for tx_id, units, lot_id in session.execute(
                        select(Posting.transaction_id, Posting.amount_units, Posting.lot_id)
                        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
                        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
                        .where(LedgerAccount.kind == "learner", LedgerTransaction.kind == "conversion")
                    ):
                        learner_postings[tx_id].append((units, lot_id))
                states = dict(
                    session.execute(
                        select(Conversion.id, Conversion.state).where(
                            Conversion.id.in_(list(self.w.conversions))
                        )
                    ).all()
                )
            locked, consumed = defaultdict(int), defaultdict(int)
            by_conversion = defaultdict(list)
            for conversion_id, lot_id, units, state in held:
                by_conversion[conversion_id].append((lot_id, units))
                if state == "pending":
                    locked[lot_id] += units
                elif state == "approved":
                    consumed[lot_id] += units
            for lot in lots.values():
                assert lot.consumed_units >= 0 and lot.locked_units >= 0, lot
                assert lot.consumed_units + lot.locked_units <= lot.amount_units, lot
                assert lot.locked_units == locked[lot.id], (lot, locked[lot.id])
                assert lot.consumed_units == consumed[lot.id], (lot, consumed[lot.id])
            for conversion in approved.values():
                (target,) = targets[conversion.id]
                assert target.id == conversion.target_lot_id and target.amount_units == conversion.grant_units
                assert target.state == "active", target
                legs = learner_postings[conversion.transaction_id]
                taken = sorted((lot_id, -units) for units, lot_id in legs if units < 0)
                assert taken == sorted(by_conversion[conversion.id]), (taken, by_conversion[conversion.id])
                assert [(u, i) for u, i in legs if u > 0] == [(conversion.grant_units, target.id)], legs
            # ...and the database agrees with the model.
            for m in self.w.lots.values():
                lot = lots[m.id]
                assert (
                    lot.amount_units,
                    lot.consumed_units,
                    lot.locked_units,
                    lot.state,
                    lot.conversion_id,
                ) == (m.amount, m.consumed, m.locked, m.state, m.conversion), (lot, m)
                assert lot.earned_on == m.earned_on and lot.category == m.category and lot.level == m.level, (
                    lot,
                    m,
                )
            for m in self.w.conversions.values():
                assert states[m.id] == m.state, (m, states[m.id])
                assert sorted(by_conversion[m.id]) == m.held, (m, by_conversion[m.id])

        @invariant()
        def balances_match_the_model(self) -> None:
            for person in range(N_LEARNERS):
                total, by_category, by_level, convertible = 0, defaultdict(int), defaultdict(int), 0
                for lot in self.w.lots.values():
                    if lot.learner != person or lot.state != "active":
                        continue
                    total += lot.amount - lot.consumed
                    by_category[lot.category] += lot.amount - lot.consumed
                    by_level[str(lot.level)] += lot.amount - lot.consumed
                    convertible += lot.available
                r = client.get("/api/v1/me/balance", headers=self.w.tokens[person])
                assert r.status_code == 200, r.text
                got = r.json()
                as_units = lambda d: {k: _units(v) for k, v in d.items() if _units(v)}  # noqa: E731
                assert got["account_no"] == self.w.accounts[person]
                assert _units(got["total"]) == total, (got, total)
                assert as_units(got["by_category"]) == {k: v for k, v in by_category.items() if v}, got
                assert as_units(got["by_level"]) == {k: v for k, v in by_level.items() if v}, got
                assert _units(got["convertible"]) == convertible, (got, convertible)

        def teardown(self) -> None:
            with db.reader() as session:
                report = audit(session)
            assert report.ok, report.problems

    run_state_machine_as_test(
        ConversionMachine,
        settings=hypothesis.settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


# -- focused cases: expiry through a refused decision; a cascade reaching one conversion twice -------


def _small_world(client) -> dict:
    """A (community C1, C2 of 1 credit each, academic X), B (T, ADV); QTY: 1.5 community → 2 of B:T,
    ALL: all_of [A:X, B:T] → 3 of B:ADV; one learner with C1 (older) and C2."""
    n = next(_small)
    a_code, b_code = f"CSX{n}A", f"CSX{n}B"
    a = institution(client, a_code, "社区学院")
    b = institution(client, b_code, "开放大学")
    for code, (category, level, credits) in {
        "C1": ("community", 2, 1.0),
        "C2": ("community", 2, 1.0),
        "X": ("academic", 5, 2.0),
    }.items():
        outcome(client, a, code, title_zh=f"成果{code}", category=category, level=level, credits=credits)
    outcome(client, b, "T", title_zh="现代农业技术基础", category="academic", level=5, credits=2.0)
    outcome(client, b, "ADV", title_zh="进阶", category="academic", level=6, credits=3.0)
    qty = _rule(
        client,
        b,
        {
            "code": "QTY",
            "name_zh": "社区学分转换",
            "target_outcome_code": "T",
            "credits": 2,
            "source": {"credits": {"category": "community", "min_level": 2, "amount": 1.5}},
        },
    )
    all_of = _rule(
        client,
        b,
        {
            "code": "ALL",
            "name_zh": "进阶",
            "target_outcome_code": "ADV",
            "credits": 3,
            "source": {"all_of": [f"{a_code}:X", f"{b_code}:T"]},
        },
    )
    person = learner(client, a)
    completions = {}
    for code, day in (("C1", today_minus(60)), ("C2", today_minus(30)), ("X", today_minus(30))):
        r = client.post(
            "/api/v1/completions",
            json=completion_body(person["account_no"], code, completed_on=day),
            headers=a,
        )
        assert r.status_code == 201, r.text
        completions[code] = r.json()["id"]
    return {
        "a": a,
        "b": b,
        "b_code": b_code,
        "qty": qty,
        "all": all_of,
        "me": signed_in(client, person, PASSWORD),
        "completions": completions,
    }


_small = itertools.count(1)


def today_minus(days: int) -> str:
    return (clock.today() - timedelta(days=days)).isoformat()


def test_deciding_an_overdue_request_releases_its_locks(client, db):
    """The 409 conversion_expired says "its credits were released": the release must survive the refusal."""
    w = _small_world(client)
    r = client.post("/api/v1/me/conversions", json={"rule_id": w["qty"]}, headers=w["me"])
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    with db.unit_of_work() as session:
        session.execute(
            update(Conversion).where(Conversion.id == cid).values(expires_at=clock.now() - timedelta(days=1))
        )
    r = client.post(f"/api/v1/conversions/{cid}/decide", json={"decision": "approve"}, headers=w["b"])
    _problem(r, 409, "conversion_expired")
    assert client.get("/api/v1/me/balance", headers=w["me"]).json()["convertible"] == 4.0  # 2 community + X
    with db.reader() as session:
        assert session.get(Conversion, cid).state == "expired"
        assert session.execute(select(func.sum(Lot.locked_units))).scalar_one() == 0


def test_forced_revocation_reverses_a_conversion_reached_by_two_paths_once(client, db, monkeypatch):
    # Conversion ids in creation order, so the cascade meets the quantity conversion first.
    ids = itertools.count(1)
    real_new_id = conversions.new_id

    def new_id(prefix: str) -> str:
        return f"{prefix}_{next(ids):06d}{real_new_id('')}" if prefix == "cnv" else real_new_id(prefix)

    monkeypatch.setattr(conversions, "new_id", new_id)
    w = _small_world(client)
    # QTY takes C1 whole and half of C2, REST the other half of C2 (credits rules may share a lot);
    # BOTH takes the B:T and B:T2 lots they made, so C2 reaches BOTH by two paths.
    outcome(client, w["b"], "T2", title_zh="农业经济", category="academic", level=5, credits=1.0)
    outcome(client, w["b"], "ADV2", title_zh="进阶二", category="academic", level=6, credits=3.0)
    rest = _rule(
        client,
        w["b"],
        {
            "code": "REST",
            "name_zh": "余下的社区学分",
            "target_outcome_code": "T2",
            "credits": 1,
            "source": {"credits": {"category": "community", "min_level": 2, "amount": 0.5}},
        },
    )
    both = _rule(
        client,
        w["b"],
        {
            "code": "BOTH",
            "name_zh": "进阶二",
            "target_outcome_code": "ADV2",
            "credits": 3,
            "source": {"all_of": [f"{w['b_code']}:T", f"{w['b_code']}:T2"]},
        },
    )
    made = []
    for rule_id in (w["qty"], rest, both):
        r = client.post("/api/v1/me/conversions", json={"rule_id": rule_id}, headers=w["me"])
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
        decided = client.post(
            f"/api/v1/conversions/{made[-1]}/decide", json={"decision": "approve"}, headers=w["b"]
        )
        assert decided.status_code == 200, decided.text
    r = client.post(
        f"/api/v1/completions/{w['completions']['C2']}/revoke",
        json={"reason": "登记错误", "force": True},
        headers=OPERATOR,
    )
    assert r.status_code == 200, r.text
    with db.reader() as session:
        assert {session.get(Conversion, c).state for c in made} == {"reversed"}
        assert session.execute(select(func.sum(Lot.consumed_units + Lot.locked_units))).scalar_one() == 0
        report = audit(session)
    assert report.ok, report.problems
    balance = client.get("/api/v1/me/balance", headers=w["me"]).json()
    assert (balance["total"], balance["convertible"]) == (3.0, 3.0)  # C1 and X are back; C2 is revoked
