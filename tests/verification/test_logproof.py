"""Certificates carry their transparency-log proof; online, offline and CLI verification check it and say
``log_inclusion`` true or false with the reason — ``null`` only where it cannot apply."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from typer.testing import CliRunner

from creditbank.cli import app as cli
from creditbank.kit import merkle
from creditbank.kit import signednote as sn
from creditbank.translog import service
from creditbank.verification import logproof
from tests.certificates.test_certificates import issue, oks, world  # noqa: F401 - the fixture
from tests.conftest import OPERATOR
from tests.translog.test_tiles import _append


def _log_keys(client) -> list[sn.Verifier]:
    return [sn.parse_vkey(k["vkey"]) for k in client.get("/api/v1/log/keys").json()["keys"]]


def _detail(verdict: dict) -> str:
    return verdict["checks"]["log_inclusion"]["detail"]


class TestTheCertificateCarriesItsProof:
    def test_a_new_certificate_is_proven_offline_with_only_the_logs_public_key(self, client, world):  # noqa: F811
        cert = issue(client, world)
        bundle = cert["log_proof"]
        assert bundle["type"] == logproof.PROOF_TYPE == service.PROOF_TYPE
        assert (bundle["leaf_index"], bundle["leaf_kind"]) == (cert["log_index"], "certificate_issued")
        result, checkpoint = logproof.check(cert["credential"], bundle, _log_keys(client))
        assert result.ok is True and checkpoint.size == bundle["tree_size"] > cert["log_index"]
        assert f"entry {cert['log_index']}" in result.en

    def test_reading_the_certificate_later_gives_a_proof_against_a_newer_checkpoint(self, client, world, db):  # noqa: F811
        cert = issue(client, world)
        _append(db, 10_000, 5)  # more history, then the scheduled checkpoint
        client.app.state.log.checkpoint()
        later = client.get(f"/api/v1/certificates/{cert['id']}").json()["log_proof"]
        assert later["tree_size"] == cert["log_proof"]["tree_size"] + 5
        assert logproof.check(cert["credential"], later, _log_keys(client))[0].ok is True

    def test_revoking_answers_with_the_issue_proof(self, client, world):  # noqa: F811
        cert = issue(client, world)
        revoked = client.post(
            f"/api/v1/certificates/{cert['id']}/revoke", json={"reason": "错误"}, headers=OPERATOR
        ).json()
        assert revoked["log_proof"]["leaf_index"] == cert["log_index"]


class TestTamperedProofsFail:
    @pytest.mark.parametrize(
        "tamper",
        [
            lambda b: b["inclusion_path"].__setitem__(0, base64.b64encode(bytes(32)).decode()),
            lambda b: b.update(leaf_index=b["leaf_index"] + 1),
            lambda b: b.update(tree_size=b["tree_size"] + 1),
            lambda b: b.update(checkpoint=b["checkpoint"].replace("\n—", "\n\n—", 1)),
            lambda b: b.update(inclusion_path=[*b["inclusion_path"], b["inclusion_path"][0]]),
            lambda b: b.update(type="something else"),
            lambda b: b.pop("inclusion_path"),
        ],
        ids=["path", "index", "size", "note", "padded", "type", "missing"],
    )
    def test_each_alteration_is_caught_with_a_reason(self, client, world, tamper):  # noqa: F811
        cert = issue(client, world)
        bundle = copy.deepcopy(cert["log_proof"])
        tamper(bundle)
        result, _ = logproof.check(cert["credential"], bundle, _log_keys(client))
        assert result.ok is False and result.en.startswith("log proof fails")

    def test_another_credential_under_the_same_proof_fails(self, client, world):  # noqa: F811
        cert = issue(client, world)
        other = copy.deepcopy(cert["credential"])
        other["credentialSubject"]["creditsEarned"] = 9
        result, _ = logproof.check(other, cert["log_proof"], _log_keys(client))
        assert result.ok is False and "not this credential" in result.en

    def test_a_checkpoint_signed_by_another_key_fails(self, client, world):  # noqa: F811
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        cert = issue(client, world)
        stranger = sn.Verifier(_log_keys(client)[0].name, Ed25519PrivateKey.generate().public_key())
        result, _ = logproof.check(cert["credential"], cert["log_proof"], [stranger])
        assert result.ok is False and "not signed by the bank's log" in result.en

    def test_k_of_n_witnesses_are_demanded_when_asked(self, client, world, tmp_path):  # noqa: F811
        from creditbank.translog.witness import Witness

        cert = issue(client, world)
        witness = sn.parse_vkey(Witness(tmp_path / "w", "w.example/1").vkey)
        result, _ = logproof.check(
            cert["credential"], cert["log_proof"], _log_keys(client), witnesses=[witness], quorum=1
        )
        assert result.ok is False and "0 of the 1 required witness cosignatures" in result.en


class TestOnline:
    def test_by_id_and_by_json_say_true_with_the_entry(self, client, world):  # noqa: F811
        cert = issue(client, world)
        by_id = client.get(f"/api/v1/verify/{cert['id']}").json()
        assert oks(by_id)["log_inclusion"] is True and f"entry {cert['log_index']}" in _detail(by_id)
        posted = client.post("/api/v1/verify", json={"credential": cert["credential"]}).json()
        assert oks(posted)["log_inclusion"] is True

    def test_a_carried_proof_from_an_older_checkpoint_is_brought_up_to_date(self, client, world, db):  # noqa: F811
        cert = issue(client, world)
        _append(db, 10_000, 3)
        client.app.state.log.checkpoint()
        client.app.state.log.latest_view(fresh=True)
        verdict = client.post(
            "/api/v1/verify", json={"credential": cert["credential"], "log_proof": cert["log_proof"]}
        ).json()
        assert oks(verdict)["log_inclusion"] is True
        assert f"(size {cert['log_proof']['tree_size']}) is consistent with today's" in _detail(verdict)

    def test_a_carried_proof_from_a_split_view_is_caught(self, client, world):  # noqa: F811
        """The log's own key signed a checkpoint of another history holding this credential (what a
        bank could show one verifier): offline it looks fine; online it is not a prefix of today's log."""
        cert = issue(client, world)
        log = client.app.state.log
        private = log.keys.private_key(log.keys.active().kid)
        leaf = logproof.leaf_hash_of(cert["credential"])
        other = merkle.leaf_hash(b"a history nobody else was shown")
        tree = merkle.MemoryTree([leaf, other])
        body = sn.Checkpoint(log.origin(), 2, tree.root()).text
        forged = {
            "type": logproof.PROOF_TYPE,
            "leaf_index": 0,
            "leaf_kind": "certificate_issued",
            "digest": "",
            "tree_size": 2,
            "inclusion_path": [base64.b64encode(other).decode()],
            "checkpoint": sn.join(body, [sn.sign(body, log.origin(), private)]),
        }
        assert logproof.check(cert["credential"], forged, _log_keys(client))[0].ok is True
        verdict = client.post(
            "/api/v1/verify", json={"credential": cert["credential"], "log_proof": forged}
        ).json()
        assert oks(verdict)["log_inclusion"] is False and verdict["valid"] is False
        assert "different histories" in _detail(verdict)

    def test_a_genuinely_signed_but_unlogged_credential_is_not_valid(self, client, world):  # noqa: F811
        cert = issue(client, world)
        unlogged = copy.deepcopy(cert["credential"])
        unlogged.pop("proof")
        unlogged["id"] = unlogged["id"].rsplit("/", 1)[0] + "/crt_neverlogged0000"
        signed, _ = client.app.state.issuer.sign(unlogged)
        verdict = client.post("/api/v1/verify", json={"credential": signed}).json()
        assert oks(verdict)["signature"] is True
        assert oks(verdict)["log_inclusion"] is False and verdict["valid"] is False
        assert "not in the bank's transparency log" in _detail(verdict)

    def test_a_qr_is_checked_through_the_banks_record(self, client, world):  # noqa: F811
        cert = issue(client, world)
        verdict = client.post("/api/v1/verify", json={"url": cert["verify_url"]}).json()
        assert oks(verdict)["log_inclusion"] is True


