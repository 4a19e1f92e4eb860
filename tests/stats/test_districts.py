"""One district, one row: districts are written as the bank's own (its area list and population).

README's walkthrough enrolled at 「重庆市永川区」 while the bank's list says 「永川区」, and the
statistics showed 重庆市永川区 as a district of its own (1 learner) beside 永川区 — in the figures,
the district filter and the participation rate. Now a province/city prefix or a missing 区 is
written as the district, an unknown district is refused naming the bank's, and ``creditbank
districts --apply`` rewrites the spellings stored before."""

from __future__ import annotations

from sqlmodel import select
from typer.testing import CliRunner

from creditbank.cli import app as cli
from creditbank.learners.models import Learner
from tests.conftest import OPERATOR, completion_body, institution, learner, national_id, outcome, signed_in
from tests.stats.test_statistics import figure, numbers

DEMO_DISTRICTS = ("永川区", "临淄区", "珠山区", "昌江区", "新都区")


def _population(client) -> None:
    body = [{"district": d, "age_band": "60_plus", "residents": 100} for d in DEMO_DISTRICTS]
    assert client.put("/api/v1/stats/population", json=body, headers=OPERATOR).status_code == 200


def _participants(client) -> dict:
    return numbers(figure(client, "participation", group_by="district"), "learners", "completions")


def _post(client, inst, person) -> None:
    r = client.post("/api/v1/completions", json=completion_body(person["account_no"]), headers=inst)
    assert r.status_code == 201, r.text


class TestOneSpellingPerDistrict:
    def test_a_city_prefix_or_a_missing_qu_is_the_districts_row(self, client):
        _population(client)
        inst = institution(client)
        outcome(client, inst)
        for written in ("重庆市永川区", "永川区", "重庆永川区", "永川", " 永川区 "):
            person = learner(client, inst, district=written)
            _post(client, inst, person)
        zibo = learner(client, inst, district="山东省淄博市临淄区")
        _post(client, inst, zibo)
        assert _participants(client) == {"永川区": (5, 5), "临淄区": (1, 1)}
        with client.app.state.db.reader() as session:
            assert set(session.exec(select(Learner.district)).all()) == {"永川区", "临淄区"}
        r = client.post(
            "/api/v1/institutions",
            json={"code": "YCLNDX", "name_zh": "永川区老年大学", "district": "重庆市永川区"},
            headers=OPERATOR,
        )
        assert r.status_code == 201 and r.json()["district"] == "永川区", r.text

    def test_an_unknown_district_is_refused_naming_the_banks_districts(self, client):
        _population(client)
        inst = institution(client)
        body = {"name": "张桂兰", "national_id": national_id(), "district": "重庆市江津区"}
        r = client.post("/api/v1/learners", json=body, headers=inst)
        assert (r.status_code, r.json()["code"]) == (422, "unknown_district"), r.text
        assert "重庆市江津区" in r.json()["title"] and "区域名录" in r.json()["title"]
        assert all(d in r.json()["title"] for d in DEMO_DISTRICTS)
        assert r.json()["errors"][0]["allowed"] == sorted(DEMO_DISTRICTS)
        english = client.post("/api/v1/learners", json=body, headers=inst | {"Accept-Language": "en"}).json()
        assert "not in the bank's area list" in english["title"] and "Area list" in english["title"]
        r = client.put("/api/v1/institutions/YCCEC/location", json={"district": "火星区"}, headers=OPERATOR)
        assert (r.status_code, r.json()["code"]) == (422, "unknown_district"), r.text
        assert _participants(client) == {}

    def test_a_bank_without_an_area_list_keeps_the_district_as_written(self, client):
        inst = institution(client)
        outcome(client, inst)
        _post(client, inst, learner(client, inst, district="重庆市永川区"))
        assert _participants(client) == {"重庆市永川区": (1, 1)}


class TestStoredSpellings:
    def test_the_operator_command_rewrites_the_spellings_that_name_one_district(
        self, client, settings, monkeypatch
    ):
        from creditbank.config import get_settings

        inst = institution(client)
        outcome(client, inst)
        for written in ("重庆市永川区", "永川区", "火星区"):  # before the bank had its list
            _post(client, inst, learner(client, inst, district=written))
        _population(client)
        assert _participants(client) == {"重庆市永川区": (1, 1), "永川区": (1, 1), "火星区": (1, 1)}

        monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
        monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
        get_settings.cache_clear()
        try:
            listed = CliRunner().invoke(cli, ["districts"])
            assert listed.exit_code == 0, listed.output
            assert "重庆市永川区 → 永川区" in listed.output and "火星区 → ？" in listed.output
            assert _participants(client)["重庆市永川区"] == (1, 1)  # only listed
            applied = CliRunner().invoke(cli, ["districts", "--apply"])
            assert applied.exit_code == 0, applied.output
        finally:
            get_settings.cache_clear()
        assert _participants(client) == {"永川区": (2, 2), "火星区": (1, 1)}

    def test_the_operator_command_rewrites_the_district_of_awards_recorded_before(
        self, client, settings, monkeypatch
    ):
        from creditbank.config import get_settings

        inst = institution(client)
        outcome(client, inst)
        person = learner(client, inst, district="重庆市永川区")  # before the bank had its list
        _post(client, inst, person)
        me = signed_in(client, person)
        assert (
            client.put("/api/v1/me/recognition-consent", json={"named": True}, headers=me).status_code == 200
        )
        body = {"account_no": person["account_no"], "title": "star", "from": "2026-01-01", "to": "2026-12-31"}
        awarded = client.post("/api/v1/awards", json=body, headers=OPERATOR)
        assert awarded.status_code == 201, awarded.text
        assert awarded.json()["district"] == "重庆市永川区"
        _population(client)

        monkeypatch.setenv("CREDITBANK_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(settings.keys_dir))
        monkeypatch.setenv("CREDITBANK_SECRET", "test-secret")
        get_settings.cache_clear()
        try:
            listed = CliRunner().invoke(cli, ["districts"], env={"COLUMNS": "300"})
            assert listed.exit_code == 0, listed.output
            assert "重庆市永川区 → 永川区" in listed.output and "表彰 1 项 awards" in listed.output, (
                listed.output
            )
            applied = CliRunner().invoke(cli, ["districts", "--apply"])
            assert applied.exit_code == 0, applied.output
            again = CliRunner().invoke(cli, ["districts"])
        finally:
            get_settings.cache_clear()
        assert [a["district"] for a in client.get("/api/v1/awards", headers=OPERATOR).json()] == ["永川区"]
        assert "没有其他写法 / no other spellings stored" in again.output, again.output

    def test_the_operator_adding_a_known_district_in_another_spelling_adds_no_second_one(self, client):
        _population(client)
        body = [{"district": "重庆市永川区", "age_band": "18_59", "residents": 500}]
        assert client.put("/api/v1/stats/population", json=body, headers=OPERATOR).status_code == 200
        areas = [
            {"district": "淄博市临淄区", "township": "皇城镇"},
            {"district": "江津区", "township": "几江街道"},
        ]
        assert client.put("/api/v1/stats/areas", json=areas, headers=OPERATOR).status_code == 200
        population = client.get("/api/v1/stats/population", headers=OPERATOR).json()
        assert {p["district"] for p in population} == set(DEMO_DISTRICTS)
        assert {"district": "永川区", "age_band": "18_59", "residents": 500} in population
        listed = {a["district"] for a in client.get("/api/v1/stats/areas", headers=OPERATOR).json()}
        assert listed == {"临淄区", "江津区"}  # a new district is added as written
