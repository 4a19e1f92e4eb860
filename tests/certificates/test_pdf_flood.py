"""A flood of PDF downloads cannot starve the rest of the API (issue 14, goal 3).

A real ``creditbank serve`` process with one render slot and a queue of one
(``CREDITBANK_PDF_RENDER_SLOTS=1``, ``CREDITBANK_PDF_RENDER_QUEUE=1``). After one PDF (the
renderer's start), fourteen clients at once ask for the PDFs of seven other certificates (two each) while another polls ``/healthz``: every
health check is answered; a download is either the PDF or, beyond the slot and the queue, a
``pdf_busy`` 503 with ``Retry-After`` (at most two different certificates are rendered or waiting
at any time; the requests arrive within a render's time, so some are refused) — and once the flood is over every refused
PDF is served on retry, a PDF rendered before at once. The latencies are printed (``-s``), not
asserted: the numbers are in bench/README.md (``bench/pdf.py --flood``).
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import completion_body, institution, learner, outcome, signed_in
from tests.test_serve import bank_env, free_port, serving

CERTIFICATES = 8  # the first is downloaded before the flood


def _certificates(http: httpx.Client) -> list[str]:
    inst = institution(http)  # type: ignore[arg-type]
    person = learner(http, inst)  # type: ignore[arg-type]
    completions = []
    for n in range(CERTIFICATES):
        outcome(http, inst, f"FL-{n}", title_zh=f"社区课程 {n}", credits=1)  # type: ignore[arg-type]
        response = http.post(
            "/api/v1/completions", json=completion_body(person["account_no"], f"FL-{n}"), headers=inst
        )
        assert response.status_code == 201, response.text
        completions.append(response.json()["id"])
    me = signed_in(http, person)  # type: ignore[arg-type]
    ids = []
    for completion_id in completions:
        response = http.post(
            "/api/v1/me/certificates",
            json={"kind": "achievement", "completion_id": completion_id},
            headers=me,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def test_health_checks_are_answered_and_renders_beyond_the_bound_refused_during_a_pdf_flood(tmp_path):
    env = bank_env(tmp_path, CREDITBANK_PDF_RENDER_SLOTS="1", CREDITBANK_PDF_RENDER_QUEUE="1")
    with serving(env, free_port(), tmp_path) as server:
        ids = _certificates(server.http)
        warm = server.http.get(f"/api/v1/certificates/{ids[0]}.pdf")  # the renderer's start: fonts, once
        assert warm.status_code == 200, warm.text
        ids = ids[1:]
        flooding = threading.Event()
        health: list[tuple[int, float]] = []

        def poll_health() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                while flooding.is_set():
                    started = time.monotonic()
                    response = http.get("/healthz")
                    health.append((response.status_code, time.monotonic() - started))
                    time.sleep(0.02)

        def download(certificate_id: str) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=120) as http:
                return http.get(f"/api/v1/certificates/{certificate_id}.pdf")

        flooding.set()
        poller = threading.Thread(target=poll_health)
        poller.start()
        try:
            with ThreadPoolExecutor(max_workers=2 * len(ids)) as pool:
                answers = list(pool.map(download, [i for i in ids for _ in range(2)]))
        finally:
            flooding.clear()
            poller.join(timeout=120)

        served = {
            i
            for i, r in zip([i for i in ids for _ in range(2)], answers, strict=True)
            if r.status_code == 200
        }
        refused = [r for r in answers if r.status_code != 200]
        for response in answers:
            if response.status_code == 200:
                assert response.headers["content-type"] == "application/pdf"
                assert response.content.startswith(b"%PDF")
            else:
                assert response.status_code == 503, response.text
                assert response.json()["code"] == "pdf_busy"
                assert int(response.headers["retry-after"]) >= 1
        assert served, "the first PDFs asked for are rendered"
        assert refused, "seven different PDFs at once go beyond one slot and a queue of one"
        assert health and all(status == 200 for status, _ in health), health

        # After the flood: every PDF is served; the ones rendered before without waiting for a slot.
        for certificate_id in ids:
            for _ in range(10):
                response = server.http.get(f"/api/v1/certificates/{certificate_id}.pdf")
                if response.status_code == 200:
                    break
                time.sleep(int(response.headers.get("retry-after", "1")))
            assert response.status_code == 200, response.text
    seconds = sorted(s for _, s in health)
    print(
        f"\nflood: {len(answers)} downloads of {len(ids)} PDFs, {len(answers) - len(refused)} served, "
        f"{len(refused)} refused (pdf_busy); /healthz answered {len(health)}× during it: "
        f"median {statistics.median(seconds) * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
    )
