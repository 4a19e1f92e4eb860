"""RFC 9162 Merkle hashing and proofs against transparency-dev/merkle's published vectors, then
property tests: proofs verify for any size and index and fail for any altered byte, index or size."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.kit import merkle

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"
CONSTANTS = json.loads((VECTORS / "testonly-constants.json").read_text())
LEAVES = [bytes.fromhex(h) for h in CONSTANTS["leaf_inputs_hex"]]
TREE = merkle.MemoryTree([merkle.leaf_hash(leaf) for leaf in LEAVES])


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


def _vectors(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


class TestPublishedVectors:
    def test_root_of_every_prefix_of_the_reference_tree(self):
        for size, expected in enumerate(CONSTANTS["root_hashes_hex"]):
            assert TREE.root(size).hex() == expected, size

    def test_every_complete_subtree_hash(self):
        for level, hashes in enumerate(CONSTANTS["node_hashes_hex"]):
            assert [TREE.node(level, i).hex() for i in range(len(hashes))] == hashes

    def test_empty_tree_root_is_the_hash_of_nothing(self):
        assert (
            merkle.root(TREE.node, 0) == merkle.EMPTY_ROOT == bytes.fromhex(CONSTANTS["root_hashes_hex"][0])
        )

    @pytest.mark.parametrize("path", _vectors("inclusion"), ids=lambda p: str(p.relative_to(VECTORS)))
    def test_inclusion(self, path: Path):
        v = json.loads(path.read_text())
        ok = merkle.verify_inclusion(
            _b64(v["leafHash"]), v["leafIdx"], v["treeSize"], _proof(v["proof"]), _b64(v["root"])
        )
        assert ok is not v["wantErr"], v["desc"]
        if (
            not v["wantErr"]
            and v["treeSize"] <= TREE.size
            and v["root"] == base64.b64encode(TREE.root(v["treeSize"])).decode()
        ):
            assert merkle.inclusion_proof(TREE.node, v["leafIdx"], v["treeSize"]) == _proof(v["proof"])

    @pytest.mark.parametrize("path", _vectors("consistency"), ids=lambda p: str(p.relative_to(VECTORS)))
    def test_consistency(self, path: Path):
        v = json.loads(path.read_text())
        ok = merkle.verify_consistency(
            v["size1"], v["size2"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"])
        )
        assert ok is not v["wantErr"], v["desc"]
        if not v["wantErr"] and v["size1"] > 0 and v["size2"] <= TREE.size:
            assert merkle.consistency_proof(TREE.node, v["size1"], v["size2"]) == _proof(v["proof"])

    def test_the_happy_path_vectors_were_all_exercised(self):
        happy = [p for p in _vectors("inclusion") + _vectors("consistency") if "happy" in p.name]
        assert len(happy) >= 10


def _tree(size: int) -> merkle.MemoryTree:
    return merkle.MemoryTree([merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)])


BIG = _tree(1100)


def _flip(value: bytes, position: int) -> bytes:
    position %= len(value)
    return value[:position] + bytes([value[position] ^ 0x01]) + value[position + 1 :]


sizes = st.integers(min_value=1, max_value=BIG.size)


class TestInclusionProperties:
    @given(data=st.data(), size=sizes)
    def test_every_leaf_is_proven_in_every_tree_that_holds_it(self, data, size):
        index = data.draw(st.integers(0, size - 1))
        proof = merkle.inclusion_proof(BIG.node, index, size)
        assert merkle.verify_inclusion(BIG.node(0, index), index, size, proof, BIG.root(size))
        assert len(proof) <= size.bit_length()

    @given(data=st.data(), size=sizes)
    def test_any_altered_byte_fails(self, data, size):
        index = data.draw(st.integers(0, size - 1))
        proof = merkle.inclusion_proof(BIG.node, index, size)
        leaf, root = BIG.node(0, index), BIG.root(size)
        target = data.draw(st.sampled_from(["leaf", "root", *range(len(proof))]))
        position = data.draw(st.integers(0, 31))
        if target == "leaf":
            leaf = _flip(leaf, position)
        elif target == "root":
            root = _flip(root, position)
        else:
            proof[target] = _flip(proof[target], position)
        assert not merkle.verify_inclusion(leaf, index, size, proof, root)

    @given(data=st.data(), size=sizes)
    def test_another_index_fails(self, data, size):
        index = data.draw(st.integers(0, size - 1))
        other = data.draw(st.integers(0, size).filter(lambda i: i != index))
        proof = merkle.inclusion_proof(BIG.node, index, size)
        assert not merkle.verify_inclusion(BIG.node(0, index), other, size, proof, BIG.root(size))

    @given(data=st.data(), size=sizes)
    def test_a_proof_for_one_tree_size_fails_against_another_trees_root(self, data, size):
        index = data.draw(st.integers(0, size - 1))
        other = data.draw(st.integers(index + 1, BIG.size).filter(lambda n: n != size))
        proof = merkle.inclusion_proof(BIG.node, index, size)
        assert not merkle.verify_inclusion(BIG.node(0, index), index, other, proof, BIG.root(other))

    @given(data=st.data(), size=sizes)
    def test_a_shortened_or_padded_proof_fails(self, data, size):
        index = data.draw(st.integers(0, size - 1))
        proof = merkle.inclusion_proof(BIG.node, index, size)
        padded = [*proof, BIG.node(0, 0)]
        assert not merkle.verify_inclusion(BIG.node(0, index), index, size, padded, BIG.root(size))
        if proof:
            assert not merkle.verify_inclusion(BIG.node(0, index), index, size, proof[:-1], BIG.root(size))


class TestConsistencyProperties:
    @given(data=st.data(), second=sizes)
    def test_every_prefix_is_consistent_with_the_whole(self, data, second):
        first = data.draw(st.integers(1, second))
        proof = merkle.consistency_proof(BIG.node, first, second)
        assert merkle.verify_consistency(first, second, proof, BIG.root(first), BIG.root(second))
        assert len(proof) <= 2 * second.bit_length()

    @given(data=st.data(), second=st.integers(2, BIG.size))
    def test_any_altered_byte_fails(self, data, second):
        first = data.draw(st.integers(1, second - 1))
        proof = merkle.consistency_proof(BIG.node, first, second)
        first_root, second_root = BIG.root(first), BIG.root(second)
        target = data.draw(st.sampled_from(["first", "second", *range(len(proof))]))
        position = data.draw(st.integers(0, 31))
        if target == "first":
            first_root = _flip(first_root, position)
        elif target == "second":
            second_root = _flip(second_root, position)
        else:
            proof[target] = _flip(proof[target], position)
        assert not merkle.verify_consistency(first, second, proof, first_root, second_root)

    @given(data=st.data(), second=st.integers(2, BIG.size))
    def test_other_sizes_fail(self, data, second):
        first = data.draw(st.integers(1, second - 1))
        proof = merkle.consistency_proof(BIG.node, first, second)
        other_first = data.draw(st.integers(1, second).filter(lambda n: n != first))
        assert not merkle.verify_consistency(
            other_first, second, proof, BIG.root(other_first), BIG.root(second)
        )
        other_second = data.draw(st.integers(first, BIG.size).filter(lambda n: n != second))
        assert not merkle.verify_consistency(
            first, other_second, proof, BIG.root(first), BIG.root(other_second)
        )

    @given(data=st.data(), second=st.integers(2, BIG.size))
    def test_a_forked_tree_is_not_consistent(self, data, second):
        """The same size and leaves but one: no proof from the honest tree links it."""
        first = data.draw(st.integers(1, second - 1))
        changed = data.draw(st.integers(0, first - 1))
        forked = merkle.MemoryTree(
            [merkle.leaf_hash(b"forged") if i == changed else BIG.node(0, i) for i in range(second)]
        )
        proof = merkle.consistency_proof(forked.node, first, second)
        assert not merkle.verify_consistency(first, second, proof, BIG.root(first), forked.root(second))


@settings(max_examples=30)
@given(size=st.integers(0, 600))
def test_memory_tree_root_equals_the_rfc_recursion(size):
    leaves = [merkle.leaf_hash(bytes([i % 256, i // 256])) for i in range(size)]

    def mth(items: list[bytes]) -> bytes:
        if not items:
            return merkle.EMPTY_ROOT
        if len(items) == 1:
            return items[0]
        k = 1 << ((len(items) - 1).bit_length() - 1)
        return merkle.node_hash(mth(items[:k]), mth(items[k:]))

    assert merkle.MemoryTree(leaves).root() == mth(leaves)
