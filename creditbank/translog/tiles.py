"""The tree as stored tiles (C2SP tlog-tiles, height 8), read in O(log n) rows.

Tile ``(L, N)`` holds the 256 hashes ``MTH(D[(N·256+i)·256^L : (N·256+i+1)·256^L])``: leaf hashes
at level 0, roots of full tiles one level down above that. Only *full* tiles are stored (with their
root, which is their entry in the level above); the rightmost partial tiles are read from the last
< 256 leaves (level 0) or the roots of the full tiles below (level ≥ 1) — one query each. Any node
of the tree is then at most 127 hashes away from one tile, so a proof touches ``⌈log₂ n / 8⌉ + 1``
tiles and never rehashes the tree.

``integrate`` stores the full tiles a bigger tree adds; the checkpointer calls it before it signs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlmodel import Session

from creditbank.db import bulk_insert, table_of
from creditbank.kit import merkle
from creditbank.translog.models import TranslogLeaf, TranslogTile
from creditbank.translog.sequencer import entry_hash

HEIGHT = 8
WIDTH = 1 << HEIGHT
H = merkle.HASH_SIZE
_LEAF = table_of(TranslogLeaf)
_TILE = table_of(TranslogTile)


_PATH = re.compile(r"((?:x[0-9]{3}/)*)([0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


def encode_index(index: int) -> str:
    """tlog-tiles path of a tile index: 3-digit elements, all but the last prefixed ``x``."""
    parts = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        parts.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(parts))


def tile_path(level: int | str, index: int, width: int | None = None) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (``level="entries"`` for an entry bundle)."""
    return f"tile/{level}/{encode_index(index)}" + (f".p/{width}" if width is not None else "")


