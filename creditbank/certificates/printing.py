"""From a stored certificate to its PDF (the renderer is created once per process, lazily:
WeasyPrint and the CJK font are loaded only when the first PDF is asked for)."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

from creditbank.certificates import service
from creditbank.certificates.credentials import KIND_TITLES
from creditbank.certificates.models import Certificate
from creditbank.errors import CreditbankError

if TYPE_CHECKING:  # WeasyPrint loads only when the first PDF is asked for
    from creditbank.certificates.pdf import Readiness, Renderer


class Printer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._renderer: Renderer | None = None
        self._readiness: Readiness | None = None
        self._lock = threading.Lock()

    @property
    def readiness(self):
        """``pdf.Readiness``, checked once per process (``/healthz`` and the PDF route ask)."""
        with self._lock:
            if self._readiness is None:
                from creditbank.certificates.pdf import readiness

                self._readiness = readiness()
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

                self._renderer = Renderer()
            return self._renderer

    def view(self, certificate: Certificate):
        from creditbank.certificates.pdf import CertificateLine, CertificateView

        printed = service.printed_of(certificate)
        title_zh, title_en = KIND_TITLES[printed.kind]
        note_zh = note_en = ""
        if certificate.revoked_at is not None:
            note_zh, note_en = (
                f"本证书已撤销：{certificate.revoke_reason}",
                f"This certificate was revoked: {certificate.revoke_reason}",
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
                )
                for line in printed.lines
            ),
            verify_url=service.qr_url(self.base_url, certificate),
            note_zh=note_zh,
            note_en=note_en,
            revoked_on=certificate.revoked_at.date().isoformat() if certificate.revoked_at else "",
            revoke_reason=certificate.revoke_reason or "" if certificate.revoked_at else "",
        )

    def pdf(self, certificate: Certificate, *, log_proof: dict | None = None) -> bytes:
        """The PDF; ``log_proof`` (the transparency-log inclusion proof as of now) rides along as a
        second attachment, so the file alone proves the certificate was logged."""
        return self.renderer.render(
            self.view(certificate),
            credential_json=certificate.credential_json.encode(),
            log_proof_json=json.dumps(log_proof, ensure_ascii=False).encode() if log_proof else None,
        )
