"""The log checked against itself: leaves → tree → stored tiles → every signed checkpoint.

Streams the leaves in index order once, rebuilding the tree as it goes (the full tiles level by level
and the root at each checkpoint's size), so memory stays flat. It names the first thing that does not
hold: a missing or extra leaf, a leaf whose hash no longer matches its stored tile (the leaf row was
edited), a tile that no longer matches its leaves (the tile was edited), a checkpoint whose signature
fails, or a signed checkpoint the rebuilt tree contradicts (history under it was rewritten — between
the previous checkpoint that still holds and this one). What each leaf *records* is checked above the
domains (``creditbank.audit``), which recomputes every leaf from the rows it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session, col

from creditbank.kit import merkle
from creditbank.kit import signednote as sn
from creditbank.translog import tiles
from creditbank.translog.models import TranslogCheckpoint, TranslogHead, TranslogLeaf, TranslogTile

Problem = Callable[[str], bool]  # records a problem; True when the audit should stop


@dataclass(frozen=True)
class Leaf:
    index: int
    kind: int
    ref: str
    digest: bytes


def leaves(session: Session) -> Iterator[Leaf]:
    for index, kind, ref, digest in session.execute(
        select(
            col(TranslogLeaf.leaf_index),
            col(TranslogLeaf.kind),
            col(TranslogLeaf.ref),
            col(TranslogLeaf.digest),
        ).order_by(col(TranslogLeaf.leaf_index))
    ).yield_per(10_000):
        yield Leaf(index, kind, ref, digest)


class _Rebuild:
    """Compact range over the leaves seen so far + the tile rows at each level as they complete."""

    def __init__(self, session: Session, problem: Problem, integrated: int) -> None:
        self.session = session
        self.problem = problem
        self.integrated = integrated  # full tiles must be stored up to the newest checkpoint
        self.size = 0
        self.frontier: list[tuple[int, bytes]] = []  # (height, hash) of the perfect subtrees, left to right
        self.pending: list[list[bytes]] = []  # per tile level: hashes of the tile being filled
        self.stopped = False

    def _stored(self, level: int, index: int) -> tuple[bytes, bytes] | None:
        row = self.session.execute(
            select(col(TranslogTile.hashes), col(TranslogTile.root)).where(
                col(TranslogTile.level) == level, col(TranslogTile.tile_index) == index
            )
        ).first()
        return None if row is None else (row[0], row[1])

    def _tile_entry(self, level: int, entry: bytes) -> None:
        while len(self.pending) <= level:
            self.pending.append([])
        self.pending[level].append(entry)
        if len(self.pending[level]) < tiles.WIDTH:
            return
        hashes, self.pending[level] = self.pending[level], []
        index = (self.size >> (tiles.HEIGHT * (level + 1))) - 1
        root = tiles.fold(hashes)
        stored = self._stored(level, index)
        if stored is None and self.size <= self.integrated:
            self.stopped |= self.problem(f"log tile {level}/{index} is missing — a tile row was deleted")
        elif stored is not None and stored != (b"".join(hashes), root):
            where = f"tile {level}/{index}"
            if level == 0:
                stored_hashes = tiles.split(stored[0])
                first = next((i for i, h in enumerate(hashes) if stored_hashes[i] != h), None)
                if first is not None:
                    leaf = index * tiles.WIDTH + first
                    self.stopped |= self.problem(
                        f"log leaf {leaf}: its row no longer hashes to what {where} stored — the leaf was "
                        "edited, deleted or reordered after it was integrated"
                    )
                    return
            self.stopped |= self.problem(
                f"log {where} no longer matches the leaves under it — the tile was edited"
            )
        self._tile_entry(level + 1, root)

    def add(self, leaf_hash: bytes) -> None:
        self.size += 1
        self.frontier.append((0, leaf_hash))
        while len(self.frontier) > 1 and self.frontier[-1][0] == self.frontier[-2][0]:
            (height, right), (_, left) = self.frontier.pop(), self.frontier.pop()
            self.frontier.append((height + 1, merkle.node_hash(left, right)))
        self._tile_entry(0, leaf_hash)

    def root(self) -> bytes:
        if not self.frontier:
            return merkle.EMPTY_ROOT
        root = self.frontier[-1][1]
        for _, left in reversed(self.frontier[:-1]):
            root = merkle.node_hash(left, root)
        return root


def audit_log(
    session: Session,
    problem: Problem,
    verifiers: list[sn.Verifier] | None,
    on_leaf: Callable[[Leaf], bool],
) -> int:
    """Check the log; ``on_leaf`` sees every leaf in order (the cross-domain recomputation) and
    returns True to stop. ``verifiers``: the log's public keys (None: checkpoints are compared with
    the rebuilt tree but their signatures are not checked). Returns the number of leaves."""
    checkpoints = list(
        session.execute(select(TranslogCheckpoint).order_by(col(TranslogCheckpoint.size))).scalars()
    )
    rebuild = _Rebuild(session, problem, checkpoints[-1].size if checkpoints else 0)
    opened: list[tuple[TranslogCheckpoint, sn.Checkpoint | None]] = []
    for row in checkpoints:
        try:
            if verifiers is None:
                checkpoint = sn.parse_checkpoint(sn.split(row.note)[0])
            else:
                checkpoint, _ = sn.open_checkpoint(row.note, verifiers)
        except sn.NoteError as exc:
            if problem(f"log checkpoint {row.size}: its signature does not verify ({exc}) — it was edited"):
                return 0
            opened.append((row, None))
            continue
        if (checkpoint.size != row.size or checkpoint.root != row.root) and problem(
            f"log checkpoint row {row.size} holds another checkpoint (size {checkpoint.size})"
        ):
            return 0
        opened.append((row, checkpoint))
    head_size = session.execute(select(col(TranslogHead.size)).where(col(TranslogHead.id) == 1)).scalar_one()
    next_checkpoint = 0
    last_good = 0

    def check_checkpoints(size: int) -> bool:
        nonlocal next_checkpoint, last_good
        while next_checkpoint < len(opened) and opened[next_checkpoint][0].size == size:
            checkpoint = opened[next_checkpoint][1]
            next_checkpoint += 1
            if checkpoint is None:
                continue
            if rebuild.root() != checkpoint.root:
                if problem(
                    f"log checkpoint {size} (signed) does not match the tree rebuilt from the leaves: history "
                    f"between leaf {last_good} and leaf {size - 1} was rewritten after it was signed"
                ):
                    return True
            else:
                last_good = size
        return False

    if check_checkpoints(0):
        return 0
    expected = 0
    for leaf in leaves(session):
        if leaf.index != expected:
            if problem(
                f"log leaf {expected} is missing (the next is {leaf.index}) — a leaf row was deleted"
                if leaf.index > expected
                else f"log leaf {leaf.index} appears twice"
            ):
                return expected
            expected = leaf.index
        if len(leaf.digest) != merkle.HASH_SIZE:
            if problem(f"log leaf {leaf.index}: its digest is not 32 bytes — the leaf was edited"):
                return expected
            continue
        leaf_hash = merkle.leaf_hash(bytes([leaf.kind]) + leaf.digest)
        rebuild.add(leaf_hash)
        if rebuild.stopped or on_leaf(leaf) or check_checkpoints(rebuild.size):
            return rebuild.size
        expected += 1
    if head_size != expected:
        problem(
            f"log head says {head_size} leaves but {expected} are stored — "
            + ("the newest leaves were deleted" if head_size > expected else "leaves were inserted")
        )
    for row, _ in opened[next_checkpoint:]:
        if problem(f"log checkpoint {row.size} is beyond the {expected} stored leaves — leaves were deleted"):
            break
    count = session.execute(select(func.count()).select_from(TranslogLeaf)).scalar_one()
    if count != expected and not rebuild.stopped:
        problem(f"log: {count} leaf rows for {expected} indexes")
    return expected
