"""A stateful property test of completions and the ledger, driven only through the HTTP API.

Hypothesis plays an institution clerk (two institutions, a few outcomes, a few learners) who
posts, replays, re-uses external ids, revokes and imports JSON batches (partial and
all-or-nothing, with bad rows mixed in). The machine keeps a model of which completions must
exist and checks after every step that

* each of its learners' balance (total, by category, by level, convertible) read through the API
  equals the model's sum over active completions;
* straight from the database, all postings sum to zero and every ledger account's materialised
  ``balance_units`` equals the sum of its postings;

and at teardown that ``creditbank.audit.audit`` finds nothing wrong.

The database is not reset between Hypothesis examples, so every example creates its own
institutions and learners (fresh codes from a counter) and only ever compares its own learners.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from creditbank.audit import audit
from creditbank.completions.models import Completion
from creditbank.institutions.models import Institution
from creditbank.kit import clock, idcard
from creditbank.kit.checkdigit import mod11_2
from creditbank.ledger.models import LedgerAccount, Posting
from tests.conftest import OPERATOR, institution

# code -> (category, level, credits, min_score, validity_years); the same code may exist at both
# institutions as two different outcomes (catalogues are per institution).
CATALOGUES = [
    {
        "OUT-ELEC": ("community", 2, 1.5, None, None),
        "OUT-WELD": ("vocational_training", 4, 2.25, 60.0, None),
        "COMMON": ("culture_leisure", 1, 1.0, None, 1),
    },
    {
        "OUT-TAICHI": ("senior", 2, 0.5, None, 2),
        "OUT-MATH": ("academic", 6, 3.0, 50.0, None),
        "COMMON": ("community", 3, 0.75, None, None),
    },
]
N_LEARNERS = 3
SCORES = [87.5, None, 45.0, 60.0, 100.0]  # the simplest draw passes every minimum
HOURS = [None, 12.0]
ERROR_STATUS = {
    "score_required": 422,
    "score_below_minimum": 422,
    "duplicate_completion": 409,
    "external_id_conflict": 409,
    "completed_on_in_future": 422,
    "outcome_not_found": 404,
    "learner_not_found": 404,
}
# Bad batch rows: how to spoil a good row, and the code the import must report for it. Each is
# caught before the external id is looked at, so the code does not depend on what else happened.
BAD_ROWS = {
    "invalid_date": ("invalid_value", {"completed_on": "2026-02-30"}),
    "future": ("completed_on_in_future", "future"),
    "negative_score": ("invalid_value", {"score": -1}),
    "no_learner": ("learner_ref_required", {"account_no": None, "national_id": None}),
    "unknown_learner": ("learner_not_found", "unknown_learner"),
    "unknown_outcome": ("outcome_not_found", {"outcome_code": "NO-SUCH-OUTCOME"}),
    "no_external_id": ("invalid_value", {"external_id": "  "}),
}


def _canon(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _add_years(day: date, years: int | None) -> date | None:
    if years is None:
        return None
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _units(credits: float) -> int:
    return round(credits * 100)


@dataclass
class Learner:
    account_no: str
    national_id: str
    enrolled_by: int  # institution index: the one allowed to read the balance


@dataclass
class Model:
    """One completion the bank must hold."""

    id: str
    inst: int
    external_id: str
    learner: int
    outcome_code: str
    completed_on: date
    score: float | None
    hours: float | None
    state: str = "active"

    def key(self, learners: list[Learner]) -> tuple:
        return (
            self.external_id,
            learners[self.learner].account_no,
            self.outcome_code,
            self.completed_on,
            _canon(self.score),
            _canon(self.hours),
        )


@dataclass
class Row:
    """A completion as sent, with the learner named by account number or by national ID."""

    inst: int
    external_id: str
    learner: int
    outcome_code: str
    completed_on: date
    score: float | None
    hours: float | None
    by_national_id: bool = False

    def key(self, learners: list[Learner]) -> tuple:
        return (
            self.external_id,
            learners[self.learner].account_no,
            self.outcome_code,
            self.completed_on,
            _canon(self.score),
            _canon(self.hours),
        )

    def body(self, learners: list[Learner]) -> dict:
        person = learners[self.learner]
        body = {
            "external_id": self.external_id,
            "outcome_code": self.outcome_code,
            "completed_on": self.completed_on.isoformat(),
            "score": self.score,
            "hours": self.hours,
        }
        if self.by_national_id:
            body["national_id"] = person.national_id
        else:
            body["account_no"] = person.account_no
        return body


def _unknown_account_no() -> str:
    digits = "0000000001"
    return f"CB{digits}{mod11_2(digits)}"


def test_ledger_state_machine(client, db, db_url):
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    examples, steps = (15, 15) if backend == "sqlite" else (6, 12)
    today = clock.today()
    days = [today, today - timedelta(days=30), today - timedelta(days=400), today - timedelta(days=800)]

    class LedgerMachine(RuleBasedStateMachine):
        counter = itertools.count(1)

        def __init__(self) -> None:
            super().__init__()
            self.n = next(LedgerMachine.counter)
            self.ext_counter = itertools.count(1)
            self.headers: list[dict[str, str]] = []
            self.codes: list[str] = []
            for i, catalogue in enumerate(CATALOGUES):
                code = f"SM{self.n}{'AB'[i]}"
                headers = institution(client, code=code, name_zh=f"状态机机构{self.n}{'AB'[i]}")
                for outcome_code, (category, level, credits, min_score, validity) in catalogue.items():
                    body = {
                        "title_zh": f"成果 {outcome_code}",
                        "category": category,
                        "level": level,
                        "credits": credits,
                        "min_score": min_score,
                        "validity_years": validity,
                    }
                    r = client.put(f"/api/v1/catalogue/{outcome_code}", json=body, headers=headers)
                    assert r.status_code == 201, r.text
                self.headers.append(headers)
                self.codes.append(code)
            self.learners: list[Learner] = []
            born = date(1950, 1, 1) + timedelta(days=self.n)
            for k in range(N_LEARNERS):
                enrolled_by = k % 2
                nid = idcard.make("500118", born, 100 + k)
                r = client.post(
                    "/api/v1/learners",
                    json={"name": f"学员{self.n}-{k}", "national_id": nid},
                    headers=self.headers[enrolled_by],
                )
                assert r.status_code == 201 and r.json()["created"], r.text
                self.learners.append(Learner(r.json()["account_no"], nid, enrolled_by))
            self.completions: dict[str, Model] = {}
            self.by_ext: dict[tuple[int, str], str] = {}

        # -- the model's judgement of one row (mirrors SPEC §3.4's checks, in order) -------------
        def fresh_ext(self) -> str:
            return f"sm{self.n}-{next(self.ext_counter)}"

        def judge(
            self, row: Row, seen: dict[str, tuple], pairs: set[tuple[int, str]]
        ) -> tuple[str, str | None]:
            """('new', None) | ('replay', completion id) | ('duplicate', None) | ('error', code). Updates
            seen/pairs on 'new' (seen on 'replay' too: a row repeated word for word counts once)."""
            if row.completed_on > today:
                return "error", "completed_on_in_future"
            key = row.key(self.learners)
            if row.external_id in seen:
                if seen[row.external_id] == key:
                    return "duplicate", None
                return "error", "external_id_conflict"
            earlier = self.by_ext.get((row.inst, row.external_id))
            if earlier is not None:
                if self.completions[earlier].key(self.learners) == key:
                    seen[row.external_id] = key
                    return "replay", earlier
                return "error", "external_id_conflict"
            _, _, _, min_score, _ = CATALOGUES[row.inst][row.outcome_code]
            if min_score is not None:
                if row.score is None:
                    return "error", "score_required"
                if row.score < min_score:
                    return "error", "score_below_minimum"
            pair = (row.learner, row.outcome_code)
            if self.holds(row.inst, *pair) or pair in pairs:
                return "error", "duplicate_completion"
            seen[row.external_id] = key
            pairs.add(pair)
            return "new", None

        def holds(self, inst: int, learner: int, outcome_code: str) -> bool:
            return any(
                c.inst == inst
                and c.learner == learner
                and c.outcome_code == outcome_code
                and c.state == "active"
                for c in self.completions.values()
            )

        def remember(self, completion_id: str, row: Row) -> None:
            assert completion_id not in self.completions
            self.completions[completion_id] = Model(
                completion_id,
                row.inst,
                row.external_id,
                row.learner,
                row.outcome_code,
                row.completed_on,
                row.score,
                row.hours,
            )
            self.by_ext[(row.inst, row.external_id)] = completion_id

        def draw_row(
            self,
            data: st.DataObject,
            *,
            external_id: str | None = None,
            inst: int | None = None,
            taken: frozenset[tuple[int, str]] = frozenset(),
        ) -> Row:
            if inst is None:
                inst = data.draw(st.integers(0, 1), label="institution")
            # (learner, outcome) pairs the learner does not hold yet come first, so that the simplest
            # draw posts something new and a duplicate needs a deliberate choice.
            pairs = sorted(
                ((k, code) for k in range(N_LEARNERS) for code in sorted(CATALOGUES[inst])),
                key=lambda pair: self.holds(inst, *pair) or pair in taken,
            )
            learner, outcome_code = data.draw(st.sampled_from(pairs), label="learner, outcome")
            return Row(
                inst=inst,
                external_id=external_id or self.fresh_ext(),
                learner=learner,
                outcome_code=outcome_code,
                completed_on=data.draw(st.sampled_from(days), label="completed_on"),
                score=data.draw(st.sampled_from(SCORES), label="score"),
                hours=data.draw(st.sampled_from(HOURS), label="hours"),
                by_national_id=data.draw(st.booleans(), label="by_national_id"),
            )

        def send(self, row: Row) -> None:
            """POST one completion and check the answer against the model's judgement."""
            verdict, ref = self.judge(row, {}, set())
            hypothesis.event(f"post: {ref if verdict == 'error' else verdict}")
            r = client.post(
                "/api/v1/completions", json=row.body(self.learners), headers=self.headers[row.inst]
            )
            if verdict == "error":
                assert r.status_code == ERROR_STATUS[ref], (ref, r.status_code, r.text)
                assert r.json()["code"] == ref, r.text
                return
            out = r.json()
            assert out["account_no"] == self.learners[row.learner].account_no
            if verdict == "replay":
                assert r.status_code == 200, r.text
                expected = self.completions[ref]
                assert out["id"] == ref and out["state"] == expected.state, (out, expected)
                assert out["outcome_code"] == expected.outcome_code
                return
            assert r.status_code == 201, r.text
            if any(
                c.inst == row.inst and (c.learner, c.outcome_code) == (row.learner, row.outcome_code)
                for c in self.completions.values()
            ):
                hypothesis.event("post: new after a revocation of the same outcome")
            assert out["state"] == "active" and out["outcome_code"] == row.outcome_code
            assert round(out["credits"] * 100) == _units(CATALOGUES[row.inst][row.outcome_code][2])
            self.remember(out["id"], row)

        def pick(self, data: st.DataObject) -> Model:
            return self.completions[data.draw(st.sampled_from(list(self.completions)), label="completion")]

        # -- rules ----------------------------------------------------------------------------
        @rule(data=st.data())
        def post(self, data: st.DataObject) -> None:
            row = self.draw_row(data)
            if data.draw(st.integers(0, 4), label="future?") == 4:
                row.completed_on = today + timedelta(days=1)
            self.send(row)

        @precondition(lambda self: self.completions)
        @rule(data=st.data())
        def reuse_external_id_elsewhere(self, data: st.DataObject) -> None:
            """Another institution's external_id is a fresh id here: (institution, external_id) is the key."""
            other = self.pick(data)
            row = self.draw_row(data, external_id=other.external_id)
            self.send(row)

        @precondition(lambda self: self.completions)
        @rule(data=st.data())
        def replay(self, data: st.DataObject) -> None:
            """Same external_id, same content (the learner may be named the other way) → 200, same id."""
            c = self.pick(data)
            row = Row(
                c.inst,
                c.external_id,
                c.learner,
                c.outcome_code,
                c.completed_on,
                c.score,
                c.hours,
                by_national_id=data.draw(st.booleans(), label="by_national_id"),
            )
            assert self.judge(row, {}, set()) == ("replay", c.id)
            self.send(row)

        @precondition(lambda self: self.completions)
        @rule(data=st.data())
        def conflict(self, data: st.DataObject) -> None:
            """Same external_id, other content → 409 external_id_conflict, nothing written."""
            c = self.pick(data)
            row = Row(c.inst, c.external_id, c.learner, c.outcome_code, c.completed_on, c.score, c.hours)
            change = data.draw(
                st.sampled_from(["score", "completed_on", "outcome", "learner", "hours"]), label="change"
            )
            if change == "score":
                row.score = data.draw(st.sampled_from([s for s in SCORES if _canon(s) != _canon(c.score)]))
            elif change == "completed_on":
                row.completed_on = data.draw(st.sampled_from([d for d in days if d != c.completed_on]))
            elif change == "outcome":
                row.outcome_code = data.draw(
                    st.sampled_from(sorted(set(CATALOGUES[c.inst]) - {c.outcome_code}))
                )
            elif change == "learner":
                row.learner = (c.learner + data.draw(st.integers(1, N_LEARNERS - 1))) % N_LEARNERS
            else:
                row.hours = 7.0 if c.hours is None else None
            assert self.judge(row, {}, set()) == ("error", "external_id_conflict")
            self.send(row)

        @precondition(lambda self: self.completions)
        @rule(data=st.data())
        def revoke(self, data: st.DataObject) -> None:
            c = self.pick(data)
            actor = data.draw(st.sampled_from(["owner", "owner", "operator", "other"]), label="actor")
            headers = {
                "owner": self.headers[c.inst],
                "other": self.headers[1 - c.inst],
                "operator": OPERATOR,
            }[actor]
            hypothesis.event(f"revoke: by {actor}, {c.state}")
            r = client.post(
                f"/api/v1/completions/{c.id}/revoke", json={"reason": "登记错误"}, headers=headers
            )
            if actor == "other":
                assert r.status_code == 404 and r.json()["code"] == "completion_not_found", r.text
                return
            assert r.status_code == 200, r.text
            assert r.json()["id"] == c.id and r.json()["state"] == "revoked", r.text
            c.state = "revoked"

        @rule(data=st.data())
        def post_with_idempotency_key(self, data: st.DataObject) -> None:
            """A retried POST with the same Idempotency-Key gets the very same answer; another body is a 409."""
            row = self.draw_row(data)
            key = {"Idempotency-Key": f"idem-{self.fresh_ext()}"}
            headers = self.headers[row.inst] | key
            verdict, _ = self.judge(row, {}, set())
            first = client.post("/api/v1/completions", json=row.body(self.learners), headers=headers)
            if verdict == "new":
                assert first.status_code == 201, first.text
                self.remember(first.json()["id"], row)
            again = client.post("/api/v1/completions", json=row.body(self.learners), headers=headers)
            assert (again.status_code, again.json()) == (first.status_code, first.json())
            other = client.post(
                "/api/v1/completions", json=row.body(self.learners) | {"hours": 3.0}, headers=headers
            )
            if first.status_code < 400:  # only a successful answer is stored under the key
                assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused", (
                    other.text
                )
            else:
                row.hours = 3.0
                verdict, _ = self.judge(row, {}, set())
                if verdict == "new":
                    assert other.status_code == 201, other.text
                    self.remember(other.json()["id"], row)

        @precondition(lambda self: any(c.state == "active" for c in self.completions.values()))
        @rule(data=st.data())
        def revoke_then_repost(self, data: st.DataObject) -> None:
            """A corrected record: revoke, then post the same outcome again under a new external_id."""
            active = [c for c in self.completions.values() if c.state == "active"]
            c = data.draw(st.sampled_from(active), label="corrected")
            r = client.post(
                f"/api/v1/completions/{c.id}/revoke", json={"reason": "更正"}, headers=self.headers[c.inst]
            )
            assert r.status_code == 200 and r.json()["state"] == "revoked", r.text
            c.state = "revoked"
            self.send(
                Row(
                    c.inst,
                    self.fresh_ext(),
                    c.learner,
                    c.outcome_code,
                    data.draw(st.sampled_from(days), label="corrected date"),
                    c.score,
                    c.hours,
                )
            )

        @rule(data=st.data())
        def batch(self, data: st.DataObject) -> None:
            inst = data.draw(st.integers(0, 1), label="batch institution")
            mode = data.draw(st.sampled_from(["partial", "all_or_nothing"]), label="mode")
            mine = [c for c in self.completions.values() if c.inst == inst]
            kinds = ["new", "new", "bad", "repeat"] + (["replay", "conflict"] if mine else [])
            n_rows = data.draw(st.integers(1, 5), label="rows")
            rows: list[tuple[Row, str | None]] = []  # (row, expected error code for spoilt rows)
            for _ in range(n_rows):
                kind = data.draw(st.sampled_from(kinds), label="kind")
                if kind == "repeat" and not rows:
                    kind = "new"
                if kind == "replay":
                    c = data.draw(st.sampled_from(mine), label="replayed")
                    rows.append(
                        (
                            Row(
                                inst,
                                c.external_id,
                                c.learner,
                                c.outcome_code,
                                c.completed_on,
                                c.score,
                                c.hours,
                                by_national_id=data.draw(st.booleans()),
                            ),
                            None,
                        )
                    )
                elif kind == "conflict":
                    c = data.draw(st.sampled_from(mine), label="conflicting")
                    rows.append(
                        (
                            Row(
                                inst,
                                c.external_id,
                                c.learner,
                                c.outcome_code,
                                c.completed_on,
                                None if c.score == 100.0 else 100.0,
                                c.hours,
                            ),
                            None,
                        )
                    )
                elif kind == "repeat":
                    # The same external_id twice in one file: identical (duplicate_in_file) or not.
                    earlier = data.draw(st.sampled_from([r for r, _ in rows]), label="repeated")
                    same = data.draw(st.booleans(), label="identical")
                    rows.append(
                        (
                            Row(
                                inst,
                                earlier.external_id,
                                earlier.learner,
                                earlier.outcome_code,
                                earlier.completed_on,
                                earlier.score if same else 99.0,
                                earlier.hours,
                            ),
                            None,
                        )
                    )
                else:
                    row = self.draw_row(
                        data, inst=inst, taken=frozenset((r.learner, r.outcome_code) for r, _ in rows)
                    )
                    spoil = (
                        data.draw(st.sampled_from(sorted(BAD_ROWS)), label="spoil") if kind == "bad" else None
                    )
                    rows.append((row, spoil))
            # Bodies, and the model's verdict row by row.
            bodies, expected_errors, new_rows, replays, duplicates = [], [], [], 0, []
            seen: dict[str, tuple] = {}
            pairs: set[tuple[int, str]] = set()
            for line, (row, spoil) in enumerate(rows, start=1):
                body = row.body(self.learners)
                body["completed_on"] = row.completed_on.isoformat()
                if spoil is not None:
                    code, change = BAD_ROWS[spoil]
                    if change == "future":
                        body["completed_on"] = (today + timedelta(days=3)).isoformat()
                    elif change == "unknown_learner":
                        body.pop("national_id", None)
                        body["account_no"] = _unknown_account_no()
                    else:
                        body.update(change)
                    expected_errors.append((line, code))
                else:
                    verdict, ref = self.judge(row, seen, pairs)
                    if verdict == "error":
                        expected_errors.append((line, ref))
                    elif verdict == "replay":
                        replays += 1
                    elif verdict == "duplicate":
                        duplicates.append((line, "duplicate_in_file"))
                    else:
                        new_rows.append(row)
                bodies.append(body)
            for _, code in expected_errors:
                hypothesis.event(f"batch row: {code}")
            hypothesis.event(
                f"batch {mode}: {'rejected' if mode == 'all_or_nothing' and expected_errors else 'committed'}"
                f" ({len(new_rows)} new, {replays} replayed)"
            )
            r = client.post(
                "/api/v1/completions/batch", json={"mode": mode, "rows": bodies}, headers=self.headers[inst]
            )
            if mode == "all_or_nothing" and expected_errors:
                assert r.status_code == 422, r.text
                problem = r.json()
                assert problem["code"] == "batch_rejected", problem
                assert [(e["line"], e["code"]) for e in problem["errors"]] == expected_errors, (problem, rows)
                new_rows = []
            else:
                assert r.status_code == 200, r.text
                report = r.json()
                assert [(e["line"], e["code"]) for e in report["errors"]] == expected_errors, (report, rows)
                assert [(w["line"], w["code"]) for w in report["warnings"]] == duplicates, (report, rows)
                assert report["duplicates"] == len(duplicates)
                assert (report["total_rows"], report["accepted"], report["replayed"], report["rejected"]) == (
                    len(rows),
                    len(new_rows),
                    replays,
                    len(expected_errors),
                ), report
                assert report["committed"] is True
            # The report has no ids: read them (and prove nothing else was written) from the database.
            with db.reader() as session:
                written = dict(
                    session.execute(
                        select(Completion.external_id, Completion.id)
                        .join(Institution, Institution.id == Completion.institution_id)
                        .where(
                            Institution.code == self.codes[inst],
                            Completion.external_id.in_(
                                [b["external_id"] for b in bodies if b["external_id"]]
                            ),
                        )
                    ).all()
                )
            expected_ids = {row.external_id for row in new_rows} | {
                b["external_id"] for b in bodies if (inst, b["external_id"]) in self.by_ext
            }
            assert set(written) == expected_ids, (written, expected_ids)
            for row in new_rows:
                self.remember(written[row.external_id], row)

        # -- invariants -----------------------------------------------------------------------
        @invariant()
        def balances_match_the_model(self) -> None:
            for index, person in enumerate(self.learners):
                active = [c for c in self.completions.values() if c.learner == index and c.state == "active"]
                total, by_category, by_level, convertible = 0, {}, {}, 0
                for c in active:
                    category, level, credits, _, validity = CATALOGUES[c.inst][c.outcome_code]
                    units = _units(credits)
                    total += units
                    by_category[category] = by_category.get(category, 0) + units
                    by_level[str(level)] = by_level.get(str(level), 0) + units
                    expires = _add_years(c.completed_on, validity)
                    if expires is None or expires >= today:
                        convertible += units
                r = client.get(
                    f"/api/v1/learners/{person.account_no}/balance", headers=self.headers[person.enrolled_by]
                )
                assert r.status_code == 200, r.text
                got = r.json()
                as_units = lambda d: {k: round(v * 100) for k, v in d.items() if round(v * 100)}  # noqa: E731
                assert round(got["total"] * 100) == total, (person, got, active)
                assert as_units(got["by_category"]) == by_category, (got, active)
                assert as_units(got["by_level"]) == by_level, (got, active)
                assert round(got["convertible"] * 100) == convertible, (got, active)

        @invariant()
        def ledger_is_balanced(self) -> None:
            with db.reader() as session:
                total = session.execute(select(func.coalesce(func.sum(Posting.amount_units), 0))).scalar_one()
                assert total == 0
                sums = (
                    select(Posting.account_id, func.sum(Posting.amount_units).label("units"))
                    .group_by(Posting.account_id)
                    .subquery()
                )
                rows = session.execute(
                    select(
                        LedgerAccount.code, LedgerAccount.balance_units, func.coalesce(sums.c.units, 0)
                    ).outerjoin(sums, sums.c.account_id == LedgerAccount.id)
                ).all()
                wrong = [(code, stored, summed) for code, stored, summed in rows if stored != summed]
                assert not wrong, wrong
                mine = {f"learner:{p.account_no}": p for p in self.learners}
                for code, stored, _ in rows:
                    if code in mine:
                        index = self.learners.index(mine[code])
                        assert stored == sum(
                            _units(CATALOGUES[c.inst][c.outcome_code][2])
                            for c in self.completions.values()
                            if c.learner == index and c.state == "active"
                        )

        def teardown(self) -> None:
            with db.reader() as session:
                report = audit(session)
            assert report.ok, report.problems

    run_state_machine_as_test(
        LedgerMachine,
        settings=hypothesis.settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
