"""The transparency log, public (SPEC §3.8, §4): C2SP tiles under ``/log`` and JSON under ``/api/v1/log``.

``/log/checkpoint``, ``/log/tile/<L>/<N>[.p/<W>]`` and ``/log/tile/entries/<N>[.p/<W>]`` follow C2SP
tlog-tiles, so any tlog client can follow the log and a plain file server or CDN can mirror it
(tiles never change once served). The JSON routes are conveniences over the same data.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from creditbank.api.deps import DbDep, IdempotencyKey, answer_once, body_digest
from creditbank.errors import CreditbankError
from creditbank.httpio import JsonRoute
from creditbank.kit.signednote import MAX_NOTE_BYTES, Verifier
from creditbank.translog import service, tiles
from creditbank.translog.models import LeafKind
from creditbank.translog.schemas import (
    CheckpointOut,
    ConsistencyProofOut,
    CosignatureOut,
    CosignedOut,
    InclusionProofOut,
    LeafOut,
    LogKeyOut,
    LogKeysOut,
)
from creditbank.translog.sequencer import entry_bytes, entry_hash

router = APIRouter(route_class=JsonRoute, tags=["transparency log 透明日志"])

IMMUTABLE = "public, max-age=31536000, immutable"
CHECKPOINT_CACHE = "public, max-age=5"  # tlog-tiles: the checkpoint must not be cached beyond a few seconds
Size = Annotated[int, Query(ge=0, le=2**63 - 1)]


def _log(request: Request) -> service.Log:
    return request.app.state.log


def _view(request: Request) -> service.CheckpointView:
    view = _log(request).latest_view()
    if view is None:
        raise CreditbankError("log_size_unknown", {"size": 0, "latest": 0})
    return view


@router.get(
    "/log/checkpoint",
    summary="最新检查点 · The newest signed checkpoint (C2SP tlog-checkpoint, with cosignatures)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def checkpoint_note(request: Request) -> Response:
    view = await run_in_threadpool(_view, request)
    return Response(
        view.note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": CHECKPOINT_CACHE}
    )


@router.get(
    "/log/tile/{path:path}",
    summary="日志瓦片 · A tile of hashes or an entry bundle (C2SP tlog-tiles)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def tile(path: str, request: Request) -> Response:
    level_text, _, rest = path.partition("/")
    parsed = tiles.parse_index(rest)
    level: int | str
    if level_text == "entries":
        level = "entries"
    elif level_text.isdigit() and str(int(level_text)) == level_text and int(level_text) <= 63:
        level = int(level_text)
    else:
        parsed = None
    if parsed is None:
        raise CreditbankError("log_tile_not_found", {"path": path})
    index, width = parsed
    log = _log(request)
    blob = log.cached_tile(level, index, width)  # the hot path: no thread hop, no database
    if blob is None:
        blob = await run_in_threadpool(log.tile, level, index, width)
    if blob is None:
        raise CreditbankError("log_tile_not_found", {"path": path})
    return Response(blob, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})


@router.get(
    "/api/v1/log/checkpoint",
    response_model=CheckpointOut,
    summary="最新检查点 · The newest signed checkpoint as JSON",
)
def checkpoint_json(request: Request, response: Response) -> CheckpointOut:
    view = _view(request)
    response.headers["Cache-Control"] = CHECKPOINT_CACHE
    return CheckpointOut(
        origin=view.origin,
        tree_size=view.size,
        root_hash=base64.b64encode(view.root).decode(),
        note=view.note,
        created_at=view.created_at,
        cosignatures=[CosignatureOut(witness=w, key_id=k, timestamp=t) for w, k, t in view.cosignatures],
    )


@router.get(
    "/api/v1/log/proof/inclusion",
    response_model=InclusionProofOut,
    summary="包含证明 · Inclusion proof of a leaf in a checkpointed tree (default: the newest)",
)
def inclusion_proof(
    request: Request,
    db: DbDep,
    leaf_index: Size,
    tree_size: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict:
    size = tree_size if tree_size is not None else _view(request).size
    with db.reader() as session:
        return service.inclusion(session, leaf_index, size)


@router.get(
    "/api/v1/log/proof/consistency",
    response_model=ConsistencyProofOut,
    summary="一致性证明 · Consistency proof between two checkpointed tree sizes (default second: the newest)",
)
def consistency_proof(
    request: Request,
    db: DbDep,
    first: Annotated[int, Query(ge=1, le=2**63 - 1)],
    second: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> dict:
    size = second if second is not None else _view(request).size
    with db.reader() as session:
        return service.consistency(session, first, size)


@router.get(
    "/api/v1/log/leaves/{leaf_index}",
    response_model=LeafOut,
    summary="日志记录 · One log entry by its index (kind and digest; never whose)",
)
def leaf(leaf_index: Annotated[int, Path(ge=0, le=2**63 - 1)], request: Request, db: DbDep) -> LeafOut:
    view = _log(request).latest_view()
    with db.reader() as session:
        row = service.leaf_row(session, leaf_index)
    return LeafOut(
        leaf_index=leaf_index,
        kind=LeafKind(row.kind).name,
        digest=row.digest.hex(),
        entry=base64.b64encode(entry_bytes(row.kind, row.digest)).decode(),
        leaf_hash=base64.b64encode(entry_hash(row.kind, row.digest)).decode(),
        checkpointed=view is not None and leaf_index < view.size,
    )


_COSIGN_DOC = """Hand the bank a witness's cosignature on one of its checkpoints · 提交见证签名.

The body (`text/plain`) is the checkpoint note exactly as the log signed it, with one or more C2SP
tlog-cosignature v1 lines appended (what `creditbank witness` sends). Cosignatures by witnesses the bank
publishes (`CREDITBANK_LOG_WITNESSES`, listed in `/api/v1/log/keys`) are verified, stored and from then on
served with that checkpoint; anything else is refused (403 `cosignature_refused`). No token: the signature
is the credential."""


@router.post(
    "/api/v1/log/cosignatures",
    response_model=CosignedOut,
    summary="提交见证签名 · Submit a witness cosignature on a checkpoint",
    description=_COSIGN_DOC,
    openapi_extra={
        "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def cosignatures(request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_NOTE_BYTES:
            raise CreditbankError("cosignature_refused", {"reason": "note too large"})
    try:
        note = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CreditbankError("cosignature_refused", {"reason": "not UTF-8"}) from None
    request_hash = body_digest(request, note)

    def then(session: Session, names: list[str]) -> Response:
        # The caller is who signed: a key is the witnesses', as an institution's is the institution's.
        scope = "witness:" + hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:32]
        out = CosignedOut(checkpoint_size=int(note.split("\n")[1]), witnesses=names).model_dump(mode="json")
        return answer_once(
            session, scope, lambda _: (200, out), idempotency_key=idempotency_key, request_hash=request_hash
        )

    return await run_in_threadpool(_log(request).accept_cosignatures, note, then)


@router.get(
    "/api/v1/log/keys",
    response_model=LogKeysOut,
    summary="日志公钥 · The log's checkpoint keys (signed-note vkeys) and the witnesses it publishes",
)
def log_keys(request: Request) -> LogKeysOut:
    log = _log(request)
    log.keys.ensure_active()
    origin = log.origin()
    return LogKeysOut(
        origin=origin,
        keys=[
            LogKeyOut(
                kid=k.kid,
                vkey=Verifier(origin, k.public_key).vkey,
                status=k.status,
                created_at=k.created_at,
                retired_at=k.retired_at,
                compromised_at=k.compromised_at,
            )
            for k in log.keys.all()
        ],
        witnesses=[w.vkey for w in log.witnesses],
    )
