"""Issue 9 item 1: the clear ID number cannot be rebuilt — not from the database without the
deployment secret, and not from what a certificate or its verification page shows (SPEC §3.2).

Each test plays the attacker of ``tests/learners/idspace.py`` against real stored or shown data
and requires ≥ 10 000 candidate numbers per learner. Before the fix the database gave exactly one.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import date

import pytest
from sqlalchemy import create_engine, inspect, text

from creditbank.kit import clock, idcard, qrpayload, sealed
from creditbank.migrations import upgrade
from tests.conftest import completion_body, institution, outcome
from tests.learners import idspace

BAR = 10_000
PEOPLE = [  # (name, ID number, district): a woman born on New Year's Eve 1949, men and women of all ages
    ("张桂兰", "11010519491231002X", "北京市西城区"),
    ("刘建国", idcard.make("500118", date(1956, 3, 12), 443), "重庆市永川区中山路街道"),
    ("陈淑芬", idcard.make("370305", date(1961, 7, 1), 28), "淄博市临淄区皇城镇"),
    ("王小明", idcard.make("510114", date(2009, 2, 28), 117), "成都市新都区"),
    ("李娜", idcard.make("360202", date(1990, 10, 5), 902), None),
]


def _dump(url: str) -> dict[str, list[dict]]:
    """Every row of every table, as the attacker holding a copy of the database sees it."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table: [dict(row) for row in connection.execute(text(f"SELECT * FROM {table}")).mappings()]
                for table in inspect(connection).get_table_names()
            }
    finally:
        engine.dispose()


def _candidates_from_database(dump: dict[str, list[dict]], number: str) -> int:
    """Candidates for one learner from their learner row and every row that points at them."""
    (row,) = [r for r in dump["learner"] if r["id_masked"][:6] == number[:6]]
    linked = [
        str(v)
        for table, rows in dump.items()
        for r in rows
        if r.get("learner_id") == row["id"]
        for v in r.values()
    ]
    found = (m for blob in linked for m in idspace.MASK_LIKE.findall(blob))
    masks = [row["id_masked"], *(m for m in found if "*" in m and m[:6] == number[:6])]
    birth_date = row.get("birth_date")
    if isinstance(birth_date, str):
        birth_date = date.fromisoformat(birth_date)
    return idspace.count(
        idspace.combine(masks),
        region=number[:6],
        today=clock.today(),
        birth_date=birth_date,
        birth_year=row.get("birth_year"),
        gender=row.get("gender"),
    )


def _everything(dump: dict[str, list[dict]]) -> str:
    return " ".join(str(v) for rows in dump.values() for r in rows for v in r.values())


