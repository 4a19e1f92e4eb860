"""Certificates, keys, status lists and verification (SPEC §3.7)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from sqlmodel import Session

from creditbank.api import conditional, negotiation
from creditbank.api.deps import (
    ActingInstitutionOrOperator,
    DbDep,
    DbId,
    IdempotencyKey,
    LearnerCaller,
    Operator,
    Principal,
    body_digest,
    write,
)
from creditbank.certificates import achievements
from creditbank.certificates import service as certificates
from creditbank.certificates.keys import describe, did_document, jwks
from creditbank.certificates.models import Certificate, CertificateKind
from creditbank.certificates.schemas import (
    BatchIssueIn,
    CertificateOut,
    IssueIn,
    JwksOut,
    KeyRowOut,
    RevokeCertificateIn,
    RotatedKeyOut,
)
from creditbank.db import Database
from creditbank.httpio import JsonRoute, limit_verification, spool_body
from creditbank.kit import reasons
from creditbank.learners import service as learners
from creditbank.verification import inputs
from creditbank.verification.online import OffTheLoop
from creditbank.verification.schemas import VerificationOut

router = APIRouter(route_class=JsonRoute, tags=["certificates 证书"])


def _issuer(request: Request) -> certificates.Issuer:
    return request.app.state.issuer


def certificate_out(request: Request, certificate: Certificate) -> dict:
    issuer = _issuer(request)
    return CertificateOut(
        id=certificate.id,
        kind=certificate.kind,
        pdf_url=f"{issuer.base_url}/api/v1/certificates/{certificate.id}.pdf",
        verify_url=certificates.qr_url(issuer.base_url, certificate),
        credential=json.loads(certificate.credential_json),
        revoked=certificate.revoked_at is not None,
        revoke_reason=reasons.both(certificate.revoke_reason) or None,
        part_of=certificate.parent_id,
        log_index=certificate.log_index,
    ).model_dump(mode="json")


def log_proof(request: Request, log_index: int) -> dict:
    """The certificate's inclusion proof: a new one may wait ``CREDITBANK_LOG_CERTIFICATE_WAIT``
    seconds for the scheduled checkpoint, then the bank signs one on demand."""
    return request.app.state.log.proof(
        log_index, wait_seconds=request.app.state.settings.log_certificate_wait
    )


def _write_certificates(
    request: Request,
    db: Database,
    principal: Principal,
    use_case: Callable[[Session], tuple[int, Any]],
    *,
    idempotency_key: str | None,
    body: Any,
) -> Response:
    """``write`` for a use case answering certificates, then each one's log proof: after the commit
    (a leaf can only be proven once it is committed). Replays of an Idempotency-Key pass here too,
    so they get a proof as well."""
    response = write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, body)
    )
    if response.status_code not in (200, 201):
        return response
    answer = json.loads(bytes(response.body))
    for item in answer if isinstance(answer, list) else [answer]:
        item["log_proof"] = log_proof(request, item["log_index"])
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
    }
    return JSONResponse(answer, status_code=response.status_code, headers=headers)


@router.post(
    "/api/v1/me/certificates",
    status_code=201,
    response_model=CertificateOut,
    summary="申请证书 · Issue myself a certificate or transcript",
)
def issue_mine(
    body: IssueIn,
    request: Request,
    db: DbDep,
    principal: LearnerCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def use_case(session: Session):
        certificate = certificates.issue(
            session,
            _issuer(request),
            learner=principal.learner,
            kind=CertificateKind(body.kind),
            completion_id=body.completion_id,
            conversion_id=body.conversion_id,
            qualification_code=body.qualification_code,
            issued_by=principal.key,
        )
        return 201, certificate_out(request, certificate)

    return _write_certificates(request, db, principal, use_case, idempotency_key=idempotency_key, body=body)


@router.post(
    "/api/v1/certificates/batch",
    status_code=201,
    response_model=list[CertificateOut],
    summary="批量发证 · Issue certificates for many learners (institution: its own completions/learners)",
)
def issue_batch(
    body: BatchIssueIn,
    request: Request,
    db: DbDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def use_case(session: Session):
        issued = []
        for item in body.items:
            learner = learners.by_account_no(session, item.account_no)
            if principal.role == "institution":
                certificates.check_institution_may_issue(
                    session,
                    institution_code=principal.institution.code,
                    learner_id=learner.id,
                    kind=item.kind,
                    completion_id=item.completion_id,
                )
            issued.append(
                certificates.issue(
                    session,
                    _issuer(request),
                    learner=learner,
                    kind=CertificateKind(item.kind),
                    completion_id=item.completion_id,
                    conversion_id=item.conversion_id,
                    qualification_code=item.qualification_code,
                    issued_by=principal.key,
                )
            )
        return 201, [certificate_out(request, c) for c in issued]

    return _write_certificates(request, db, principal, use_case, idempotency_key=idempotency_key, body=body)


@router.get(
    "/api/v1/certificates/{certificate_id}.pdf",
    summary="下载 PDF · The certificate as a PDF (credential attached)",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        503: {
            "description": "PDFs cannot be rendered on this server (code `pdf_unavailable`: a Chinese "
            "font or the layout library is missing; the message names the fix), or too many are being "
            "rendered right now (code `pdf_busy`, with `Retry-After` in seconds)",
            "content": {"application/problem+json": {}},
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "with `pdf_busy`"}},
        },
    },
)
async def certificate_pdf(certificate_id: str, request: Request, db: DbDep) -> Response:
    # async: a PDF rendered before costs one small read (on the event loop's own connection,
    # db.Database.loop_engine); a render waits for a slot on the event loop
    # (certificates.printing.StoredPdfs), not in the thread pool the rest of the API needs.
    with db.reader() as session:
        state = certificates.print_state(session, certificate_id)

    def render() -> tuple[certificates.PrintState, bytes]:
        with db.reader() as session:
            certificate = certificates.get(session, certificate_id)
        proof = log_proof(request, certificate.log_index)
        return certificates.print_state_of(certificate), request.app.state.pdf(certificate, log_proof=proof)

    pdf = await request.app.state.pdfs.get(certificate_id, state, render)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{certificate_id}.pdf"'},
    )


_VARY = {"Vary": "Accept"}
_VC_SCHEMA = {"type": "object", "description": "The signed W3C Verifiable Credential 2.0 (JSON-LD)"}
_AS_CREDENTIAL = {media: {"schema": _VC_SCHEMA} for media in negotiation.CREDENTIAL_TYPES[:3]}


@router.get(
    "/api/v1/certificates/{certificate_id}",
    response_model=CertificateOut,
    summary="查看证书 · A certificate and its signed credential (anyone holding the id)",
    description="The credential's own id. `Accept: application/vc` (or `application/vc+ld+json`, "
    "`application/ld+json`) answers the signed credential itself; a browser (`text/html`) is sent to "
    "the verification page `/v/{id}`; anything else gets this record with the credential inside.",
    responses={200: {"content": _AS_CREDENTIAL}, 303: {"description": "A browser: to the verification page"}},
)
def get_certificate(certificate_id: str, request: Request, db: DbDep) -> Response:
    with db.reader() as session:
        found = certificates.resolve(session, certificate_id)
    media = negotiation.explicit(request, (*negotiation.CREDENTIAL_TYPES[:3], negotiation.JSON))
    if isinstance(found, tuple):  # a line of a transcript issued before lines were certificates
        transcript, badge = found
        if media is None and negotiation.wants_page(request):
            return RedirectResponse(f"/v/{transcript.id}", status_code=303, headers=_VARY)
        return JSONResponse(badge, media_type=media or negotiation.JSON, headers=_IMMUTABLE)
    if media in negotiation.CREDENTIAL_TYPES[:3]:
        # The signed credential never changes once issued (its status lives in the status list).
        return Response(found.credential_json.encode(), media_type=media, headers=_IMMUTABLE)
    if media is None and negotiation.wants_page(request):
        return RedirectResponse(f"/v/{found.id}", status_code=303, headers=_VARY)
    out = certificate_out(request, found) | {"log_proof": log_proof(request, found.log_index)}
    return JSONResponse(out, headers=_VARY)


_IMMUTABLE = _VARY | {"Cache-Control": "public, max-age=86400, immutable"}


@router.get(
    "/api/v1/outcomes/{ref}",
    summary="学习成果（按版本） · A learning outcome, as credentials name it: INSTITUTION:CODE:vN",
    description="The achievement id inside every credential. JSON: the Open Badges 3.0 `Achievement` of "
    "that outcome version (`application/json` or `application/ld+json`, with its `@context`); a browser "
    "(`text/html`) gets a readable page. `INSTITUTION:CODE` without `:vN` answers the current version.",
    response_class=Response,
    responses=negotiation.ACHIEVEMENT_RESPONSES,
)
def outcome_achievement(
    # The form is declared for clients (and schemathesis) but checked by the domain, which answers the
    # specific `invalid_outcome_ref` problem rather than a generic validation error.
    ref: Annotated[
        str, PathParam(max_length=200, json_schema_extra={"pattern": r"^[^:]+:[^:]+(:v[1-9][0-9]{0,8})?$"})
    ],
    request: Request,
    db: DbDep,
) -> Response:
    with db.reader() as session:
        view = achievements.outcome(session, _issuer(request).base_url, ref)
    return negotiation.answer_achievement(request, view, f"/achievements/outcomes/{quote(ref, safe=':')}")


@router.post(
    "/api/v1/certificates/{certificate_id}/revoke",
    response_model=CertificateOut,
    summary="撤销证书 · Revoke a certificate (flips its status-list bit)",
)
def revoke_certificate(
    certificate_id: str,
    body: RevokeCertificateIn,
    request: Request,
    db: DbDep,
    principal: ActingInstitutionOrOperator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def use_case(session: Session):
        certificate = certificates.revoke(
            session,
            certificate_id=certificate_id,
            reason=body.reason,
            institution_id=principal.institution.id if principal.role == "institution" else None,
        )
        return 200, certificate_out(request, certificate)

    return _write_certificates(request, db, principal, use_case, idempotency_key=idempotency_key, body=body)


@router.get(
    "/api/v1/status-lists/{list_id}",
    summary="撤销状态列表 · Signed Bitstring Status List credential",
    description="A `BitstringStatusListCredential` (VC 2.0), served as `application/vc` unless the "
    "client asks for `application/vc+ld+json`, `application/ld+json` or `application/json`.",
    response_class=Response,
    responses={
        200: {"content": {media: {"schema": _VC_SCHEMA} for media in negotiation.CREDENTIAL_TYPES}},
        304: {"description": "Not modified since the version named by If-None-Match"},
    },
)
def status_list(list_id: DbId, request: Request, db: DbDep) -> Response:
    media = negotiation.preferred(request, negotiation.CREDENTIAL_TYPES)
    subtype = media.rsplit("/", 1)[1]
    known = _weak_version(request.headers.get("if-none-match"), list_id, subtype)
    with db.reader() as session:
        version, credential = certificates.status_list_credential(
            session, _issuer(request), list_id, unless_tag=known
        )
    tag = conditional.weak_tag(f"{version}-{subtype}")
    if credential is None or conditional.client_has(request, tag):
        return conditional.not_modified(tag, _VARY)
    return conditional.json_document(credential, media_type=media, tag=tag, headers=_VARY)


def _weak_version(header: str | None, list_id: int, subtype: str) -> str | None:
    """The list version named by a single ``W/"…"`` If-None-Match (what a cache sends back) for the
    same representation, if any: the tag is ``<list>-<version>-<kid>-<media subtype>``."""
    if (
        header
        and header.startswith(f'W/"{list_id}-')
        and header.endswith(f'-{subtype}"')
        and "," not in header
    ):
        return header[3:-1].rsplit("-", 1)[0]
    return None


def _published(
    request: Request, content: dict | list, offers: tuple[str, ...] = (negotiation.JSON,)
) -> Response:
    media = negotiation.preferred(request, offers)
    headers = _VARY if len(offers) > 1 else None
    tag = conditional.strong_tag(content, media)
    if conditional.client_has(request, tag):
        return conditional.not_modified(tag, headers)
    return conditional.json_document(content, media_type=media, tag=tag, headers=headers)


@router.get(
    "/.well-known/did.json",
    summary="签发方公钥 · The issuer's DID document (did:web)",
    description="`application/did+json` by default; `application/did+ld+json`, `application/ld+json` "
    "or `application/json` when the resolver asks for it (`Accept`). The document carries its `@context`.",
    responses={200: {"content": {media: {"schema": {"type": "object"}} for media in negotiation.DID_TYPES}}},
)
def did_json(request: Request) -> Response:
    issuer = _issuer(request)
    document = did_document(
        issuer.did,
        issuer.keys.all(),
        issuer.identity.previous,
        issuer.identity.pdf_seals_since,
        base_url=issuer.base_url,
    )
    return _published(request, document, negotiation.DID_TYPES)


@router.get(
    "/.well-known/jwks.json",
    summary="本行公钥（JWKS） · The issuer's public keys as JWKS",
    responses={200: {"model": JwksOut, "description": "Every key, retired and compromised ones too"}},
)
def jwks_json(request: Request) -> Response:
    issuer = _issuer(request)
    return _published(request, jwks(issuer.keys.all(), issuer.identity.pdf_seals_since))


@router.get(
    "/api/v1/keys",
    summary="密钥状态 · Issuer keys with their status (active, retired, compromised)",
    responses={200: {"model": list[KeyRowOut], "description": "Every key with its status"}},
)
def key_status(request: Request) -> Response:
    issuer = _issuer(request)
    return _published(request, describe(issuer.keys.all(), issuer.identity.pdf_seals_since))


@router.post(
    "/api/v1/keys/rotate",
    summary="轮换密钥 · Rotate the issuer key: new certificates use a new key",
    response_model=None,  # answered as built, documented by `responses`
    responses={200: {"model": RotatedKeyOut, "description": "The new key"}},
)
def rotate_key(
    request: Request, db: DbDep, principal: Operator, idempotency_key: IdempotencyKey = None
) -> Response:
    # The keys live in files, the Idempotency-Key answer in the database: a retry of a rotation whose
    # answer was lost replays it instead of retiring the key it just made. The answer is stored after
    # the files are written, so only a crash between the two can let a retry rotate again.
    def use_case(session: Session):
        key = _issuer(request).keys.rotate()
        request.app.state.verifier.answers.expire()  # "retired" shows at once here, elsewhere within the recheck
        return 200, {"kid": key.kid, "status": key.status}

    return write(
        db, principal, use_case, idempotency_key=idempotency_key, request_hash=body_digest(request, None)
    )


VERIFICATION_RESPONSES: dict[int | str, dict] = {
    200: {"model": VerificationOut, "description": "The report: each check, the verdict, the certificate"}
}


@router.get(
    "/api/v1/verify/{certificate_id}",
    summary="在线验证 · Verify a certificate by id",
    response_model=None,  # answered as built (a hot path); documented by VERIFICATION_RESPONSES
    responses=VERIFICATION_RESPONSES,
)
async def verify_by_id(certificate_id: str, request: Request) -> dict:
    # async on purpose: one indexed read and cached checks cost less than a hop to the thread pool,
    # and a thread pool whose every thread waits for a database connection must not hold a verifier
    # up — on the loop, reads use its own connection (db.Database.loop_engine).
    # With a replica, a certificate not yet cached is read there, and a replica that does not answer
    # holds that read for the connect timeout — on the event loop that would stall every request.
    # A certificate no checkpoint covers yet needs one signed (a write): that too in the thread pool.
    limit_verification(request)
    verifier = request.app.state.verifier
    if not verifier.db.has_replica:
        try:
            return verifier.by_id(certificate_id).as_dict()
        except OffTheLoop:
            pass
    return (await run_in_threadpool(verifier.by_id, certificate_id)).as_dict()


_VERIFY_DOC = """Verify what a verifier holds · 验证证书. Send one of:
- JSON `{"credential": {...}}` (the signed credential) or `{"payload": "CB1…"}` / `{"url": "https://…/v/crt_…#CB1…"}`
  (the QR content);
- the PDF (its attached credential and its QR are both checked and must agree), or a PNG/JPEG photo of the
  QR code — raw body or multipart field `file`.

Each check is reported separately; a check that cannot apply is `ok: null`, never `true`."""


@router.post(
    "/api/v1/verify",
    summary="上传验证 · Verify a credential, PDF, QR photo or QR payload",
    description=_VERIFY_DOC,
    response_model=None,
    responses=VERIFICATION_RESPONSES,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "credential": {"type": "object"},
                            "payload": {"type": "string"},
                            "url": {"type": "string"},
                        },
                    }
                },
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def verify_upload(request: Request) -> dict:
    limit_verification(request)
    data = await _read_submission(request)
    verdict = await run_in_threadpool(request.app.state.verifier.verify_input, data)
    return verdict


async def _read_submission(request: Request) -> inputs.Submitted:
    file, _, filename = await spool_body(
        request, request.app.state.settings.max_upload_bytes, unsupported="unsupported_verify_input"
    )
    data = file.read()
    if request.headers.get("content-type", "").startswith("application/json"):
        body = inputs.json_object(data)
        if body is None:
            raise inputs.not_an_object(data)
        return inputs.from_json(body)
    return inputs.from_bytes(data, filename)
