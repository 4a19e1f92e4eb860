"""The bank's own verifier: the pure checks, fed from the database and the key store."""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from typing import Any

from cachetools import LRUCache
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from creditbank.certificates import service as certificates
from creditbank.certificates.credentials import line_role, qr_claims
from creditbank.certificates.keys import IssuerKey
from creditbank.certificates.models import Certificate, StatusList
from creditbank.db import Database, on_event_loop, referenced
from creditbank.errors import CreditbankError
from creditbank.kit import merkle, reasons, statuslist
from creditbank.kit.canonical import digest_hex
from creditbank.kit.dataintegrity import verify_proof_set
from creditbank.kit.multikey import public_key_bytes
from creditbank.kit.units import credits_of_text
from creditbank.translog.service import Log
from creditbank.verification import inputs, logproof, record
from creditbank.verification.tally import Tally
from creditbank.verification.verify import (
    NOT_LOGGED,
    Check,
    KeyLookup,
    StatusAnswer,
    Verdict,
    claims_agree,
    credential_facts,
    pdf_checks,
    verify_credential,
    verify_payload,
)

ALTERED = Check(False, record.ALTERED_ZH, record.ALTERED_EN)


class OffTheLoop(Exception):
    """``by_id`` on the event loop met a certificate that no checkpoint it knows covers yet (issued a
    moment ago, without a log proof): signing one is a write, which waits for locks and the shared
    pool — ask again in the thread pool."""


class _ProofCache:
    """A credential's proofs verify or not forever: cache by content digest (bounded LRU)."""

    def __init__(self, size: int = 10_000) -> None:
        self._items: OrderedDict[str, list] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def check(self, credential: dict, resolve, budget_seconds: float | None = None) -> list:
        digest = digest_hex(credential)
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return self._items[digest]
        results = verify_proof_set(credential, resolve, budget_seconds=budget_seconds)
        with self._lock:
            self._items[digest] = results
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return results


RECHECK_SECONDS = 0.25
"""How often a process re-reads what a cached verify answer depends on (the revocation epoch, the
key metadata, the newest log checkpoint): a revocation committed anywhere is honoured by every
process within this time, a revocation committed in the same process at once."""

ANSWER_CACHE_BYTES = 64 * 1024 * 1024


class Answers:
    """Whole verify-by-id answers, kept as the bytes a client got, for as long as nothing they
    depend on may have changed.

    An answer depends on the certificate (immutable once issued: the credential, its proofs, the
    printed summary), its revocation (status bit, date, reason), the issuer keys' status and the
    transparency-log checkpoint the inclusion check used. All but the first are summed up in a
    *token* — (revocation epoch, key-metadata version, checkpoint size) — and an answer is served
    only while the token it was computed under is the current one. The token is re-read at most
    every ``recheck_seconds`` and at once after this process committed a revocation or rotated a
    key (``expire``): one tiny query a few times a second per process, none per request.

    Used from the event loop only (the ASGI front of the verify route): no lock."""

    def __init__(
        self,
        db: Database,
        issuer: certificates.Issuer,
        log: Log | None,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        max_bytes: int = ANSWER_CACHE_BYTES,
    ) -> None:
        self.db = db
        self.issuer = issuer
        self.log = log
        self.recheck_seconds = recheck_seconds
        self._items: LRUCache[str, tuple[Hashable, Any, int]] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda item: item[2]
        )
        self._token: Hashable = None
        self._next_check = 0.0
        self._seen_revocations = -1
        self.rechecks = 0
        """How often the token was read from the database (tests and benchmarks look)."""

    def expire(self) -> None:
        """Re-read the token before the next answer (after a change this process made)."""
        self._next_check = 0.0

    def token(self) -> Hashable:
        """What every cached answer must have been computed under to be served now."""
        now = time.monotonic()
        committed = certificates.revocations_committed()
        if now >= self._next_check or committed != self._seen_revocations:
            with self.db.reader() as session:
                epoch = certificates.status_epoch(session)
            view = self.log.latest_view() if self.log is not None else None
            self._token = (epoch, self.issuer.keys.version(), view.size if view is not None else None)
            self._seen_revocations = committed
            self._next_check = time.monotonic() + self.recheck_seconds
            self.rechecks += 1
        return self._token

    def get(self, certificate_id: str, token: Hashable) -> Any | None:
        item = self._items.get(certificate_id)
        if item is None or item[0] != token:
            return None
        return item[1]

    def put(self, certificate_id: str, token: Hashable, answer: Any, size: int) -> None:
        """Keep ``answer`` (``size`` bytes) for ``certificate_id``; ``token`` must have been read
        *before* the answer was computed, so a change racing the computation only expires it."""
        if size <= self._items.maxsize // 16:
            self._items[certificate_id] = (token, answer, size)

    def clear(self) -> None:
        self._items.clear()