class TestOffline:
    def _files(self, client, tmp_path, cert) -> dict:
        files = {
            "keys": tmp_path / "keys.json",
            "log": tmp_path / "log-keys.json",
            "pdf": tmp_path / "cert.pdf",
            "json": tmp_path / "cert.json",
            "status": tmp_path / "status.json",
        }
        files["keys"].write_text(json.dumps(client.get("/api/v1/keys").json()))
        files["log"].write_text(json.dumps(client.get("/api/v1/log/keys").json()))
        files["pdf"].write_bytes(client.get(f"/api/v1/certificates/{cert['id']}.pdf").content)
        files["json"].write_text(json.dumps(cert["credential"], ensure_ascii=False))
        status_url = cert["credential"]["credentialStatus"]["statusListCredential"]
        files["status"].write_bytes(
            client.get(
                "/api/v1/status-lists/" + status_url.rsplit("/", 1)[1], headers={"Accept": "application/json"}
            ).content
        )
        return files

    def test_the_pdf_alone_proves_inclusion_with_only_public_keys(self, client, world, tmp_path):  # noqa: F811
        cert = issue(client, world)
        f = self._files(client, tmp_path, cert)
        args = [
            "verify",
            str(f["pdf"]),
            "--offline",
            "--keys",
            str(f["keys"]),
            "--status-list",
            str(f["status"]),
        ]
        result = CliRunner().invoke(cli, [*args, "--log-keys", str(f["log"])])
        assert result.exit_code == 0, result.output
        assert "✓ log_inclusion" in result.output and f"entry {cert['log_index']}" in result.output
        vkey = client.get("/api/v1/log/keys").json()["keys"][0]["vkey"]
        assert CliRunner().invoke(cli, [*args, "--log-keys", vkey]).exit_code == 0
        no_key = CliRunner().invoke(cli, args)
        assert "— log_inclusion" in no_key.output and "--log-keys" in " ".join(no_key.output.split())

    def test_a_quorum_of_witnesses_that_did_not_cosign_fails_offline(self, client, world, tmp_path):  # noqa: F811
        from creditbank.translog.witness import Witness

        cert = issue(client, world)
        f = self._files(client, tmp_path, cert)
        witness = Witness(tmp_path / "w", "w.example/1").vkey
        result = CliRunner().invoke(
            cli,
            [
                "verify",
                str(f["pdf"]),
                "--offline",
                "--keys",
                str(f["keys"]),
                "--log-keys",
                str(f["log"]),
                "--witness",
                witness,
                "--quorum",
                "1",
            ],
        )
        assert result.exit_code == 1 and "✗ log_inclusion" in result.output

    def test_where_the_check_cannot_apply_it_is_null_with_the_reason(self, client, world, tmp_path):  # noqa: F811
        cert = issue(client, world)
        f = self._files(client, tmp_path, cert)
        for target, reason in (
            (str(f["json"]), "no transparency-log proof"),
            (cert["verify_url"], "QR code has no room"),
        ):
            result = CliRunner().invoke(
                cli, ["verify", target, "--offline", "--keys", str(f["keys"]), "--log-keys", str(f["log"])]
            )
            output = " ".join(result.output.split())  # the console wraps long lines
            # 0 valid, or 3: genuine but revocation unchecked offline (a QR names no status list to pass)
            assert result.exit_code in (0, 3) and "— log_inclusion" in output and reason in output
