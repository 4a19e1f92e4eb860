"""The issuer's Ed25519 keys, their published forms (did:web document, JWKS) and their status.

On disk, in ``keys_dir`` (shared by every uvicorn worker):

* ``issuer-<kid>.pem`` — the private key, PKCS#8 PEM, mode 0600, written to a temp file in the
  folder and renamed into place under the folder's lock (so a full disk leaves no empty key file
  behind, and two workers can never write the same file); encrypted (``BestAvailableEncryption``) when a
  passphrase is configured (``CREDITBANK_KEY_PASSPHRASE``).
* ``issuer-keys.json`` — public metadata, a JSON list of ``{kid, public_key_multibase,
  created_at, status, retired_at, compromised_at}``; ``status`` is ``active`` (exactly one: it
  signs new certificates), ``retired`` (rotated out; still published, its signatures stay valid)
  or ``compromised`` (signatures made at or after ``compromised_at`` are invalid). Rewritten
  atomically (temp file + ``os.replace``) under an exclusive ``flock`` on ``.issuer-keys.lock``.

* ``issuer.json`` — the issuer identity, fixed when the bank is set up: ``{did, base_url,
  name_zh, name_en, created_at, pdf_seals_since, previous: [{did, base_url, until}]}``. It is never derived from
  where the server happens to listen; ``move_domain`` is the one way to change it, and keeps every
  earlier DID (listed as ``alsoKnownAs`` in the DID document, its keys still resolvable), so
  certificates issued under an earlier address keep verifying. ``pdf_seals_since`` is since when
  every PDF the bank makes is sealed (see :attr:`Identity.pdf_seals_since`). ``name_zh``/``name_en``
  are the bank's name as its certificates print and sign it (签发方): set up with it
  (``CREDITBANK_BANK_NAME_ZH``/``_EN``, default 学分银行); ``creditbank keys rename`` changes it
  for new certificates only — each certificate keeps the name it was signed with.

kid: ``key-YYYYMMDD-<6 hex>`` (UTC creation date). Times are aware UTC datetimes in memory and
``clock.iso`` text on disk.

The transparency log's checkpoint key lives beside them and is rotated the same way:
``KeyStore(keys_dir, passphrase, role="log")`` keeps ``log-<kid>.pem`` and ``log-keys.json``.

Where key status is published: the DID document lists every key under ``verificationMethod``
(old certificates name them) but only non-compromised keys under ``assertionMethod``; the JWKS
has no status field at all. The full status with times is :func:`key_status` / :func:`describe`
(served by the API) — verifiers must apply :func:`valid_at` with it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import SecretStr

from creditbank.kit import clock, text

METADATA = "issuer-keys.json"
IDENTITY = "issuer.json"
DEFAULT_NAME_ZH = "学分银行"
DEFAULT_NAME_EN = "creditbank learning-credit bank"
"""The name of a bank set up without one (the demo), and of every bank before names were stored:
what its certificates said then."""
NAME_MAX_LENGTH = 60
LOCK = ".issuer-keys.lock"
STATUSES = ("active", "retired", "compromised")
DID_CONTEXT = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]

_KID = re.compile(r"key-[0-9]{8}-[0-9a-f]{6}")


class KeyStoreError(RuntimeError):
    """A key-store problem an operator must fix; the message is in Chinese and English."""


def _unwritable(folder: Path, exc: OSError) -> KeyStoreError:
    """What an operator reads when the keys folder cannot be written: which folder and why."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        zh, en = "磁盘已满", "the disk is full"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        zh, en = (
            "文件夹不可写（权限、只读挂载或 chattr +i）",
            "the folder is not writable (permissions, a read-only mount or chattr +i)",
        )
    else:
        zh, en = f"写入失败（{exc.strerror}）", f"writing failed ({exc.strerror})"
    return KeyStoreError(
        f"无法写入密钥目录 {folder}：{zh}。密钥没有改动，请处理后重试。\n"
        f"Cannot write to the keys folder {folder}: {en}. The keys are unchanged; fix it and try again."
    )


KEYS_DIR_MODE = 0o700


