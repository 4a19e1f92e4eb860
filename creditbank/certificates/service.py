"""Issuing and revoking certificates (one unit of work each)."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime
from typing import overload

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import event, func, select
from sqlmodel import Session, col

from creditbank.catalogue.models import Outcome
from creditbank.certificates import credentials, shapes
from creditbank.certificates.credentials import Line, Printed
from creditbank.certificates.keys import Identity, KeyStore
from creditbank.certificates.models import Certificate, CertificateKind, CertificateSource, StatusList
from creditbank.completions import ledgered
from creditbank.completions.models import Completion, live
from creditbank.config import Settings
from creditbank.conversion import progress
from creditbank.conversion.models import Conversion, ConversionLot, ConversionState, Qualification
from creditbank.db import table_of
from creditbank.errors import CreditbankError
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.kit import clock, pdfseal, qrpayload, reasons, statuslist, text
from creditbank.kit.canonical import digest, digest_hex
from creditbank.kit.dataintegrity import sign_proof_set
from creditbank.kit.tokens import new_id
from creditbank.learners.models import Learner
from creditbank.ledger.models import LedgerAccount, LedgerHead, LedgerTransaction, Lot, Posting
from creditbank.ledger.queries import lot_live
from creditbank.translog import sequencer as translog
from creditbank.translog.models import LeafKind

DEFAULT_BASE_URL = "http://127.0.0.1:8000"

log = logging.getLogger(__name__)


class Issuer:
    """The bank as a signer: its DID, its keys, its public address.

    The identity (DID and base URL) is the one stored with the keys (``keys/issuer.json``),
    fixed when the bank was set up; ``settings.base_url`` only names it the first time, when
    nothing is stored yet (``create=True``). A verifier that must not set anything up passes
    ``create=False`` and gets ``fallback`` (e.g. the DID found in the database) or the
    configured address, without writing it."""

    def __init__(self, settings: Settings, *, create: bool = True, fallback: Identity | None = None) -> None:
        passphrase = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
        self.keys = KeyStore(settings.keys_dir, passphrase)
        configured = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        identity = self.keys.identity()
        if identity is None:
            if create:
                identity = self.keys.ensure_identity(
                    configured,
                    grace=settings.pdf_seal_grace(),
                    name_zh=settings.bank_name_zh,
                    name_en=settings.bank_name_en,
                )
            else:
                identity = fallback or Identity.for_base_url(configured)
        self.identity = identity
        self.base_url = identity.base_url
        self.did = identity.did
        self.name_zh = identity.name_zh
        """签发方 on the certificates this bank issues now (each keeps the name it was signed with)."""
        self.name_en = identity.name_en
        self.configured_base_url = settings.base_url.rstrip("/") if settings.base_url else None

    def verification_method(self, kid: str) -> str:
        return f"{self.did}#{kid}"

    def owns(self, did: str) -> bool:
        """Is ``did`` this bank, now or at an address it had before (``keys move-domain``)?"""
        return did in self.identity.dids

    def sign(self, credential: dict) -> tuple[dict, str]:
        key = self.keys.ensure_active()
        signed = sign_proof_set(
            credential,
            self.keys.private_key(key.kid),
            verification_method=self.verification_method(key.kid),
            created=clock.iso_seconds(clock.now()),
        )
        return signed, key.kid

    def seal_pdf(self, pdf: bytes) -> bytes:
        """``pdf`` (rendered with a seal slot) sealed with the current signing key: the seal says
        which key and when, so a later rotation leaves it valid and a compromise judges it by its
        time, as for a credential's proof."""
        key = self.keys.ensure_active()
        return pdfseal.seal(
            pdf,
            kid=key.kid,
            sealed_at=clock.iso_seconds(clock.now()),
            sign=self.keys.private_key(key.kid).sign,
        )

    def resolve(self, verification_method: str) -> Ed25519PublicKey | None:
        """Keys come only from our own store, never from the document being verified."""
        did, _, kid = verification_method.partition("#")
        if not self.owns(did):
            return None
        key = self.keys.get(kid)
        return key.public_key if key else None

    def status_list_url(self, list_id: int) -> str:
        return f"{self.base_url}/api/v1/status-lists/{list_id}"


