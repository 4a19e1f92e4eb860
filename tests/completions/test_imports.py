"""Staged batch imports (completions.imports): other writers keep moving, the batch stays all-or-nothing.

Both databases (the ``db_url`` fixture). The import is driven in-process with a small chunk so it
commits many chunks; its ``progress`` callback runs between two chunks, when the import holds no
lock — that is where another institution posts, a reader looks, or a crash is simulated.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from creditbank.audit import audit
from creditbank.completions import imports
from creditbank.completions import service as completions
from creditbank.completions.models import Completion, CompletionImport, CompletionState, ImportState
from creditbank.conversion.service import lot_views
from creditbank.errors import CreditbankError
from creditbank.institutions.models import Institution
from creditbank.learners.models import Learner
from creditbank.learners.queries import statement
from creditbank.ledger.models import BatchState, LedgerTransaction, Lot, LotBatch, LotState
from tests.conftest import ADMIN, OPERATOR, completion_body, counting, institution, learner, outcome

ROWS = 12
CHUNK = 3


class Crash(Exception):
    """Stands for the process dying between two chunks."""


def _count(db, model, *where) -> int:
    with db.reader() as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _institution_id(db, code: str) -> int:
    with db.reader() as session:
        return session.execute(select(Institution.id).where(Institution.code == code)).scalar_one()


def _world(client, db):
    """One importing institution (12 learners × 1 outcome) and another one posting singles."""
    importer = institution(client, "IMPORTER", "导入学院")
    outcome(client, importer, "IMP-1", credits=1.0)
    people = [learner(client, importer) for _ in range(ROWS)]
    other = institution(client, "OTHER", "另一学院")
    for n in range(4):
        outcome(client, other, f"OTH-{n}", credits=2.0)
    return importer, other, people


def _rows(people, prefix: str = "E"):
    return [
        (line, {"external_id": f"{prefix}{line}", "account_no": p["account_no"], "national_id": None,
                "outcome_code": "IMP-1", "completed_on": "2026-06-01", "score": None, "hours": None})
        for line, p in enumerate(people, start=2)
    ]  # fmt: skip


def _run(db, settings, rows, **kwargs):
    return imports.run(
        db,
        institution_id=_institution_id(db, "IMPORTER"),
        api_key_id=None,
        secret=settings.id_secret(),
        rows=lambda: rows,
        chunk=CHUNK,
        **kwargs,
    )


def _balance(client, headers, account_no) -> float:
    r = client.get(f"/api/v1/learners/{account_no}/balance", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["total"]


class TestStagedImport:
    def test_every_row_is_published_at_once_and_the_audit_passes(self, client, db, settings):
        importer, _, people = _world(client, db)
        report = _run(db, settings, _rows(people))
        assert (report.accepted, report.rejected, report.committed) == (ROWS, 0, True)
        assert _count(db, Completion, Completion.state == CompletionState.active) == ROWS
        assert _count(db, Lot, Lot.state == LotState.active) == ROWS
        assert all(_balance(client, importer, p["account_no"]) == 1.0 for p in people)
        with db.reader() as session:
            assert audit(session).ok
            assert session.execute(select(CompletionImport.state)).scalar_one() == ImportState.published

    def test_the_file_is_read_once_and_each_row_is_written_as_the_file_says(self, client, db, settings):
        # All-or-nothing: the write pass takes the rows the check pass cleaned (imports._Cleaned)
        # instead of reading the upload a second time — ID numbers, empty and decimal cells, and
        # dates in the forms offices write come out of it as a single read of the file gives them.
        _, _, people = _world(client, db)
        rows = _rows(people)
        for k, (_, values) in enumerate(rows):
            if k % 2:
                values.update(account_no=None, national_id=people[k]["national_id"])
            values.update(
                completed_on=["2026/3/1", "2025年12月31日", "2024-02-29"][k % 3],
                score=["87.5", "", "90"][k % 3],
                hours=["", "12", "0.25"][k % 3],
            )
        reads = []

        def source():
            reads.append(1)
            return iter(rows)

        report = imports.run(db, institution_id=_institution_id(db, "IMPORTER"), api_key_id=None,
                             secret=settings.id_secret(), rows=source, chunk=CHUNK)  # fmt: skip
        assert (report.accepted, report.rejected, len(reads)) == (ROWS, 0, 1)
        with db.reader() as session:
            written = {
                c.external_id: (account_no, c.completed_on.isoformat(), c.score, c.hours, c.state)
                for c, account_no in session.execute(
                    select(Completion, Learner.account_no).join(Learner, Learner.id == Completion.learner_id)
                )
            }
            assert audit(session).ok
        assert written == {
            f"E{k + 2}": (
                p["account_no"],
                ["2026-03-01", "2025-12-31", "2024-02-29"][k % 3],
                [87.5, None, 90.0][k % 3],
                [None, 12.0, 0.25][k % 3],
                CompletionState.active,
            )
            for k, p in enumerate(people)
        }

    def test_nothing_is_visible_or_spendable_until_the_import_publishes(self, client, db, settings):
        importer, _, people = _world(client, db)
        first = people[0]["account_no"]
        seen: list[tuple[int, float, int, int]] = []

        def look(_n: int) -> None:
            balance = client.get(f"/api/v1/learners/{first}/balance", headers=importer).json()
            with db.reader() as session:
                learner_id = session.execute(
                    select(Learner.id).where(Learner.account_no == first)
                ).scalar_one()
                assert lot_views(session, learner_id) == []  # nothing to spend either
                written = session.execute(select(Completion.id).limit(1)).scalar_one()
            # Not even its institution can look a row up by id before the import is published.
            hidden = client.get(f"/api/v1/completions/{written}", headers=importer)
            assert hidden.status_code == 404 and hidden.json()["code"] == "completion_unpublished", (
                hidden.text
            )
            seen.append(
                (
                    _count(db, Completion, Completion.state == CompletionState.pending),
                    balance["total"],
                    _count(db, Lot, Lot.state == LotState.active),
                    _count(db, Completion, Completion.state == CompletionState.active),
                )
            )

        _run(db, settings, _rows(people), progress=look)
        # Chunk after chunk the rows are on the ledger as pending, and nobody sees a credit of them.
        assert [pending for pending, *_ in seen] == [3, 6, 9, 12]
        assert {(total, lots, active) for _, total, lots, active in seen} == {(0.0, 0, 0)}
        assert _balance(client, importer, first) == 1.0

    def test_another_institution_posts_while_the_import_runs_and_the_import_is_unchanged(
        self, client, db, settings
    ):
        importer, other, people = _world(client, db)
        outsider = learner(client, other)
        answers: list[int] = []

        def post_from_elsewhere(_n: int) -> None:
            # Runs between two of the import's chunks, on another thread: with the import holding
            # the ledger lock for its whole duration this post would wait until it timed out.
            body = completion_body(outsider["account_no"], f"OTH-{len(answers)}")
            done: list[int] = []
            poster = threading.Thread(
                target=lambda: done.append(
                    client.post("/api/v1/completions", json=body, headers=other).status_code
                )
            )
            poster.start()
            poster.join(timeout=60)
            answers.append(done[0] if done else -1)

        report = _run(db, settings, _rows(people), progress=post_from_elsewhere)
        assert answers == [201, 201, 201, 201]
        assert (report.accepted, report.rejected) == (ROWS, 0)
        assert _balance(client, other, outsider["account_no"]) == 8.0
        assert all(_balance(client, importer, p["account_no"]) == 1.0 for p in people)
        with db.reader() as session:
            assert audit(session).ok

    def test_a_crash_mid_import_leaves_nothing_visible_and_the_same_file_again_finishes_it(
        self, client, db, settings
    ):
        importer, _, people = _world(client, db)

        def crash_after_two_chunks(_n: int) -> None:
            if _count(db, Completion) >= 2 * CHUNK:
                raise Crash

        with pytest.raises(Crash):
            _run(db, settings, _rows(people), progress=crash_after_two_chunks)
        assert _count(db, Completion, Completion.state == CompletionState.pending) == 2 * CHUNK
        assert _count(db, Completion, Completion.state == CompletionState.active) == 0
        assert _count(db, Lot, Lot.state == LotState.active) == 0
        assert all(_balance(client, importer, p["account_no"]) == 0.0 for p in people)
        with db.reader() as session:
            first = session.execute(
                select(Learner).where(Learner.account_no == people[0]["account_no"])
            ).scalar_one()
            assert statement(session, first, after=None, limit=50) == []
            assert audit(session).ok
            assert session.execute(select(CompletionImport.state)).scalar_one() == ImportState.failed
        # A single post of a pending row is refused (only the file finishes it) …
        r = client.post(
            "/api/v1/completions",
            json=completion_body(
                people[0]["account_no"], "IMP-1", external_id="E2", completed_on="2026-06-01"
            ),
            headers=importer,
        )
        assert r.status_code == 409 and r.json()["code"] == "completion_pending"
        # … and the same file again adopts the 6 pending rows and writes the other 6: same answer.
        report = _run(db, settings, _rows(people))
        assert (report.accepted, report.replayed, report.rejected) == (ROWS, 0, 0)
        assert _count(db, Completion) == ROWS
        assert _count(db, LedgerTransaction) == ROWS  # no credit written twice
        assert all(_balance(client, importer, p["account_no"]) == 1.0 for p in people)
        with db.reader() as session:
            assert audit(session).ok
        # Once published, the same file again replays every row.
        again = _run(db, settings, _rows(people))
        assert (again.accepted, again.replayed) == (0, ROWS)

    def test_a_pair_posted_by_hand_after_a_crash_is_not_credited_twice_when_the_file_is_sent_again(
        self, client, db, settings
    ):
        importer, _, people = _world(client, db)

        def crash_after_one_chunk(_n: int) -> None:
            if _count(db, Completion) >= CHUNK:
                raise Crash

        with pytest.raises(Crash):
            _run(db, settings, _rows(people), progress=crash_after_one_chunk)
        # The clerk, tired of waiting, posts the first learner's course by hand under another id.
        body = completion_body(
            people[0]["account_no"], "IMP-1", external_id="HAND-1", completed_on="2026-06-01"
        )
        assert client.post("/api/v1/completions", json=body, headers=importer).status_code == 201
        # The file sent again is refused at that row (it answered 500 at the publish, every time) …
        with pytest.raises(CreditbankError) as caught:
            _run(db, settings, _rows(people))
        assert caught.value.code == "batch_rejected"
        assert [(e["line"], e["code"]) for e in caught.value.errors or []] == [(2, "duplicate_completion")]
        # … and the learner holds the one credit, never two.
        assert _balance(client, importer, people[0]["account_no"]) == 1.0
        with db.reader() as session:
            assert audit(session).ok

    def test_a_bad_row_anywhere_rejects_the_batch_before_anything_is_written(self, client, db, settings):
        _, _, people = _world(client, db)
        rows = _rows(people)
        rows[-1][1]["outcome_code"] = "NOPE"
        with pytest.raises(CreditbankError) as caught:
            _run(db, settings, rows)
        assert caught.value.code == "batch_rejected"
        assert [e["line"] for e in caught.value.errors or []] == [ROWS + 1]
        assert _count(db, Completion) == 0 and _count(db, LedgerTransaction) == 0
        assert _count(db, CompletionImport) == 0

    def test_a_row_repeated_in_the_file_counts_once_and_other_content_refuses_before_anything_is_written(
        self, client, db, settings
    ):
        _, _, people = _world(client, db)
        rows = _rows(people)
        rows.append((ROWS + 2, dict(rows[0][1])))  # line 2 again, word for word: counted once
        rows.append((ROWS + 3, {**rows[1][1], "score": "75"}))  # line 3's id, other content
        with pytest.raises(CreditbankError) as caught:
            _run(db, settings, rows)
        errors = caught.value.errors or []
        assert [(e["line"], e["code"]) for e in errors] == [(ROWS + 3, "external_id_conflict")]
        assert _count(db, Completion) == 0 and _count(db, LedgerTransaction) == 0

    @pytest.mark.parametrize("mode", ["all_or_nothing", "partial"])
    def test_a_row_repeated_chunks_later_is_a_duplicate_of_its_first_line(self, client, db, settings, mode):
        """Partial mode wrote line 2 (pending) chunks before its repeat: that was duplicate_completion."""
        _, _, people = _world(client, db)
        rows = _rows(people)
        rows.append((ROWS + 2, dict(rows[0][1])))  # line 2 again, chunks after line 2 was written
        report = _run(db, settings, rows, mode=mode)
        assert (report.accepted, report.duplicates, report.errors) == (ROWS, 1, [])
        (warning,) = report.warnings
        assert (warning["line"], warning["code"]) == (ROWS + 2, "duplicate_in_file")
        assert "line 2" in warning["message_en"] and "第 2 行" in warning["message_zh"]
        assert _count(db, Completion) == ROWS

    def test_the_importing_institution_waits_for_its_own_import(self, client, db, settings):
        importer, _, people = _world(client, db)
        extra = learner(client, importer)
        refused: list[str] = []

        def meanwhile(_n: int) -> None:
            if refused:
                return
            try:
                _run(db, settings, _rows([extra], prefix="X"))
            except CreditbankError as exc:
                refused.append(exc.code)
            r = client.post(
                "/api/v1/completions", json=completion_body(extra["account_no"], "IMP-1"), headers=importer
            )
            refused.append(r.json()["code"])

        _run(db, settings, _rows(people), progress=meanwhile)
        assert refused == ["import_in_progress", "import_in_progress"]
        # Afterwards both go through.
        assert _run(db, settings, _rows([extra], prefix="X")).accepted == 1

    def test_partial_mode_publishes_the_good_rows_together(self, client, db, settings):
        _, _, people = _world(client, db)
        rows = _rows(people)
        rows[4][1]["outcome_code"] = "NOPE"
        rows.append((ROWS + 2, {**rows[0][1], "external_id": "DUP"}))  # same learner × outcome as line 2
        report = _run(db, settings, rows, mode="partial")
        assert (report.accepted, report.rejected) == (ROWS - 1, 2)
        assert [e["code"] for e in report.errors] == ["outcome_not_found", "duplicate_completion"]
        assert _count(db, Completion, Completion.state == CompletionState.active) == ROWS - 1
        with db.reader() as session:
            assert audit(session).ok

    @pytest.mark.parametrize("mode", ["all_or_nothing", "partial"])
    def test_a_name_column_costs_a_query_per_chunk_at_most_and_a_wrong_name_is_refused(
        self, client, db, settings, mode
    ):
        """The 姓名 check reads registered names with the learners (no query of its own) and the
        names before a correction only for the chunks that need them — never one query per row."""
        importer, _, people = _world(client, db)  # 张桂兰, each of them
        for p in people[::2]:  # half of them corrected since: the file still says the old name
            done = client.post(
                f"/api/v1/learners/{p['account_no']}/name-corrections",
                json={"name": "张贵兰", "reason": "开户时录错"},
                headers=importer,
            )
            assert done.status_code == 201, done.text
        rows = _rows(people)
        for _, values in rows:
            values["name"] = "张 桂兰"
        rows[-1][1]["name"] = "李建国"  # the wrong person's ID number, most likely
        with counting(db) as statements:
            if mode == "partial":
                report = _run(db, settings, rows, mode=mode)
            else:
                with pytest.raises(CreditbankError) as caught:
                    _run(db, settings, rows)
        former = [s for s in statements if "learner_name_correction" in s]
        chunks = ROWS // CHUNK
        if mode == "partial":
            assert (report.accepted, [(e["line"], e["code"]) for e in report.errors]) == (
                ROWS - 1,
                [(ROWS + 1, "name_mismatch")],
            )
            assert len(former) == chunks  # one pass
        else:
            errors = caught.value.errors or []
            assert [(e["line"], e["code"]) for e in errors] == [(ROWS + 1, "name_mismatch")]
            assert _count(db, Completion) == 0 and _count(db, LedgerTransaction) == 0
            assert len(former) == chunks  # the check pass only: nothing was written
        # Every name the current one: the names before a correction are not asked for at all.
        current = [(line, {**v, "external_id": f"N{line}", "name": "张桂兰"}) for line, v in rows[1::2]]
        with counting(db) as statements:
            _run(db, settings, current, mode="partial")
        assert not [s for s in statements if "learner_name_correction" in s]


class TestPublish:
    """Publishing releases the import's batch: two rows change whatever the import's size (on SQLite
    the one write lock is held for a moment, not for a row update per completion and lot), and every
    credit of the import appears at that commit. The rows are turned active afterwards ("settled")."""

    def _published_not_settled(self, client, db, settings, monkeypatch):
        importer, _, people = _world(client, db)

        def crash(*_args, **_kwargs):
            raise Crash  # the process dies right after the publishing commit

        monkeypatch.setattr(imports, "settle", crash)
        report = _run(db, settings, _rows(people))
        monkeypatch.undo()
        assert report.committed
        return importer, people

    def test_the_publish_turns_no_row_yet_every_credit_appears_at_once(
        self, client, db, settings, monkeypatch
    ):
        importer, people = self._published_not_settled(client, db, settings, monkeypatch)
        # The publishing transaction changed none of the import's rows …
        assert _count(db, Completion, Completion.state == CompletionState.pending) == ROWS
        assert _count(db, Lot, Lot.state == LotState.pending) == ROWS
        with db.reader() as session:
            assert session.execute(select(LotBatch.state)).scalar_one() == BatchState.released
        # … and yet every learner sees and may spend the credit: balance, statement, completions.
        assert all(_balance(client, importer, p["account_no"]) == 1.0 for p in people)
        with db.reader() as session:
            first = session.execute(
                select(Learner).where(Learner.account_no == people[0]["account_no"])
            ).scalar_one()
            assert [line.amount_units for line in statement(session, first, after=None, limit=50)] == [100]
            assert len(completions.for_learner(session, first.id)) == 1
            assert len(lot_views(session, first.id)) == 1
            assert audit(session).ok
        # The importer's own single post of a published pair is a duplicate; its own id a replay.
        body = completion_body(people[0]["account_no"], "IMP-1", completed_on="2026-06-01")
        r = client.post("/api/v1/completions", json={**body, "external_id": "LATER"}, headers=importer)
        assert r.status_code == 409 and r.json()["code"] == "duplicate_completion", r.text
        r = client.post("/api/v1/completions", json={**body, "external_id": "E2"}, headers=importer)
        assert r.status_code == 200 and r.json()["state"] == "active", r.text
        # Looked up by its id, the record counts as it is: active (it answered 500 'pending' before).
        shown = client.get(f"/api/v1/completions/{r.json()['id']}", headers=importer)
        assert shown.status_code == 200 and shown.json()["state"] == "active", shown.text
        # The next import settles what the crash left: the same figures, plain active rows now.
        assert imports.settle_released(db) == ROWS
        assert _count(db, Completion, Completion.state == CompletionState.active) == ROWS
        assert _count(db, Lot, Lot.state == LotState.active) == ROWS
        assert all(_balance(client, importer, p["account_no"]) == 1.0 for p in people)
        with db.reader() as session:
            assert session.execute(select(LotBatch.state)).scalar_one() == BatchState.settled
            assert audit(session).ok

    def test_a_published_row_can_be_revoked_before_it_is_settled(self, client, db, settings, monkeypatch):
        importer, people = self._published_not_settled(client, db, settings, monkeypatch)
        with db.reader() as session:
            target = session.execute(select(Completion.id).where(Completion.external_id == "E2")).scalar_one()
        r = client.post(f"/api/v1/completions/{target}/revoke", json={"reason": "录入错误"}, headers=importer)
        assert r.status_code == 200 and r.json()["state"] == "revoked", r.text
        assert imports.settle_released(db) == ROWS - 1  # the revoked one stays revoked
        assert _balance(client, importer, people[0]["account_no"]) == 0.0
        assert all(_balance(client, importer, p["account_no"]) == 1.0 for p in people[1:])
        with db.reader() as session:
            assert audit(session).ok


def test_a_batch_with_an_idempotency_key_answers_the_same_twice(client, db):
    importer = institution(client, "IMPORTER", "导入学院")
    outcome(client, importer, "IMP-1", credits=1.0)
    person = learner(client, importer)
    data = (
        f"external_id,account_no,outcome_code,completed_on\nK1,{person['account_no']},IMP-1,2026-06-01\n"
    ).encode()
    headers = importer | {"Content-Type": "text/csv", "Idempotency-Key": "term-2026"}
    first = client.post("/api/v1/completions/batch", content=data, headers=headers)
    second = client.post("/api/v1/completions/batch", content=data, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and first.json()["accepted"] == 1
    assert second.headers.get("Idempotent-Replayed") == "true"
    other = client.post("/api/v1/completions/batch", content=data + b"\n", headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


class TestRefusedInstitution:
    """A suspended or not accredited institution's upload is refused before anything is written: no
    import record is left behind (a "failed" import with 0 rows that ``creditbank abandon-import``
    and the console would list), whatever the mode, and the error is the one the API gives."""

    def _refused(self, client, state: str):
        importer, _, people = _world(client, None)
        if state == "suspended":
            assert client.post("/api/v1/institutions/IMPORTER/suspend", headers=OPERATOR).status_code == 200
            return importer, people, "institution_suspended"
        pending = institution(client, "PENDING", "待认证学院", accredit=False)
        return pending, people, "institution_not_accredited"

    def _nothing_written(self, db) -> None:
        assert _count(db, CompletionImport) == 0
        assert _count(db, LotBatch) == 0
        assert _count(db, Completion) == 0

    @pytest.mark.parametrize("mode", ["all_or_nothing", "partial"])
    @pytest.mark.parametrize("state", ["suspended", "pending"])
    def test_the_import_is_refused_and_leaves_no_import_record(self, client, db, settings, state, mode):
        _, people, code = self._refused(client, state)
        who = "IMPORTER" if state == "suspended" else "PENDING"
        for rows in (_rows(people), []):  # an empty file too: it would publish an empty import
            with pytest.raises(CreditbankError) as caught:
                imports.run(db, institution_id=_institution_id(db, who), api_key_id=None,
                            secret=settings.id_secret(), rows=lambda rows=rows: rows, mode=mode, chunk=CHUNK)  # fmt: skip
            assert caught.value.code == code
        self._nothing_written(db)

    @pytest.mark.parametrize("mode", ["all_or_nothing", "partial"])
    def test_the_api_refuses_a_not_accredited_institutions_batch_and_writes_nothing(self, client, db, mode):
        headers, people, _ = self._refused(client, "pending")
        data = "external_id,account_no,outcome_code,completed_on\n" + "".join(
            f"P{n},{p['account_no']},IMP-1,2026-06-01\n" for n, p in enumerate(people)
        )
        r = client.post(f"/api/v1/completions/batch?mode={mode}", content=data.encode(),
                        headers=headers | {"Content-Type": "text/csv", "Accept-Language": "en"})  # fmt: skip
        assert (r.status_code, r.json()["code"]) == (403, "institution_not_accredited"), r.text
        self._nothing_written(db)

    def test_the_command_line_import_of_a_suspended_institution_changes_nothing(
        self, client, db, settings, tmp_path, monkeypatch
    ):
        from typer.testing import CliRunner

        from creditbank.cli import app as cli
        from creditbank.config import get_settings

        _, people, _ = self._refused(client, "suspended")
        file = tmp_path / "term.csv"
        file.write_text(
            "external_id,account_no,outcome_code,completed_on\n"
            + "".join(f"S{n},{p['account_no']},IMP-1,2026-06-01\n" for n, p in enumerate(people)),
            encoding="utf-8",
        )
        monkeypatch.setenv("CREDITBANK_DATABASE_URL", db.url)
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
        monkeypatch.setenv("CREDITBANK_SECRET", settings.secret.get_secret_value())
        monkeypatch.setenv("CREDITBANK_ADMIN_TOKEN", ADMIN)
        get_settings.cache_clear()
        try:
            imported = CliRunner().invoke(
                cli, ["import", str(file), "--institution", "IMPORTER", "--mode", "partial"],
                env={"COLUMNS": "300"},
            )  # fmt: skip
            listed = CliRunner().invoke(cli, ["abandon-import"], env={"COLUMNS": "300"})
        finally:
            get_settings.cache_clear()
        assert imported.exit_code == 1, imported.output
        assert "institution_suspended" in imported.output and "已被暂停" in imported.output
        self._nothing_written(db)
        assert "没有未发布的批量导入" in listed.output, listed.output


class TestAbandon:
    """The operator gives up a failed import: its pending rows reversed on the ledger, the chain intact."""

    def _crashed(self, client, db, settings):
        importer, _, people = _world(client, db)

        def crash_after_two_chunks(_n: int) -> None:
            if _count(db, Completion) >= 2 * CHUNK:
                raise Crash

        with pytest.raises(Crash):
            _run(db, settings, _rows(people), progress=crash_after_two_chunks)
        with db.reader() as session:
            import_id = session.execute(select(CompletionImport.id)).scalar_one()
        return importer, people, import_id

    def test_an_abandoned_import_is_reversed_and_the_audit_passes(self, client, db, settings):
        importer, people, import_id = self._crashed(client, db, settings)
        assert imports.abandon(db, import_id=import_id) == 2 * CHUNK
        assert _count(db, Completion, Completion.state == CompletionState.pending) == 0
        assert _count(db, Completion, Completion.state == CompletionState.revoked) == 2 * CHUNK
        assert _count(db, Lot, Lot.state == LotState.reversed) == 2 * CHUNK
        assert _count(db, LedgerTransaction) == 4 * CHUNK  # each deposit stays, with its reversal
        assert all(_balance(client, importer, p["account_no"]) == 0.0 for p in people)
        with db.reader() as session:
            assert audit(session).ok
            assert session.execute(select(CompletionImport.state)).scalar_one() == ImportState.abandoned
        assert imports.abandon(db, import_id=import_id) == 0  # repeating it changes nothing
        assert _count(db, LedgerTransaction) == 4 * CHUNK

    def test_the_abandoned_rows_external_ids_are_refused_and_the_rest_of_the_file_goes_in(
        self, client, db, settings
    ):
        importer, people, import_id = self._crashed(client, db, settings)
        imports.abandon(db, import_id=import_id)
        with pytest.raises(CreditbankError) as caught:
            _run(db, settings, _rows(people))
        assert {e["code"] for e in caught.value.errors or []} == {"completion_abandoned"}
        report = _run(db, settings, _rows(people), mode="partial")
        assert (report.accepted, report.rejected) == (ROWS - 2 * CHUNK, 2 * CHUNK)
        fresh = _run(db, settings, _rows(people[: 2 * CHUNK], prefix="N"))  # new ids: credited
        assert fresh.accepted == 2 * CHUNK
        assert all(_balance(client, importer, p["account_no"]) == 1.0 for p in people)

    def test_the_operator_lists_and_abandons_it_from_the_command_line(
        self, client, db, settings, monkeypatch
    ):
        from typer.testing import CliRunner

        from creditbank.cli import app as cli
        from creditbank.config import get_settings

        _, _, import_id = self._crashed(client, db, settings)
        monkeypatch.setenv("CREDITBANK_DATABASE_URL", db.url)
        get_settings.cache_clear()
        try:
            listed = CliRunner().invoke(cli, ["abandon-import"])
            done = CliRunner().invoke(cli, ["abandon-import", import_id, "--reason", "学员名单有误"])
            unknown = CliRunner().invoke(cli, ["abandon-import", "imp_nope"])
        finally:
            get_settings.cache_clear()
        assert listed.exit_code == 0 and import_id in listed.output, listed.output
        assert done.exit_code == 0 and f"{2 * CHUNK} 条待发布记录已冲销" in done.output, done.output
        assert _count(db, Completion, Completion.state == CompletionState.pending) == 0
        assert unknown.exit_code == 1, unknown.output

    def test_a_published_or_unknown_import_cannot_be_abandoned(self, client, db, settings):
        _, _, people = _world(client, db)
        _run(db, settings, _rows(people))
        with db.reader() as session:
            import_id = session.execute(select(CompletionImport.id)).scalar_one()
        for target, code in ((import_id, "import_published"), ("imp_nope", "import_not_found")):
            with pytest.raises(CreditbankError) as caught:
                imports.abandon(db, import_id=target)
            assert caught.value.code == code
        assert _count(db, Completion, Completion.state == CompletionState.active) == ROWS


class TestChunkSize:
    """How many rows the next chunk takes, from how long the last one held the ledger lock."""

    def test_a_chunk_that_held_the_lock_too_long_makes_the_next_one_smaller(self):
        assert imports._next_size(1000, 1000, held=1.0, target=0.25) == 250

    def test_a_quick_chunk_at_most_doubles_the_next_one(self):
        assert imports._next_size(500, 500, held=0.01, target=0.25) == 1000

    def test_chunks_stay_within_their_bounds(self):
        most = imports.MAX_CHUNK
        assert imports._next_size(most, most, held=0.001, target=1.0) == most
        assert imports._next_size(200, 200, held=30.0, target=0.25) == imports.MIN_CHUNK

    def test_the_short_last_chunk_changes_nothing(self):
        assert imports._next_size(1000, 10, held=5.0, target=0.25) == 1000