def ensure_keys_dir(folder: Path | str) -> str | None:
    """Create the keys folder 0700 (private keys and the deployment secret live there); for an
    existing folder that others can read or enter, a bilingual warning (it is not changed: an
    operator may have a reason, e.g. a backup group)."""
    folder = Path(folder)
    folder.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077 and not any(entry.name != "README.md" for entry in folder.iterdir()):
        # A fresh checkout's keys/ (git gives it 0755, holding only its README): nothing of anyone's
        # to respect yet, so the first run makes it private instead of warning a newcomer.
        folder.chmod(KEYS_DIR_MODE)
        return None
    if mode & 0o077:
        return (
            f"密钥目录 {folder} 的权限是 {mode:04o}，其他用户可以进入；建议 chmod 700 {folder}\n"
            f"The keys folder {folder} is mode {mode:04o} — other users can enter it; "
            f"run chmod 700 {folder} (docs/deploy.md)"
        )
    return None


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    public_key: Ed25519PublicKey
    created_at: datetime
    status: str  # active | retired | compromised
    retired_at: datetime | None = None
    compromised_at: datetime | None = None


def _multikey():
    from creditbank.kit import multikey

    return multikey


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:  # the project stores aware UTC; a naive value can only mean UTC
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def _now() -> datetime:
    """Now, to the millisecond: what a time survives on disk as (``clock.iso``)."""
    return _ms(clock.now())


def _ms(ts: datetime) -> datetime:
    ts = _utc(ts)
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else clock.iso(ts)


def _parse_time(value: Any, field: str, kid: str) -> datetime | None:
    if value is None:
        return None
    try:
        return _utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        raise KeyStoreError(
            f"密钥 {kid} 的 {field} 时间格式错误 / key {kid}: bad {field} {value!r}"
        ) from None


def _row(key: IssuerKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "public_key_multibase": _multikey().public_key_multibase(key.public_key),
        "created_at": _iso(key.created_at),
        "status": key.status,
        "retired_at": _iso(key.retired_at),
        "compromised_at": _iso(key.compromised_at),
    }


def keys_from_metadata(rows: Any) -> list[IssuerKey]:
    """Parse ``issuer-keys.json`` — or the same rows as :func:`describe` / ``GET /api/v1/keys``
    return them, e.g. a file given to ``creditbank verify --offline --keys FILE``."""
    if not isinstance(rows, list):
        raise KeyStoreError("密钥元数据应为列表 / key metadata must be a JSON list")
    keys: list[IssuerKey] = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("kid"), str):
            raise KeyStoreError("密钥元数据缺少 kid / key metadata row without a kid")
        kid = row["kid"]
        status = row.get("status")
        if status not in STATUSES:
            raise KeyStoreError(f"密钥 {kid} 状态未知 / key {kid}: unknown status {status!r}")
        try:
            public_key = _multikey().public_key_from_multibase(row.get("public_key_multibase"))
        except ValueError as exc:
            raise KeyStoreError(f"密钥 {kid} 公钥格式错误 / key {kid}: bad public key ({exc})") from None
        created_at = _parse_time(row.get("created_at"), "created_at", kid)
        if created_at is None:
            raise KeyStoreError(f"密钥 {kid} 缺少创建时间 / key {kid}: created_at missing")
        compromised_at = _parse_time(row.get("compromised_at"), "compromised_at", kid)
        if status == "compromised" and compromised_at is None:
            raise KeyStoreError(f"密钥 {kid} 缺少泄露时间 / key {kid}: compromised_at missing")
        keys.append(
            IssuerKey(
                kid=kid,
                public_key=public_key,
                created_at=created_at,
                status=status,
                retired_at=_parse_time(row.get("retired_at"), "retired_at", kid),
                compromised_at=compromised_at,
            )
        )
    if len({k.kid for k in keys}) != len(keys):
        raise KeyStoreError("密钥元数据中 kid 重复 / duplicate kid in key metadata")
    return keys


@dataclass(frozen=True)
class FormerIdentity:
    did: str
    base_url: str
    until: datetime
    """When the bank moved away from this address (certificates signed before name this DID)."""