@pytest.fixture
def world(client):
    """Five learners, each with a completion; the first holds an achievement certificate."""
    inst = institution(client)
    outcome(client, inst)
    people = []
    for name, number, district in PEOPLE:
        body = {"name": name, "national_id": number} | ({"district": district} if district else {})
        enrolled = client.post("/api/v1/learners", json=body, headers=inst).json()
        posted = client.post(
            "/api/v1/completions", json=completion_body(enrolled["account_no"]), headers=inst
        )
        assert posted.status_code == 201, posted.text
        people.append(enrolled | {"number": number, "completion_id": posted.json()["id"]})
    first = people[0]
    token = client.post(
        "/api/v1/auth/activate",
        json={
            "account_no": first["account_no"],
            "activation_code": first["activation_code"],
            "password": "除夕夜1949年",
        },
    ).json()["access_token"]
    certificate = client.post(
        "/api/v1/me/certificates",
        json={"kind": "achievement", "completion_id": first["completion_id"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert certificate.status_code == 201, certificate.text
    return {"people": people, "certificate": certificate.json()}


class TestIdNumberCannotBeRebuilt:
    def test_database_without_the_secret_leaves_every_learner_10000_candidates(self, world, settings):
        dump = _dump(settings.database_url)
        everything = _everything(dump)
        for person in world["people"]:
            number = person["number"]
            assert (
                number[6:14] not in everything
                and date.fromisoformat(f"{number[6:10]}-{number[10:12]}-{number[12:14]}").isoformat()
                not in everything
            ), "a full birth date is stored"
            assert _candidates_from_database(dump, number) >= BAR, number

    def test_the_attacker_is_not_blind(self):
        """The counter finds the one number an old row (birth date + digits 15–18) gave away."""
        number = PEOPLE[0][1]
        old_mask = number[:6] + "*" * 8 + number[14:]
        kept = {"birth_date": date(1949, 12, 31), "gender": "female"}
        assert idspace.count(old_mask, region=number[:6], today=clock.today(), **kept) == 1
        assert idspace.count(idcard.mask(number), region=number[:6], today=clock.today(), **kept) == 1 * 500

    def test_certificate_pdf_qr_and_verification_page_show_10000_candidates(self, client, world):
        number = world["people"][0]["number"]
        certificate = world["certificate"]
        shown = [
            json.dumps(certificate["credential"], ensure_ascii=False),
            client.get(f"/api/v1/certificates/{certificate['id']}").text,
            client.get(f"/api/v1/verify/{certificate['id']}").text,
            client.get(f"/v/{certificate['id']}").text,
            json.dumps(qrpayload.decode(certificate["verify_url"].partition("#")[2])[1], ensure_ascii=False),
            _pdf_text(client.get(f"/api/v1/certificates/{certificate['id']}.pdf").content),
        ]
        masks = [m for blob in shown for m in idspace.MASK_LIKE.findall(blob) if m[:6] == number[:6]]
        assert len(masks) >= 5, "every view shows the masked ID"
        assert number not in " ".join(shown) and number[6:14] not in " ".join(shown)
        assert idspace.count(idspace.combine(masks), region=number[:6], today=clock.today()) >= BAR


def _pdf_text(pdf: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(io.BytesIO(pdf))
    try:
        return " ".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


class TestMigrationConvertsExistingRows:
    """Rows written by the old code (full birth date, digits 15–18, certificates carrying them)."""

    @pytest.fixture
    def old_database(self, request, tmp_path):
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'old.db'}"
        else:
            cluster = request.getfixturevalue("pg_cluster")
            if cluster is None:
                pytest.skip("PostgreSQL binaries absent")
            name = f"old_{tmp_path.name[-20:].lower().replace('-', '_')}"
            cluster.admin_execute(f"CREATE DATABASE {name}")
            url = cluster.url(name)
        upgrade(url, "0003")
        return url

    @pytest.mark.parametrize(
        "old_database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
    )
    def test_old_rows_are_converted_and_old_certificates_sealed(self, old_database):
        number = PEOPLE[0][1]
        old_mask = number[:6] + "*" * 8 + number[14:]
        credential = json.dumps({"credentialSubject": {"identifier": [{"identityHash": old_mask}]}})
        printed = json.dumps({"id_masked": old_mask, "learner_name": "张桂兰"}, ensure_ascii=False)
        payload = "CB1.k." + base64.urlsafe_b64encode(old_mask.encode()).decode()
        engine = create_engine(old_database)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO learner (id, account_no, id_hmac, id_masked, name, birth_date, gender, created_at)"
                    " VALUES (1, 'CB0000000001X', 'h', :m, '张桂兰', '1949-12-31', 'female', '2026-01-01 00:00:00')"
                ),
                {"m": old_mask},
            )
            connection.execute(
                text(
                    "INSERT INTO status_list (id, purpose, bits, next_index, version, updated_at)"
                    " VALUES (1, 'revocation', :b, 1, 0, '2026-01-01 00:00:00')"
                ),
                {"b": b"\0" * 16},
            )
            connection.execute(
                text(
                    "INSERT INTO certificate (id, kind, learner_id, credential_json, credential_hash, printed_json,"
                    " qr_payload, kid, status_list_id, status_index, ledger_seq, issued_by, issued_at)"
                    " VALUES ('crt_old', 'achievement', 1, :c, :h, :p, :q, 'k', 1, 0, 0, 'learner',"
                    " '2026-01-01 00:00:00')"
                ),
                {"c": credential, "p": printed, "q": payload, "h": "ab" * 32},
            )
        engine.dispose()

        with pytest.raises(RuntimeError, match="deployment secret"):
            upgrade(old_database)
        upgrade(old_database, secret=b"the-secret")

        dump = _dump(old_database)
        (row,) = dump["learner"]
        assert (row["birth_year"], row["id_masked"], "birth_date" in row) == (
            1949,
            "110105************",
            False,
        )
        assert old_mask not in _everything(dump)
        assert _candidates_from_database(dump, number) >= BAR
        # The sealed certificate still reads back, byte for byte, for whoever holds the secret.
        from creditbank.certificates.models import Certificate
        from creditbank.db import Database

        sealed.configure(b"the-secret")
        database = Database(old_database)
        with database.reader() as session:
            stored = session.get(Certificate, "crt_old")
            assert (stored.credential_json, stored.printed_json, stored.qr_payload) == (
                credential,
                printed,
                payload,
            )
        database.dispose()
