"""From a stored certificate to its PDF (the renderer is created once per process, lazily:
WeasyPrint and the CJK font are loaded only when the first PDF is asked for)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
from cachetools import LRUCache

from creditbank.certificates import service
from creditbank.certificates.credentials import KIND_TITLES, line_role
from creditbank.certificates.models import Certificate
from creditbank.errors import CreditbankError
from creditbank.kit import reasons

if TYPE_CHECKING:  # WeasyPrint loads only when the first PDF is asked for
    from creditbank.certificates.pdf import Readiness, Renderer


class Printer:
    def __init__(self, base_url: str, font_cache_dir: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.font_cache_dir = font_cache_dir
        self._renderer: Renderer | None = None
        self._readiness: Readiness | None = None
        self._lock = threading.Lock()  # the renderer's start (fonts: seconds)
        self._ready_lock = threading.Lock()  # apart, so /healthz never waits for that start

    @property
    def readiness(self):
        """``pdf.Readiness``, checked once per process (``/healthz`` and the PDF route ask)."""
        with self._ready_lock:
            if self._readiness is None:
                from creditbank.certificates.pdf import readiness

                self._readiness = readiness()
            return self._readiness

    @property
    def known_readiness(self):
        """``readiness`` if it was checked already, else None (checking runs subprocesses: not on
        the event loop)."""
        return self._readiness

    @property
    def renderer(self):
        ready = self.readiness
        if not ready.ok:  # a clear 503 naming the fix, instead of a 500 or boxes on paper
            raise CreditbankError(
                "pdf_unavailable",
                {
                    "missing_zh": ready.missing_zh,
                    "missing_en": ready.missing_en,
                    "fix_zh": ready.fix_zh,
                    "fix_en": ready.fix_en,
                },
            )
        with self._lock:
            if self._renderer is None:
                from creditbank.certificates.pdf import Renderer

                self._renderer = Renderer(font_cache_dir=self.font_cache_dir)
            return self._renderer

    def close(self) -> None:
        """At the app's shutdown: the renderer removes its temporary files (``Renderer.close``). The
        printer stays usable: a PDF asked for afterwards starts a new renderer."""
        with self._lock:
            renderer, self._renderer = self._renderer, None
        if renderer is not None:
            renderer.close()

    def view(self, certificate: Certificate):
        from creditbank.certificates.pdf import CertificateLine, CertificateView

        printed = service.printed_of(certificate)
        title_zh, title_en = KIND_TITLES[printed.kind]
        note_zh = note_en = ""
        if certificate.revoked_at is not None:
            note_zh, note_en = (
                f"本证书已撤销：{reasons.text(certificate.revoke_reason, 'zh')}",
                f"This certificate was revoked: {reasons.text(certificate.revoke_reason, 'en')}",
            )
        return CertificateView(
            certificate_id=certificate.id,
            kind=printed.kind,
            title_zh=title_zh,
            title_en=title_en,
            learner_name=printed.learner_name,
            id_masked=printed.id_masked,
            account_no=printed.account_no,
            issuer_name_zh=printed.issuer_name_zh,
            issuer_name_en=printed.issuer_name_en,
            issuer_did=printed.issuer_did,
            issued_on=printed.issued_on,
            total_credits=printed.total_credits,
            lines=tuple(
                CertificateLine(
                    title_zh=line.title_zh,
                    title_en=line.title_en,
                    credits=line.credits,
                    date=line.completed_on,
                    institution=line.institution_name,
                    role=line_role(printed.kind, n),
                )
                for n, line in enumerate(printed.lines)
            ),
            verify_url=service.qr_url(self.base_url, certificate),
            note_zh=note_zh,
            note_en=note_en,
            revoked_on=certificate.revoked_at.date().isoformat() if certificate.revoked_at else "",
            revoke_reason=reasons.both(certificate.revoke_reason) if certificate.revoked_at else "",
        )

    def pdf(
        self,
        certificate: Certificate,
        *,
        log_proof: dict | None = None,
        seal: Callable[[bytes], bytes] | None = None,
    ) -> bytes:
        """The PDF; ``log_proof`` (the transparency-log inclusion proof as of now) rides along as a
        second attachment, so the file alone proves the certificate was logged. ``seal`` (the
        issuer's ``seal_pdf``, given by the app: one printer may serve several apps in the tests)
        binds the file's bytes to the bank's key."""
        return self.renderer.render(
            self.view(certificate),
            credential_json=certificate.credential_json.encode(),
            log_proof_json=json.dumps(log_proof, ensure_ascii=False).encode() if log_proof else None,
            seal=seal,
        )


PDF_CACHE_BYTES = 128 * 1024 * 1024
RENDER_SECONDS = 0.4
"""About what one render takes here (an achievement ~0.17 s, a 25-line transcript ~0.32 s on an idle
core): the Retry-After of a refusal is the time the queue ahead needs."""
RENDER_SLOTS = 1
RENDER_QUEUE = 4
RENDER_WAIT_SECONDS = 15.0


class StoredPdfs:
    """Each certificate's PDF, rendered once per process and kept until it changes; renders bounded.

    A PDF is kept under its certificate id and :class:`service.PrintState` (the credential's hash
    and the revocation: date and reason, which the REVOKED stamp prints). A download first reads
    that state (one small query); the same state serves the kept bytes, a new one (a revocation,
    directly or through a completion or a transcript line) renders again. The transparency-log
    proof rides in the PDF as ``log-proof.json``: a kept PDF keeps the proof it was rendered with —
    still valid, since a verifier brings an older proof up to date with a consistency proof — and
    a re-render picks up the newest.

    Renders: at most ``slots`` at once in this process (WeasyPrint is CPU-bound and mostly holds the
    GIL), at most ``queue`` more waiting — on the event loop, not in a thread — each for at most
    ``wait_seconds``; anything beyond is refused at once with ``pdf_busy`` (503, Retry-After), so a
    flood of downloads of different certificates never ties up the thread pool the rest of the API
    runs in. Requests for a PDF that is being rendered wait for that render instead of queueing
    their own. Bounded in bytes (LRU). Used from one event loop: no lock."""

    def __init__(
        self,
        *,
        slots: int = RENDER_SLOTS,
        queue: int = RENDER_QUEUE,
        wait_seconds: float = RENDER_WAIT_SECONDS,
        max_bytes: int = PDF_CACHE_BYTES,
    ) -> None:
        self.slots = max(1, slots)
        self.queue = max(0, queue)
        self.wait_seconds = wait_seconds
        self._free = asyncio.Semaphore(self.slots)
        self._waiting = 0
        self._flights: dict[tuple[str, service.PrintState], asyncio.Future[bytes]] = {}
        self._kept: LRUCache[str, tuple[service.PrintState, bytes]] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda item: len(item[1])
        )
        self.renders = 0
        self.refused = 0

    def kept(self, certificate_id: str, state: service.PrintState) -> bytes | None:
        item = self._kept.get(certificate_id)
        return item[1] if item is not None and item[0] == state else None

    def _busy(self) -> CreditbankError:
        self.refused += 1
        return CreditbankError(
            "pdf_busy", {"retry_after": max(1, round(RENDER_SECONDS * (self.queue + 1) / self.slots))}
        )

    async def get(
        self,
        certificate_id: str,
        state: service.PrintState,
        render: Callable[[], tuple[service.PrintState, bytes]],
    ) -> bytes:
        """The PDF of ``certificate_id`` as of ``state``; ``render`` (run in a worker thread) reads the
        certificate afresh and returns the state it rendered with and the bytes."""
        found = self.kept(certificate_id, state)
        if found is not None:
            return found
        key = (certificate_id, state)
        flight = self._flights.get(key)
        if flight is not None:
            try:
                async with asyncio.timeout(self.wait_seconds):
                    return await asyncio.shield(flight)
            except TimeoutError:
                raise self._busy() from None
        if self._free.locked() and self._waiting >= self.queue:
            raise self._busy()
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            self._waiting += 1
            try:
                async with asyncio.timeout(self.wait_seconds):
                    await self._free.acquire()
            except TimeoutError:
                raise self._busy() from None
            finally:
                self._waiting -= 1
            try:
                kept = self.kept(certificate_id, state)  # rendered while this one waited for the slot
                if kept is not None:
                    pdf = kept
                else:
                    rendered, pdf = await anyio.to_thread.run_sync(render)
                    self.renders += 1
                    if len(pdf) <= self._kept.maxsize // 16:
                        self._kept[certificate_id] = (rendered, pdf)
            finally:
                self._free.release()
            flight.set_result(pdf)
            return pdf
        except BaseException as exc:
            if not flight.done():
                flight.set_exception(exc)
                flight.exception()  # retrieved: no warning when nobody else was waiting
            raise
        finally:
            self._flights.pop(key, None)
