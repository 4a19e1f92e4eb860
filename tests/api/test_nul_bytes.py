"""A NUL byte in a request is the caller's mistake, never a server error.

PostgreSQL text cannot hold NUL, so on PostgreSQL such a value reached the driver and came back as a
500 — on anonymous verification routes too (found by a users' review on 2026-12-03).
"""

from __future__ import annotations

import pytest

PATHS = [
    "/api/v1/verify/crt_%00",
    "/api/v1/certificates/crt_%00",
    "/v/crt_%00",
]


@pytest.mark.parametrize("path", PATHS)
def test_a_nul_byte_in_a_certificate_id_is_refused_or_not_found(client, path):
    r = client.get(path)
    assert r.status_code in (404, 422), (r.status_code, r.text[:300])


def test_a_nul_byte_in_a_verify_url_is_not_a_server_error(client):
    r = client.post("/api/v1/verify", json={"url": "http://testserver/v/crt_\u0000"})
    assert r.status_code < 500, (r.status_code, r.text[:300])
