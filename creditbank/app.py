"""create_app(): the HTTP face of the bank."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from creditbank import __version__, hooks, web
from creditbank.api import (
    bodylimit,
    certificates,
    conversion,
    health,
    institution,
    learner,
    nulbytes,
    openapi,
    operator,
    problems,
    shapes,
    stats,
    translog,
)
from creditbank.api.cors import PublicCors
from creditbank.api.problems import RETRY_AFTER_DATABASE
from creditbank.api.verifycache import VerifyAnswers
from creditbank.certificates.keys import KeyStore
from creditbank.certificates.printing import Printer, StoredPdfs
from creditbank.certificates.service import DEFAULT_BASE_URL, Issuer
from creditbank.config import Settings, get_settings
from creditbank.db import Database, connection_failed, pool_exhausted
from creditbank.kit import ratelimit, sealed
from creditbank.learners import secret as deployment_secret
from creditbank.stats.snapshots import Policy as StatsPolicy
from creditbank.stats.snapshots import Statistics
from creditbank.translog.published import RecordFile
from creditbank.translog.service import Log, LogForked
from creditbank.verification.online import OnlineVerifier
from creditbank.verification.tally import Tally

DESCRIPTION = """学分银行 creditbank — certification, accumulation and conversion of learning outcomes.

Authenticate with `Authorization: Bearer <token>`: the operator token (`cbo_…`), an institution
API key (`cbk_…`) or a learner session (`cbs_…`). Errors are RFC 9457 `application/problem+json`
with a stable `code`; messages follow `Accept-Language` (zh-CN by default, `en`). Each problem's
`type` is `<the bank's base URL>/problems/{code}`, a page saying what the code means and what to do
next; `/problems` lists every code. The JSON Schemas every credential is checked against are at
`/schemas/{file}`, which is their `$id`.
Every POST honours an `Idempotency-Key` header."""


logger = logging.getLogger("creditbank")


def log_service(settings: Settings, db: Database) -> Log:
    """The transparency log with its own key, kept beside the issuer keys and rotated the same way."""
    passphrase = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
    keys = KeyStore(settings.keys_dir, passphrase, role="log")
    identity = KeyStore(settings.keys_dir).identity()  # the issuer's address, fixed at setup
    base_url = identity.base_url if identity else settings.base_url or DEFAULT_BASE_URL
    record = RecordFile(settings.keys_dir)  # outside the database: a restore cannot take it back
    return Log(db, keys, base_url, witnesses=settings.log_witnesses, record=record)


async def _checkpoints(app: FastAPI, interval: float) -> None:
    """The scheduled checkpoint: every ``interval`` seconds, signed only when the log grew."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(app.state.log.checkpoint)
        except LogForked:
            pass  # logged by Log.checkpoint in one line, and /healthz says it until one is signed again
        except Exception as exc:  # keep the schedule alive; the next tick retries and audit will tell
            if pool_exhausted(exc):  # the worker is saturated: the next tick tries again
                logger.warning("scheduled transparency-log checkpoint: no database connection came free")
            elif connection_failed(exc):  # an outage: one line a tick, not a traceback
                logger.error(
                    "scheduled transparency-log checkpoint: database unavailable (%s)", type(exc).__name__
                )
            else:
                logger.exception("scheduled transparency-log checkpoint failed")


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    interval = app.state.settings.log_checkpoint_interval
    task = asyncio.create_task(_checkpoints(app, interval)) if interval > 0 else None
    yield
    await run_in_threadpool(app.state.verifier.tally.flush)  # a write: off the event loop
    app.state.statistics.close()
    # WeasyPrint's copies of the fonts in the temporary directory: uvicorn ends the process with the
    # signal that stopped it, so no exit handler would remove them. Off the loop: waits for a render.
    await run_in_threadpool(app.state.printer.close)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _log_check(reader: Callable[[], Session], log: Log) -> dict | None:
    """``checks.log``; None when the database did not answer (``checks.database`` says so)."""
    try:
        with reader() as session:
            return log.health(session)
    except Exception as exc:
        if pool_exhausted(exc) or connection_failed(exc):
            return None
        raise


