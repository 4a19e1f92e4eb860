"""The log checked against itself (``translog.audit``): tiles and signed checkpoints against the leaves."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from creditbank.app import log_service
from creditbank.translog import audit, tiles
from creditbank.translog.models import TranslogLeaf, TranslogTile
from tests.translog.test_tiles import _append


@pytest.fixture
def log(settings, db):
    return log_service(settings, db)


def _run(db, log) -> list[str]:
    problems: list[str] = []

    def problem(text: str) -> bool:
        problems.append(text)
        return False

    with db.reader() as session:
        audit.audit_log(session, problem, log.verifiers(), lambda leaf: False)
    return problems


def test_an_honest_log_of_several_tiles_passes(log, db):
    for start, count in ((0, 200), (200, 400), (600, 70)):
        _append(db, start, count)
        log.checkpoint()
    assert _run(db, log) == []


def test_a_deleted_tile_is_named(log, db):
    _append(db, 0, 300)
    log.checkpoint()
    with db.unit_of_work() as session:
        session.execute(delete(TranslogTile))
    assert _run(db, log) == ["log tile 0/0 is missing — a tile row was deleted"]


def test_an_edited_tile_is_named(log, db):
    _append(db, 0, 300)
    log.checkpoint()
    with db.unit_of_work() as session:
        session.execute(update(TranslogTile).values(root=bytes(32)))
    assert _run(db, log) == ["log tile 0/0 no longer matches the leaves under it — the tile was edited"]


def test_history_rewritten_with_its_tiles_is_caught_by_the_signed_checkpoints(log, db):
    """Leaf 260 replaced and the tiles recomputed to match: only the signatures tell — between the last
    checkpoint that still holds (size 100) and the first that does not (size 300)."""
    _append(db, 0, 100)
    log.checkpoint()
    _append(db, 100, 200)
    log.checkpoint()
    with db.unit_of_work() as session:
        session.execute(update(TranslogLeaf).where(TranslogLeaf.leaf_index == 260).values(digest=bytes(32)))
        session.execute(delete(TranslogTile))
        tiles.integrate(session, 0, 300)
    assert _run(db, log) == [
        "log checkpoint 300 (signed) does not match the tree rebuilt from the leaves: history between leaf 100 "
        "and leaf 299 was rewritten after it was signed"
    ]


def test_leaves_beyond_the_head_and_checkpoints_beyond_the_leaves(log, db):
    _append(db, 0, 5)
    log.checkpoint()
    with db.unit_of_work() as session:
        session.execute(delete(TranslogLeaf).where(TranslogLeaf.leaf_index == 4))
    problems = _run(db, log)
    assert "log head says 5 leaves but 4 are stored — the newest leaves were deleted" in problems
    assert "log checkpoint 5 is beyond the 4 stored leaves — leaves were deleted" in problems