def _lines(
    session: Session, completion_ids: list[str] | None, learner: Learner, *, only_lots: set[str] | None = None
) -> list[tuple[set[str], Line, int]]:
    """(completions the line rests on, printed line, credits in units) for an achievement
    (``completion_ids`` given: the credits as earned) or a transcript (``None``: every live lot with
    what is left of it, converted credits with their provenance, so the lines add up to the balance)."""
    if completion_ids is not None:
        query = (
            select(Completion, Outcome, Institution)
            .join(Outcome, col(Outcome.id) == col(Completion.outcome_id))
            .join(Institution, col(Institution.id) == col(Completion.institution_id))
            .where(
                col(Completion.learner_id) == learner.id,
                live(),
                col(Completion.id).in_(completion_ids),
            )
        )
        rows = []
        for c, o, i in session.execute(query):
            units = _posted_units(session, c, o, learner.account_no)
            rows.append(({c.id}, _line(o, i, units, c.completed_on.isoformat()), units))
        return rows
    rows = []
    lot_query = (
        select(Lot, Outcome, Institution)
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .join(Institution, col(Institution.id) == col(Lot.institution_id))
        .where(col(Lot.learner_id) == learner.id, lot_live())
        .order_by(col(Lot.earned_on), col(Lot.id))
    )
    for lot, outcome, institution in session.execute(lot_query):
        if only_lots is not None and lot.id not in only_lots:
            continue
        left = lot.amount_units - lot.consumed_units
        line = _line(outcome, institution, left, lot.earned_on.isoformat())
        if lot.conversion_id is not None:
            sources, titles = _provenance(session, lot.conversion_id)
            line = dataclasses.replace(
                line,
                title_zh=f"{line.title_zh}（学分转换，来源：{'、'.join(titles)}）",
                title_en=f"{line.title_en or line.title_zh} (converted)",
            )
        else:
            sources = {lot.completion_id}
            if lot.consumed_units:
                used = _credits_text(lot.consumed_units)
                line = dataclasses.replace(
                    line,
                    title_zh=f"{line.title_zh}（{used} 学分已转换）",
                    title_en=f"{line.title_en or line.title_zh} ({used} converted)",
                )
        rows.append((sources, line, left))
    return rows


def _posted_units(session: Session, completion: Completion, outcome: Outcome, account_no: str) -> int:
    """The credits its deposit put on the learner's account — the ledger's word, which the hash
    chain covers, not the completion row's ``credits_units``, which nothing does. A row that
    disagrees with its transaction (edited in the database) is refused: signing it would certify
    credits the ledger never held. ``account_no``: the certificate's learner's — a row whose
    ``learner_id`` was edited to name them fails the transaction's content digest."""
    rows = session.execute(
        select(
            col(LedgerTransaction.completion_id),
            col(LedgerTransaction.completion_hash),
            col(LedgerAccount.code),
            col(Posting.amount_units),
            col(Posting.lot_id),
        )
        .select_from(LedgerTransaction)
        .outerjoin(Posting, col(Posting.transaction_id) == col(LedgerTransaction.id))
        .outerjoin(LedgerAccount, col(LedgerAccount.id) == col(Posting.account_id))
        .where(col(LedgerTransaction.id) == completion.transaction_id)
        .order_by(col(Posting.id))
    ).all()
    tx_completion_id, tx_completion_hash = (rows[0][0], rows[0][1]) if rows else (None, None)
    # (A transaction without postings comes back as one row of NULL legs.)
    postings = [(code, units, lot) for _, _, code, units, lot in rows if code is not None]
    wrong = ledgered.disagreements(
        completion,
        account_no=account_no,
        outcome_code=outcome.code,
        tx_completion_id=tx_completion_id,
        tx_completion_hash=tx_completion_hash,
        postings=postings,
    )
    if wrong:
        log.error(
            "completion %s disagrees with its ledger transaction %s (%s): certificate refused",
            completion.id,
            completion.transaction_id,
            ", ".join(wrong),
        )
        raise CreditbankError(
            "completion_disagrees_with_ledger", {"id": completion.id, "fields": ", ".join(wrong)}
        )
    return next(units for _, units, lot in postings if lot is not None)


