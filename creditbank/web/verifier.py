"""Pages for whoever checks a certificate: the QR page ``/v/{id}``, the upload page ``/verify``
and the share-link page ``/s/{id}``. No sign-in; the same verdicts as the API's verifier."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from creditbank.certificates import sharing
from creditbank.errors import CreditbankError
from creditbank.httpio import limit_verification, spool_body
from creditbank.verification import inputs
from creditbank.web import security
from creditbank.web.base import CsrfRefused, Ctx, Page, PageRoute, renderer
from creditbank.web.i18n import N_

router = APIRouter(route_class=PageRoute, include_in_schema=False)
qr_router = APIRouter(route_class=PageRoute, tags=["certificates 证书"])
"""``/v/{id}`` stays in the OpenAPI document (SPEC §4 lists it): what a QR code opens."""
CHECK_NAMES = {
    "signature": N_("Signature"),
    "issuer_key": N_("Issuer key"),
    "integrity": N_("Integrity"),
    "status": N_("Revocation status"),
    "log_inclusion": N_("Transparency log"),
}
UPLOAD_TYPES = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff")


def verdict_view(ctx: Ctx, verdict: dict) -> dict:
    """The verifier's answer with each check's words in the reader's language."""
    checks = [
        {
            "name": ctx._(CHECK_NAMES.get(name, name)),
            "ok": check["ok"],
            "detail": ctx.pick(check["detail_zh"], check["detail_en"]),
        }
        for name, check in verdict["checks"].items()
    ]
    return verdict | {"check_list": checks}


@qr_router.get(
    "/v/{certificate_id}",
    response_class=HTMLResponse,
    summary="扫码验证页面 · The verification page a phone opens from the QR code",
    responses={404: {"description": "No such certificate: a page saying it may be forged"}},
)
def verify_page(ctx: Page, certificate_id: Annotated[str, Path(max_length=100)]):
    """What a phone opens from a certificate's QR code: the verdict at a glance, reasons below."""
    limit_verification(ctx.request)
    context = ctx.request.app.state.verifier.page_context(certificate_id)
    if not context["found"]:
        return renderer(ctx.request).page(
            ctx, "web/verify.html.j2", status=404, found=False, certificate_id=certificate_id
        )
    return renderer(ctx.request).page(
        ctx,
        "web/verify.html.j2",
        headers={"Referrer-Policy": "no-referrer"},
        found=True,
        certificate_id=certificate_id,
        v=verdict_view(ctx, context["verdict"]),
        record={"payload": context["qr_payload"], "keys": context["keys"]},
    )


@router.get("/verify", response_class=HTMLResponse)
def upload_form(ctx: Page):
    return _upload_form(ctx)


def _upload_form(ctx: Ctx, refused: CreditbankError | None = None):
    """The upload form; after a refused file, the same form with why beside the file field."""
    error = None if refused is None else ctx.error_text(refused.code, refused.params)
    return renderer(ctx.request).page(
        ctx,
        "web/upload.html.j2",
        status=200 if refused is None else refused.http_status,
        error=error,
        limit_mb=ctx.settings.max_upload_bytes // (1024 * 1024),
    )


@router.post("/verify", response_class=HTMLResponse)
async def upload(ctx: Page):
    """The same verdict as POST /api/v1/verify, for a PDF or a photo of the QR code."""
    limit_verification(ctx.request)
    limit = ctx.settings.max_upload_bytes
    try:
        if not ctx.request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise CreditbankError("unsupported_upload")
        file, _, filename = await spool_body(  # refuses > limit before reading it all
            ctx.request, limit, unsupported="unsupported_verify_input"
        )
        form = await ctx.request.form()
        token = form.get(security.CSRF_FIELD)
        if ctx.new_nonce or not security.csrf_ok(
            ctx.request.app.state.web.csrf_key, ctx.nonce, token if isinstance(token, str) else None
        ):
            raise CsrfRefused
        data = file.read()
        if not data.startswith(UPLOAD_TYPES):
            raise CreditbankError("unsupported_upload")
        submitted = await run_in_threadpool(inputs.from_bytes, data, filename)
        verdict = await run_in_threadpool(ctx.request.app.state.verifier.verify_input, submitted)
    except CreditbankError as exc:  # a file it cannot read (no QR code, not a PDF, too big): try another
        if exc.http_status == 429:
            raise
        return _upload_form(ctx, exc)
    return renderer(ctx.request).page(ctx, "web/upload_result.html.j2", v=verdict_view(ctx, verdict))


@router.get("/s/{link_id}", response_class=HTMLResponse)
def shared_certificates(ctx: Page, link_id: Annotated[str, Path(max_length=60)]):
    """A learner's share link: exactly the chosen certificates with their live verdicts."""
    limit_verification(ctx.request)
    try:
        with ctx.db.unit_of_work() as session:
            shared = sharing.open_link(session, link_id)
    except CreditbankError as exc:
        if exc.code not in ("share_link_expired", "share_link_revoked", "share_link_not_found"):
            raise
        return renderer(ctx.request).page(
            ctx,
            "web/share_gone.html.j2",
            status=exc.http_status,
            message=ctx.error_text(exc.code, exc.params),
        )
    verifier = ctx.request.app.state.verifier
    verdicts = [verdict_view(ctx, verifier.by_id(c).as_dict()) for c in shared.certificate_ids]
    return renderer(ctx.request).page(
        ctx,
        "web/share_public.html.j2",
        headers={"Referrer-Policy": "no-referrer"},
        verdicts=verdicts,
        note=shared.link.note,
        expires_at=shared.link.expires_at,
    )
