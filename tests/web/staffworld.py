"""Staff and operator accounts for the console tests, made through the domain service (as the
operator's pages and `creditbank staff create` do)."""

from __future__ import annotations

import re
import time

import pyotp
from fastapi.testclient import TestClient

from creditbank.staff import service as staff

STAFF_PASSWORD = "长城长城长城12345"


def add_staff(client: TestClient, code: str, username: str, *roles: str) -> None:
    with client.app.state.db.unit_of_work() as session:  # type: ignore[attr-defined]
        staff.create_staff(
            session,
            institution_code=code,
            username=username,
            name=f"{username} 老师",
            password=STAFF_PASSWORD,
            roles=list(roles),
        )


def add_operator(client: TestClient, username: str = "office") -> str:
    """Returns the TOTP secret."""
    app = client.app
    with app.state.db.unit_of_work() as session:  # type: ignore[attr-defined]
        _, secret = staff.create_operator(
            session,
            username=username,
            name="区社区教育办公室",
            password=STAFF_PASSWORD,
            secret=app.state.settings.id_secret(),  # type: ignore[attr-defined]
        )
    return secret


def csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def staff_sign_in(client: TestClient, username: str) -> TestClient:
    client.cookies.clear()
    response = client.post(
        "/staff/signin",
        data={"csrf_token": csrf(client, "/staff/signin"), "username": username, "password": STAFF_PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


_steps: dict[str, int] = {}


def totp_code(secret: str) -> str:
    """A code not used before in this test run (a code works once): now, or the next step's."""
    step = int(time.time()) // 30
    used = _steps.get(secret, -1)
    if step <= used:
        step = used + 1
    _steps[secret] = step
    return pyotp.TOTP(secret).at(step * 30)


def operator_sign_in(client: TestClient, secret: str, username: str = "office") -> TestClient:
    client.cookies.clear()
    response = client.post(
        "/operator/signin",
        data={
            "csrf_token": csrf(client, "/operator/signin"),
            "username": username,
            "password": STAFF_PASSWORD,
            "code": totp_code(secret),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client