def _line(outcome: Outcome, institution: Institution, units: int, on: str) -> Line:
    owner = (f"机构 {institution.code}", f"institution {institution.code}")
    title_zh = _stored(outcome.title_zh, ("学习成果名称", "outcome title"), owner)
    title_en = _stored(
        outcome.title_en, ("学习成果英文名称", "outcome's English title"), owner, required=False
    )
    return Line(
        outcome_ref=f"{institution.code}:{outcome.code}:v{outcome.version}",
        title_zh=title_zh,
        title_en=title_en,
        category=outcome.category,
        level=outcome.level,
        credits=_credits_text(units),
        completed_on=on,
        institution_code=institution.code,
        institution_name=_stored(institution.name_zh, ("机构名称", "institution name"), _OPERATOR),
        available=_credits_text(outcome.credits_units),
        outcome_title_zh=title_zh,
        outcome_title_en=title_en,
    )


_OPERATOR = ("平台运营方", "the operator")


@overload
def _stored(value: str, what: tuple[str, str], who: tuple[str, str]) -> str: ...
@overload
def _stored(
    value: str | None, what: tuple[str, str], who: tuple[str, str], *, required: bool
) -> str | None: ...
def _stored(
    value: str | None, what: tuple[str, str], who: tuple[str, str], *, required: bool = True
) -> str | None:
    """A stored name or title as a certificate prints and signs it (``kit.text``: what is entered
    today is clean already; rows from before the rule may not be). Blank, or holding a control or
    bidi character, it is refused with ``certificate_data_invalid`` naming what to correct and
    who can: signing it would break the credential's schema (a blank name) or print a name that
    reads differently from the signed one."""
    try:
        cleaned = text.normalize(value or "")
    except text.InvalidText as exc:
        problem = exc.char
    else:
        if cleaned or not required:
            return cleaned or None
        problem = "空 / empty"
    raise CreditbankError(
        "certificate_data_invalid",
        {"what_zh": what[0], "what_en": what[1], "who_zh": who[0], "who_en": who[1], "value": problem},
    )


def _provenance(session: Session, conversion_id: str) -> tuple[set[str], list[str]]:
    """The completions (transitively, through earlier conversions) and titles a converted lot came from."""
    completions: set[str] = set()
    titles: list[str] = []
    rows = session.execute(
        select(Lot, Outcome)
        .join(ConversionLot, col(ConversionLot.lot_id) == col(Lot.id))
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .where(col(ConversionLot.conversion_id) == conversion_id)
        .order_by(col(Lot.earned_on), col(Lot.id))
    )
    for lot, outcome in rows:
        titles.append(outcome.title_zh)
        if lot.conversion_id is not None:
            completions |= _provenance(session, lot.conversion_id)[0]
        else:
            completions.add(lot.completion_id)
    return completions, titles


def _credits_text(units: int) -> str:
    return f"{units / 100:g}"


def _allocate_status(session: Session) -> tuple[int, int]:
    """Next free index in the current status list; a new list when it is full."""
    row = session.execute(
        select(col(StatusList.id), col(StatusList.next_index))
        .order_by(col(StatusList.id).desc())
        .limit(1)
        .with_for_update()
    ).first()
    if row is None or row[1] >= statuslist.SIZE:
        status_list = StatusList(bits=bytes(statuslist.new_bitstring()), next_index=0, updated_at=clock.now())
        session.add(status_list)
        session.flush()
        list_id, index = status_list.id, 0
    else:
        list_id, index = row
    session.execute(
        table_of(StatusList).update().where(table_of(StatusList).c.id == list_id).values(next_index=index + 1)
    )
    return list_id, index


def _conversion_lines(
    session: Session, conversion_id: str | None, learner_id: int
) -> list[tuple[set[str], Line, int]]:
    conversion = session.get(Conversion, conversion_id or "")
    if (
        conversion is None
        or conversion.learner_id != learner_id
        or conversion.state != ConversionState.approved
    ):
        raise CreditbankError("conversion_not_found", {"id": conversion_id})
    sources, _ = _provenance(session, conversion.id)
    target = session.execute(
        select(Lot, Outcome, Institution)
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .join(Institution, col(Institution.id) == col(Lot.institution_id))
        .where(col(Lot.id) == conversion.target_lot_id)
    ).one()
    rows = [
        (
            sources,
            _line(target[1], target[2], conversion.grant_units, target[0].earned_on.isoformat()),
            conversion.grant_units,
        )
    ]
    for held, lot, outcome, institution in session.execute(
        select(ConversionLot, Lot, Outcome, Institution)
        .join(Lot, col(Lot.id) == col(ConversionLot.lot_id))
        .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
        .join(Institution, col(Institution.id) == col(Lot.institution_id))
        .where(col(ConversionLot.conversion_id) == conversion.id)
        .order_by(col(Lot.earned_on), col(Lot.id))
    ):
        rows.append((set(), _line(outcome, institution, held.units, lot.earned_on.isoformat()), 0))
    return rows


