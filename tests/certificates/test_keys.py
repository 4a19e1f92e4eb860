"""Issuer keys: files and modes, passphrases, rotation, compromise, did:web and JWKS, races."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from creditbank.certificates import keys as keymod
from creditbank.certificates.keys import IssuerKey, KeyStore, KeyStoreError, did_for, valid_at
from creditbank.config import Settings
from creditbank.kit import multikey

KID = re.compile(r"^key-\d{8}-[0-9a-f]{6}$")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_key_is_created_once_with_private_file_mode(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", None)
    key = store.ensure_active()
    assert KID.match(key.kid) and key.kid[4:12] == datetime.now(UTC).strftime("%Y%m%d")
    assert key.status == "active" and key.created_at.tzinfo is not None
    assert key.retired_at is None and key.compromised_at is None
    pem = tmp_path / "keys" / f"issuer-{key.kid}.pem"
    assert _mode(pem) == 0o600
    assert pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert store.ensure_active() == key and store.active() == key
    # Another worker (another KeyStore on the same folder) sees the same key.
    other = KeyStore(tmp_path / "keys", None)
    assert other.ensure_active() == key
    assert other.private_key(key.kid).public_key() == key.public_key
    assert store.private_key(key.kid) is store.private_key(key.kid)  # cached


def test_metadata_file_is_a_public_list(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    key = store.ensure_active()
    rows = json.loads((tmp_path / "issuer-keys.json").read_text())
    assert rows == [
        {
            "kid": key.kid,
            "public_key_multibase": multikey.public_key_multibase(key.public_key),
            "created_at": rows[0]["created_at"],
            "status": "active",
            "retired_at": None,
            "compromised_at": None,
        }
    ]
    assert rows[0]["public_key_multibase"].startswith("z6Mk")
    assert rows[0]["created_at"].endswith("Z")
    assert "PRIVATE" not in (tmp_path / "issuer-keys.json").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_active_without_keys_is_a_clear_error(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    assert store.all() == [] and store.get("key-20260101-abcdef") is None
    with pytest.raises(KeyStoreError, match="no active issuer key"):
        store.active()


def test_passphrase_encrypts_the_private_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, "correct horse battery staple")
    key = store.ensure_active()
    pem = (tmp_path / f"issuer-{key.kid}.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(KeyStoreError, match="no passphrase is set"):
        KeyStore(tmp_path, None).private_key(key.kid)
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        KeyStore(tmp_path, "wrong").private_key(key.kid)
    again = KeyStore(tmp_path, "correct horse battery staple").private_key(key.kid)
    assert again.public_key() == key.public_key


def test_settings_secret_passphrase_is_accepted(tmp_path: Path) -> None:
    settings = Settings(keys_dir=tmp_path, key_passphrase="s3cret")
    key = KeyStore(settings.keys_dir, settings.key_passphrase).ensure_active()  # a SecretStr
    assert KeyStore(tmp_path, "s3cret").private_key(key.kid).public_key() == key.public_key


def test_unencrypted_key_still_loads_after_a_passphrase_is_configured(tmp_path: Path) -> None:
    key = KeyStore(tmp_path, "").ensure_active()  # an empty passphrase means none
    assert (tmp_path / f"issuer-{key.kid}.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert KeyStore(tmp_path, "later").private_key(key.kid).public_key() == key.public_key


def test_private_key_must_match_the_published_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    key = store.ensure_active()
    pem = tmp_path / f"issuer-{key.kid}.pem"
    from cryptography.hazmat.primitives import serialization

    pem.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(KeyStoreError, match="does not match"):
        KeyStore(tmp_path, None).private_key(key.kid)
    pem.unlink()
    with pytest.raises(KeyStoreError, match="missing"):
        KeyStore(tmp_path, None).private_key(key.kid)


def test_unknown_or_malformed_kids_never_touch_the_file_system(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    store.ensure_active()
    for kid in ("key-20200101-000000", "../../etc/passwd", ""):
        with pytest.raises(KeyStoreError):
            store.private_key(kid)
    with pytest.raises(KeyStoreError):
        store.pem_path("../x")


def test_rotate_retires_the_old_key_which_stays_published(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    first = store.ensure_active()
    message = b"signed before the rotation"
    signature = store.private_key(first.kid).sign(message)
    second = store.rotate()
    assert second.kid != first.kid and second.status == "active"
    assert store.active() == second and store.ensure_active() == second
    old = store.get(first.kid)
    assert old is not None and old.status == "retired" and old.retired_at is not None
    assert [k.kid for k in store.all()] == [first.kid, second.kid]
    old.public_key.verify(signature, message)  # still verifies from the published key
    assert valid_at(old, datetime.now(UTC)) == (True, None)
    assert store.rotate().kid not in (first.kid, second.kid)
    assert [k.status for k in store.all()] == ["retired", "retired", "active"]


def test_compromise_invalidates_only_signatures_from_then_on(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    first = store.ensure_active()
    second = store.rotate()
    at = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    updated = store.mark_compromised(first.kid, at)
    assert updated.status == "compromised" and updated.compromised_at == at
    assert store.get(first.kid) == updated and store.active() == second  # a retired key: active unchanged
    assert valid_at(updated, at - timedelta(seconds=1)) == (True, None)
    ok, reason = valid_at(updated, at)
    assert not ok and "泄露" in reason and "compromised at 2026-11-20T08:00:00Z" in reason
    assert not valid_at(updated, at + timedelta(days=3))[0]
    # A later report does not move the compromise time forward; an earlier one moves it back.
    assert store.mark_compromised(first.kid, at + timedelta(days=1)).compromised_at == at
    assert store.mark_compromised(first.kid, at - timedelta(days=1)).compromised_at == at - timedelta(days=1)
    with pytest.raises(KeyStoreError, match="compromised"):
        store.private_key(first.kid)
    with pytest.raises(KeyStoreError, match="no key"):
        store.mark_compromised("key-20200101-000000", at)


def test_compromising_the_active_key_activates_a_fresh_one(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    first = store.ensure_active()
    store.private_key(first.kid)  # cached…
    store.mark_compromised(first.kid, datetime.now(UTC))
    with pytest.raises(KeyStoreError):
        store.private_key(first.kid)  # …but never handed out again
    fresh = store.active()
    assert fresh.kid != first.kid
    assert store.get(first.kid).retired_at is not None
    assert store.private_key(fresh.kid).public_key() == fresh.public_key
    # Another worker that cached the old private key refuses it too (metadata re-read on change).
    assert [k.status for k in KeyStore(tmp_path, None).all()] == ["compromised", "active"]


def test_valid_at_accepts_naive_utc_and_other_offsets() -> None:
    pub = Ed25519PrivateKey.generate().public_key()
    at = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    key = IssuerKey("key-20261101-abcdef", pub, at - timedelta(days=30), "compromised", None, at)
    assert valid_at(key, datetime(2026, 11, 20, 7, 59))[0]
    beijing = datetime(2026, 11, 20, 15, 59, tzinfo=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert valid_at(key, beijing)[0]  # 07:59 UTC
    assert not valid_at(key, beijing + timedelta(minutes=1))[0]


@pytest.mark.parametrize(
    ("url", "did"),
    [
        ("http://127.0.0.1:8000", "did:web:127.0.0.1%3A8000"),
        ("https://bank.example.org", "did:web:bank.example.org"),
        ("https://bank.example.org/", "did:web:bank.example.org"),
        ("https://Bank.Example.ORG", "did:web:bank.example.org"),
        ("https://w3c-ccg.github.io/user/alice", "did:web:w3c-ccg.github.io:user:alice"),
        ("https://example.com:3000/creditbank/", "did:web:example.com%3A3000:creditbank"),
        ("http://localhost:8000", "did:web:localhost%3A8000"),
    ],
)
def test_did_for(url: str, did: str) -> None:
    assert did_for(url) == did


@pytest.mark.parametrize(
    "url",
    [
        "bank.example.org",
        "ftp://bank.example.org",
        "https://u:p@bank.example.org",
        "https://bank.example.org/?x=1",
        "https://[::1]:8000",
        "https://bank:99999",
    ],
)
def test_did_for_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        did_for(url)


def test_did_json_path() -> None:
    assert keymod.did_json_path("https://bank.example.org") == "/.well-known/did.json"
    assert keymod.did_json_path("http://127.0.0.1:8000/") == "/.well-known/did.json"
    assert keymod.did_json_path("https://example.com/user/alice") == "/user/alice/did.json"


def _three_keys(tmp_path: Path) -> tuple[KeyStore, list[IssuerKey]]:
    store = KeyStore(tmp_path, None)
    a = store.ensure_active()
    store.rotate()
    store.rotate()
    store.mark_compromised(a.kid, datetime(2026, 11, 1, tzinfo=UTC))
    return store, store.all()


def test_did_document(tmp_path: Path) -> None:
    _, keys = _three_keys(tmp_path)
    did = "did:web:127.0.0.1%3A8000"
    doc = keymod.did_document(did, keys)
    assert doc["@context"] == ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
    assert doc["id"] == did
    assert doc["verificationMethod"] == [
        {
            "id": f"{did}#{k.kid}",
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": multikey.public_key_multibase(k.public_key),
        }
        for k in keys
    ]
    assert doc["assertionMethod"] == [f"{did}#{k.kid}" for k in keys[1:]]  # not the compromised one
    for method in doc["verificationMethod"]:
        assert isinstance(multikey.public_key_from_multibase(method["publicKeyMultibase"]), Ed25519PublicKey)
    json.dumps(doc)


def test_did_document_defines_when_pdf_seals_began_for_json_ld_processors(tmp_path: Path) -> None:
    """did.json is JSON-LD: a member its contexts do not define is dropped by a JSON-LD processor
    (the published time would vanish for anyone reading the document as JSON-LD) or refused by a
    strict one. Expanded with the bundled contexts only (nothing fetched), it keeps its value."""
    from pyld import jsonld as pyld

    from creditbank.kit import jsonld

    _, keys = _three_keys(tmp_path)
    did = "did:web:127.0.0.1%3A8000"
    since = datetime(2027, 3, 15, 8, 0, tzinfo=UTC)
    doc = keymod.did_document(did, keys, pdf_seals_since=since, base_url="http://127.0.0.1:8000")
    assert doc[keymod.PDF_SEALS_SINCE] == "2027-03-15T08:00:00Z"
    [expanded] = pyld.expand(json.loads(json.dumps(doc)), jsonld.default_loader().options())
    assert expanded["http://127.0.0.1:8000/ns#pdfSealsSince"] == [
        {"@type": "http://www.w3.org/2001/XMLSchema#dateTime", "@value": "2027-03-15T08:00:00Z"}
    ]
    jsonld.to_dataset(doc)  # strict: no member of the document is undefined
    # Without the time (not recorded yet) the document and its contexts are as before.
    assert keymod.did_document(did, keys)["@context"] == list(keymod.DID_CONTEXT)


def test_jwks_and_key_status(tmp_path: Path) -> None:
    _, keys = _three_keys(tmp_path)
    document = keymod.jwks(keys)
    assert [k["kid"] for k in document["keys"]] == [k.kid for k in keys]
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in document["keys"])
    status = keymod.key_status(keys)
    assert [s["status"] for s in status] == ["compromised", "retired", "active"]
    assert status[0]["compromised_at"] == "2026-11-01T00:00:00.000Z"
    assert status[1]["retired_at"] is not None and status[2]["retired_at"] is None
    assert set(status[0]) == {"kid", "status", "created_at", "retired_at", "compromised_at"}


def test_describe_rows_round_trip_as_an_offline_key_file(tmp_path: Path) -> None:
    _, keys = _three_keys(tmp_path)
    rows = keymod.describe(keys)
    assert json.loads(json.dumps(rows)) == rows
    assert rows == json.loads((tmp_path / "issuer-keys.json").read_text())
    assert keymod.keys_from_metadata(rows) == keys
    for bad in (
        {"kid": "x"},
        [{"kid": "x", "status": "lost"}],
        [dict(rows[0], public_key_multibase="zzz")],
        [rows[0], rows[0]],
        [dict(rows[0], created_at="yesterday")],
    ):
        with pytest.raises(KeyStoreError):
            keymod.keys_from_metadata(bad)


def test_damaged_metadata_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "issuer-keys.json").write_text("{not json")
    with pytest.raises(KeyStoreError, match="not valid JSON"):
        KeyStore(tmp_path, None).all()


def _race_ensure(keys_dir: str, barrier, out) -> None:
    barrier.wait()
    out.put(KeyStore(Path(keys_dir), "pw").ensure_active().kid)


def _race_rotate(keys_dir: str, barrier, out) -> None:
    barrier.wait()
    out.put(KeyStore(Path(keys_dir), "pw").rotate().kid)


@pytest.mark.parametrize("target", [_race_ensure, _race_rotate])
def test_workers_racing_on_one_folder(tmp_path: Path, target) -> None:
    """Eight processes at once (as uvicorn workers at start-up): one first key; no lost rotation."""
    ctx = multiprocessing.get_context("fork")
    if target is _race_rotate:
        KeyStore(tmp_path, "pw").ensure_active()
    n = 8
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=target, args=(str(tmp_path), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    kids = [out.get(timeout=60) for _ in range(n)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    store = KeyStore(tmp_path, "pw")
    pems = sorted(p.name for p in tmp_path.glob("issuer-*.pem"))
    if target is _race_ensure:
        assert len(set(kids)) == 1
        assert [k.kid for k in store.all()] == kids[:1]
        assert pems == [f"issuer-{kids[0]}.pem"]
    else:
        assert len(set(kids)) == n
        assert len(store.all()) == n + 1 and len(pems) == n + 1
        assert [k.status for k in store.all()].count("active") == 1
        assert store.active().kid in kids
    for key in store.all():
        if key.status != "compromised":
            assert store.private_key(key.kid).public_key() == key.public_key


def test_threads_share_one_store(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, None)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(store.ensure_active().kid)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(store.all()) == 1


def test_keys_dir_is_private(tmp_path: Path) -> None:
    KeyStore(tmp_path / "new" / "keys", None).ensure_active()
    assert _mode(tmp_path / "new" / "keys") == 0o700
    assert os.path.exists(tmp_path / "new" / "keys" / ".issuer-keys.lock")


class TestIssuerIdentity:
    def test_first_address_is_stored_once_and_later_ones_do_not_change_it(self, tmp_path: Path) -> None:
        store = KeyStore(tmp_path / "keys")
        assert store.identity() is None
        first = store.ensure_identity("http://127.0.0.1:8610/")
        assert (first.did, first.base_url) == ("did:web:127.0.0.1%3A8610", "http://127.0.0.1:8610")
        assert store.ensure_identity("http://127.0.0.1:8611") == first
        assert KeyStore(tmp_path / "keys").identity() == first
        assert oct((tmp_path / "keys" / "issuer.json").stat().st_mode & 0o777) == "0o644"

    def test_move_domain_keeps_the_old_did(self, tmp_path: Path) -> None:
        store = KeyStore(tmp_path / "keys")
        store.ensure_active()
        store.ensure_identity("http://127.0.0.1:8610")
        moved = store.move_domain("https://xuefen.example.gov.cn")
        assert moved.did == "did:web:xuefen.example.gov.cn"
        assert moved.dids == ("did:web:xuefen.example.gov.cn", "did:web:127.0.0.1%3A8610")
        assert store.identity() == moved
        again = store.move_domain("https://bank.example.org/cb")
        assert again.dids == ("did:web:bank.example.org:cb", *moved.dids)

    def test_move_domain_to_the_same_address_or_before_setup_is_refused(self, tmp_path: Path) -> None:
        store = KeyStore(tmp_path / "keys")
        with pytest.raises(KeyStoreError, match="no issuer identity"):
            store.move_domain("https://xuefen.example.gov.cn")
        store.ensure_identity("https://xuefen.example.gov.cn")
        with pytest.raises(KeyStoreError, match="already is"):
            store.move_domain("https://xuefen.example.gov.cn/")

    def test_edited_identity_file_whose_did_does_not_match_is_refused(self, tmp_path: Path) -> None:
        store = KeyStore(tmp_path / "keys")
        store.ensure_identity("https://xuefen.example.gov.cn")
        data = json.loads(store.identity_path.read_text())
        store.identity_path.write_text(json.dumps(data | {"did": "did:web:evil.example"}))
        with pytest.raises(KeyStoreError, match="does not match"):
            store.identity()

    def test_did_document_after_a_move_lists_the_old_did_and_its_keys(self, tmp_path: Path) -> None:
        store = KeyStore(tmp_path / "keys")
        old_key = store.ensure_active()
        store.ensure_identity("http://127.0.0.1:8610")
        moved = store.move_domain("https://xuefen.example.gov.cn")
        new_key = store.rotate()
        doc = keymod.did_document(moved.did, store.all(), moved.previous)
        old_did = "did:web:127.0.0.1%3A8610"
        assert doc["alsoKnownAs"] == [old_did]
        ids = [m["id"] for m in doc["verificationMethod"]]
        assert f"{old_did}#{old_key.kid}" in ids and f"{old_did}#{new_key.kid}" not in ids
        assert f"{old_did}#{old_key.kid}" in doc["assertionMethod"]
        assert f"{moved.did}#{new_key.kid}" in doc["assertionMethod"]
