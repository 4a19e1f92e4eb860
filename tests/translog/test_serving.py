"""The log as the public sees it: C2SP tiles any tlog client can follow, and the JSON routes."""

from __future__ import annotations

import base64

import pytest

from creditbank.kit import merkle
from creditbank.kit import signednote as sn
from creditbank.translog import tiles
from creditbank.translog.client import LogClient
from creditbank.translog.sequencer import entry_bytes
from tests.translog.test_tiles import _append, _entries, _reference


def transport_for(client):
    """A LogClient transport over the FastAPI test client."""

    def transport(method, url, body, content_type):
        path = url.split("://", 1)[-1].split("/", 1)[1]
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.request(method, "/" + path, content=body, headers=headers)
        return response.status_code, response.content

    return transport


@pytest.fixture
def logged(client, db):
    """300 leaves under a checkpoint, then 10 more under a second one."""
    _append(db, 0, 300)
    first = client.app.state.log.checkpoint()
    _append(db, 300, 10)
    second = client.app.state.log.checkpoint()
    client.app.state.log.latest_view(fresh=True)
    return first, second


def _verifiers(client) -> list[sn.Verifier]:
    return [sn.parse_vkey(k["vkey"]) for k in client.get("/api/v1/log/keys").json()["keys"]]


class TestTiles:
    def test_a_tlog_client_following_only_tiles_proves_every_leaf(self, client, logged):
        log = LogClient("http://testserver", transport_for(client))
        checkpoint, _ = sn.open_checkpoint(log.checkpoint_note(), _verifiers(client))
        assert checkpoint.size == 310
        tree = log.tree(checkpoint.size)
        assert tree.root() == checkpoint.root == _reference(310).root()
        entries = log.entries(0, 256) + log.entries(1, 54)
        assert entries == [entry_bytes(k, d) for k, _, d in _entries(0, 310)]
        for index in (0, 255, 256, 309):
            proof = tree.inclusion_proof(index)
            leaf = merkle.leaf_hash(entries[index])
            assert merkle.verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root)
        older = log.tree(300)
        first_root = older.root()
        assert merkle.verify_consistency(300, 310, tree.consistency_proof(300), first_root, checkpoint.root)

    def test_headers_and_media_types(self, client, logged):
        note = client.get("/log/checkpoint")
        assert note.headers["content-type"] == "text/plain; charset=utf-8"
        assert note.headers["cache-control"] == "public, max-age=5"
        full = client.get("/log/tile/0/000")
        assert full.headers["content-type"] == "application/octet-stream"
        assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert len(full.content) == 8192 and full.headers["access-control-allow-origin"] == "*"
        assert len(client.get("/log/tile/0/001.p/54").content) == 54 * 32
        assert len(client.get("/log/tile/0/001.p/20").content) == 20 * 32  # an older checkpoint's width
        assert len(client.get("/log/tile/1/000.p/1").content) == 32

    @pytest.mark.parametrize(
        "path",
        [
            "0/001",  # the full tile does not exist yet
            "0/001.p/55",  # wider than the newest checkpoint
            "0/002.p/1",  # beyond the tree
            "0/1",  # not the canonical 3-digit encoding
            "0/x000/001",
            "0/000.p/256",
            "64/000",
            "01/000",
            "entries/001",
            "entries/001.p/55",
            "nonsense",
        ],
    )
    def test_what_the_checkpoint_does_not_cover_is_404(self, client, logged, path):
        response = client.get(f"/log/tile/{path}")
        assert response.status_code == 404
        assert response.json()["code"] == "log_tile_not_found"

    def test_an_empty_log_answers_its_empty_checkpoint(self, client):
        client.app.state.log.checkpoint()
        client.app.state.log.latest_view(fresh=True)
        lines = client.get("/log/checkpoint").text.split("\n")
        assert lines[1:3] == ["0", base64.b64encode(merkle.EMPTY_ROOT).decode()]
        assert client.get("/log/tile/0/000.p/1").status_code == 404


class TestJson:
    def test_checkpoint_and_proofs_verify_against_the_signed_note(self, client, logged):
        body = client.get("/api/v1/log/checkpoint").json()
        checkpoint, _ = sn.open_checkpoint(body["note"], _verifiers(client))
        assert (body["tree_size"], base64.b64decode(body["root_hash"])) == (310, checkpoint.root)
        proof = client.get("/api/v1/log/proof/inclusion", params={"leaf_index": 257}).json()
        leaf = client.get("/api/v1/log/leaves/257").json()
        assert leaf["leaf_hash"] == proof["leaf_hash"] and leaf["checkpointed"] is True
        assert leaf["kind"] == "ledger_transaction" and set(leaf) >= {"digest", "entry"}
        assert "ref" not in leaf  # whose transaction stays private
        assert merkle.verify_inclusion(
            base64.b64decode(proof["leaf_hash"]),
            257,
            310,
            [base64.b64decode(h) for h in proof["inclusion_path"]],
            checkpoint.root,
        )
        older = client.get("/api/v1/log/proof/inclusion", params={"leaf_index": 2, "tree_size": 300}).json()
        assert older["tree_size"] == 300
        consistency = client.get("/api/v1/log/proof/consistency", params={"first": 300}).json()
        with client.app.state.db.reader() as session:
            root_300 = tiles.TileStore(session, 300).root()
        assert merkle.verify_consistency(
            300,
            310,
            [base64.b64decode(h) for h in consistency["consistency_path"]],
            root_300,
            checkpoint.root,
        )

    def test_sizes_beyond_the_newest_checkpoint_are_404(self, client, logged, db):
        _append(db, 310, 1)  # sequenced, not yet checkpointed
        r = client.get("/api/v1/log/proof/inclusion", params={"leaf_index": 310, "tree_size": 311})
        assert (r.status_code, r.json()["code"]) == (404, "log_size_unknown")
        assert client.get("/api/v1/log/leaves/310").json()["checkpointed"] is False
        assert client.get("/api/v1/log/leaves/311").json()["code"] == "log_leaf_not_found"
        r = client.get("/api/v1/log/proof/consistency", params={"first": 5, "second": 400})
        assert r.status_code == 404

    def test_keys_list_the_log_keys_as_vkeys(self, client, logged):
        body = client.get("/api/v1/log/keys").json()
        assert body["origin"] == "127.0.0.1:8000/log"
        (key,) = body["keys"]
        assert key["status"] == "active" and key["vkey"].startswith("127.0.0.1:8000/log+")
        assert body["witnesses"] == []
