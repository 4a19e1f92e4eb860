"""C2SP signed notes, checkpoints and cosignatures against the published examples."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditbank.kit import signednote as sn

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "signed-note.json").read_text())


def _go_signer() -> tuple[str, Ed25519PrivateKey]:
    _, _, name, _, material = VECTORS["go_sumdb_note_example"]["skey"].split("+", 4)
    raw = base64.b64decode(material)
    assert raw[0] == sn.ED25519
    return name, Ed25519PrivateKey.from_private_bytes(raw[1:])


class TestPublishedExamples:
    def test_the_c2sp_example_verifies(self):
        example = VECTORS["c2sp_signed_note_example"]
        verifier = sn.parse_vkey(example["vkey"])
        text, verified = sn.verify(example["note"], [verifier])
        assert text == "This is an example message.\n"
        assert verified == {example["vkey"]: 0}

    def test_signing_reproduces_the_go_reference_note_byte_for_byte(self):
        example = VECTORS["go_sumdb_note_example"]
        name, key = _go_signer()
        assert sn.Verifier(name, key.public_key()).vkey == example["vkey"]
        assert sn.join(example["text"], [sn.sign(example["text"], name, key)]) == example["note"]

    def test_the_checkpoint_example_parses(self):
        text, signatures = sn.split(VECTORS["c2sp_checkpoint_example"]["note"])
        checkpoint = sn.parse_checkpoint(text)
        assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
        assert checkpoint.text == text and len(checkpoint.root) == 32
        assert [s.name for s in signatures] == ["example.com/behind-the-sofa"]


class TestVerification:
    def test_an_edited_text_is_rejected_by_the_known_key(self):
        example = VECTORS["c2sp_signed_note_example"]
        forged = example["note"].replace("example message", "exampel message")
        with pytest.raises(sn.NoteError, match="does not verify"):
            sn.verify(forged, [sn.parse_vkey(example["vkey"])])

    def test_unknown_signers_are_ignored(self):
        example = VECTORS["c2sp_signed_note_example"]
        other = sn.Verifier("example.com/foo", Ed25519PrivateKey.generate().public_key())
        assert sn.verify(example["note"], [other])[1] == {}

    @pytest.mark.parametrize(
        "note",
        [
            "no blank line\n— a AAAAAAA=\n",
            "text\n\n",
            "text\n\n— a AAAAAAA=",
            "te\x07xt\n\n— a AAAAAAA=\n",
            "text\n\n— a not-base64!\n",
            "text\n\nnot a signature\n",
        ],
    )
    def test_malformed_notes_are_refused(self, note):
        with pytest.raises(sn.NoteError):
            sn.split(note)

    def test_a_vkey_whose_id_does_not_match_its_key_is_refused(self):
        vkey = VECTORS["go_sumdb_note_example"]["vkey"].replace("c74f20a3", "c74f20a4")
        with pytest.raises(sn.NoteError, match="key ID"):
            sn.parse_vkey(vkey)


class TestCheckpointsAndCosignatures:
    def test_a_log_checkpoint_opens_only_with_the_logs_key(self):
        key = Ed25519PrivateKey.generate()
        body = sn.Checkpoint("bank.example/log", 5, bytes(range(32))).text
        note = sn.join(body, [sn.sign(body, "bank.example/log", key)])
        checkpoint, _ = sn.open_checkpoint(note, [sn.Verifier("bank.example/log", key.public_key())])
        assert checkpoint.size == 5
        stranger = sn.Verifier("bank.example/log", Ed25519PrivateKey.generate().public_key())
        with pytest.raises(sn.NoteError, match="no signature"):
            sn.open_checkpoint(note, [stranger])

    def test_a_cosignature_signs_the_v1_message_with_its_timestamp(self):
        witness = Ed25519PrivateKey.generate()
        body = sn.Checkpoint("bank.example/log", 7, bytes(32)).text
        line = sn.cosign(body, "witness.example/w1", witness, 1_679_315_147)
        blob = base64.b64decode(line.split(" ")[2])
        verifier = sn.Verifier("witness.example/w1", witness.public_key(), sn.COSIGNATURE_V1)
        assert blob[:4] == verifier.key_id and int.from_bytes(blob[4:12], "big") == 1_679_315_147
        witness.public_key().verify(
            blob[12:], b"cosignature/v1\ntime 1679315147\n" + body.encode()
        )  # the message exactly as tlog-cosignature spells it
        assert sn.cosigners(sn.join(body, [line]), [verifier]) == {"witness.example/w1": 1_679_315_147}
        assert verifier.vkey.split("+")[2].startswith("B")  # type byte 0x04

    def test_a_cosignature_on_another_checkpoint_does_not_verify(self):
        witness = Ed25519PrivateKey.generate()
        verifier = sn.Verifier("w", witness.public_key(), sn.COSIGNATURE_V1)
        line = sn.cosign(sn.Checkpoint("o", 7, bytes(32)).text, "w", witness, 1)
        other = sn.Checkpoint("o", 8, bytes(32)).text
        with pytest.raises(sn.NoteError):
            sn.cosigners(sn.join(other, [line]), [verifier])

    @pytest.mark.parametrize("text", ["o\n01\nAAAA\n", "o\n1\nnot base64\n", "o\n1\n", "o\n1\nAAAA\n"])
    def test_bad_checkpoint_bodies_are_refused(self, text):
        with pytest.raises(sn.NoteError):
            sn.parse_checkpoint(text)


def test_a_vkey_whose_base64_holds_a_plus_round_trips():
    while True:
        verifier = sn.Verifier("bank.example/log", Ed25519PrivateKey.generate().public_key())
        if "+" in verifier.vkey.split("+", 2)[2]:
            break
    assert sn.parse_vkey(verifier.vkey).vkey == verifier.vkey
