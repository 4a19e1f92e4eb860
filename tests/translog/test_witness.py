"""Witnesses: an outside party cosigns each checkpoint that extends the last one it saw, refuses a
forked or rolled-back log, and the bank publishes what it collected; verifiers can require k of n."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from creditbank.app import create_app, log_service
from creditbank.cli import app as cli
from creditbank.db import Database
from creditbank.kit import signednote as sn
from creditbank.translog import published, sequencer
from creditbank.translog.client import LogClient
from creditbank.translog.witness import Witness, WitnessRefusal, quorum
from tests.translog.test_serving import transport_for
from tests.translog.test_tiles import _append, _entries

W1, W2 = "witness.example.org/w1", "province.example.gov/w2"


@pytest.fixture
def witnesses(tmp_path) -> tuple[Witness, Witness]:
    return Witness(tmp_path / "w1", W1), Witness(tmp_path / "w2", W2)


@pytest.fixture
def bank(settings, db, witnesses):
    """The bank, configured to publish both witnesses' cosignatures."""
    configured = settings.model_copy(update={"log_witnesses": [w.vkey for w in witnesses]})
    with TestClient(create_app(configured, db)) as test_client:
        yield test_client


def _log_keys(client) -> list[sn.Verifier]:
    return [sn.parse_vkey(k["vkey"]) for k in client.get("/api/v1/log/keys").json()["keys"]]


def _checkpoint(client, db, start: int, count: int) -> None:
    _append(db, start, count)
    client.app.state.log.checkpoint()
    client.app.state.log.latest_view(fresh=True)


class TestCosigning:
    def test_witnesses_cosign_and_the_bank_publishes_their_cosignatures(self, bank, db, witnesses):
        w1, w2 = witnesses
        log = LogClient("http://testserver", transport_for(bank))
        keys = _log_keys(bank)
        _checkpoint(bank, db, 0, 20)
        first = w1.run(log, keys)
        assert (first.old_size, first.size, first.submitted) == (0, 20, True)
        _checkpoint(bank, db, 20, 300)
        second = w1.run(log, keys)
        assert (second.old_size, second.size, second.submitted) == (20, 320, True)
        assert w2.run(log, keys).submitted is True
        note = bank.get("/log/checkpoint").text
        assert note.count("\n— ") == 3  # the log and two witnesses
        verifiers = [sn.parse_vkey(w.vkey) for w in witnesses]
        assert quorum(note, verifiers, 2) == (True, sorted([W1, W2]))
        body = bank.get("/api/v1/log/checkpoint").json()
        assert sorted(c["witness"] for c in body["cosignatures"]) == sorted([W1, W2])
        assert bank.get("/api/v1/log/keys").json()["witnesses"] == [w.vkey for w in witnesses]

    def test_k_of_n_counts_only_known_valid_cosigners(self, bank, db, witnesses):
        w1, _ = witnesses
        _checkpoint(bank, db, 0, 5)
        w1.run(LogClient("http://testserver", transport_for(bank)), _log_keys(bank))
        note = bank.get("/log/checkpoint").text
        verifiers = [sn.parse_vkey(w.vkey) for w in witnesses]
        assert quorum(note, verifiers, 1) == (True, [W1])
        assert quorum(note, verifiers, 2) == (False, [W1])
        assert quorum(note, verifiers[1:], 1) == (False, [])


class TestRefusals:
    def test_a_witness_refuses_a_split_view(self, settings, db, witnesses, tmp_path, request):
        """Same origin, same log key, another history: the bank shows one log to the witness, then a
        different one. The witness keeps the first and refuses the second, with the evidence."""
        w1, _ = witnesses
        honest = log_service(settings, db)
        _append(db, 0, 10)
        honest.checkpoint()
        with TestClient(create_app(settings, db)) as first_view:
            keys = _log_keys(first_view)
            assert (
                w1.run(LogClient("http://testserver", transport_for(first_view)), keys, submit=False).size
                == 10
            )
        fork_db = Database(_fresh_like(request, tmp_path))
        with fork_db.unit_of_work() as session:  # leaf 3 differs: a consistent tree of its own
            forged = [(k, r, bytes(32) if i == 3 else d) for i, (k, r, d) in enumerate(_entries(0, 12))]
            sequencer.append(session, forged)
        # The record of what was published guards an honest bank against a restore, not a dishonest
        # one against itself: a bank set on showing two views removes it first.
        (settings.keys_dir / published.FILE).unlink()
        with TestClient(create_app(settings, fork_db)) as second_view:  # same keys_dir: same log key
            second_view.app.state.log.checkpoint()
            with pytest.raises(WitnessRefusal, match="fork: size 12 does not extend size 10") as refused:
                w1.run(LogClient("http://testserver", transport_for(second_view)), keys, submit=False)
        assert "does not extend" in refused.value.evidence.read_text()
        assert sn.parse_checkpoint(sn.split(w1.held("127.0.0.1:8000/log"))[0]).size == 10  # still the first
        fork_db.dispose()

    def test_rollback_and_two_roots_for_one_size_are_refused(self, settings, db, witnesses):
        w1, _ = witnesses
        log = log_service(settings, db)
        _append(db, 0, 8)
        row = log.checkpoint()
        keys = log.verifiers()
        private = log.keys.private_key(row.kid)
        w1.observe(row.note, keys, lambda a, b: [])

        def signed(size: int, root: bytes) -> str:
            body = sn.Checkpoint("127.0.0.1:8000/log", size, root).text
            return sn.join(body, [sn.sign(body, "127.0.0.1:8000/log", private)])

        with pytest.raises(WitnessRefusal, match="rollback"):
            w1.observe(signed(7, bytes(32)), keys, lambda a, b: [])
        with pytest.raises(WitnessRefusal, match="two roots"):
            w1.observe(signed(8, bytes(32)), keys, lambda a, b: [])

    def test_a_checkpoint_not_signed_by_the_log_is_not_cosigned(self, settings, db, witnesses):
        w1, _ = witnesses
        log = log_service(settings, db)
        _append(db, 0, 2)
        note = log.checkpoint().note
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        stranger = [sn.Verifier("127.0.0.1:8000/log", Ed25519PrivateKey.generate().public_key())]
        with pytest.raises(sn.NoteError):
            w1.observe(note, stranger, lambda a, b: [])
        assert w1.held("127.0.0.1:8000/log") is None


