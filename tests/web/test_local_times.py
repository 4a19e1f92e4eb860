"""Every date and time a page shows is the bank's (Beijing's, kit.clock.ZONE), in one format —
the same day the certificates, the statement and the completion form's "today" use. At 16:36 UTC
it is already 00:36 the next day in Beijing: a page that formats the stored UTC value directly
shows yesterday."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from creditbank.conversion.models import Conversion
from creditbank.kit import clock
from creditbank.learners import service as learners
from creditbank.staff.models import StaffAction, StaffUpload
from tests.conftest import completion_body
from tests.web.consoleworld import build, sheet
from tests.web.staffworld import add_operator, csrf, operator_sign_in, staff_sign_in

AT = datetime(2026, 12, 2, 16, 36, tzinfo=UTC)
"""00:36 on 3 December in Beijing."""
BEIJING = "2026-12-03 00:36（北京时间）"
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def world(client):
    """A pending conversion request, an upload and the staff's recorded changes, all made at AT."""
    built = build(client)
    person = built.people[0]
    for code in ("YC-ELEC", "YC-FARM"):
        posted = client.post("/api/v1/completions", json=completion_body(person, code), headers=built.yc)
        assert posted.status_code == 201, posted.text
    with client.app.state.db.unit_of_work() as session:
        token = learners.open_session(session, learners.by_account_no(session, person))
    asked = client.post(
        "/api/v1/me/conversions",
        json={"rule_id": built.rule_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert asked.status_code == 201, asked.text
    staff_sign_in(client, "yc-clerk")
    uploaded = client.post(
        "/console/YCCEC/upload",
        data={"csrf_token": csrf(client, "/console/YCCEC/upload")},
        files={"file": ("term.xlsx", sheet([["t-1", person, "YC-ELEC", "2026-11-30"]]), "application/xlsx")},
    )
    assert uploaded.status_code == 200, uploaded.text
    with client.app.state.db.unit_of_work() as session:
        session.exec(update(Conversion).values(requested_at=AT, expires_at=AT + timedelta(days=30)))
        session.exec(update(StaffUpload).values(created_at=AT))
        session.exec(update(StaffAction).values(at=AT))
    client.cookies.clear()
    return token


def test_the_learners_request_is_dated_by_beijings_day(client, world):
    client.cookies.set("cb_session", world)
    page = client.get("/me/conversions/requests").text
    assert "申请日期 2026-12-03" in page and "2026-12-02" not in page


def test_the_approvers_queue_dates_the_request_by_beijings_day(client, world):
    staff_sign_in(client, "ou-approver")
    page = client.get("/console/CQOUYC/conversions").text
    assert "2026-12-03 申请；如到 2027-01-02 仍未审核" in page, page


def test_the_clerks_uploads_and_recent_changes_say_beijing_time(client, world):
    staff_sign_in(client, "yc-clerk")
    uploads = client.get("/console/YCCEC/upload").text
    assert BEIJING in uploads and "2026-12-02 16:36" not in uploads
    home = client.get("/console/YCCEC").text
    assert BEIJING in home and "2026-12-02 16:36" not in home
    client.cookies.set("cb_lang", "en")
    assert "2026-12-03 00:36 (Beijing time)" in client.get("/console/YCCEC/upload").text


def test_the_operators_pages_say_beijing_time_never_raw_iso(client, world):
    office = operator_sign_in(client, add_operator(client))
    office.post("/operator/audit", data={"csrf_token": csrf(office, "/operator/audit")})
    with client.app.state.db.unit_of_work() as session:
        session.exec(update(StaffAction).values(at=AT))
    home = office.get("/operator").text
    assert BEIJING in home and "2026-12-02 16:36" not in home
    audit = office.get("/operator/audit").text
    assert f"最近一次 {BEIJING}：" in audit, audit
    assert "UTC" not in audit
    keys = office.get("/operator/keys").text
    listed = re.search(r'<ol class="rows card" id="keys">(.*?)</ol>', keys, re.S).group(1)
    assert "（北京时间）" in listed and not ISO_TIME.search(listed), listed


def test_the_keys_page_takes_a_compromise_time_in_beijing_time(client, world):
    office = operator_sign_in(client, add_operator(client))
    page = office.get("/operator/keys").text
    assert "泄露时间（北京时间）" in page
    office.post("/operator/keys/rotate", data={"csrf_token": csrf(office, "/operator/keys")})
    kid = re.search(r'<option value="([^"]+)"', office.get("/operator/keys").text).group(1)
    marked = office.post(
        "/operator/keys/compromised",
        data={"csrf_token": csrf(office, "/operator/keys"), "kid": kid, "since": "2026-12-03 00:36"},
    )
    assert marked.status_code == 200, marked.text
    row = re.search(rf'<li data-status="compromised">.*?{re.escape(kid)}.*?</li>', marked.text, re.S).group(0)
    assert BEIJING in row, row


def test_the_completion_forms_example_is_the_day_the_server_accepts(client, world, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: AT)
    staff_sign_in(client, "yc-clerk")
    form = client.get("/console/YCCEC/completions/new").text
    # The help names the day filled in (since 43481cd: 已预先填上今天（2026-12-03）…), Beijing's day.
    assert "今天（2026-12-03）" in form and 'value="2026-12-03"' in form


def test_the_keys_command_reads_a_time_without_a_zone_as_the_keys_page_does(client, settings, monkeypatch):
    from typer.testing import CliRunner

    from creditbank.certificates.keys import KeyStore
    from creditbank.cli import app
    from creditbank.config import get_settings

    office = operator_sign_in(client, add_operator(client))
    office.post("/operator/keys/rotate", data={"csrf_token": csrf(office, "/operator/keys")})
    on_page, on_command = re.findall(r'<option value="([^"]+)"', office.get("/operator/keys").text)[:2]
    marked = office.post(
        "/operator/keys/compromised",
        data={"csrf_token": csrf(office, "/operator/keys"), "kid": on_page, "since": "2026-12-03 00:36"},
    )
    assert marked.status_code == 200, marked.text
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
    get_settings.cache_clear()
    try:
        typed = CliRunner().invoke(app, ["keys", "compromised", on_command, "--since", "2026-12-03 00:36"])
    finally:
        get_settings.cache_clear()
    assert typed.exit_code == 0, typed.output
    keys = {key.kid: key for key in KeyStore(settings.keys_dir).all()}
    assert keys[on_page].compromised_at == keys[on_command].compromised_at == AT
    assert "2026-12-02T16:36:00Z（北京时间 2026-12-03 00:36）" in typed.output, typed.output


def test_the_keys_commands_help_says_a_time_without_a_zone_is_beijing_time():
    from typer.testing import CliRunner

    from creditbank.cli import app

    shown = CliRunner().invoke(app, ["keys", "compromised", "--help"], env={"COLUMNS": "300"})
    assert "不写时区即北京时间" in shown.output and "without a zone it is Beijing time" in shown.output
