"""RFC 9162 Merkle trees (the RFC 6962 hashing, SHA-256): hashes, inclusion and consistency proofs.

Pure and storage-agnostic. Proofs are generated from ``node(level, index)``, the hash of the
perfect subtree of ``2**level`` leaves that starts at leaf ``index * 2**level`` — whatever stores
the tree answers it (a list in memory, or the stored tiles of ``creditbank.translog``). Verification
follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. Checked against transparency-dev/merkle's
published vectors (``tests/vectors/merkle``) and property tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
Node = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` ≥ 2): where RFC 9162 splits D[n]."""
    return 1 << ((size - 1).bit_length() - 1)


def range_hash(node: Node, begin: int, end: int) -> bytes:
    """MTH(D[begin:end]) for a range the RFC 9162 recursion reaches (``begin`` aligned to its split)."""
    size = end - begin
    if size & (size - 1) == 0:  # a perfect subtree
        level = size.bit_length() - 1
        return node(level, begin >> level)
    k = _split(size)
    return node_hash(range_hash(node, begin, begin + k), range_hash(node, begin + k, end))


def root(node: Node, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else range_hash(node, 0, size)


def inclusion_proof(node: Node, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]), leaf side first (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    path, begin, end = [], 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            path.append(range_hash(node, begin + k, end))
            end = begin + k
        else:
            path.append(range_hash(node, begin, begin + k))
            begin += k
    return path[::-1]


def consistency_proof(node: Node, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) (RFC 9162 §2.1.4.1); empty when the sizes are equal."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    path, begin, end, m, whole = [], 0, second, first, True
    while m != end - begin:  # SUBPROOF(m, D[begin:end], whole)
        k = _split(end - begin)
        if m <= k:
            path.append(range_hash(node, begin + k, end))
            end = begin + k
        else:
            path.append(range_hash(node, begin, begin + k))
            begin, m, whole = begin + k, m - k, False
    if not whole:
        path.append(range_hash(node, begin, end))
    return path[::-1]


def _shift_to_odd(fn: int, sn: int) -> tuple[int, int]:
    while not fn & 1 and fn:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place the leaf hash ``leaf`` at ``index`` under ``root_hash``?"""
    if not 0 <= index < size or len(leaf) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_to_odd(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size ``first`` a prefix of the tree of size ``second``?
    (A proof from the empty tree says nothing and is refused, as transparency-dev/merkle does.)"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_to_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


class MemoryTree:
    """A whole tree in memory (tests, audits of small logs): ``node`` for the proof functions."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for leaf in leaf_hashes:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        self.levels[0].append(leaf)
        level = 0
        while len(self.levels[level]) % 2 == 0:
            below = self.levels[level]
            if level + 1 == len(self.levels):
                self.levels.append([])
            self.levels[level + 1].append(node_hash(below[-2], below[-1]))
            level += 1

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        return root(self.node, self.size if size is None else size)