def _qualification_lines(
    session: Session, code: str | None, learner: Learner
) -> tuple[Qualification, list[tuple[set[str], Line, int]]]:
    report = progress.progress(session, learner, code or "")
    if not report.met:
        raise CreditbankError(
            "qualification_not_met",
            {"code": code},
            errors=[{"code": "missing", "message_zh": m.zh, "message_en": m.en} for m in report.shortfall()],
        )
    qualification, lot_ids = progress.counted_lots(session, learner, code or "")
    return qualification, _lines(session, None, learner, only_lots=set(lot_ids))


@dataclasses.dataclass(frozen=True)
class AwardFacts:
    """What an award certificate states (the award itself lives with the statistics, above this
    package, which hands these facts down)."""

    award_id: str
    title_zh: str
    title_en: str | None
    reason: str | None
    district: str | None
    category: str | None
    period_from: str
    period_to: str
    credits_units: int
    hours: float
    awarded_on: str


def _award_line(award: AwardFacts, bank_name_zh: str) -> Line:
    by = f"{award.district}学分银行" if award.district else bank_name_zh
    earned = _credits_text(award.credits_units)
    title_zh = _stored(award.title_zh, ("表彰名称", "award title"), _OPERATOR)
    title_en = _stored(award.title_en, ("表彰英文名称", "award's English title"), _OPERATOR, required=False)
    return Line(
        outcome_ref=f"AWARD:{award.award_id}",
        title_zh=f"{title_zh}（{award.period_from} 至 {award.period_to}，{earned} 学分）",
        title_en=f"{title_en or title_zh} ({award.period_from} to {award.period_to}, {earned} credits)",
        category=award.category or "community",
        level=1,
        credits="0",  # an award grants no credits; what earned it is in the title and the criteria
        completed_on=award.awarded_on,
        institution_code="AWARD",
        institution_name=by,
        available="0",
    )


def _award_narrative(award: AwardFacts) -> str:
    zh = (
        f"{award.period_from} 至 {award.period_to} 期间取得 {_credits_text(award.credits_units)} 学分、"
        f"{award.hours:g} 学时"
    )
    en = f"earned {_credits_text(award.credits_units)} credits and {award.hours:g} learning hours from {award.period_from} to {award.period_to}"
    reason = f"；{award.reason}" if award.reason else ""
    return f"{zh}{reason}。/ {en}."


