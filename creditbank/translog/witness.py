"""A witness: an outside party (another district's bank, the provincial office) that keeps the last
checkpoint it saw of a bank's log, checks that each new one extends it, and cosigns it
(C2SP tlog-cosignature v1, Ed25519). Its cosignatures, published by the bank beside the checkpoint,
tell every verifier that this checkpoint is the one the whole world is shown — a bank that shows a
different history to different people (a split view) cannot collect them for both.

The witness fetches only the signed checkpoint and tiles (any tlog-tiles mirror works), verifies
everything itself, and refuses — keeping both notes as evidence — when the log rolls back or forks.
State lives in one directory: ``witness.pem`` (its key, 0600) and ``<origin>.checkpoint`` per log,
replaced atomically under a file lock after the check and before the cosignature leaves the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from creditbank.kit import merkle
from creditbank.kit import signednote as sn
from creditbank.translog.client import LogClient


class WitnessRefusal(RuntimeError):
    """The new checkpoint does not extend the one the witness holds: it will not be cosigned."""

    def __init__(self, reason: str, evidence: Path | None = None) -> None:
        super().__init__(reason)
        self.evidence = evidence


@dataclass(frozen=True)
class Outcome:
    origin: str
    old_size: int
    size: int
    cosignature: str
    """The signature line, ``— name base64(key ID ‖ timestamp ‖ signature)``."""
    submitted: bool | None = None
    """Whether the bank accepted it (None: not sent)."""


class Witness:
    def __init__(self, state_dir: Path | str, name: str) -> None:
        self.state_dir = Path(state_dir)
        self.name = name
        if not name or any(c.isspace() or c == "+" for c in name):
            raise ValueError(f"witness name {name!r}: no spaces or '+'")

    # ----------------------------------------------------------------- key and state
    def key(self) -> Ed25519PrivateKey:
        path = self.state_dir / "witness.pem"
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 key") from None
            return key
        key = Ed25519PrivateKey.generate()
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return key

    @property
    def vkey(self) -> str:
        """What the bank (``CREDITBANK_LOG_WITNESSES``) and verifiers configure to trust this witness."""
        return sn.Verifier(self.name, self.key().public_key(), sn.COSIGNATURE_V1).vkey

    def _state_path(self, origin: str) -> Path:
        return self.state_dir / (re.sub(r"[^A-Za-z0-9._-]", "_", origin) + ".checkpoint")

    @contextlib.contextmanager
    def _locked(self, origin: str) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._state_path(origin).with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def held(self, origin: str) -> str | None:
        path = self._state_path(origin)
        return path.read_text(encoding="utf-8") if path.exists() else None

    def _store(self, origin: str, note: str) -> None:
        path = self._state_path(origin)
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".checkpoint.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(note)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _evidence(self, origin: str, old: str, new: str, reason: str) -> Path:
        path = self._state_path(origin).with_suffix(f".refused-{int(time.time())}.txt")
        path.write_text(
            f"{reason}\n\n--- the checkpoint this witness holds ---\n{old}\n--- the one it refused ---\n{new}",
            encoding="utf-8",
        )
        return path

    # ----------------------------------------------------------------- the check
    def observe(
        self,
        note: str,
        log_keys: Sequence[sn.Verifier],
        consistency: Callable[[int, int], list[bytes]],
        *,
        now: int | None = None,
    ) -> Outcome:
        """Check ``note`` (a checkpoint signed by one of ``log_keys``) against the held one and
        cosign it. ``consistency(old, new)`` gives a proof from any source: it is verified here."""
        checkpoint, _ = sn.open_checkpoint(note, log_keys)
        text = checkpoint.text
        log_signed = sn.join(text, [s.line for s in sn.split(note)[1] if _is_log(s, log_keys)])
        with self._locked(checkpoint.origin):
            held = self.held(checkpoint.origin)
            old_size = 0
            if held is not None:
                old, _ = sn.open_checkpoint(held, log_keys)
                old_size = old.size
                reason = None
                if checkpoint.size < old.size:
                    reason = f"rollback: size {checkpoint.size} after {old.size}"
                elif checkpoint.size == old.size and checkpoint.root != old.root:
                    reason = f"fork: two roots for size {old.size}"
                elif checkpoint.size > old.size > 0:
                    proof = consistency(old.size, checkpoint.size)
                    if not merkle.verify_consistency(
                        old.size, checkpoint.size, proof, old.root, checkpoint.root
                    ):
                        reason = f"fork: size {checkpoint.size} does not extend size {old.size}"
                if reason is not None:
                    evidence = self._evidence(checkpoint.origin, held, note, reason)
                    raise WitnessRefusal(reason, evidence)
            elif checkpoint.size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
                raise WitnessRefusal("a checkpoint of size 0 must have the empty tree's root")
            self._store(checkpoint.origin, log_signed)
        timestamp = int(time.time()) if now is None else now
        line = sn.cosign(text, self.name, self.key(), timestamp)
        return Outcome(checkpoint.origin, old_size, checkpoint.size, line)

    def run(self, client: LogClient, log_keys: Sequence[sn.Verifier], *, submit: bool = True) -> Outcome:
        """One round against a bank: fetch, check, cosign, and hand the cosignature to the bank."""
        note = client.checkpoint_note()

        def consistency(old: int, new: int) -> list[bytes]:
            return client.tree(new).consistency_proof(old)

        outcome = self.observe(note, log_keys, consistency)
        if not submit:
            return outcome
        text = sn.split(note)[0]
        status, _ = client.post(
            "/api/v1/log/cosignatures",
            sn.join(text, [outcome.cosignature]).encode("utf-8"),
            "text/plain; charset=utf-8",
        )
        return Outcome(outcome.origin, outcome.old_size, outcome.size, outcome.cosignature, status == 200)


def _is_log(signature: sn.Signature, log_keys: Sequence[sn.Verifier]) -> bool:
    return any(k.name == signature.name and k.key_id == signature.key_id for k in log_keys)


def quorum(note: str, witnesses: Sequence[sn.Verifier], required: int) -> tuple[bool, list[str]]:
    """Do at least ``required`` of ``witnesses`` cosign this checkpoint note? (ok, their names)"""
    try:
        names = sorted(sn.cosigners(note, witnesses))
    except sn.NoteError:
        return False, []
    return len(names) >= required, names