def parse_index(path: str) -> tuple[int, int | None] | None:
    """(index, width or None) from ``<N>[.p/<W>]``; None unless it is the canonical encoding."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    index = int("".join(part[1:] for part in match.group(1).split("/") if part) + match.group(2))
    width = int(match.group(3)) if match.group(3) else None
    if encode_index(index) != path.split(".p/")[0] or (width is not None and width >= WIDTH):
        return None
    return index, width


class MissingTile(LookupError):
    """A tile the tree needs is not stored: the leaves were not integrated, or rows were deleted."""


def fold(hashes: list[bytes]) -> bytes:
    """The Merkle root of a power-of-two run of hashes."""
    while len(hashes) > 1:
        hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def split(blob: bytes) -> list[bytes]:
    return [blob[i : i + H] for i in range(0, len(blob), H)]


def tile_width(size: int, level: int, index: int) -> int:
    """How many hashes tile ``(level, index)`` has in the tree of ``size`` leaves (0 … 256)."""
    return max(0, min(WIDTH, (size >> (HEIGHT * level)) - index * WIDTH))


def leaf_hashes(session: Session, begin: int, end: int) -> list[bytes]:
    rows = session.connection().execute(
        select(_LEAF.c.leaf_index, _LEAF.c.kind, _LEAF.c.digest)
        .where(_LEAF.c.leaf_index >= begin, _LEAF.c.leaf_index < end)
        .order_by(_LEAF.c.leaf_index)
    )
    hashes = []
    for expected, (index, kind, digest) in enumerate(rows, start=begin):
        if index != expected:
            raise MissingTile(f"leaf {expected} is missing")
        hashes.append(entry_hash(kind, digest))
    if len(hashes) != end - begin:
        raise MissingTile(f"leaves {begin + len(hashes)}…{end - 1} are missing")
    return hashes


def _tile_roots(session: Session, level: int, begin: int, end: int) -> list[bytes]:
    rows = session.connection().execute(
        select(_TILE.c.tile_index, _TILE.c.root)
        .where(_TILE.c.level == level, _TILE.c.tile_index >= begin, _TILE.c.tile_index < end)
        .order_by(_TILE.c.tile_index)
    )
    roots = []
    for expected, (index, root) in enumerate(rows, start=begin):
        if index != expected:
            raise MissingTile(f"tile {level}/{expected} is missing")
        roots.append(root)
    if len(roots) != end - begin:
        raise MissingTile(f"tiles {level}/{begin + len(roots)}…{end - 1} are missing")
    return roots


class TreeReader:
    """The tree of ``size`` leaves read tile by tile: ``node`` for ``kit.merkle``.

    ``fetch(level, index, width)`` returns the first ``width`` hashes of tile ``(level, index)``
    (from the database, or over HTTP from a tlog-tiles server). One instance per request or
    proof: it memoises what it read; tiles never change."""

    def __init__(self, size: int, fetch: Callable[[int, int, int], list[bytes]]) -> None:
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}
        self.reads = 0

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile ``(level, index)`` in this tree: a full tile, or the partial one."""
        key = (level, index)
        found = self._tiles.get(key)
        if found is not None:
            return found
        width = tile_width(self.size, level, index)
        if width == 0:
            raise MissingTile(f"tile {level}/{index} is beyond a tree of {self.size} leaves")
        self.reads += 1
        hashes = self._fetch(level, index, width)
        if len(hashes) != width or any(len(h) != H for h in hashes):
            raise MissingTile(f"tile {level}/{index}: expected {width} hashes")
        self._tiles[key] = hashes
        return hashes

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree of ``2**level`` leaves starting at ``index * 2**level``."""
        key = (level, index)
        found = self._nodes.get(key)
        if found is None:
            tile_level, height = divmod(level, HEIGHT)
            first = index << height
            hashes = self.tile(tile_level, first >> HEIGHT)
            offset = first & (WIDTH - 1)
            found = fold(hashes[offset : offset + (1 << height)])
            self._nodes[key] = found
        return found

    def root(self) -> bytes:
        return merkle.root(self.node, self.size)

    def inclusion_proof(self, index: int) -> list[bytes]:
        return merkle.inclusion_proof(self.node, index, self.size)

    def consistency_proof(self, first: int) -> list[bytes]:
        return merkle.consistency_proof(self.node, first, self.size)


class TileStore(TreeReader):
    """The tree as stored: full tiles from ``translog_tile``, the partial ones from the last
    < 256 leaves (level 0) or the roots of the full tiles one level down."""

    def __init__(self, session: Session, size: int) -> None:
        super().__init__(size, self._read)
        self.session = session

    def _read(self, level: int, index: int, width: int) -> list[bytes]:
        if width == WIDTH:
            blob = (
                self.session.connection()
                .execute(select(_TILE.c.hashes).where(_TILE.c.level == level, _TILE.c.tile_index == index))
                .scalar()
            )
            if blob is None:
                raise MissingTile(f"tile {level}/{index} is not stored")
            return split(blob)
        if level == 0:
            return leaf_hashes(self.session, index * WIDTH, index * WIDTH + width)
        return _tile_roots(self.session, level - 1, index * WIDTH, index * WIDTH + width)


def _full_tiles(level: int, first_tile: int, hashes: list[bytes]) -> Iterator[dict]:
    for offset in range(0, len(hashes), WIDTH):
        chunk = hashes[offset : offset + WIDTH]
        yield {
            "level": level,
            "tile_index": first_tile + offset // WIDTH,
            "hashes": b"".join(chunk),
            "root": fold(chunk),
        }


def integrate(session: Session, old_size: int, new_size: int, *, batch_tiles: int = 64) -> int:
    """Store every full tile the tree of ``new_size`` has and the tree of ``old_size`` had not.

    Level by level, ``batch_tiles`` tiles at a time (memory stays flat for a million leaves).
    Returns how many tiles were written."""
    written = 0
    level = 0
    while True:
        span = WIDTH ** (level + 1)
        first_tile, end_tile = old_size // span, new_size // span
        if end_tile <= first_tile:
            return written
        for batch_start in range(first_tile, end_tile, batch_tiles):
            batch_end = min(end_tile, batch_start + batch_tiles)
            begin, end = batch_start * WIDTH, batch_end * WIDTH
            if level == 0:
                hashes = leaf_hashes(session, begin, end)
            else:
                hashes = _tile_roots(session, level - 1, begin, end)
            rows = list(_full_tiles(level, batch_start, hashes))
            bulk_insert(session, _TILE, rows)
            written += len(rows)
        level += 1
