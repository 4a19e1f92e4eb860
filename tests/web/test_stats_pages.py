"""The district office's statistics pages without a browser: who may open them, the population form's
refusals (nothing changed), CSV imports, and downloads that hold exactly the table's numbers."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.conftest import OPERATOR, institution
from tests.web.staffworld import add_operator, add_staff, csrf, operator_sign_in, staff_sign_in
from tests.web.statsworld import build


@pytest.fixture
def office(client):
    world = build(client)
    secret = add_operator(client)
    operator_sign_in(client, secret)
    return client, world


def population(client) -> list[dict]:
    return client.get("/api/v1/stats/population", headers=OPERATOR).json()


def error_text(response) -> str:
    match = re.search(r'id="error"[^>]*>(.*?)<', response.text, re.S)
    return match.group(1).strip() if match else ""


def test_signed_out_the_dashboard_sends_a_person_to_the_operator_sign_in(client):
    response = client.get("/operator/stats", follow_redirects=False)
    assert response.headers["location"] == "/operator/signin?next=/operator/stats"


def test_a_clerk_cannot_open_the_dashboard(client):
    institution(client, "YCCEC")
    add_staff(client, "YCCEC", "yc-clerk", "clerk")
    staff_sign_in(client, "yc-clerk")
    assert client.get("/operator/stats").status_code == 403
    assert client.get("/operator/stats/participation-district.csv").status_code == 403


def test_the_dashboard_shows_every_figure_with_a_chart_and_a_table(office):
    client, world = office
    page = client.get("/operator/stats")
    assert page.status_code == 200
    for name in ("participation-rate", "participation-district", "coverage", "credits", "certificates"):
        assert f'id="table-{name}"' in page.text and f'id="chart-{name}"' in page.text
    table = page.text.split('id="table-participation-district"', 1)[1].split("</table>", 1)[0]
    for district in ("永川区", "临淄区"):
        cells = re.search(
            rf'<th scope="row">{district}</th><td class="num">([\d,]+)</td><td class="num">([\d,]+)</td>',
            table,
        )
        assert cells, table
        assert (int(cells.group(1)), int(cells.group(2))) == (
            world.district_learners(district),
            world.completions[district],
        )


def test_a_population_that_is_not_a_positive_number_shows_the_form_again_and_changes_nothing(office):
    client, _ = office
    token = csrf(client, "/operator/stats/population")
    ok = client.post(
        "/operator/stats/population",
        data={"csrf_token": token, "p|永川区|60_plus": "1000"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    before = population(client)
    for bad in ("-3", "0", "很多", "12.5"):
        response = client.post(
            "/operator/stats/population",
            data={"csrf_token": token, "p|永川区|under_18": "500", "p|永川区|60_plus": bad},
        )
        assert response.status_code == 422
        assert "正整数" in error_text(response) and "未作任何更改" in error_text(response)
        assert f'value="{bad}"' in response.text  # what was typed stays in the field to correct
        assert population(client) == before


def test_the_population_form_needs_its_csrf_token(office):
    client, _ = office
    response = client.post("/operator/stats/population", data={"p|永川区|60_plus": "1000"})
    assert response.status_code == 403 and population(client) == []


def test_a_population_csv_with_one_bad_line_changes_nothing(office):
    client, _ = office
    token = csrf(client, "/operator/stats/population")
    good = "区县,年龄段,常住人口\n永川区,60 岁及以上,280000\n永川区,18 岁以下,150000\n"
    response = client.post(
        "/operator/stats/population.csv",
        data={"csrf_token": token},
        files={"file": ("p.csv", good.encode("gb18030"), "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert {p["age_band"]: p["residents"] for p in population(client)} == {
        "60_plus": 280000,
        "under_18": 150000,
    }
    bad = good.replace("150000", "15万")
    response = client.post(
        "/operator/stats/population.csv",
        data={"csrf_token": token},
        files={"file": ("p.csv", bad.encode(), "text/csv")},
    )
    assert response.status_code == 422 and "第 3 行" in error_text(response)
    assert {p["age_band"]: p["residents"] for p in population(client)} == {
        "60_plus": 280000,
        "under_18": 150000,
    }


def test_a_target_that_is_not_a_percentage_changes_nothing(office):
    client, _ = office
    token = csrf(client, "/operator/stats/targets")
    response = client.post("/operator/stats/targets", data={"csrf_token": token, "participation": "abc"})
    assert response.status_code == 422
    response = client.post(
        "/operator/stats/targets", data={"csrf_token": token, "participation": "65"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/api/v1/stats/targets", headers=OPERATOR).json()["participation"] == 65.0


def test_downloads_hold_the_tables_numbers_and_the_chart_is_an_svg_without_script(office):
    client, world = office
    response = client.get("/operator/stats/participation-district.csv")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    got = {row[0]: (int(row[1]), int(row[2])) for row in lines[1:]}
    assert got == {d: (world.district_learners(d), world.completions[d]) for d in ("永川区", "临淄区")}
    svg = client.get("/operator/stats/participation-district.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "script-src 'none'" in svg.headers["content-security-policy"]
    assert "<script" not in svg.text


def test_the_area_list_imports_from_csv(office):
    client, _ = office
    token = csrf(client, "/operator/stats/areas")
    data = "district,township,village\n新都区,新都街道,桂湖社区\n新都区,大丰街道,\n"
    response = client.post(
        "/operator/stats/areas.csv",
        data={"csrf_token": token},
        files={"file": ("a.csv", data.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get("/operator/stats/areas")
    assert "新都街道: 桂湖社区" in page.text and "大丰街道" in page.text


def test_recognition_from_the_learners_consent_to_the_award_certificate(client):
    from tests.conftest import completion_body, learner, outcome
    from tests.web.world import PASSWORD

    head = institution(client, "YCCEC")
    outcome(client, head, "YC-ELEC")
    person = learner(client, head, "张桂兰", district="永川区")
    client.post("/api/v1/completions", json=completion_body(person["account_no"], "YC-ELEC"), headers=head)
    client.post(
        "/api/v1/auth/activate",
        json={
            "account_no": person["account_no"],
            "activation_code": person["activation_code"],
            "password": PASSWORD,
        },
    )
    # The learner signs in on the portal and agrees to be named.
    token = csrf(client, "/signin")
    client.post(
        "/signin", data={"csrf_token": token, "account_no": person["account_no"], "password": PASSWORD}
    )
    page = client.get("/me/recognition")
    assert 'id="give-consent"' in page.text
    client.post("/me/recognition/consent", data={"csrf_token": token, "named": "yes"})
    assert 'id="withdraw-consent"' in client.get("/me/recognition").text
    learner_cookies = dict(client.cookies)

    # The office sees the candidate and records an award.
    secret = add_operator(client)
    operator_sign_in(client, secret)
    page = client.get("/operator/stats/recognition", params={"from": "2026-01-01", "to": "2026-12-31"})
    assert person["account_no"] in page.text
    token = csrf(client, "/operator/stats/recognition")
    response = client.post(
        "/operator/stats/recognition",
        data={
            "csrf_token": token,
            "account_no": person["account_no"],
            "title": "star",
            "from": "2026-01-01",
            "to": "2026-12-31",
            "category": "community",
            "reason": "坚持学习",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "百姓学习之星" in client.get("/operator/stats/recognition").text

    # Back in the portal: the award, and its certificate.
    client.cookies.clear()
    client.cookies.update(learner_cookies)
    page = client.get("/me/recognition")
    assert "百姓学习之星" in page.text and "坚持学习" in page.text
    award_id = re.search(r'data-award="([^"]+)"', page.text).group(1)
    response = client.post(
        f"/me/recognition/{award_id}/certificate",
        data={"csrf_token": csrf(client, "/me/recognition")},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "/me/certificates/crt_" in response.headers["location"]
    assert "查看证书" in client.get("/me/recognition").text
