"""The W3C CCG VC-API test endpoints (creditbank/vcapi), mounted only when ``settings.vc_api`` is
on: ``POST /credentials/issue`` → 201 with the signed credential; ``POST /credentials/verify`` and
``POST /presentations/verify`` → 200 ``{verified: true, …}``, or 400/422 problem details."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from creditbank.api.problems import language
from creditbank.errors import CODES, render
from creditbank.httpio import JsonRoute
from creditbank.kit import jsonbody
from creditbank.vcapi.service import PROBLEMS, VcApi, VcApiProblem

router = APIRouter(route_class=JsonRoute, tags=["VC-API (conformance tests) 互操作测试"])

_BODY = {
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/ld+json": {"schema": {"type": "object"}},
    },
    "required": True,
}


class ProblemDetails(BaseModel):
    """VC 2.0 ProblemDetails."""

    type: str = Field(description="类型 · Its type, e.g. `…#PROOF_VERIFICATION_WARNING`")
    title: str = Field(description="标题 · Its title")
    detail: str = Field(description="说明 · What was not checked, or why")


class VerificationResult(BaseModel):
    """``vcapi.service.Result``: a refusal is a 400/422 problem, so ``verified`` is always true here."""

    verified: bool = Field(description="已验证 · Verified (a failure is answered as a problem instead)")
    checks: list[str] = Field(description="已做的检查 · The checks made (`proof`, `validity`, `status`)")
    warnings: list[ProblemDetails] = Field(description="警告 · What was verified only in part")
    errors: list[ProblemDetails] = Field(description="总为空 · Always empty (errors are problems)")
    problemDetails: list[ProblemDetails] = Field(  # the VC-API names it so
        description="总为空 · Always empty (errors are problems)"
    )


_VERIFIED: dict[int | str, dict[str, Any]] = {
    200: {"model": VerificationResult, "description": "Verified · 已验证"}
}
_PROBLEM = {
    "description": "Refused: RFC 9457 problem details; `errors` lists VC 2.0 ProblemDetails",
    "content": {"application/problem+json": {"schema": {"type": "object"}}},
}


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return jsonbody.loads(raw)
    except ValueError as exc:  # json.JSONDecodeError or jsonbody.NotJson (not UTF-8, NaN, too deep)
        raise VcApiProblem("vc_invalid_request", "PARSING_ERROR", f"the body is not JSON: {exc}") from None


def _vcapi(request: Request) -> VcApi:
    return request.app.state.vcapi


@router.post(
    "/credentials/issue",
    status_code=201,
    summary="测试签发 · Issue: sign with the test-only did:key (VC-API)",
    description="Body `{credential, options?}`; `options.cryptosuite`: `eddsa-rdfc-2022` and/or "
    "`eddsa-jcs-2022` (default both), `options.created`. The issuer must be the test did:key. Answers "
    "the signed credential itself (as the W3C suites read it), not wrapped in `verifiableCredential`.",
    openapi_extra={"requestBody": _BODY},
    responses={
        201: {"content": {"application/json": {"schema": {"type": "object"}}}},
        400: _PROBLEM,
        422: _PROBLEM,
    },
)
async def issue(request: Request) -> JSONResponse:
    body = await _json(request)
    signed = await run_in_threadpool(_vcapi(request).issue, body)
    return JSONResponse(signed, status_code=201, headers={"Cache-Control": "no-store"})


@router.post(
    "/credentials/verify",
    summary="测试验证凭证 · Verify a credential (VC-API)",
    description="Body `{verifiableCredential, options?}`. did:key credentials and the bank's own did:web "
    "credentials (with their revocation status); `options.challenge`/`domain` are checked when given.",
    openapi_extra={"requestBody": _BODY},
    responses={**_VERIFIED, 400: _PROBLEM, 422: _PROBLEM},
)
async def verify_credential(request: Request) -> JSONResponse:
    body = await _json(request)
    return JSONResponse(await run_in_threadpool(_vcapi(request).verify_credential, body))


@router.post(
    "/presentations/verify",
    summary="测试验证出示 · Verify a presentation (VC-API)",
    description="Body `{verifiablePresentation, options: {challenge, domain}}`: the presentation's proof "
    "(purpose `authentication`, the challenge and domain asked for) and every credential in it.",
    openapi_extra={"requestBody": _BODY},
    responses={**_VERIFIED, 400: _PROBLEM, 422: _PROBLEM},
)
async def verify_presentation(request: Request) -> JSONResponse:
    body = await _json(request)
    return JSONResponse(await run_in_threadpool(_vcapi(request).verify_presentation, body))


def _refusal(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VcApiProblem)
    lang = language(request)
    status = CODES[exc.code][0]
    body: dict[str, Any] = {
        "type": PROBLEMS[exc.problem][0],
        "title": render(exc.code, {"detail": exc.detail}, lang),
        "status": status,
        "detail": render(exc.code, {"detail": exc.detail}, "en" if lang == "zh" else "zh"),
        "code": exc.code,
        "errors": exc.problem_details(),
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install(app: FastAPI) -> None:
    """Mount the endpoints (only called when ``settings.vc_api`` is on)."""
    settings, verifier = app.state.settings, app.state.verifier
    app.state.vcapi = VcApi(
        settings.keys_dir,
        bank_key=lambda method: (
            verifier.key(method) if method.startswith("did:web:") and "#" in method else None
        ),
        bank_status=verifier.entry_revoked,
    )
    app.add_exception_handler(VcApiProblem, _refusal)
    app.include_router(router)
