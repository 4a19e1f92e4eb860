"""Checkpoints, proofs and the log's public reads.

A checkpoint is signed only after the new tree has been proven consistent with the previous
signed checkpoint (from the stored tiles, against the previous note's *signed* root): the log
never signs two checkpoints that contradict each other, even if its rows were edited behind its
back — it refuses with ``LogForked`` instead. One checkpointer at a time (a transaction-scoped
advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite); appenders are not blocked by it.

The log's Ed25519 key comes from a ``KeyRing`` — in practice ``certificates.keys.KeyStore`` with
``role="log"``, handed in where the app is assembled (translog imports no domain).
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from cachetools import LRUCache
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select, text, update
from sqlmodel import Session, col

from creditbank.db import Database
from creditbank.errors import CreditbankError
from creditbank.kit import clock, merkle
from creditbank.kit import signednote as sn
from creditbank.translog import published, sequencer, tiles
from creditbank.translog.models import (
    LeafKind,
    TranslogCheckpoint,
    TranslogCosignature,
    TranslogHead,
    TranslogLeaf,
)
from creditbank.translog.published import LogForked
from creditbank.translog.sequencer import entry_bytes, entry_hash

logger = logging.getLogger("creditbank")
T = TypeVar("T")

PROOF_TYPE = "creditbank-log-inclusion/v1"
LOST_REF = "lost-in-restore"
"""The ref of a leaf put back from the published log after a restore (``reappend``): the record it
stands for is gone with the restore; only its kind and digest survive."""
_CHECKPOINT_LOCK = 0x63626C6F67  # "cblog": the advisory lock id of the checkpointer


class LogKey(Protocol):
    kid: str
    public_key: Ed25519PublicKey
    status: str


class KeyRing(Protocol):
    """What the log needs of a key store (``certificates.keys.KeyStore`` fits)."""

    def ensure_active(self) -> Any: ...

    def private_key(self, kid: str) -> Ed25519PrivateKey: ...

    def all(self) -> Sequence[Any]: ...


def origin_for(base_url: str) -> str:
    """The checkpoint origin (and key name): the scheme-less URL of the tiles, ``host/…/log``."""
    parts = urlsplit(base_url.strip())
    return f"{parts.netloc}{parts.path.rstrip('/')}/log"


def log_verifiers(origin: str, keys: KeyRing) -> list[sn.Verifier]:
    """The log's published keys that still vouch for checkpoints (not the compromised ones)."""
    return [sn.Verifier(origin, k.public_key) for k in keys.all() if k.status != "compromised"]


def head(session: Session) -> TranslogHead:
    return session.execute(
        select(TranslogHead).where(col(TranslogHead.id) == 1).execution_options(populate_existing=True)
    ).scalar_one()


def latest(session: Session) -> TranslogCheckpoint | None:
    return session.execute(
        select(TranslogCheckpoint).order_by(col(TranslogCheckpoint.size).desc()).limit(1)
    ).scalar_one_or_none()


def _ensure_origin(session: Session, base_url: str) -> str:
    origin = head(session).origin
    if origin is None:
        origin = origin_for(base_url)
        session.execute(update(TranslogHead).where(col(TranslogHead.id) == 1).values(origin=origin))
    return origin