def issue(
    session: Session,
    issuer: Issuer,
    *,
    learner: Learner,
    kind: CertificateKind,
    completion_id: str | None = None,
    conversion_id: str | None = None,
    qualification_code: str | None = None,
    award: AwardFacts | None = None,
    issued_by: str,
) -> Certificate:
    qualification = None
    parts: list[_Issued] = []
    if kind == CertificateKind.award:
        if award is None:
            raise CreditbankError("invalid_value", {"field": "award", "reason": "必填 / required"})
        rows: list = [(set(), _award_line(award, issuer.name_zh), 0)]
    elif kind == CertificateKind.conversion:
        if not conversion_id:  # never looked up as None ("找不到转换申请 None")
            raise CreditbankError("invalid_value", {"field": "conversion_id", "reason": "必填 / required"})
        rows = _conversion_lines(session, conversion_id, learner.id)
    elif kind == CertificateKind.qualification:
        if not qualification_code:
            raise CreditbankError(
                "invalid_value", {"field": "qualification_code", "reason": "必填 / required"}
            )
        qualification, rows = _qualification_lines(session, qualification_code, learner)
    elif kind == CertificateKind.achievement:
        if not completion_id:
            raise CreditbankError("invalid_value", {"field": "completion_id", "reason": "必填 / required"})
        rows = _lines(session, [completion_id], learner)
        if not rows:
            raise CreditbankError("completion_not_found", {"id": completion_id})
    elif kind == CertificateKind.transcript:
        rows = _lines(session, None, learner)
        if not rows:
            raise CreditbankError("nothing_to_certify")
    else:
        raise CreditbankError(
            "invalid_value",
            {"field": "kind", "reason": "achievement | transcript | conversion | qualification"},
        )

    certificate_id = new_id("crt")
    list_id, index = _allocate_status(session)
    status = statuslist.status_entry(issuer.status_list_url(list_id), index)
    total = sum(units for _, _, units in rows)
    printed = Printed(
        certificate_id=certificate_id,
        kind=kind.value,
        issued_on=clock.today().isoformat(),
        issuer_did=issuer.did,
        issuer_name_zh=issuer.name_zh,
        issuer_name_en=issuer.name_en,
        learner_name=_stored(
            learner.name,
            ("姓名", "name"),
            ("为你开户的机构或平台运营方", "the institution that enrolled you, or the operator"),
        ),
        id_masked=learner.id_masked,
        account_no=learner.account_no,
        total_credits=_credits_text(total),
        lines=tuple(line for _, line, _ in rows),
    )
    valid_from = clock.iso_seconds(clock.now())
    if kind == CertificateKind.achievement:
        unsigned = credentials.achievement_credential(
            printed, base_url=issuer.base_url, status=status, valid_from=valid_from
        )
    elif kind == CertificateKind.award:
        assert award is not None  # checked above
        unsigned = credentials.award_credential(
            printed,
            base_url=issuer.base_url,
            status=status,
            valid_from=valid_from,
            award_id=award.award_id,
            narrative=_award_narrative(award),
        )
    elif kind in (CertificateKind.conversion, CertificateKind.qualification):
        if kind == CertificateKind.conversion:
            achievement, evidence = credentials.conversion_parts(printed, issuer.base_url)
        else:
            assert qualification is not None  # the qualification branch above found it
            owner = ("资历所属机构", "the qualification's institution")
            achievement, evidence = credentials.qualification_parts(
                printed,
                issuer.base_url,
                code=qualification.code,
                version=qualification.version,
                name_zh=_stored(qualification.name_zh, ("资历名称", "qualification name"), owner),
                name_en=_stored(
                    qualification.name_en,
                    ("资历英文名称", "qualification's English name"),
                    owner,
                    required=False,
                ),
                total_required=_credits_text(qualification.total_units),
            )
        unsigned = credentials.summary_credential(
            printed,
            base_url=issuer.base_url,
            status=status,
            valid_from=valid_from,
            achievement=achievement,
            evidence=evidence,
        )
    else:
        parts = [
            _transcript_line(session, issuer, printed, n, line, sources, valid_from)
            for n, (sources, line, _) in enumerate(rows, start=1)
        ]
        unsigned = credentials.transcript_credential(
            printed,
            base_url=issuer.base_url,
            status=status,
            valid_from=valid_from,
            embedded=[part.signed for part in parts],
        )
    signed, kid = issuer.sign(unsigned)
    _check_schema(kind.value, signed)
    head_seq = session.execute(select(col(LedgerHead.seq)).where(col(LedgerHead.id) == 1)).scalar_one()
    issued = [
        _Issued(printed, signed, kid, list_id, index, set().union(*(sources for sources, _, _ in rows))),
        *parts,
    ]
    # Last, after the slow signing: the log's sequencer lock is held from here to the commit.
    first = translog.append(
        session,
        [(LeafKind.certificate_issued, i.printed.certificate_id, bytes.fromhex(i.digest)) for i in issued],
    )
    now = clock.now()
    rows_out = [
        Certificate(
            id=i.printed.certificate_id,
            kind=i.printed.kind,
            learner_id=learner.id,
            credential_json=json.dumps(i.signed, ensure_ascii=False),
            credential_hash=i.digest,
            printed_json=json.dumps(dataclasses.asdict(i.printed), ensure_ascii=False),
            qr_payload=qrpayload.encode(
                credentials.qr_claims(i.printed), kid=i.kid, private_key=issuer.keys.private_key(i.kid)
            ),
            kid=i.kid,
            status_list_id=i.list_id,
            status_index=i.index,
            ledger_seq=head_seq,
            log_index=first + n,
            issued_by=issued_by,
            issued_at=now,
            parent_id=None if n == 0 else certificate_id,
        )
        for n, i in enumerate(issued)
    ]
    session.add(rows_out[0])
    session.flush()  # the transcript before the lines that name it as their parent
    session.add_all(rows_out[1:])
    session.flush()
    for i in issued:
        for completion_id in sorted(i.sources):
            session.add(
                CertificateSource(certificate_id=i.printed.certificate_id, completion_id=completion_id)
            )
    session.flush()
    return rows_out[0]


