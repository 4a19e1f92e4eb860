"""C2SP signed notes, checkpoints and cosignatures (pure).

* ``signed-note``: text ending in a newline, a blank line, then signature lines
  ``— <key name> base64(4-byte key ID ‖ signature)``; key ID = SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4];
  verifier keys ``<name>+<hex key ID>+base64(type ‖ key)``. Ed25519 is type 0x01.
* ``tlog-checkpoint``: the note text is ``origin\\nsize\\nbase64(root)\\n`` (extension lines allowed).
* ``tlog-cosignature`` (Ed25519, type 0x04): a witness signs ``cosignature/v1\\ntime <t>\\n`` + the
  checkpoint text; the signature is ``8-byte big-endian t ‖ Ed25519 signature``.

Unknown signatures are ignored; a signature by a known key that does not verify rejects the whole
note, as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_SIGNATURES = 64
MAX_NOTE_BYTES = 64 * 1024


class NoteError(ValueError):
    """A note that is malformed, or signed by a known key with a signature that does not verify."""


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, kind: int, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw_public(public_key)).digest()[:4]


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


@dataclass(frozen=True)
class Verifier:
    """A key that may sign notes: the log (type 0x01) or a witness (type 0x04)."""

    name: str
    public_key: Ed25519PublicKey
    kind: int = ED25519

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.kind, self.public_key)

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.kind]) + raw_public(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verify(self, text: str, payload: bytes) -> int | None:
        """Verify a signature payload (after the key ID) on ``text``. Returns the cosignature
        timestamp (0 for a plain Ed25519 signature); raises ``InvalidSignature``."""
        if self.kind == ED25519:
            if len(payload) != 64:
                raise InvalidSignature
            self.public_key.verify(payload, text.encode())
            return 0
        if len(payload) != 72:
            raise InvalidSignature
        timestamp = int.from_bytes(payload[:8], "big")
        if timestamp >= 2**63:
            raise InvalidSignature
        self.public_key.verify(payload[8:], cosigned_message(text, timestamp))
        return timestamp


def parse_vkey(vkey: str) -> Verifier:
    """``name+hex(key ID)+base64(type ‖ key)`` → a verifier; the key ID must match the key."""
    parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3:
        raise NoteError(f"not a verifier key: {vkey!r}")
    name, key_hex, material = parts
    try:
        raw = base64.b64decode(material, validate=True)
    except binascii.Error:
        raise NoteError(f"verifier key {name}: key material is not base64") from None
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError(f"verifier key {name}: only Ed25519 (type 1) and cosignature/v1 (type 4) keys")
    verifier = Verifier(_check_name(name), Ed25519PublicKey.from_public_bytes(raw[1:]), raw[0])
    if verifier.key_id.hex() != key_hex.lower():
        raise NoteError(f"verifier key {name}: key ID {key_hex} does not match the key")
    return verifier


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def sign(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """A signature line by the log (Ed25519, type 0x01)."""
    kid = key_id(_check_name(name), ED25519, private_key.public_key())
    return f"{DASH} {name} {base64.b64encode(kid + private_key.sign(text.encode())).decode()}\n"


def cosign(text: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """A witness's cosignature line (tlog-cosignature v1, Ed25519, type 0x04)."""
    kid = key_id(_check_name(name), COSIGNATURE_V1, private_key.public_key())
    signature = private_key.sign(cosigned_message(text, timestamp))
    return f"{DASH} {name} {base64.b64encode(kid + timestamp.to_bytes(8, 'big') + signature).decode()}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    payload: bytes
    line: str


def _signature(line: str) -> Signature:
    prefix = f"{DASH} "
    if not line.startswith(prefix):
        raise NoteError(f"not a signature line: {line!r}")
    name, _, encoded = line[len(prefix) :].partition(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteError(f"signature by {name}: not base64") from None
    if len(blob) < 5 or " " in encoded:
        raise NoteError(f"signature by {name}: too short")
    return Signature(_check_name(name), blob[:4], blob[4:], line + "\n")


def split(note: str) -> tuple[str, list[Signature]]:
    """(text including its final newline, signature lines) of a signed note."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("note too large")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("note contains control characters")
    if not note.endswith("\n") or "\n\n" not in note:
        raise NoteError("a signed note is text, a blank line and signature lines, each ending in a newline")
    cut = note.rindex("\n\n")
    text, lines = note[: cut + 1], note[cut + 2 :].split("\n")[:-1]
    if not lines:
        raise NoteError("the note has no signatures")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    return text, [_signature(line) for line in lines]


def verify(note: str, verifiers: Iterable[Verifier]) -> tuple[str, dict[str, int]]:
    """(text, {vkey: timestamp}) for every known key that signed (timestamp 0 for a plain Ed25519
    signature). Unknown signatures are ignored; a known key's bad signature raises ``NoteError``.
    An empty dict: no known signer."""
    text, signatures = split(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: dict[str, int] = {}
    for signature in signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        try:
            timestamp = verifier.verify(text, signature.payload)
        except InvalidSignature:
            raise NoteError(f"the signature by {signature.name} does not verify") from None
        verified[verifier.vkey] = timestamp or 0
    return text, verified


def join(text: str, signature_lines: Sequence[str]) -> str:
    return text + "\n" + "".join(signature_lines)


# -------------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise NoteError("a checkpoint is at least three non-empty lines: origin, size, root hash")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise NoteError(f"checkpoint size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root hash is not base64") from None
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(note: str, log_keys: Iterable[Verifier]) -> tuple[Checkpoint, list[Signature]]:
    """A checkpoint whose origin line is signed by one of the log's keys (key name = origin).
    Returns it with all its signature lines (cosignatures are checked separately)."""
    text, signatures = split(note)
    checkpoint = parse_checkpoint(text)
    keys = [k for k in log_keys if k.kind == ED25519 and k.name == checkpoint.origin]
    _, verified = verify(note, keys)
    if not verified:
        raise NoteError(f"no signature by a known key of log {checkpoint.origin}")
    return checkpoint, signatures


def cosigners(note: str, witnesses: Iterable[Verifier]) -> dict[str, int]:
    """{witness name: timestamp} of the valid cosignatures on a checkpoint note."""
    known = [w for w in witnesses if w.kind == COSIGNATURE_V1]
    _, verified = verify(note, known)
    return {w.name: verified[w.vkey] for w in known if w.vkey in verified}