class TestTheBankAcceptsOnlyWhatItShould:
    def test_unknown_witness_bad_signature_and_unsigned_checkpoint_are_403(
        self, bank, db, witnesses, tmp_path
    ):
        _checkpoint(bank, db, 0, 3)
        text = sn.split(bank.get("/log/checkpoint").text)[0]
        stranger = Witness(tmp_path / "stranger", "stranger.example/w")
        cases = {
            "unknown witness": sn.join(
                text, [sn.cosign(text, stranger.name, stranger.key(), int(time.time()))]
            ),
            "bad signature": sn.join(
                text, [sn.cosign(text.replace("\n3\n", "\n4\n"), W1, witnesses[0].key(), int(time.time()))]
            ),
            "not our checkpoint": sn.join(
                text.replace("\n3\n", "\n2\n"),
                [sn.cosign(text.replace("\n3\n", "\n2\n"), W1, witnesses[0].key(), int(time.time()))],
            ),
            "from the future": sn.join(
                text, [sn.cosign(text, W1, witnesses[0].key(), int(time.time()) + 3600)]
            ),
        }
        for what, note in cases.items():
            r = bank.post(
                "/api/v1/log/cosignatures", content=note.encode(), headers={"Content-Type": "text/plain"}
            )
            assert (r.status_code, r.json()["code"]) == (403, "cosignature_refused"), what
        assert bank.get("/api/v1/log/checkpoint").json()["cosignatures"] == []

    def test_the_same_cosignature_twice_is_stored_once(self, bank, db, witnesses):
        _checkpoint(bank, db, 0, 3)
        text = sn.split(bank.get("/log/checkpoint").text)[0]
        note = sn.join(text, [sn.cosign(text, W1, witnesses[0].key(), int(time.time()))])
        for _ in range(2):
            r = bank.post(
                "/api/v1/log/cosignatures", content=note.encode(), headers={"Content-Type": "text/plain"}
            )
            assert r.json() == {"checkpoint_size": 3, "witnesses": [W1]}
        assert len(bank.get("/api/v1/log/checkpoint").json()["cosignatures"]) == 1

    def test_an_idempotency_key_replays_and_refuses_another_note(self, bank, db, witnesses):
        """SPEC §3.4: the key is the witness's; another checkpoint under it is 409, nothing stored."""
        _checkpoint(bank, db, 0, 3)
        text = sn.split(bank.get("/log/checkpoint").text)[0]
        note = sn.join(text, [sn.cosign(text, W1, witnesses[0].key(), int(time.time()))])
        headers = {"Content-Type": "text/plain", "Idempotency-Key": "cosign-1"}
        first = bank.post("/api/v1/log/cosignatures", content=note.encode(), headers=headers)
        again = bank.post("/api/v1/log/cosignatures", content=note.encode(), headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        _checkpoint(bank, db, 3, 2)
        newer = sn.split(bank.get("/log/checkpoint").text)[0]
        other = sn.join(newer, [sn.cosign(newer, W1, witnesses[0].key(), int(time.time()))])
        r = bank.post("/api/v1/log/cosignatures", content=other.encode(), headers=headers)
        assert (r.status_code, r.json()["code"]) == (409, "idempotency_key_reused")
        assert bank.get("/api/v1/log/checkpoint").json()["cosignatures"] == []  # the newer one: none kept
        # Another witness's key of the same name is its own.
        by_w2 = sn.join(newer, [sn.cosign(newer, W2, witnesses[1].key(), int(time.time()))])
        r = bank.post("/api/v1/log/cosignatures", content=by_w2.encode(), headers=headers)
        assert r.status_code == 200 and r.json()["witnesses"] == [W2]


def _fresh_like(request, tmp_path: Path) -> str:
    """Another empty database on the same backend as this test's."""
    from tests.conftest import _fresh_database

    backend = "postgresql" if request.getfixturevalue("db_url").startswith("postgresql") else "sqlite"
    (tmp_path / "fork").mkdir()
    return _fresh_database(backend, request, tmp_path / "fork")


def test_the_witness_command_against_a_running_bank(sqlite_settings, tmp_path, live):
    """``creditbank witness URL`` over real HTTP: cosign, submit, and the bank publishes it."""
    state = tmp_path / "witness-state"
    runner = CliRunner()
    vkey = runner.invoke(cli, ["witness", "--name", W1, "--state", str(state), "--print-key"]).output.strip()
    with live(sqlite_settings, log_witnesses=[vkey]) as (
        base,
        app,
        db,
    ):
        _append(db, 0, 4)
        app.state.log.checkpoint()
        app.state.log.latest_view(fresh=True)
        log_key = app.state.log.verifiers()[0].vkey
        args = ["witness", base, "--name", W1, "--state", str(state), "--log-key", log_key]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "cosigned 127.0.0.1" in result.output and "accepted by the bank" in result.output
        assert f"— {W1} " in app.state.log.latest_view(fresh=True).note