@dataclasses.dataclass(frozen=True)
class _Issued:
    """A credential signed in this unit of work, waiting for its row."""

    printed: Printed
    signed: dict
    kid: str
    list_id: int
    index: int
    sources: set[str]

    @property
    def digest(self) -> str:
        return digest_hex(self.signed)


def _transcript_line(
    session: Session,
    issuer: Issuer,
    transcript: Printed,
    n: int,
    line: Line,
    sources: set[str],
    valid_from: str,
) -> _Issued:
    """The Open Badge embedded as line ``n`` of a transcript: a certificate of its own
    (``<transcript id>-<n>``) with its own status entry, so a badge copied out of the transcript
    is revoked when the completion it rests on is (together with the transcript)."""
    single = dataclasses.replace(
        transcript,
        kind=CertificateKind.achievement.value,
        lines=(line,),
        total_credits=line.credits,
        certificate_id=f"{transcript.certificate_id}-{n}",
    )
    list_id, index = _allocate_status(session)
    inner = credentials.achievement_credential(
        single,
        base_url=issuer.base_url,
        status=statuslist.status_entry(issuer.status_list_url(list_id), index),
        valid_from=valid_from,
    )
    signed, kid = issuer.sign(inner)
    _check_schema(CertificateKind.achievement.value, signed)
    return _Issued(single, signed, kid, list_id, index, sources)


def _check_schema(kind: str, signed: dict) -> None:
    wrong = shapes.problems(kind, signed)
    if wrong:  # our own builder broke the published shape: a bug, never the caller's fault
        raise RuntimeError(f"credential does not match schemas/{shapes.FILES[kind]}: {wrong[:3]}")


def qr_url(base_url: str, certificate: Certificate) -> str:
    """What the certificate's QR code holds and its ``verify_url``: ``<base_url>/v/<id>#<payload>``."""
    return f"{base_url}/v/{certificate.id}#{certificate.qr_payload}"


def printed_of(certificate: Certificate) -> Printed:
    data = json.loads(certificate.printed_json)
    data["lines"] = tuple(Line(**line) for line in data["lines"])
    return Printed(**data)