STRANGER_SLOTS = 2
"""How many documents the bank did not issue (no byte-identical record) may be canonicalised at
once; more wait up to ``STRANGER_WAIT_SECONDS`` and then get a 503. With the JSON-LD time budget
this bounds what anonymous uploads can cost; verification by id, QR or of the bank's own
credentials never waits here."""
STRANGER_WAIT_SECONDS = 2.0


class OnlineVerifier:
    def __init__(
        self,
        db: Database,
        issuer: certificates.Issuer,
        log: Log | None = None,
        tally: Tally | None = None,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self.db = db
        self.tally = tally or Tally(db)
        self.issuer = issuer
        self.log = log
        self.answers = Answers(db, issuer, log, recheck_seconds=recheck_seconds)
        # (leaf index, checkpoint size, credential digest) → the log check: a proof never changes.
        self._log_checks: LRUCache[tuple[int, int, str], Check] = LRUCache(maxsize=20_000)
        self._proofs = _ProofCache()
        # certificate id → (credential hash, credential, summary, log index, what of the printed
        # summary the signed documents do not vouch for): what never changes once issued.
        self._immutable: LRUCache[str, tuple[str, dict, dict, int, list[str]]] = LRUCache(maxsize=20_000)
        self._lock = threading.Lock()
        self._stranger_slots = threading.BoundedSemaphore(STRANGER_SLOTS)

    def key(self, ref: str) -> IssuerKey | None:
        """A verification method (``did:web:…#kid``) or a bare kid → our published key."""
        if "#" in ref:
            did, _, kid = ref.partition("#")
            if not self.issuer.owns(did):
                return None
        else:
            kid = ref
        return self.issuer.keys.get(kid)

    @staticmethod
    def _live(session: Session, certificate_id: str) -> tuple[str, Any, str | None, bool] | None:
        """What can change after issue — (credential hash, revoked_at, reason, status bit) — in one
        small query that reads a single byte of the status list, not its 16 KiB."""
        row = session.execute(
            select(
                col(Certificate.credential_hash),
                col(Certificate.revoked_at),
                col(Certificate.revoke_reason),
                func.substr(col(StatusList.bits), col(Certificate.status_index) // 8 + 1, 1),
                col(Certificate.status_index),
            )
            .join(StatusList, col(StatusList.id) == col(Certificate.status_list_id))
            .where(col(Certificate.id) == certificate_id)
        ).first()
        if row is None:
            return None
        recorded_hash, revoked_at, reason, byte, index = row
        return recorded_hash, revoked_at, reason, statuslist.get_bit(byte, index % 8)

    def _status(self, session: Session, certificate: Certificate) -> StatusAnswer:
        live = self._live(session, certificate.id)
        if live is None:
            raise CreditbankError("certificate_not_found", {"id": certificate.id})
        _, _, reason, revoked = live
        return StatusAnswer(revoked=revoked, reason=reason if revoked else None)

    @staticmethod
    def summary(certificate: Certificate) -> dict[str, Any]:
        """What the report says about the certificate. Credits are JSON numbers (SPEC §4), though the
        certificate prints them as text (its signed claims and credential stay as they are)."""
        printed = certificates.printed_of(certificate)
        return {
            "id": certificate.id,
            "kind": certificate.kind,
            "learner_name": printed.learner_name,
            "id_masked": printed.id_masked,
            "account_no": printed.account_no,
            "issued_at": certificate.issued_at.isoformat(),
            "issued_on": printed.issued_on,
            "issuer": printed.issuer_name_zh,
            "issuer_en": printed.issuer_name_en,
            "issuer_did": printed.issuer_did,
            "total_credits": credits_of_text(printed.total_credits),
            "lines": [
                {
                    "title_zh": line.title_zh,
                    "title_en": line.title_en,
                    "credits": credits_of_text(line.credits),
                    "completed_on": line.completed_on,
                    "institution": line.institution_name,
                    "role": line_role(printed.kind, n),
                }
                for n, line in enumerate(printed.lines)
            ],
            "revoked_at": certificate.revoked_at.isoformat() if certificate.revoked_at else None,
            **_reason_fields(certificate.revoke_reason),
        }

    def shown(
        self, certificate: Certificate, credential: dict | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """The summary a verifier is shown, and what of the stored printed text the signed documents
        do not vouch for (``record``). An altered record's text is never shown as the certificate's
        content: the signed documents' is, and the caller fails ``integrity``."""
        credential = credential if credential is not None else json.loads(certificate.credential_json)
        summary = self.summary(certificate)
        altered = record.differences(
            certificate.id, certificate.printed_json, credential, certificate.qr_payload, self.key
        )
        if altered:
            summary = record.signed_summary(summary, credential, certificate.qr_payload, self.key)
        return summary, altered

    def log_check(
        self, log_index: int | None, credential: dict, digest: str, carried: dict | None = None
    ) -> Check:
        """Is this credential the one the log holds at ``log_index``, under today's checkpoint (one is
        signed on demand if none covers it yet)? A proof the verifier brought (a PDF's) is checked too
        and brought up to date: its checkpoint must be a prefix of today's."""
        if self.log is None:
            return NOT_LOGGED
        if log_index is None:
            return Check(
                False, "本行透明日志中没有这份证书", "this certificate is not in the bank's transparency log"
            )
        view = self.log.latest_view()
        if view is None or view.size <= log_index:
            if on_event_loop():  # signing a checkpoint is a write: its locks must not hold the loop
                raise OffTheLoop(log_index)
            self.log.covering(log_index)
            view = self.log.latest_view(fresh=True)
        assert view is not None
        key = (log_index, view.size, digest)
        with self._lock:
            found = self._log_checks.get(key)
        if found is None:
            found, _ = logproof.check(credential, self.log.bundle(log_index, view), self.log.verifiers())
            with self._lock:
                self._log_checks[key] = found
        if carried is None or found.ok is not True:
            return found
        theirs, checkpoint = logproof.check(credential, carried, self.log.verifiers())
        if theirs.ok is not True or checkpoint is None:
            return theirs
        if (
            checkpoint.size > view.size
            or (
                checkpoint.size < view.size
                and not merkle.verify_consistency(
                    checkpoint.size,
                    view.size,
                    self.log.consistency_proof(checkpoint.size, view.size),
                    checkpoint.root,
                    view.root,
                )
            )
            or (checkpoint.size == view.size and checkpoint.root != view.root)
        ):
            return Check(
                False,
                f"随附证明的检查点（{checkpoint.size} 条）与本行日志现状不一致：日志曾向不同的人展示不同的历史",
                f"the proof's checkpoint (size {checkpoint.size}) is not consistent with the log today: "
                "the log showed different histories to different people",
            )
        return Check(
            True,
            f"{found.zh}；随附证明的检查点（{checkpoint.size} 条）与今天的日志一致",
            f"{found.en}; the proof's own checkpoint (size {checkpoint.size}) is consistent with today's",
        )

    def _credential_verdict(
        self, session: Session, credential: dict, certificate: Certificate | None, carried: dict | None = None
    ) -> Verdict:
        digest = digest_hex(credential)
        summary, altered = self.shown(certificate) if certificate else (None, [])
        verdict = verify_credential(
            credential,
            keys=self.key,
            check_proofs=self._proof_checker(credential, certificate),
            status=(lambda _entry: self._status(session, certificate)) if certificate else None,
            recorded_hash=certificate.credential_hash if certificate else None,
            summary=summary,
            log_inclusion=self.log_check(
                certificate.log_index if certificate else None, credential, digest, carried
            ),
        )
        if altered:
            verdict.checks["integrity"] = ALTERED
        return verdict

    def _proof_checker(self, credential: dict, certificate: Certificate | None):
        """A stranger's document gets the JSON-LD time budget; a byte-for-byte copy of one the
        bank issued does not (its cost is bounded by what the bank built: a transcript of a few
        hundred lines can take longer than the budget)."""
        if certificate is not None and digest_hex(credential) == certificate.credential_hash:
            return lambda document, resolve: self._proofs.check(document, resolve, math.inf)

        def bounded(document: dict, resolve) -> list:
            if not self._stranger_slots.acquire(timeout=STRANGER_WAIT_SECONDS):
                raise CreditbankError("verification_busy")
            try:
                return self._proofs.check(document, resolve)
            finally:
                self._stranger_slots.release()

        return bounded

    def issued(self, certificate_id: str, recorded_hash: str | None = None) -> Certificate:
        """The certificate as issued, for what never changes once issued (the credential, its
        summary, the QR payload, the log index): read from the replica when there is one. A replica
        that does not have it yet (issued a moment ago), or not with the hash the primary recorded,
        is not asked again: the primary answers. Status is never taken from here (``_live``)."""
        if self.db.replica_usable:
            try:
                with self.db.replica_reader() as session:
                    certificate = session.get(Certificate, certificate_id)
                if certificate is not None and recorded_hash in (None, certificate.credential_hash):
                    return certificate
            except OperationalError as error:  # unreachable, or it cancelled the read: the primary
                self.db.replica_failed(error)
        with self.db.reader() as session:
            return referenced(session, Certificate, certificate_id)

    def by_id(self, certificate_id: str) -> Verdict:
        """The hot path behind ``GET /verify/{id}`` and the phone page: one small query on the
        primary for what can change (the status bit and the revocation) — never on a replica, so a
        revocation is honoured however far a replica lags — and everything immutable from a
        per-process cache, filled from the replica when there is one (``issued``)."""
        with self.db.reader() as session:
            live = self._live(session, certificate_id)
        if live is None:
            raise CreditbankError("certificate_not_found", {"id": certificate_id})
        recorded_hash, revoked_at, reason, revoked = live
        with self._lock:  # cachetools' LRU is not thread-safe; the page route runs in the thread pool
            cached = self._immutable.get(certificate_id)
        if cached is None or cached[0] != recorded_hash:
            certificate = self.issued(certificate_id, recorded_hash)  # _live just found it
            credential = json.loads(certificate.credential_json)
            summary, altered = self.shown(certificate, credential)
            cached = (recorded_hash, credential, summary, certificate.log_index, altered)
            with self._lock:
                self._immutable[certificate_id] = cached
        _, credential, summary, log_index, altered = cached
        summary = summary | {
            "revoked_at": revoked_at.isoformat() if revoked_at else None,
            **_reason_fields(reason),
        }
        verdict = verify_credential(
            credential,
            keys=self.key,
            check_proofs=lambda document, resolve: self._proofs.check(document, resolve, math.inf),
            recorded_hash=recorded_hash,
            summary=summary,
            status=lambda _entry: StatusAnswer(revoked=revoked, reason=reason if revoked else None),
            log_inclusion=self.log_check(log_index, credential, recorded_hash),
        )
        if altered:
            verdict.checks["integrity"] = ALTERED
        self.tally.count(certificate_id)  # once a verdict is given (not when it is asked again off the loop)
        return verdict

    def verify_input(self, submitted: inputs.Submitted) -> dict[str, Any]:
        if submitted.credential is None and submitted.payload is None and submitted.certificate_id:
            # A link without its signed #CB1… fragment: the bank's record of that certificate.
            verdict = self.by_id(submitted.certificate_id)
            verdict.notes.append(
                "链接没有 #CB1.… 签名片段，已按证书编号在线核验 / the link has no signed #CB1.… fragment: "
                "verified online by certificate number"
            )
            return verdict.as_dict() | {"source": submitted.source}
        with self.db.reader() as session:
            verdicts = []
            if submitted.credential is not None:
                certificate = session.get(
                    Certificate, credential_facts(submitted.credential)["certificate_id"]
                )
                verdicts.append(
                    self._credential_verdict(session, submitted.credential, certificate, submitted.log_proof)
                )
            if submitted.payload is not None:
                certificate = self._certificate_for_payload(session, submitted)
                recorded = qr_claims(certificates.printed_of(certificate)) if certificate else None
                summary, altered = self.shown(certificate) if certificate else (None, [])
                payload_verdict = verify_payload(
                    submitted.payload,
                    keys=self.key,
                    recorded_claims=recorded,
                    status=(lambda _id: self._status(session, certificate)) if certificate else None,
                    summary=summary,
                    url_certificate_id=submitted.certificate_id,
                    log_inclusion=self._recorded_log_check(certificate),
                )
                if altered:
                    payload_verdict.checks["integrity"] = ALTERED
                verdicts.append(payload_verdict)
        verdict = combine(verdicts, submitted, self.key, self.issuer.identity.pdf_seals_since)
        counted = verdict.certificate.get("id") if verdict.certificate else None
        if counted:
            self.tally.count(counted)
        return verdict.as_dict() | {"source": submitted.source}

    def _recorded_log_check(self, certificate: Certificate | None) -> Check | None:
        """For a QR: the bank's record of the certificate it names is what the log must hold."""
        if certificate is None:
            return None
        credential = json.loads(certificate.credential_json)
        return self.log_check(certificate.log_index, credential, certificate.credential_hash)

    def _certificate_for_payload(self, session: Session, submitted: inputs.Submitted) -> Certificate | None:
        from creditbank.kit import qrpayload

        try:
            _, claims, _, _ = qrpayload.decode(submitted.payload or "")
        except qrpayload.PayloadError:
            return None
        # The signed id, never the URL's: a URL naming another certificate fails integrity.
        return session.get(Certificate, qrpayload.certificate_id(claims) or "")

    def entry_revoked(self, entry: Any) -> bool | None:
        """Is a ``credentialStatus`` entry pointing at one of this bank's status lists (at its
        address now or before a move) set? ``None`` for anybody else's list."""
        if not isinstance(entry, dict):
            return None
        url, index = entry.get("statusListCredential"), entry.get("statusListIndex")
        if not isinstance(url, str) or not isinstance(index, str) or not index.isdigit():
            return None
        bases = [self.issuer.base_url, *(f.base_url for f in self.issuer.identity.previous)]
        list_id = next(
            (
                url[len(f"{b}/api/v1/status-lists/") :]
                for b in bases
                if url.startswith(f"{b}/api/v1/status-lists/")
            ),
            None,
        )
        if list_id is None or not list_id.isdigit():
            return None
        with self.db.reader() as session:
            status_list = session.get(StatusList, int(list_id))
            if status_list is None or int(index) >= len(status_list.bits) * 8:
                return None
            return statuslist.get_bit(status_list.bits, int(index))

    def page_context(self, certificate_id: str) -> dict[str, Any]:
        try:
            verdict = self.by_id(certificate_id)
        except CreditbankError:
            return {"found": False, "certificate_id": certificate_id}
        keys = [
            {
                "kid": k.kid,
                "public_key": base64.b64encode(public_key_bytes(k.public_key)).decode(),
                "status": k.status,
                "compromised_at": k.compromised_at.isoformat() if k.compromised_at else None,
            }
            for k in self.issuer.keys.all()
        ]
        payload = self.issued(certificate_id).qr_payload  # by_id found it; fixed at issue
        return {
            "found": True,
            "certificate_id": certificate_id,
            "verdict": verdict.as_dict(),
            "keys": keys,
            "qr_payload": payload,
        }


def combine(
    verdicts: list[Verdict],
    submitted: inputs.Submitted,
    keys: KeyLookup,
    seals_since: datetime | None = None,
) -> Verdict:
    """A PDF carries two copies of the claims (attachment and QR): both must pass and agree, and
    its bytes must be the ones the bank sealed (``keys``: for the seal; ``seals_since``: when the
    bank first ran with seals, ``pdf_checks``)."""
    if len(verdicts) == 1:
        single = verdicts[0]
        if submitted.source == "pdf":
            _pdf_checks(single.checks, submitted, single.claims, keys, seals_since)
        return single
    credential_verdict, payload_verdict = verdicts
    checks: dict[str, Check] = {}
    for name, first in credential_verdict.checks.items():
        second = payload_verdict.checks[name]
        checks[name] = first if first.ok is False else second if second.ok is False else first
    if not claims_agree(submitted.credential or {}, payload_verdict.claims):
        checks["integrity"] = Check(
            False,
            "PDF 附带的证书数据与二维码内容不一致",
            "the PDF's attached credential and its QR code disagree",
        )
    elif submitted.source == "pdf":
        _pdf_checks(checks, submitted, payload_verdict.claims, keys, seals_since)
    return Verdict(
        checks=checks,
        certificate=credential_verdict.certificate or payload_verdict.certificate,
        claims=payload_verdict.claims,
    )


def _pdf_checks(
    checks: dict[str, Check],
    submitted: inputs.Submitted,
    claims: dict | None,
    keys: KeyLookup,
    seals_since: datetime | None,
) -> None:
    pdf_checks(
        checks,
        printed_text=submitted.printed_text,
        credential=submitted.credential,
        claims=claims,
        seal=submitted.seal,
        seal_damaged=submitted.seal_damaged,
        keys=keys,
        seals_since=seals_since,
    )


def _reason_fields(stored: str | None) -> dict[str, str | None]:
    """A revocation reason for both readers (``revoke_reason``, Chinese / English) and for each."""
    return {
        "revoke_reason": reasons.both(stored) or None,
        "revoke_reason_zh": reasons.text(stored, "zh") or None,
        "revoke_reason_en": reasons.text(stored, "en") or None,
    }