@dataclass(frozen=True)
class Identity:
    """Who the bank is as an issuer: its DID and public base URL, plus the addresses it had before."""

    did: str
    base_url: str
    created_at: datetime
    previous: tuple[FormerIdentity, ...] = ()
    pdf_seals_since: datetime | None = None
    """Since when every PDF of a certificate this bank issues is sealed (``kit.pdfseal``): its
    set-up for a bank set up with seals; for an older one, its first start after the upgrade plus
    :data:`UPGRADE_GRACE`, while older workers may still serve (``KeyStore.ensure_pdf_seals_since``;
    may lie ahead). A PDF is rendered and sealed when downloaded, so every PDF of a certificate
    issued since has a seal; an older certificate may have an unsealed PDF. None: not recorded yet."""
    name_zh: str = DEFAULT_NAME_ZH
    """The bank's name as certificates print and sign it (签发方), e.g. 永川区学分银行."""
    name_en: str = DEFAULT_NAME_EN

    @property
    def dids(self) -> tuple[str, ...]:
        """Every DID this bank has signed under, current first."""
        return (self.did, *(former.did for former in reversed(self.previous)))

    @classmethod
    def for_base_url(cls, base_url: str, now: datetime | None = None) -> Identity:
        base_url = base_url.strip().rstrip("/")
        return cls(did=did_for(base_url), base_url=base_url, created_at=_ms(now or clock.now()))

    def as_json(self) -> dict[str, Any]:
        return {
            "did": self.did,
            "base_url": self.base_url,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "created_at": _iso(self.created_at),
            "pdf_seals_since": _iso(self.pdf_seals_since),
            "previous": [
                {"did": f.did, "base_url": f.base_url, "until": _iso(f.until)} for f in self.previous
            ],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = IDENTITY) -> Identity:
        try:
            previous = tuple(
                FormerIdentity(
                    did=str(f["did"]),
                    base_url=str(f["base_url"]),
                    until=_parse_time(f["until"], "until", "identity") or _now(),
                )
                for f in data.get("previous") or []
            )
            identity = cls(
                did=str(data["did"]),
                base_url=str(data["base_url"]).rstrip("/"),
                created_at=_parse_time(data.get("created_at"), "created_at", "identity") or _now(),
                previous=previous,
                pdf_seals_since=_parse_time(data.get("pdf_seals_since"), "pdf_seals_since", "identity"),
                # A file written before names were stored: the name its certificates were signed with.
                name_zh=bank_name(data.get("name_zh") or DEFAULT_NAME_ZH, "name_zh"),
                name_en=bank_name(data.get("name_en") or DEFAULT_NAME_EN, "name_en"),
            )
        except (KeyError, TypeError, AttributeError, ValueError):
            raise KeyStoreError(
                f"{where} 格式错误（需要 did 与 base_url）/ {where} is malformed (needs did and base_url)"
            ) from None
        if did_for(identity.base_url) != identity.did:
            raise KeyStoreError(f"{where} 中的 did 与 base_url 不符 / {where}: did does not match base_url")
        return identity


def bank_name(value: str, field: str) -> str:
    """A bank name as it will be printed and signed: ``kit.text``'s rules (one line, no invisible or
    bidirectional characters), 1–60 characters; ValueError (``text.InvalidText`` is one) otherwise."""
    cleaned = text.normalize(str(value))
    if not 0 < len(cleaned) <= NAME_MAX_LENGTH:
        raise ValueError(f"{field}: 1–{NAME_MAX_LENGTH} characters / 1–{NAME_MAX_LENGTH} 个字符")
    return cleaned


UPGRADE_GRACE = timedelta(hours=24)
"""How long after the first start of a release with seals an older release may still be serving
PDFs (``CREDITBANK_PDF_SEAL_GRACE_HOURS``): a rolling upgrade restarts workers and hosts one after
another, and an old one renders every PDF it serves without a seal — also of certificates issued
after that first start. So an upgraded bank's seals are said to begin this long after its first
start, and an unsealed PDF of a certificate issued before then is never called changed
(docs/certificates.md, "When this bank's seals began")."""


def _seals_begin(now: datetime, *, fresh: bool, grace: timedelta = UPGRADE_GRACE) -> datetime:
    """Since when every PDF of a certificate issued (``validFrom``, whole seconds) is sealed. A new
    bank: ``now`` to the second, down (a certificate issued in its first second has a sealed PDF;
    no older release ever served it). An upgraded one: ``now + grace`` to the second, up (an older
    release may still be serving meanwhile; one it issued in the same second has no seal)."""
    if fresh:
        return now.replace(microsecond=0)
    later = now + grace
    down = later.replace(microsecond=0)
    return down if down == later else down + timedelta(seconds=1)