def checkpoint(
    session: Session, keys: KeyRing, *, base_url: str, recorded: published.Published | None = None
) -> TranslogCheckpoint:
    """Sign a checkpoint of everything sequenced so far (the latest one when nothing is new).

    ``recorded``: the newest checkpoint published, as kept outside the database; a database that
    does not contain it (restored to an earlier point) is refused, as the signature would fork."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CHECKPOINT_LOCK})
    origin = _ensure_origin(session, base_url)
    # First, even when nothing is new: the scheduled checkpoint is how a running server notices a
    # database put back under it (``Log.health``), and the answer it gives a certificate.
    divergence = published.compare(session, recorded)
    if divergence is not None:
        raise LogForked(divergence.en, divergence)
    size = head(session).size
    previous = latest(session)
    if previous is not None:
        if previous.size == size:
            return previous
        if previous.size > size:
            raise LogForked(f"the log has {size} leaves but checkpoint {previous.size} was signed")
        try:
            signed, _ = sn.open_checkpoint(previous.note, log_verifiers(origin, keys))
        except sn.NoteError as exc:
            raise LogForked(f"checkpoint {previous.size} no longer verifies: {exc}") from None
        if signed.size != previous.size:
            raise LogForked(f"checkpoint row {previous.size} holds a note for size {signed.size}")
    old = previous.size if previous is not None else 0
    tiles.integrate(session, old, size)
    store = tiles.TileStore(session, size)
    root = store.root()
    if previous is not None and old > 0:
        proof = store.consistency_proof(old)
        if not merkle.verify_consistency(old, size, proof, signed.root, root):
            raise LogForked(f"the stored tree of {size} leaves does not extend signed checkpoint {old}")
    key = keys.ensure_active()
    body = sn.Checkpoint(origin, size, root).text
    note = sn.join(body, [sn.sign(body, origin, keys.private_key(key.kid))])
    row = TranslogCheckpoint(size=size, root=root, note=note, kid=key.kid, created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def reappend(
    session: Session, keys: KeyRing, recorded: published.Published, entries: Sequence[bytes], *, first: int
) -> TranslogCheckpoint:
    """After a restore to an earlier point: put back the published entries ``first …`` the database
    lost, taken from a copy of the published log (a mirror), and the published checkpoint itself —
    only if they and the database's own leaves make exactly the tree that was published, so the log
    goes on without a fork. The copy need not be trusted: the signed root decides. Raises
    ``LogForked`` (the caller's transaction rolls back: nothing changed) otherwise."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CHECKPOINT_LOCK})
    try:
        signed, _ = sn.open_checkpoint(recorded.note, log_verifiers(recorded.origin, keys))
    except sn.NoteError as exc:
        raise LogForked(f"the recorded checkpoint does not verify with the log's keys: {exc}") from None
    if (signed.size, signed.root) != (recorded.size, recorded.root):
        raise LogForked("the recorded checkpoint's note and its size or root disagree")
    size = sequencer.lock(session)
    if size != first or first + len(entries) != recorded.size:
        raise LogForked(
            f"the log has {size} entries: {len(entries)} entries from {first} do not reach {recorded.size}"
        )
    items: list[sequencer.Entry] = []
    for offset, entry in enumerate(entries):
        if len(entry) != 1 + merkle.HASH_SIZE or entry[0] not in set(LeafKind):
            raise LogForked(f"entry {first + offset} is not a creditbank log entry")
        items.append((LeafKind(entry[0]), LOST_REF, entry[1:]))
    sequencer.append(session, items, behind_published=True)
    previous = latest(session)
    tiles.integrate(session, previous.size if previous is not None else 0, recorded.size)
    if tiles.TileStore(session, recorded.size).root() != recorded.root:
        raise LogForked(
            f"the database's {first} entries and the {len(entries)} from the copy do not make the published "
            f"tree of {recorded.size}: the copy is not of this log, or the database was written to after the restore"
        )
    kids = {sn.Verifier(recorded.origin, k.public_key).vkey: k.kid for k in keys.all()}
    kid = kids[next(iter(sn.verify(recorded.note, [sn.parse_vkey(v) for v in kids])[1]))]
    created = clock.parse_iso(recorded.signed_at) or clock.now()
    # The row keeps the note as the log signed it: witnesses' lines (a note taken from
    # /log/checkpoint carries them) are cosignatures, published from their own table.
    body, signatures = sn.split(recorded.note)
    note = sn.join(body, [s.line for s in signatures if s.name == recorded.origin])
    row = TranslogCheckpoint(size=recorded.size, root=recorded.root, note=note, kid=kid, created_at=created)
    session.add(row)
    session.flush()
    return row


def checkpoint_at_or_after(session: Session, size: int) -> TranslogCheckpoint | None:
    return session.execute(
        select(TranslogCheckpoint)
        .where(col(TranslogCheckpoint.size) >= size)
        .order_by(col(TranslogCheckpoint.size))
        .limit(1)
    ).scalar_one_or_none()


def cosignature_lines(session: Session, size: int) -> list[str]:
    return list(
        session.execute(
            select(col(TranslogCosignature.line))
            .where(col(TranslogCosignature.checkpoint_size) == size)
            .order_by(col(TranslogCosignature.witness), col(TranslogCosignature.key_id))
        ).scalars()
    )


def published_note(session: Session, row: TranslogCheckpoint) -> str:
    """The checkpoint note with the log's signature and every cosignature collected for it."""
    return row.note + "".join(cosignature_lines(session, row.size))


def accept_cosignatures(session: Session, note: str, witnesses: Sequence[sn.Verifier]) -> list[str]:
    """Store the cosignatures on ``note`` by the witnesses the bank publishes; return their names.

    The note's text must be exactly a checkpoint this log signed; a known witness's signature that
    does not verify, or none at all, is refused."""

    def refuse(reason: str) -> CreditbankError:
        return CreditbankError("cosignature_refused", {"reason": reason})

    try:
        text, signatures = sn.split(note)
        size = sn.parse_checkpoint(text).size
        timestamps = sn.cosigners(note, witnesses)
    except sn.NoteError as exc:
        raise refuse(str(exc)) from None
    row = session.get(TranslogCheckpoint, size)
    if row is None or sn.split(row.note)[0] != text:
        raise refuse(f"the log signed no such checkpoint of size {size}")
    if not timestamps:
        raise refuse("no cosignature by a witness this bank publishes (CREDITBANK_LOG_WITNESSES)")
    now = int(time.time())
    if any(t > now + 300 for t in timestamps.values()):
        raise refuse("a cosignature is dated in the future")
    stored: set[tuple[str, str]] = {
        (witness, key_id)
        for witness, key_id in session.execute(
            select(col(TranslogCosignature.witness), col(TranslogCosignature.key_id)).where(
                col(TranslogCosignature.checkpoint_size) == size
            )
        ).all()
    }
    by_name = {w.name: w for w in witnesses if w.kind == sn.COSIGNATURE_V1}
    for signature in signatures:
        witness = by_name.get(signature.name)
        if witness is None or witness.key_id != signature.key_id or signature.name not in timestamps:
            continue
        if (signature.name, signature.key_id.hex()) in stored:
            continue
        session.add(
            TranslogCosignature(
                checkpoint_size=size,
                witness=signature.name,
                key_id=signature.key_id.hex(),
                timestamp=timestamps[signature.name],
                line=signature.line,
                received_at=clock.now(),
            )
        )
        stored.add((signature.name, signature.key_id.hex()))
    session.flush()
    return sorted(timestamps)


def best_checkpoint(session: Session, leaf_index: int) -> TranslogCheckpoint | None:
    """The checkpoint to prove ``leaf_index`` against: among those that include it, the one with the
    most witness cosignatures, the newest of those (a verifier asking for k of n wants cosignatures)."""
    count = func.count(col(TranslogCosignature.witness))
    best = session.execute(
        select(col(TranslogCheckpoint.size), count)
        .outerjoin(
            TranslogCosignature, col(TranslogCosignature.checkpoint_size) == col(TranslogCheckpoint.size)
        )
        .where(col(TranslogCheckpoint.size) > leaf_index)
        .group_by(col(TranslogCheckpoint.size))
        .order_by(count.desc(), col(TranslogCheckpoint.size).desc())
        .limit(1)
    ).first()
    return None if best is None else session.get(TranslogCheckpoint, best[0])


def proof_bundle(
    session: Session, leaf_index: int, checkpoint: TranslogCheckpoint | None = None
) -> dict | None:
    """What a certificate carries: its leaf, an inclusion proof and the signed checkpoint (with its
    cosignatures) it was proven against — verifiable offline with the log's public key. None while
    no checkpoint includes the leaf."""
    row = checkpoint or best_checkpoint(session, leaf_index)
    if row is None or row.size <= leaf_index:
        return None
    leaf = leaf_row(session, leaf_index)
    return {
        "type": PROOF_TYPE,
        "leaf_index": leaf_index,
        "leaf_kind": LeafKind(leaf.kind).name,
        "digest": leaf.digest.hex(),
        "tree_size": row.size,
        "inclusion_path": _b64(tiles.TileStore(session, row.size).inclusion_proof(leaf_index)),
        "checkpoint": published_note(session, row),
    }


# ------------------------------------------------------------------------------------- reads


def _b64(values: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def _require_checkpointed(session: Session, tree_size: int) -> TranslogCheckpoint:
    newest = latest(session)
    if newest is None or tree_size > newest.size:
        raise CreditbankError("log_size_unknown", {"size": tree_size, "latest": newest.size if newest else 0})
    return newest


def inclusion(session: Session, leaf_index: int, tree_size: int) -> dict[str, Any]:
    _require_checkpointed(session, tree_size)
    if not 0 <= leaf_index < tree_size:
        raise CreditbankError("log_leaf_not_found", {"index": leaf_index, "size": tree_size})
    store = tiles.TileStore(session, tree_size)
    leaf = leaf_row(session, leaf_index)
    return {
        "leaf_index": leaf_index,
        "tree_size": tree_size,
        "leaf_hash": base64.b64encode(entry_hash(leaf.kind, leaf.digest)).decode(),
        "inclusion_path": _b64(store.inclusion_proof(leaf_index)),
    }


def consistency(session: Session, first: int, second: int) -> dict[str, Any]:
    _require_checkpointed(session, second)
    if not 0 < first <= second:
        raise CreditbankError("invalid_value", {"field": "first", "reason": "0 < first ≤ second"})
    store = tiles.TileStore(session, second)
    return {"first": first, "second": second, "consistency_path": _b64(store.consistency_proof(first))}


def leaf_row(session: Session, leaf_index: int) -> TranslogLeaf:
    leaf = session.get(TranslogLeaf, leaf_index)
    if leaf is None:
        raise CreditbankError("log_leaf_not_found", {"index": leaf_index, "size": head(session).size})
    return leaf


def entry_bundle(session: Session, index: int, width: int) -> bytes:
    """C2SP entry bundle: big-endian uint16 length-prefixed entries ``index·256 … +width``."""
    rows = session.execute(
        select(col(TranslogLeaf.kind), col(TranslogLeaf.digest))
        .where(
            col(TranslogLeaf.leaf_index) >= index * tiles.WIDTH,
            col(TranslogLeaf.leaf_index) < index * tiles.WIDTH + width,
        )
        .order_by(col(TranslogLeaf.leaf_index))
    ).all()
    if len(rows) != width:
        raise tiles.MissingTile(f"entries {index}: {len(rows)} of {width} leaves")
    out = bytearray()
    for kind, digest in rows:
        entry = entry_bytes(kind, digest)
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


@dataclass(frozen=True)
class CheckpointView:
    """The newest checkpoint as published: the note carries the cosignatures collected for it."""

    origin: str
    size: int
    root: bytes
    note: str
    created_at: datetime
    cosignatures: tuple[tuple[str, str, int], ...]  # (witness, key id hex, timestamp)


_FRESH_SECONDS = 1.0  # how long a process may serve the newest checkpoint it read


class Log:
    """The log as the app and the CLI use it: one database, the log's keys, the public address.

    Reads for the tile routes are cached in the process: the newest checkpoint for a second, and
    full tiles and entry bundles (immutable once the checkpoint that covers them is signed) in a
    bounded LRU, so a mirror or a tlog client walking the tree costs no database round trip."""

    def __init__(
        self,
        db: Database,
        keys: KeyRing,
        base_url: str,
        *,
        witnesses: Sequence[str] = (),
        cache_tiles: int = 4096,
        record: published.RecordFile | None = None,
    ) -> None:
        self.db = db
        self.record = record
        """Where the newest checkpoint published is kept outside the database (None: nowhere)."""
        self._recorded_size = -1
        self._recorded: (
            tuple[tuple[int, int, int], published.Published | published.RecordError | None] | None
        ) = None
        self.forked: str | None = None
        """Why the last checkpoint was refused (``LogForked``); None once one is signed again."""
        if record is not None:  # every write refuses to append to a log without it (sequencer)
            db.write_info[sequencer.PUBLISHED] = self.published_checkpoint
        self.keys = keys
        self.base_url = base_url.rstrip("/")
        self.witnesses = [sn.parse_vkey(v) for v in witnesses]
        """The witnesses whose cosignatures this bank accepts and publishes (type-4 vkeys)."""
        if any(w.kind != sn.COSIGNATURE_V1 for w in self.witnesses):
            raise ValueError("CREDITBANK_LOG_WITNESSES: witness keys are cosignature/v1 vkeys (type 4)")
        self._latest: tuple[float, CheckpointView | None] | None = None
        self._tiles: LRUCache[tuple[int | str, int, int | None], bytes] = LRUCache(maxsize=cache_tiles)
        self._lock = threading.Lock()
        self._origin: str | None = None

    # ----------------------------------------------------------------- published reads
    def latest_view(self, *, fresh: bool = False) -> CheckpointView | None:
        cached = self._latest
        if not fresh and cached is not None and time.monotonic() - cached[0] < _FRESH_SECONDS:
            return cached[1]
        with self.db.reader() as session:
            row = latest(session)
            view = None
            if row is not None:
                cosigs = session.execute(
                    select(
                        col(TranslogCosignature.witness),
                        col(TranslogCosignature.key_id),
                        col(TranslogCosignature.timestamp),
                        col(TranslogCosignature.line),
                    )
                    .where(col(TranslogCosignature.checkpoint_size) == row.size)
                    .order_by(col(TranslogCosignature.witness), col(TranslogCosignature.key_id))
                ).all()
                view = CheckpointView(
                    origin=row.note.split("\n", 1)[0],
                    size=row.size,
                    root=row.root,
                    note=row.note + "".join(c.line for c in cosigs),
                    created_at=row.created_at,
                    cosignatures=tuple((c.witness, c.key_id, c.timestamp) for c in cosigs),
                )
        self._latest = (time.monotonic(), view)
        return view

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with self.db.reader() as session:
            return tiles.TileStore(session, second).consistency_proof(first)

    def bundle(self, leaf_index: int, view: CheckpointView) -> dict | None:
        """The proof bundle of a leaf against the checkpoint ``view`` (None if it does not cover it)."""
        with self.db.reader() as session:
            row = session.get(TranslogCheckpoint, view.size)
            return None if row is None else proof_bundle(session, leaf_index, row)

    def cached_tile(self, level: int | str, index: int, width: int | None) -> bytes | None:
        with self._lock:
            return self._tiles.get((level, index, width))

    def tile(self, level: int | str, index: int, width: int | None) -> bytes | None:
        """Tile ``level/index[.p/width]`` (``level="entries"``: an entry bundle) as served under the
        newest checkpoint; None when that checkpoint does not have it (a 404)."""
        found = self.cached_tile(level, index, width)
        if found is not None:
            return found
        view = self.latest_view()
        if view is None:
            return None
        tree_level = 0 if level == "entries" else int(level)
        available = tiles.tile_width(view.size, tree_level, index)
        wanted = tiles.WIDTH if width is None else width
        if available == 0 or wanted > available or (width is None and available < tiles.WIDTH):
            return None
        with self.db.reader() as session:
            if level == "entries":
                blob = entry_bundle(session, index, wanted)
            else:
                hashes = tiles.TileStore(session, view.size).tile(tree_level, index)
                blob = b"".join(hashes[:wanted])
        with self._lock:
            self._tiles[(level, index, width)] = blob
        return blob

    def published_checkpoint(self) -> published.Published | None:
        """The checkpoint recorded as published, read again only when its file changed (every write
        asks: a ``stat`` instead of reading and parsing JSON)."""
        if self.record is None:
            return None
        try:
            st = os.stat(self.record.path)
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # written by rename: a new inode each time
        cached = self._recorded
        if cached is None or cached[0] != stamp:
            try:
                found: published.Published | published.RecordError | None = self.record.read().published
            except published.RecordError as exc:
                # Every write asks: a damaged or unreadable record must refuse writes in words (503),
                # as a database behind it does, not fail each with a 500. Logged once per change.
                logger.error("transparency log: writes refused: %s", exc)
                found = exc
            self._recorded = cached = (stamp, found)
        if isinstance(cached[1], published.RecordError):
            raise LogForked(str(cached[1]))
        return cached[1]

    def checkpoint(self) -> TranslogCheckpoint:
        """Sign a checkpoint (``checkpoint``). A refusal (``LogForked``: 503 ``log_forked`` to a request
        that needed it) is logged for the operator and shown by ``/healthz`` until one is signed."""
        try:
            with self.db.unit_of_work() as session:
                row = checkpoint(
                    session, self.keys, base_url=self.base_url, recorded=self.published_checkpoint()
                )
        except LogForked as exc:
            self.forked = exc.reason
            logger.error("transparency log: no checkpoint signed, the log is not extended: %s", exc.reason)
            raise
        self.forked = None
        self._record(row)  # after the commit: a record ahead of the database would refuse a sound one
        return row

    def health(self, session: Session) -> dict[str, Any]:
        """``/healthz``'s ``checks.log``: ``{ok: true}``, or ``{ok: false, detail, detail_zh?}`` when the
        database does not contain the published checkpoint or the last checkpoint was refused."""
        try:
            divergence = published.compare(session, self.published_checkpoint())
        except LogForked as exc:
            return {"ok": False, "detail": exc.reason}
        if divergence is not None:
            return {"ok": False, "detail": divergence.en, "detail_zh": divergence.zh}
        if self.forked is not None:
            return {"ok": False, "detail": self.forked}
        return {"ok": True}

    def _record(self, row: TranslogCheckpoint) -> None:
        if self.record is None or row.size <= self._recorded_size:
            return
        try:
            self.record.advance(published.Published.of(row))
        except published.RecordError as exc:
            # The checkpoint is committed and may be served already; failing the request (a new
            # certificate) would not unpublish it. The next checkpoint, or the next start, retries.
            logger.error("transparency log: %s", exc)
            return
        self._recorded_size = row.size

    def divergence(self) -> published.Divergence | None:
        """How the database differs from the checkpoint recorded as published (None: it contains it).
        Reads only: ``creditbank audit`` and ``log status``."""
        if self.record is None:
            return None
        recorded = self.published_checkpoint()
        with self.db.reader() as session:
            return published.compare(session, recorded)

    def settle_published(self) -> None:
        """At start: refuse a database that does not contain the checkpoint recorded as published
        (``published.LogBehind``); otherwise record the database's newest checkpoint — a bank
        upgraded from before the record gets it from its database here."""
        if self.record is None:
            return
        recorded = self.record.read().published
        with self.db.reader() as session:
            divergence = published.compare(session, recorded)
            newest = latest(session)
        if divergence is not None:
            raise published.LogBehind(divergence)
        if newest is not None:
            self._record(newest)

    def covering(self, leaf_index: int, *, wait_seconds: float = 0.0) -> TranslogCheckpoint:
        """A checkpoint that includes ``leaf_index``: an existing one, the scheduled one if it comes
        within ``wait_seconds``, else one signed now (on demand)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            with self.db.reader() as session:
                found = checkpoint_at_or_after(session, leaf_index + 1)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                return self.checkpoint()
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def proof(self, leaf_index: int, *, wait_seconds: float = 0.0) -> dict:
        """The inclusion proof bundle for a leaf, signing a checkpoint on demand if none covers it."""
        self.covering(leaf_index, wait_seconds=wait_seconds)
        with self.db.reader() as session:
            bundle = proof_bundle(session, leaf_index)
        if bundle is None:  # pragma: no cover - covering() just made one
            raise RuntimeError(f"no checkpoint covers leaf {leaf_index}")
        return bundle

    def origin(self) -> str:
        if self._origin is None:
            with self.db.reader() as session:
                stored = head(session).origin
            if stored is None:
                return origin_for(self.base_url)
            self._origin = stored  # fixed once the first checkpoint is signed
        return self._origin

    def verifiers(self) -> list[sn.Verifier]:
        return log_verifiers(self.origin(), self.keys)

    def accept_cosignatures(self, note: str, then: Callable[[Session, list[str]], T]) -> T:
        """Store the cosignatures, then ``then(session, witness names)`` in the same transaction
        (the API keeps its Idempotency-Key answer there, under the witnesses who signed)."""
        with self.db.unit_of_work() as session:
            answer = then(session, accept_cosignatures(session, note, self.witnesses))
        self._latest = None  # the next read publishes them
        return answer