def _check(reader: Callable[[], Session]) -> dict:
    """``{ok: true}``, or ``{ok: false, detail}`` naming why the database did not answer — only a
    connection failure; any other error is a bug and raised. A pool with no connection free in time
    is ``{ok: true, busy: true, detail}``: its connections are all in use, so the database is up —
    reporting it down would send an operator to restart a healthy PostgreSQL."""
    from sqlalchemy import text

    try:
        with reader() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        if pool_exhausted(exc):
            return {"ok": True, "busy": True, "detail": "no pooled connection came free in time (saturated)"}
        if not connection_failed(exc):
            raise
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        return {"ok": False, "detail": f"{type(cause).__name__}: {lines[0] if lines else ''}"}
    return {"ok": True}


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    hooks.install()
    # /docs and /redoc are served by creditbank.web from bundled files (no CDN; they work offline).
    app = FastAPI(
        title="creditbank 学分银行",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.db = db or Database(settings.database_url, replica_url=settings.database_replica_url)
    with app.state.db.unit_of_work() as session:
        # Refuses to start when the secret is missing or changed while learners exist.
        secret = deployment_secret.guard(session, settings)
    sealed.configure(secret)  # certificates issued before migration 0005 are sealed with it
    # Rate limits live in a table every worker of this deployment maps (bounded, shared).
    ratelimit.configure(
        settings.rate_limit_file or ratelimit.default_path(settings.database_url),
        slots=settings.rate_limit_slots,
    )
    # The first start of this release on a bank set up before PDF seals records since when PDFs are
    # sealed: a grace period from now, as older workers may still be serving unsealed ones (a rolling
    # upgrade); a bank set up now has it from its set-up. CLI commands do not record it.
    KeyStore(settings.keys_dir).ensure_pdf_seals_since(grace=settings.pdf_seal_grace())
    app.state.issuer = Issuer(settings)
    app.state.log = log_service(settings, app.state.db)
    # Refuses to start on a database older than the log already published (restored from a backup).
    app.state.log.settle_published()
    app.state.verifier = OnlineVerifier(
        app.state.db,
        app.state.issuer,
        app.state.log,
        Tally(app.state.db, settings.verification_tally_seconds),
        recheck_seconds=settings.verify_recheck_seconds,
    )
    app.state.statistics = Statistics(
        app.state.db,
        StatsPolicy(
            settings.stats_live_seconds,
            settings.stats_refresh_seconds,
            settings.stats_wait_seconds,
            settings.stats_statement_timeout_seconds,
        ),
    )
    app.state.printer = Printer(app.state.issuer.base_url, settings.font_cache_dir)
    app.state.pdf = functools.partial(app.state.printer.pdf, seal=app.state.issuer.seal_pdf)
    app.state.pdfs = StoredPdfs(
        slots=settings.pdf_render_slots,
        queue=settings.pdf_render_queue,
        wait_seconds=settings.pdf_render_wait,
        max_bytes=settings.pdf_cache_bytes,
    )
    problems.install(app)
    web.install(app)
    bodylimit.install(app)
    nulbytes.install(app)
    openapi.install(app)
    app.add_middleware(PublicCors)
    app.add_middleware(VerifyAnswers)  # outermost: a repeated verify by id costs no routing

    @app.get(
        "/healthz",
        tags=["public 公开"],
        summary="存活、数据库与 PDF 检查 · Liveness, database and PDF check",
        responses=health.RESPONSES,
    )
    async def healthz() -> Response:
        """``ok``; ``degraded`` (still serving, HTTP 200) when certificate PDFs cannot be rendered or
        render slowly (``checks.pdf`` says what is missing), when the read replica does not answer
        (``checks.replica``: its reads go to the primary meanwhile), when a check found its pool
        saturated (``busy``), or when the transparency log no longer extends what the bank published
        (``checks.log``: a database put back under the server; writes answer 503 ``log_forked``); ``down`` (HTTP 503, ``Retry-After``) when the database does not answer
        (``checks.database.detail`` says why)."""
        # async: it answers while every thread of the pool waits for a database connection — the
        # check runs on the event loop's own connection (db.Database.loop_engine).
        db: Database = app.state.db
        database = _check(db.reader)
        checks: dict = {"database": database}
        if db.has_replica:
            checks["replica"] = await run_in_threadpool(_check, db.replica_reader)
        if database["ok"] and not database.get("busy"):
            log = _log_check(db.reader, app.state.log)
            if log is not None:
                checks["log"] = log
        printer = app.state.printer
        pdf = printer.known_readiness or await run_in_threadpool(lambda: printer.readiness)
        checks["pdf"] = pdf.as_dict()
        busy = database.get("busy") or checks.get("replica", {}).get("busy")
        healthy = (
            pdf.ok
            and not pdf.slow
            and checks.get("replica", database)["ok"]
            and not busy
            and checks.get("log", database)["ok"]
        )
        status = "down" if not database["ok"] else "ok" if healthy else "degraded"
        body = {"status": status, "version": __version__, "checks": checks}
        if not database["ok"]:
            return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_DATABASE)})
        return JSONResponse(body)

    app.include_router(operator.router)
    app.include_router(institution.router)
    app.include_router(learner.router)
    app.include_router(certificates.router)
    app.include_router(shapes.router)
    app.include_router(conversion.router)
    app.include_router(translog.router)
    app.include_router(stats.router)
    app.include_router(stats.awards_router)
    if settings.vc_api:  # W3C conformance-test endpoints, off by default (docs/interop.md)
        from creditbank.api import vcapi

        vcapi.install(app)
    return app