def new_kid(now: datetime | None = None) -> str:
    return f"key-{_utc(now or clock.now()):%Y%m%d}-{secrets.token_hex(3)}"


class KeyStore:
    """The issuer's keys in ``keys_dir``. Safe to share between processes (file lock) and threads."""

    def __init__(
        self,
        keys_dir: Path | str,
        passphrase: str | bytes | SecretStr | None = None,
        role: str = "issuer",
    ) -> None:
        self.keys_dir = Path(keys_dir)
        if role not in ("issuer", "log"):
            raise ValueError(f"unknown key role {role!r}")
        self.role = role
        if isinstance(passphrase, SecretStr):  # straight from Settings
            passphrase = passphrase.get_secret_value()
        self._passphrase = (passphrase.encode() if isinstance(passphrase, str) else passphrase) or None
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._cache: tuple[tuple[int, int, int], list[IssuerKey]] | None = None

    # ----------------------------------------------------------------- files
    @property
    def metadata_path(self) -> Path:
        return self.keys_dir / (METADATA if self.role == "issuer" else f"{self.role}-keys.json")

    def pem_path(self, kid: str) -> Path:
        if not _KID.fullmatch(kid):
            raise KeyStoreError(f"kid 格式错误 / malformed kid {kid!r}")
        return self.keys_dir / f"{self.role}-{kid}.pem"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The folder's lock; every write happens under it. A folder that cannot be written (full
        disk, read-only, chattr +i) becomes a KeyStoreError saying so, not a traceback."""
        try:
            self.keys_dir.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
            fd = os.open(
                self.keys_dir / (LOCK if self.role == "issuer" else f".{self.role}-keys.lock"),
                os.O_RDWR | os.O_CREAT,
                0o600,
            )
        except OSError as exc:
            raise _unwritable(self.keys_dir, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        except OSError as exc:
            raise _unwritable(self.keys_dir, exc) from None
        finally:
            os.close(fd)  # releases the lock

    def _read(self) -> list[IssuerKey]:
        try:
            st = os.stat(self.metadata_path)
        except FileNotFoundError:
            return []
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cache is not None and self._cache[0] == signature:
            return self._cache[1]
        try:
            rows = json.loads(self.metadata_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except json.JSONDecodeError as exc:
            raise KeyStoreError(f"{self.metadata_path} 不是有效的 JSON / is not valid JSON: {exc}") from None
        keys = keys_from_metadata(rows)
        self._cache = (signature, keys)
        return keys

    def _write(self, keys: list[IssuerKey], new: IssuerKey | None = None) -> None:
        """Atomic replace; call with the lock held. ``new``: a key just made by :meth:`_create`,
        whose PEM is removed again if the metadata naming it cannot be written."""
        try:
            self._write_json(self.metadata_path, [_row(k) for k in keys])
        except BaseException:
            if new is not None:
                self._private.pop(new.kid, None)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.pem_path(new.kid))
            raise

    def _write_json(self, path: Path, value: Any) -> None:
        """Atomic replace of a public JSON file; call with the lock held."""
        data = json.dumps(value, ensure_ascii=False, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.keys_dir, prefix=f".{self.role}-keys.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # public data
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename durable
            dir_fd = os.open(self.keys_dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._cache = None

    def _create(self, now: datetime) -> IssuerKey:
        """A new key pair: the PEM is written (0600, temp file renamed into place) before the
        metadata names it. Call with the lock held: no other process creates a key meanwhile."""
        private = Ed25519PrivateKey.generate()
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(self._passphrase)
            if self._passphrase
            else serialization.NoEncryption()
        )
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        for _ in range(16):
            kid = new_kid(now)
            path = self.pem_path(kid)
            if path.exists():
                continue
            fd, tmp = tempfile.mkstemp(dir=self.keys_dir, prefix=f".{self.role}-key.", suffix=".tmp")  # 0600
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            self._private[kid] = private
            return IssuerKey(kid=kid, public_key=private.public_key(), created_at=now, status="active")
        raise KeyStoreError("无法生成唯一的 kid / could not allocate a unique kid")  # pragma: no cover

    # ----------------------------------------------------------------- API
    def all(self) -> list[IssuerKey]:
        """Every key ever created, oldest first."""
        return list(self._read())

    def get(self, kid: str) -> IssuerKey | None:
        return next((k for k in self._read() if k.kid == kid), None)

    def version(self) -> tuple[int, int, int] | None:
        """Changes whenever the key metadata is rewritten by any process (rotation, compromise): the
        file's inode, modification time and size (every write is a new file, renamed into place)."""
        try:
            st = os.stat(self.metadata_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # ----------------------------------------------------------------- identity
    @property
    def identity_path(self) -> Path:
        return self.keys_dir / IDENTITY

    def identity(self) -> Identity | None:
        """The stored issuer identity, or None before the bank was set up."""
        try:
            text = self.identity_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyStoreError(f"{self.identity_path} 不是有效的 JSON / is not valid JSON: {exc}") from None
        return Identity.from_json(data, str(self.identity_path))

    def ensure_identity(
        self,
        base_url: str,
        *,
        grace: timedelta = UPGRADE_GRACE,
        name_zh: str | None = None,
        name_en: str | None = None,
    ) -> Identity:
        """The stored identity; on first use, ``base_url`` becomes it (once, across workers). A bank
        set up now (no keys yet) seals every PDF it ever makes: its seals begin with it; a bank with
        keys from before identities were stored is being upgraded: ``grace`` from now
        (``_seals_begin``)."""
        current = self.identity()
        if current is not None:
            return current
        proposed = Identity.for_base_url(base_url)  # validates before anything is written
        begin = _seals_begin(proposed.created_at, fresh=not self._read(), grace=grace)
        proposed = replace(
            proposed,
            pdf_seals_since=begin,
            name_zh=bank_name(name_zh or DEFAULT_NAME_ZH, "name_zh"),
            name_en=bank_name(name_en or DEFAULT_NAME_EN, "name_en"),
        )
        with self._locked():
            current = self.identity()
            if current is not None:
                return current
            self._write_json(self.identity_path, proposed.as_json())
            return proposed

    def ensure_pdf_seals_since(self, *, grace: timedelta = UPGRADE_GRACE) -> Identity | None:
        """The stored identity, with since when its PDFs are sealed recorded: on the first start of a
        bank set up before seals (once, across workers), ``grace`` from now — older workers may
        still be serving unsealed PDFs meanwhile (:data:`UPGRADE_GRACE`). None before set-up."""
        current = self.identity()
        if current is None or current.pdf_seals_since is not None:
            return current
        with self._locked():
            current = self.identity()
            if current is None or current.pdf_seals_since is not None:
                return current
            recorded = replace(current, pdf_seals_since=_seals_begin(_now(), fresh=False, grace=grace))
            self._write_json(self.identity_path, recorded.as_json())
            return recorded

    def move_domain(self, base_url: str) -> Identity:
        """The bank's new public address becomes its identity; the old DID stays listed (its keys
        stay resolvable) so certificates issued before keep verifying."""
        with self._locked():
            current = self.identity()
            if current is None:
                raise KeyStoreError(
                    f"{self.keys_dir} 中还没有签发方身份（先运行 creditbank serve）/ no issuer identity "
                    f"in {self.keys_dir} yet (run creditbank serve first)"
                )
            moved = Identity.for_base_url(base_url)
            if moved.did == current.did:
                raise KeyStoreError(f"签发方已是 {current.did} / the issuer already is {current.did}")
            now = _now()
            previous = tuple(f for f in current.previous if f.did != moved.did)
            moved = replace(
                moved,
                created_at=current.created_at,
                previous=(*previous, FormerIdentity(current.did, current.base_url, now)),
                pdf_seals_since=current.pdf_seals_since,
                name_zh=current.name_zh,
                name_en=current.name_en,
            )
            self._write_json(self.identity_path, moved.as_json())
            return moved

    def rename(self, name_zh: str, name_en: str) -> Identity:
        """The bank's name on certificates issued from now on. Each certificate keeps the name it
        was signed with (it is part of the signed credential and the QR payload)."""
        zh, en = bank_name(name_zh, "name_zh"), bank_name(name_en, "name_en")
        with self._locked():
            current = self.identity()
            if current is None:
                raise KeyStoreError(
                    f"{self.keys_dir} 中还没有签发方身份（先运行 creditbank serve）/ no issuer identity "
                    f"in {self.keys_dir} yet (run creditbank serve first)"
                )
            renamed = replace(current, name_zh=zh, name_en=en)
            self._write_json(self.identity_path, renamed.as_json())
            return renamed

    def active(self) -> IssuerKey:
        actives = [k for k in self._read() if k.status == "active"]
        if not actives:
            raise KeyStoreError(
                f"{self.keys_dir} 中没有可用的签名密钥 / no active issuer key in {self.keys_dir}"
            )
        return max(actives, key=lambda k: k.created_at)

    def ensure_active(self) -> IssuerKey:
        """The active key; the first call on an empty folder creates one (once, across workers)."""
        if any(k.status == "active" for k in self._read()):
            return self.active()
        with self._locked():
            self._cache = None
            keys = self._read()
            if any(k.status == "active" for k in keys):
                return self.active()
            key = self._create(_now())
            self._write([*keys, key], new=key)
            return key

    def rotate(self) -> IssuerKey:
        """A new active key; the previous active key becomes retired and stays published."""
        with self._locked():
            self._cache = None
            now = _now()
            keys = [
                replace(k, status="retired", retired_at=now) if k.status == "active" else k
                for k in self._read()
            ]
            key = self._create(now)
            self._write([*keys, key], new=key)
            return key

    def mark_compromised(self, kid: str, at: datetime) -> IssuerKey:
        """Signatures by ``kid`` made at or after ``at`` become invalid (an earlier ``at`` given
        before is kept: a later report never revalidates anything). If ``kid`` was the active key,
        a fresh key becomes active at once. Returns the updated key."""
        at = _ms(at)
        with self._locked():
            self._cache = None
            keys = self._read()
            target = next((k for k in keys if k.kid == kid), None)
            if target is None:
                raise KeyStoreError(f"没有密钥 {kid} / no key {kid}")
            now = _now()
            since = min(at, target.compromised_at) if target.compromised_at else at
            updated = replace(
                target,
                status="compromised",
                compromised_at=since,
                retired_at=target.retired_at or (now if target.status == "active" else None),
            )
            keys = [updated if k.kid == kid else k for k in keys]
            fresh = self._create(now) if target.status == "active" else None
            self._write([*keys, fresh] if fresh else keys, new=fresh)
            self._private.pop(kid, None)
            return updated

    def private_key(self, kid: str) -> Ed25519PrivateKey:
        """The private key (cached after the first load). Refused for compromised keys."""
        key = self.get(kid)
        if key is None:
            raise KeyStoreError(f"没有密钥 {kid} / no key {kid}")
        if key.status == "compromised":
            raise KeyStoreError(
                f"密钥 {kid} 已泄露，不能再用于签名 / key {kid} is compromised and must not sign"
            )
        cached = self._private.get(kid)
        if cached is not None:
            return cached
        path = self.pem_path(kid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(f"缺少私钥文件 {path} / private key file {path} is missing") from None
        private = self._load_pem(data, path)
        if private.public_key() != key.public_key:
            raise KeyStoreError(
                f"私钥文件 {path} 与公布的公钥不符 / {path} does not match the published key {kid}"
            )
        self._private[kid] = private
        return private

    def _load_pem(self, data: bytes, path: Path) -> Ed25519PrivateKey:
        try:
            private = serialization.load_pem_private_key(data, password=self._passphrase)
        except TypeError as exc:
            if "not encrypted" in str(exc):  # created before a passphrase was configured: still usable
                private = serialization.load_pem_private_key(data, password=None)
            else:
                raise KeyStoreError(
                    f"私钥 {path} 已加密，但未设置 CREDITBANK_KEY_PASSPHRASE / "
                    f"private key {path} is encrypted but no passphrase is set (CREDITBANK_KEY_PASSPHRASE)"
                ) from None
        except ValueError:
            raise KeyStoreError(
                f"无法解密私钥 {path}：口令错误或文件损坏 / cannot load {path}: wrong passphrase "
                "or damaged file"
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyStoreError(f"{path} 不是 Ed25519 私钥 / {path} is not an Ed25519 private key")
        return private


# --------------------------------------------------------------------------------------- validity


def valid_at(key: IssuerKey, signed_at: datetime) -> tuple[bool, str | None]:
    """Does ``key`` vouch for a signature made at ``signed_at``?

    A compromised key invalidates what it signed at or after ``compromised_at``; earlier
    signatures stay valid, as do everything retired and active keys signed. (``signed_at`` is the
    time the document states; a thief can backdate it — the transparency log is the defence.)
    """
    if (
        key.status == "compromised"
        and key.compromised_at is not None
        and _utc(signed_at) >= key.compromised_at
    ):
        when = clock.iso_seconds(key.compromised_at)
        return False, (
            f"签名密钥 {key.kid} 已于 {when} 泄露，此后的签名无效 / "
            f"key {key.kid} compromised at {when}; signatures since then are invalid"
        )
    return True, None


# --------------------------------------------------------------------------------------- did:web, JWKS


def did_for(base_url: str) -> str:
    """did:web for the bank's public address: host (``:`` of a port as ``%3A``), then the path
    segments joined with ``:``. ``https://bank.example.org/cb`` → ``did:web:bank.example.org:cb``."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL; got {base_url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("base_url must not carry credentials, a query or a fragment")
    host = parts.hostname.lower()
    if ":" in host:
        raise ValueError("did:web needs a host name or IPv4 address, not IPv6")
    port = parts.port  # raises ValueError for a bad port
    did = "did:web:" + quote(host if port is None else f"{host}:{port}", safe="")
    segments = [s for s in parts.path.split("/") if s]
    return ":".join([did, *(quote(s, safe="") for s in segments)])


def did_json_path(base_url: str) -> str:
    """Where did:web resolution fetches the document: ``/.well-known/did.json`` for a bare host,
    ``<path>/did.json`` when the base URL has a path."""
    path = urlsplit(base_url.strip()).path.rstrip("/")
    return f"{path}/did.json" if path else "/.well-known/did.json"


PDF_SEALS_SINCE = "creditbank_pdf_seals_since"
"""The member of the published key documents (JWKS, DID document, each ``GET /api/v1/keys`` row)
saying since when every PDF of a certificate the bank issues carries its seal
(:attr:`Identity.pdf_seals_since`), so an offline verifier can tell a stripped seal from a PDF
made before seals. Extra members are allowed by both formats; a document without it is older."""


XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"


def vocabulary(base_url: str) -> str:
    """creditbank's own JSON-LD vocabulary on the bank itself, ``<base_url>/ns#``: the page
    ``/ns`` documents each term (``/ns#pdfSealsSince`` lands on it). A JSON-LD processor never
    fetches a term's IRI (only ``@context`` URLs), so nothing depends on it being reachable; it is
    served so that whoever reads the IRI can open it. It was ``https://creditbank.example/ns#``, a
    reserved domain nobody could open. Never inside a credential (their contexts are the W3C and
    1EdTech ones): only did.json's inline context below names it."""
    return f"{base_url.rstrip('/')}/ns#"


VOCABULARY_TERMS: dict[str, dict[str, str]] = {
    "pdfSealsSince": {
        "member": PDF_SEALS_SINCE,
        "range": XSD_DATETIME,
        "label_zh": "PDF 封印起始时间",
        "label_en": "PDFs sealed since",
        "comment_zh": "自此时间（UTC）起本行签发的证书，其 PDF 都带本行的封印：没有封印的这类 PDF 是被改动过的；"
        "更早签发的证书的 PDF 可能没有封印，改为核对页面上印的文字。",
        "comment_en": "Every PDF of a certificate the bank issued since this time (UTC) carries the bank's "
        "seal: such a PDF without one was changed; PDFs of certificates issued before may have none and "
        "are checked by their printed text instead.",
        "where": "/.well-known/did.json, /.well-known/jwks.json, /api/v1/keys",
    }
}
"""The vocabulary's terms (one so far), for did.json's context and the ``/ns`` page."""


def seals_context(base_url: str) -> dict[str, Any]:
    """The inline context defining :data:`PDF_SEALS_SINCE` in the DID document.

    The DID document is JSON-LD: a member its contexts do not define is dropped by a JSON-LD
    processor (or refused, in safe mode). This defines it in the document itself, so nothing has to
    be fetched to read it."""
    return {PDF_SEALS_SINCE: {"@id": vocabulary(base_url) + "pdfSealsSince", "@type": XSD_DATETIME}}


def _seals_member(pdf_seals_since: datetime | None) -> dict[str, Any]:
    return {} if pdf_seals_since is None else {PDF_SEALS_SINCE: clock.iso_seconds(pdf_seals_since)}


def published_pdf_seals_since(document: Any) -> datetime | None:
    """:data:`PDF_SEALS_SINCE` in a published key document (JWKS or DID document: the member; a key
    list: the value every row carries); None if it is missing, unreadable or the rows disagree."""
    if isinstance(document, list):
        values = [row.get(PDF_SEALS_SINCE) if isinstance(row, dict) else None for row in document]
        value = values[0] if values and all(v == values[0] for v in values) else None
    else:
        value = document.get(PDF_SEALS_SINCE) if isinstance(document, dict) else None
    parsed = clock.parse_iso(value)
    return parsed if parsed is not None and parsed.tzinfo is not None else None  # a naive time: whose?


def did_document(
    did: str,
    keys: Sequence[IssuerKey],
    previous: Sequence[FormerIdentity] = (),
    pdf_seals_since: datetime | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Every key as a ``Multikey`` verification method (old certificates name retired and
    compromised keys too); ``assertionMethod`` lists only the keys that are not compromised.

    After a move to a new domain (``previous``), the old DIDs are listed as ``alsoKnownAs`` and
    the keys that existed under each old DID are listed under it too, so the verification
    methods old certificates name (``did:web:<old>#kid``) resolve from the new address.

    With ``pdf_seals_since``: :data:`PDF_SEALS_SINCE`, defined by :func:`seals_context` in the
    vocabulary of ``base_url`` (the bank's, which ``did`` names)."""
    multikey = _multikey()
    methods = [multikey.multikey_document(k.public_key, id=f"{did}#{k.kid}", controller=did) for k in keys]
    assertion = [f"{did}#{k.kid}" for k in keys if k.status != "compromised"]
    for former in previous:
        older = [k for k in keys if k.created_at < former.until]
        methods += [
            multikey.multikey_document(k.public_key, id=f"{former.did}#{k.kid}", controller=former.did)
            for k in older
        ]
        assertion += [f"{former.did}#{k.kid}" for k in older if k.status != "compromised"]
    seals = _seals_member(pdf_seals_since)
    if seals and base_url is None:
        raise ValueError("the PDF seals time is defined in the bank's vocabulary: give base_url")
    context: list[Any] = [*DID_CONTEXT, seals_context(base_url or "")] if seals else list(DID_CONTEXT)
    document: dict[str, Any] = {"@context": context, "id": did}
    if previous:
        document["alsoKnownAs"] = [former.did for former in reversed(previous)]
    return document | {"verificationMethod": methods, "assertionMethod": assertion} | seals


def jwks(keys: Sequence[IssuerKey], pdf_seals_since: datetime | None = None) -> dict[str, Any]:
    """``{"keys": [OKP/Ed25519 JWK with kid, …]}`` for every key, and :data:`PDF_SEALS_SINCE` when
    given. JWKS has no status field: compromised keys are listed like the others; their status is
    in :func:`key_status`."""
    multikey = _multikey()
    return {"keys": [multikey.jwk(k.public_key, k.kid) for k in keys]} | _seals_member(pdf_seals_since)


def key_status(keys: Sequence[IssuerKey]) -> list[dict[str, Any]]:
    """creditbank's key-status data: ``[{kid, status, created_at, retired_at, compromised_at}]``."""
    return [
        {
            "kid": k.kid,
            "status": k.status,
            "created_at": _iso(k.created_at),
            "retired_at": _iso(k.retired_at),
            "compromised_at": _iso(k.compromised_at),
        }
        for k in keys
    ]


def describe(keys: Sequence[IssuerKey], pdf_seals_since: datetime | None = None) -> list[dict[str, Any]]:
    """Rows for ``creditbank keys list`` and ``GET /api/v1/keys``: the ``issuer-keys.json`` rows
    (public key included), so a saved copy works as an offline key file (:func:`keys_from_metadata`).
    With ``pdf_seals_since``, every row carries :data:`PDF_SEALS_SINCE` too (the list has no room
    for a member of its own, and changing its shape would break saved files and clients)."""
    return [_row(k) | _seals_member(pdf_seals_since) for k in keys]
