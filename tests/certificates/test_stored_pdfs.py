"""A certificate's PDF is rendered once and served again until it changes (issue 14, goal 3).

What changes it: the revoked stamp — a revocation of the certificate, of the completion it rests
on, of a line of the transcript. What does not: the log growing (a kept PDF keeps the proof it was
rendered with, which a verifier brings up to date). Renders are bounded: see
``test_pdf_flood.py`` for a real server under a flood of downloads.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pypdfium2 as pdfium
import pytest

from creditbank.certificates import service as certificates
from creditbank.certificates.printing import StoredPdfs
from creditbank.errors import CreditbankError
from tests.certificates.test_certificates import issue, world  # noqa: F401
from tests.conftest import OPERATOR, share_printers


@pytest.fixture(autouse=True)
def _one_renderer(monkeypatch: pytest.MonkeyPatch, shared_printers: dict) -> None:
    """One WeasyPrint renderer for the run (its start loads the CJK font, ~1 s); every app keeps
    its own store of PDFs, which is what these tests look at."""
    share_printers(monkeypatch, shared_printers)


def text_of(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        return "".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def download(client, certificate_id: str) -> bytes:
    response = client.get(f"/api/v1/certificates/{certificate_id}.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def test_a_repeated_download_is_the_same_pdf_rendered_once(client, world):  # noqa: F811
    cert = issue(client, world)
    pdfs = client.app.state.pdfs
    first = download(client, cert["id"])
    assert [download(client, cert["id"]) for _ in range(3)] == [first] * 3
    assert pdfs.renders == 1


def test_revoking_the_certificate_renders_it_again_with_the_stamp(client, world):  # noqa: F811
    cert = issue(client, world)
    before = download(client, cert["id"])
    assert "REVOKED" not in text_of(before)
    response = client.post(
        f"/api/v1/certificates/{cert['id']}/revoke", json={"reason": "错误签发"}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    after = download(client, cert["id"])
    assert after != before
    assert "REVOKED" in text_of(after)
    assert download(client, cert["id"]) == after
    assert client.app.state.pdfs.renders == 2


def test_revoking_the_completion_renders_its_certificates_again(client, world):  # noqa: F811
    achievement = issue(client, world)
    transcript = issue(client, world, "transcript")
    untouched = issue(client, world, index=1)
    before = {c["id"]: download(client, c["id"]) for c in (achievement, transcript, untouched)}
    completion_id = world["completions"][0]["id"]
    response = client.post(
        f"/api/v1/completions/{completion_id}/revoke", json={"reason": "录入错误"}, headers=world["inst"]
    )
    assert response.status_code == 200, response.text
    for certificate in (achievement, transcript):
        after = download(client, certificate["id"])
        assert after != before[certificate["id"]]
        assert "REVOKED" in text_of(after)
    assert download(client, untouched["id"]) == before[untouched["id"]]
    assert client.app.state.pdfs.renders == 5


def test_revoking_a_transcript_line_renders_the_transcript_again(client, world):  # noqa: F811
    transcript = issue(client, world, "transcript")
    before = download(client, transcript["id"])
    response = client.post(
        f"/api/v1/certificates/{transcript['id']}-1/revoke", json={"reason": "更正"}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    assert "REVOKED" in text_of(download(client, transcript["id"]))
    assert "REVOKED" not in text_of(before)


def test_a_kept_pdf_still_verifies_with_its_log_proof_after_the_log_grows(client, world):  # noqa: F811
    cert = issue(client, world)
    first = download(client, cert["id"])
    issue(client, world, "transcript")  # the log grows …
    client.app.state.log.checkpoint()  # … and signs a newer checkpoint
    again = download(client, cert["id"])
    assert again == first  # kept: its proof is older than the newest checkpoint …
    verdict = client.post("/api/v1/verify", content=again, headers={"Content-Type": "application/pdf"}).json()
    assert verdict["valid"] is True, verdict
    assert (
        verdict["checks"]["log_inclusion"]["ok"] is True
    )  # … and still proves inclusion, brought up to date


def test_a_pdf_of_an_unknown_certificate_is_a_404_and_renders_nothing(client, world):  # noqa: F811
    response = client.get("/api/v1/certificates/crt_nope.pdf")
    assert response.status_code == 404
    assert response.json()["code"] == "certificate_not_found"
    assert client.app.state.pdfs.renders == 0


def run_loop(coroutine):
    """``asyncio.run`` on a thread of its own: the session's browser fixture (Playwright's sync API)
    may keep a loop running on the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class TestRenderSlots:
    """The bound itself, on an event loop with renders that finish only when the test says so."""

    @staticmethod
    def state(n: int) -> certificates.PrintState:
        return certificates.PrintState(f"hash-{n}", None, None)

    def test_beyond_the_slots_and_the_queue_a_download_is_refused_at_once_with_a_retry_time(self):
        pdfs = StoredPdfs(slots=1, queue=1, wait_seconds=30)
        release = threading.Event()

        def render_of(n: int):
            def render():
                release.wait(30)
                return self.state(n), f"pdf-{n}".encode()

            return render

        async def scenario():
            rendering = asyncio.create_task(pdfs.get("crt_1", self.state(1), render_of(1)))
            await asyncio.sleep(0.05)  # crt_1 holds the slot
            queued = asyncio.create_task(pdfs.get("crt_2", self.state(2), render_of(2)))
            same = asyncio.create_task(pdfs.get("crt_1", self.state(1), render_of(1)))
            await asyncio.sleep(0.05)  # crt_2 waits in the queue; the second crt_1 waits for the first
            with pytest.raises(CreditbankError) as refused:
                await pdfs.get("crt_3", self.state(3), render_of(3))
            release.set()
            return refused.value, await asyncio.gather(rendering, queued, same)

        refused, results = run_loop(scenario())
        assert refused.code == "pdf_busy"
        assert refused.http_status == 503
        assert int(refused.params["retry_after"]) >= 1
        assert results == [b"pdf-1", b"pdf-2", b"pdf-1"]
        assert pdfs.renders == 2  # the second request for crt_1 joined the first render
        assert pdfs.refused == 1

    def test_a_download_that_waited_too_long_is_refused(self):
        pdfs = StoredPdfs(slots=1, queue=4, wait_seconds=0.2)
        release = threading.Event()

        def slow():
            release.wait(30)
            return self.state(1), b"pdf-1"

        async def scenario():
            first = asyncio.create_task(pdfs.get("crt_1", self.state(1), slow))
            await asyncio.sleep(0.05)
            with pytest.raises(CreditbankError) as refused:
                await pdfs.get("crt_2", self.state(2), slow)
            release.set()
            await first
            return refused.value

        assert run_loop(scenario()).code == "pdf_busy"
