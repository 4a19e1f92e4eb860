"""The stored log: leaves appended by the sequencer, tiles integrated, proofs read from tiles agree
with a tree built in memory — across tile boundaries, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from creditbank.db import Database
from creditbank.kit import merkle
from creditbank.translog import sequencer, tiles
from creditbank.translog.models import LeafKind, TranslogHead, TranslogLeaf, TranslogTile


def _entries(start: int, count: int) -> list[sequencer.Entry]:
    return [
        (LeafKind.ledger_transaction, f"txn_{i}", hashlib.sha256(i.to_bytes(8, "big")).digest())
        for i in range(start, start + count)
    ]


def _reference(count: int) -> merkle.MemoryTree:
    return merkle.MemoryTree([sequencer.entry_hash(k, d) for k, _, d in _entries(0, count)])


def _append(db: Database, start: int, count: int) -> int:
    with db.unit_of_work() as session:
        return sequencer.append(session, _entries(start, count))


class TestSequencer:
    def test_leaves_get_consecutive_indexes_across_transactions(self, db):
        assert _append(db, 0, 3) == 0
        assert _append(db, 3, 2) == 3
        with db.reader() as session:
            rows = session.execute(
                select(TranslogLeaf.leaf_index, TranslogLeaf.ref).order_by("leaf_index")
            ).all()
            assert [tuple(r) for r in rows] == [(i, f"txn_{i}") for i in range(5)]
            assert session.get(TranslogHead, 1).size == 5

    def test_a_rolled_back_transaction_takes_its_leaves_with_it(self, db):
        _append(db, 0, 2)
        with pytest.raises(RuntimeError), db.unit_of_work() as session:
            sequencer.append(session, _entries(2, 3))
            raise RuntimeError("the event failed")
        assert _append(db, 2, 1) == 2
        with db.reader() as session:
            assert session.execute(select(func.count()).select_from(TranslogLeaf)).scalar_one() == 3

    def test_a_malformed_entry_is_refused(self, db):
        with pytest.raises(ValueError), db.unit_of_work() as session:
            sequencer.append(session, [(LeafKind.ledger_transaction, "txn_1", b"short")])


class TestTiles:
    @pytest.mark.parametrize("steps", [(1, 2, 300), (255, 1, 1, 300), (256, 256, 3)])
    def test_proofs_from_tiles_equal_the_in_memory_tree(self, db, steps):
        reference = _reference(sum(steps))
        size = 0
        for step in steps:
            _append(db, size, step)
            with db.unit_of_work() as session:
                tiles.integrate(session, size, size + step)
            old, size = size, size + step
            with db.reader() as session:
                store = tiles.TileStore(session, size)
                assert store.root() == reference.root(size)
                for index in sorted({0, size // 2, size - 1}):
                    assert store.inclusion_proof(index) == merkle.inclusion_proof(reference.node, index, size)
                if old:
                    assert store.consistency_proof(old) == merkle.consistency_proof(reference.node, old, size)

    def test_full_tiles_are_stored_once_with_their_roots(self, db):
        _append(db, 0, 600)
        with db.unit_of_work() as session:
            assert tiles.integrate(session, 0, 600) == 2
        with db.unit_of_work() as session:
            assert tiles.integrate(session, 600, 600) == 0
        reference = _reference(600)
        with db.reader() as session:
            stored = session.execute(select(TranslogTile).order_by(TranslogTile.tile_index)).scalars().all()
            assert [(t.level, t.tile_index) for t in stored] == [(0, 0), (0, 1)]
            assert stored[1].hashes == b"".join(reference.levels[0][256:512])
            assert stored[1].root == reference.node(8, 1)

    def test_a_missing_tile_is_named_not_rehashed(self, db):
        _append(db, 0, 300)  # never integrated: tile 0/0 was not stored
        with db.reader() as session, pytest.raises(tiles.MissingTile, match="0/0"):
            tiles.TileStore(session, 300).root()


def test_three_levels_of_tiles_match_the_reference(sqlite_url):
    """70 000 leaves: 273 full level-0 tiles, a full level-1 tile, partial tiles on three levels."""
    db = Database(sqlite_url)
    size = 70_000
    _append(db, 0, size)
    with db.unit_of_work() as session:
        assert tiles.integrate(session, 0, size, batch_tiles=50) == 273 + 1
    reference = _reference(size)
    with db.reader() as session:
        store = tiles.TileStore(session, size)
        assert store.root() == reference.root()
        for index in (0, 65_535, 65_536, 69_999):
            proof = store.inclusion_proof(index)
            assert proof == merkle.inclusion_proof(reference.node, index, size)
        assert store.consistency_proof(65_537) == merkle.consistency_proof(reference.node, 65_537, size)
        assert store.reads <= 8
        assert [len(store.tile(level, 0 if level else 273)) for level in (0, 1, 2)] == [112, 256, 1]
    db.dispose()