def identity_on_record(session: Session) -> Identity | None:
    """The issuer identity the database's certificates were signed under (the newest one), for a
    database whose keys folder has no ``issuer.json`` yet (set up before identities were stored)."""
    row = session.execute(
        select(col(Certificate.printed_json), col(Certificate.credential_json))
        .order_by(col(Certificate.issued_at).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    did = json.loads(row[0]).get("issuer_did")
    credential_id = str(json.loads(row[1]).get("id", ""))
    base_url, marker, _ = credential_id.partition("/api/v1/certificates/")
    if not did or not marker:
        return None
    try:
        identity = Identity.for_base_url(base_url)
    except ValueError:
        return None
    return identity if identity.did == did else None


def get(session: Session, certificate_id: str) -> Certificate:
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise CreditbankError("certificate_not_found", {"id": certificate_id})
    return certificate


def for_learner(session: Session, learner_id: int) -> list[Certificate]:
    """A learner's own certificates, newest first (a transcript's lines are inside it, not beside it)."""
    return list(
        session.execute(
            select(Certificate)
            .where(col(Certificate.learner_id) == learner_id, col(Certificate.parent_id).is_(None))
            .order_by(col(Certificate.issued_at).desc(), col(Certificate.id))
        ).scalars()
    )


def get_for_learner(session: Session, *, learner_id: int, certificate_id: str) -> Certificate:
    """The learner's own certificate; another learner's answers as if it did not exist."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is None or certificate.learner_id != learner_id:
        raise CreditbankError("certificate_not_found", {"id": certificate_id})
    return certificate


def resolve(session: Session, certificate_id: str) -> Certificate | tuple[Certificate, dict]:
    """What a certificate id names: the certificate; or, for line ``n`` of a transcript issued before
    transcript lines were certificates (migration 0008), ``(transcript, the embedded badge)``."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is not None:
        return certificate
    parent_id, dash, n = certificate_id.rpartition("-")
    parent = session.get(Certificate, parent_id) if dash and n.isdigit() else None
    if parent is not None and parent.kind == CertificateKind.transcript:
        lines = json.loads(parent.credential_json)["credentialSubject"]["verifiableCredential"]
        if 1 <= int(n) <= len(lines):
            return parent, lines[int(n) - 1]
    raise CreditbankError("certificate_not_found", {"id": certificate_id})


def check_institution_may_issue(
    session: Session, *, institution_code: str, learner_id: int, kind: str, completion_id: str | None
) -> None:
    """An accredited institution may certify only what it posted itself (the operator: anything).

    A transcript lists every institution's records, so only the learner or the operator may have
    one made — an institution that taught the learner must not read the others' records that way."""
    institution = institutions.get(session, institution_code)  # fresh: a suspension takes effect now
    institutions.may_act(institution)
    if kind != CertificateKind.achievement:
        raise CreditbankError("forbidden")
    completion = session.get(Completion, completion_id or "")
    if (
        completion is None
        or completion.institution_id != institution.id
        or completion.learner_id != learner_id
    ):
        raise CreditbankError("completion_not_found", {"id": completion_id})


def revoke(
    session: Session,
    *,
    certificate_id: str,
    reason: str,
    cascade: bool = True,
    institution_id: int | None = None,
) -> Certificate:
    """Flip the certificate's bit in its status list. Repeating is a no-op.

    A transcript and the badges embedded in it go together: revoking the transcript revokes every
    line, revoking a line revokes the transcript (its other lines stay valid). ``cascade=False``
    flips this one bit only — :func:`revoke_for_completion` finds the exact set itself.
    ``institution_id``: an institution revoking — only a certificate resting on one of its own
    completions; any other is ``certificate_not_found`` to it."""
    if institution_id is not None:
        institutions.require_accredited(session, institution_id)  # suspended: read-only (item 6)
        own = session.execute(
            select(col(CertificateSource.completion_id))
            .join(Completion, col(Completion.id) == col(CertificateSource.completion_id))
            .where(
                col(CertificateSource.certificate_id) == certificate_id,
                col(Completion.institution_id) == institution_id,
            )
        ).first()
        if own is None:
            raise CreditbankError("certificate_not_found", {"id": certificate_id})
    certificate = get(session, certificate_id)
    if cascade:
        related = [certificate.parent_id] if certificate.parent_id else _line_ids(session, certificate.id)
        for other in related:
            revoke(session, certificate_id=other, reason=reason, cascade=False)
    if certificate.revoked_at is not None:
        return certificate
    status_list = session.execute(
        select(StatusList)
        .where(col(StatusList.id) == certificate.status_list_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    bits = bytearray(status_list.bits)
    statuslist.set_bit(bits, certificate.status_index, True)
    status_list.bits = bytes(bits)
    status_list.version += 1
    status_list.updated_at = clock.now()
    certificate.revoked_at = clock.now()
    certificate.revoke_reason = reason
    certificate.revoke_log_index = translog.append(
        session,
        [(LeafKind.certificate_revoked, certificate.id, revocation_digest(certificate))],
    )
    session.add(status_list)
    session.add(certificate)
    session.flush()
    _announce_on_commit(session)
    return certificate


# ---------------------------------------------------------------- what a cached PDF depends on


@dataclasses.dataclass(frozen=True)
class PrintState:
    """What a certificate's PDF shows that can change after issue: the revoked stamp (date and
    reason). With the credential's hash (which never changes) it keys a stored PDF."""

    credential_hash: str
    revoked_at: datetime | None
    revoke_reason: str | None


def print_state(session: Session, certificate_id: str) -> PrintState:
    """One small indexed read (not the sealed credential): ``certificate_not_found`` if none."""
    row = session.execute(
        select(
            col(Certificate.credential_hash), col(Certificate.revoked_at), col(Certificate.revoke_reason)
        ).where(col(Certificate.id) == certificate_id)
    ).first()
    if row is None:
        raise CreditbankError("certificate_not_found", {"id": certificate_id})
    return PrintState(*row)


def print_state_of(certificate: Certificate) -> PrintState:
    return PrintState(certificate.credential_hash, certificate.revoked_at, certificate.revoke_reason)


# ---------------------------------------------------------------- what a cached verdict depends on

_REVOKING = "creditbank.certificates.revoking"
_revocations_committed = 0


def status_epoch(session: Session) -> int:
    """A number that grows with every committed revocation, on every process and machine: each
    revocation bumps its status list's ``version`` in the revoking transaction (the row is locked
    ``FOR UPDATE``), so the sum over the few status lists is a revocation epoch. A verifier that
    caches whole answers re-reads it to know whether any may have gone stale
    (docs/verification-cache.md)."""
    return int(session.execute(select(func.coalesce(func.sum(col(StatusList.version)), 0))).scalar_one())


def revocations_committed() -> int:
    """How many transactions that revoked something this process has committed: a verifier in the
    same process compares it on every request, so its own revocations show at once (other
    processes are seen through :func:`status_epoch`)."""
    return _revocations_committed


def _announce_on_commit(session: Session) -> None:
    if not session.info.get(_REVOKING):
        session.info[_REVOKING] = True
        event.listen(session, "after_commit", _committed, once=True)


def _committed(session: Session) -> None:
    global _revocations_committed
    session.info.pop(_REVOKING, None)
    _revocations_committed += 1


def revocation_digest(certificate: Certificate) -> bytes:
    """What the log records of a revocation: SHA-256 of the RFC 8785 record below."""
    if certificate.revoked_at is None:
        raise ValueError(f"certificate {certificate.id} is not revoked")
    record = {
        "certificate": certificate.id,
        "credential_hash": certificate.credential_hash,
        "reason": certificate.revoke_reason,
        "revoked_at": clock.iso(certificate.revoked_at),
    }
    return digest(record)


def _line_ids(session: Session, transcript_id: str) -> list[str]:
    return list(
        session.execute(
            select(col(Certificate.id))
            .where(col(Certificate.parent_id) == transcript_id)
            .order_by(col(Certificate.id))
        ).scalars()
    )


def resting_on(session: Session, *, completion_id: str, revoked: bool = False) -> list[Certificate]:
    """The certificates that rest on a completion: the achievement certificates, the transcripts and
    the transcript lines (embedded badges) that carry it, and conversion certificates whose credits
    came from it. Those still valid — what revoking the completion revokes (the district office reads
    them before it forces a revocation); ``revoked=True``: those already revoked."""
    revoked_at = col(Certificate.revoked_at)
    return list(
        session.execute(
            select(Certificate)
            .join(CertificateSource, col(CertificateSource.certificate_id) == col(Certificate.id))
            .where(
                col(CertificateSource.completion_id) == completion_id,
                revoked_at.is_not(None) if revoked else revoked_at.is_(None),
            )
            .order_by(Certificate.id)
        ).scalars()
    )


def revoke_for_completion(session: Session, *, completion_id: str, reason: str) -> list[str]:
    """Revoke every live certificate that rests on a completion (its credits were reversed) — a
    transcript's other lines stay valid."""
    ids = [certificate.id for certificate in resting_on(session, completion_id=completion_id)]
    for certificate_id in ids:
        revoke(session, certificate_id=certificate_id, reason=reason, cascade=False)
    return ids


def completion_revoked(session: Session, *, completion_id: str, reason: str | None) -> list[str]:
    """The ``completions.on_revoked`` listener: a certificate resting on reversed credits stops verifying."""
    return revoke_for_completion(
        session,
        completion_id=completion_id,
        reason=reasons.coded(reasons.COMPLETION_REVOKED, reason),
    )


def status_list_credential(
    session: Session, issuer: Issuer, list_id: int, *, unless_tag: str | None = None
) -> tuple[str, dict | None]:
    """(version tag, the signed list credential). The tag changes with every revocation and key
    rotation; when it equals ``unless_tag`` the caller already has this version and nothing is
    signed (the credential is ``None``)."""
    status_list = session.get(StatusList, list_id)
    if status_list is None:
        raise CreditbankError("not_found")
    tag = f"{list_id}-{status_list.version}-{issuer.keys.ensure_active().kid}"
    if tag == unless_tag:
        return tag, None
    credential = statuslist.status_list_credential(
        list_url=issuer.status_list_url(list_id),
        issuer=issuer.did,
        encoded=statuslist.encode(bytearray(status_list.bits)),
        valid_from=clock.iso_seconds(status_list.updated_at),
        purpose=status_list.purpose,
    )
    return tag, issuer.sign(credential)[0]
