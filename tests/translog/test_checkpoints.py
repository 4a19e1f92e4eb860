"""Signed checkpoints: C2SP notes with the log's own key, never two that contradict each other."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from creditbank.app import log_service
from creditbank.cli import app as cli
from creditbank.kit import merkle
from creditbank.kit import signednote as sn
from creditbank.translog import service, tiles
from creditbank.translog.models import TranslogCheckpoint, TranslogLeaf, TranslogTile
from tests.translog.test_tiles import _append, _reference


@pytest.fixture
def log(settings, db):
    return log_service(settings, db)


def _open(log, note: str) -> sn.Checkpoint:
    return sn.open_checkpoint(note, log.verifiers())[0]


class TestCheckpoint:
    def test_the_first_checkpoint_is_a_signed_note_for_the_whole_log(self, log, db):
        _append(db, 0, 5)
        row = log.checkpoint()
        checkpoint = _open(log, row.note)
        assert checkpoint.origin == "127.0.0.1:8000/log"
        assert (checkpoint.size, checkpoint.root) == (5, _reference(5).root())
        assert row.note.count("\n— 127.0.0.1:8000/log ") == 1

    def test_an_empty_log_has_a_checkpoint_of_the_empty_tree(self, log):
        checkpoint = _open(log, log.checkpoint().note)
        assert (checkpoint.size, checkpoint.root) == (0, merkle.EMPTY_ROOT)

    def test_nothing_new_signs_nothing_new(self, log, db):
        _append(db, 0, 3)
        first = log.checkpoint()
        assert log.checkpoint().note == first.note
        with db.reader() as session:
            assert len(session.execute(select(TranslogCheckpoint)).all()) == 1

    def test_each_checkpoint_extends_the_previous_one(self, log, db):
        sizes = [0]
        notes = [log.checkpoint().note]
        for step in (1, 255, 300):
            _append(db, sizes[-1], step)
            sizes.append(sizes[-1] + step)
            notes.append(log.checkpoint().note)
        checkpoints = [_open(log, note) for note in notes]
        assert [c.size for c in checkpoints] == sizes
        with db.reader() as session:
            for old, new in itertools.pairwise(checkpoints[1:]):
                proof = tiles.TileStore(session, new.size).consistency_proof(old.size)
                assert merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)

    def test_the_origin_is_fixed_by_the_first_checkpoint(self, log, db, settings):
        _append(db, 0, 1)
        log.checkpoint()
        moved = log_service(settings.model_copy(update={"base_url": "https://bank.example.org"}), db)
        _append(db, 1, 1)
        assert _open(moved, moved.checkpoint().note).origin == "127.0.0.1:8000/log"


class TestNeverTwoInconsistentCheckpoints:
    def test_an_edited_leaf_under_a_signed_checkpoint_stops_the_log(self, log, db):
        _append(db, 0, 10)
        log.checkpoint()
        with db.unit_of_work() as session:
            session.execute(update(TranslogLeaf).where(TranslogLeaf.leaf_index == 4).values(digest=bytes(32)))
        _append(db, 10, 1)
        with pytest.raises(service.LogForked, match="does not extend signed checkpoint 10"):
            log.checkpoint()
        with db.reader() as session:
            assert [r.size for r in session.execute(select(TranslogCheckpoint)).scalars()] == [10]

    def test_an_edited_stored_tile_stops_the_log(self, log, db):
        _append(db, 0, 300)
        log.checkpoint()
        with db.unit_of_work() as session:
            session.execute(update(TranslogTile).values(hashes=bytes(8192), root=bytes(32)))
        _append(db, 300, 1)
        with pytest.raises(service.LogForked):
            log.checkpoint()

    def test_a_forged_previous_checkpoint_is_not_trusted(self, log, db):
        _append(db, 0, 2)
        row = log.checkpoint()
        forged = row.note.replace(row.note.splitlines()[2], "A" * 43 + "=")
        with db.unit_of_work() as session:
            session.execute(update(TranslogCheckpoint).values(note=forged))
        _append(db, 2, 1)
        with pytest.raises(service.LogForked, match="no longer verifies"):
            log.checkpoint()

    def test_deleted_leaves_stop_the_log(self, log, db):
        _append(db, 0, 4)
        log.checkpoint()
        with db.unit_of_work() as session:
            session.execute(update(service.TranslogHead).values(size=3))
        with pytest.raises(service.LogForked, match="3 leaves"):
            log.checkpoint()

    def test_concurrent_checkpointers_sign_each_size_once(self, log, db):
        _append(db, 0, 50)
        errors: list[BaseException] = []

        def run():
            try:
                log.checkpoint()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with db.reader() as session:
            assert [r.size for r in session.execute(select(TranslogCheckpoint)).scalars()] == [50]


class TestKeys:
    def test_a_rotated_key_signs_new_checkpoints_and_old_ones_still_verify(self, log, db):
        _append(db, 0, 1)
        old = log.checkpoint()
        log.keys.rotate()
        _append(db, 1, 1)
        new = log.checkpoint()
        assert new.kid != old.kid
        assert _open(log, old.note).size == 1 and _open(log, new.note).size == 2

    def test_a_compromised_log_key_no_longer_vouches(self, log, db):
        _append(db, 0, 1)
        row = log.checkpoint()
        from creditbank.kit import clock

        log.keys.mark_compromised(row.kid, clock.now())
        with pytest.raises(sn.NoteError):
            _open(log, row.note)


def test_covering_signs_on_demand_when_no_checkpoint_includes_the_leaf(log, db):
    _append(db, 0, 3)
    assert log.covering(2).size == 3
    assert log.covering(0, wait_seconds=5).size == 3  # already covered: no wait


def test_cli_prints_the_signed_checkpoint(settings, db, monkeypatch):
    _append(db, 0, 2)
    settings.keys_dir.mkdir(exist_ok=True)  # a bank's keys folder (serve makes it; a missing one is refused)
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    from creditbank.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["log", "checkpoint"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("127.0.0.1:8000/log\n2\n")
        keys = CliRunner().invoke(cli, ["log", "keys", "list"])
        assert "127.0.0.1:8000/log+" in keys.output and "active" in keys.output
    finally:
        get_settings.cache_clear()
