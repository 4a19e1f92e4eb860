"""Deployment settings, read from the environment (prefix ``CREDITBANK_``)."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDITBANK_", env_file=None, extra="ignore")

    database_url: str = "sqlite:///./creditbank.db"
    database_replica_url: str | None = None
    """A PostgreSQL streaming replica (hot standby) of ``database_url``, optional. Reads that may be a
    moment old go there — the public verification page's and verify-by-id's immutable parts (never
    the status), learners' statements, the statistics figures; every write, revocation status,
    balances, sign-in and idempotency stay on the primary. Unset: everything reads the primary
    (docs/scale.md, "Read replica")."""
    base_url: str | None = None
    """The bank's public address, used once: when the bank is set up (first ``serve``), it
    becomes the issuer identity stored in ``keys_dir/issuer.json`` (default: where ``serve``
    listens). Later it must agree with the stored identity; ``creditbank keys move-domain``
    changes it."""
    bank_name_zh: str | None = None
    """The bank's name as its certificates print and sign it (签发方), e.g. 永川区学分银行; with
    ``bank_name_en``. Used once, like ``base_url``: when the bank is set up it is stored with the keys
    (``keys_dir/issuer.json``; default 学分银行 / creditbank learning-credit bank). Later it must agree
    with the stored name; ``creditbank keys rename`` changes it for new certificates."""
    bank_name_en: str | None = None
    keys_dir: Path = Path("./keys")
    key_passphrase: SecretStr | None = None
    secret: SecretStr | None = None
    """HMAC key for national ID numbers. When unset, one is created in ``keys_dir/secret.key``."""
    hours_per_credit: float = 16.0
    """Learning hours that make one credit (SPEC §2: 16 by default)."""
    admin_token: SecretStr | None = None
    """When set, this is the operator token; otherwise the first run generates one."""
    rate_limit_file: Path | None = None
    """The table of rate-limit buckets shared by the worker processes (default: one per
    database in /dev/shm, see ``kit.ratelimit.default_path``)."""
    rate_limit_slots: int = 65_536
    """Buckets in that table (48 bytes each: 3 MiB); the least useful are evicted beyond it."""
    font_cache_dir: Path | None = None
    """Where the CJK faces certificate PDFs are printed with are kept once cut (~6 MB, shared by every
    process and restart; default ``$XDG_CACHE_HOME/creditbank/fonts``, else
    ``~/.cache/creditbank/fonts``). Not writable: each process cuts them into a temporary folder
    removed when it stops (docs/operations.md, "Temporary files")."""
    max_upload_bytes: int = 20 * 1024 * 1024
    """Largest file a route that takes one accepts (batch import, PDF to verify)."""
    max_json_bytes: int = 1024 * 1024
    """Largest request body on every other route."""
    max_batch_rows: int = 100_000
    log_checkpoint_interval: float = 30.0
    """Seconds between the transparency log's scheduled checkpoints in ``serve`` (signed only when
    the log grew); 0 turns the schedule off (``creditbank log checkpoint`` from cron instead)."""
    log_certificate_wait: float = 0.0
    """How long a new certificate may wait for a scheduled checkpoint to include it before the bank
    signs one on demand; 0 signs at once, so every new certificate carries its inclusion proof."""
    verification_tally_seconds: float = 10.0
    """How often the counts of verifications (statistics: certificates verified) are written; 0
    writes each at once. Counts of a process killed in between are lost (verification/tally.py)."""
    vc_api: bool = False
    """Serve the W3C CCG VC-API test endpoints (``POST /credentials/issue``,
    ``/credentials/verify``, ``/presentations/verify``) for the W3C conformance suites. Issuing
    signs with a test-only did:key (``keys_dir/vc-api-test-only.pem``), never the bank's key.
    Off by default: ``CREDITBANK_VC_API=true`` (docs/interop.md)."""
    pdf_render_slots: int = 1
    """Certificate PDFs rendered at once per worker process (each render keeps a core busy)."""
    pdf_render_queue: int = 4
    """PDF downloads that may wait for a render slot per worker; more are refused at once with
    ``pdf_busy`` (503, Retry-After). A PDF rendered before is served from the process's store and
    never waits."""
    pdf_render_wait: float = 15.0
    """Seconds a download may wait for a render slot before it is refused with ``pdf_busy``."""
    pdf_cache_bytes: int = 128 * 1024 * 1024
    """Rendered PDFs kept per worker process (an achievement's is ~80 kB)."""
    pdf_seal_grace_hours: float = Field(default=24.0, ge=0)
    """Upgrading a bank set up before PDF seals: how long after the first start of the new release
    older workers or hosts may still be serving (a rolling upgrade). Certificates issued before
    then are not expected to have sealed PDFs; set it before that first start if the upgrade takes
    longer, 0 when every old server was stopped first (docs/certificates.md)."""
    verify_recheck_seconds: float = 0.25
    """How often each process re-reads what its cached verify-by-id answers depend on (revocation
    epoch, key status, log checkpoint): a revocation committed by any process is honoured everywhere
    within this time (the product promises 1 s); 0 re-reads on every request
    (docs/verification-cache.md)."""
    stats_live_seconds: float = 1.0
    """Statistics that took less than this to compute are computed on every request (always
    current: a college-sized bank never sees older figures); slower ones are kept, served with
    their "as of" time and recomputed in the background (docs/statistics.md). 0: always kept."""
    stats_refresh_seconds: float = 600.0
    """Kept statistics are recomputed at most this often (when someone looks at them), unless the
    office asks for fresh figures (立即更新, ``creditbank stats-refresh``) or changes its targets,
    population or area list."""
    stats_wait_seconds: float = 30.0
    """How long a request waits for statistics nobody has computed yet (a new period or district
    on a large bank); longer, it answers ``stats_computing`` (503) and the computation goes on in
    the background, so asking again a little later gets them. 0: never wait (always computed in the
    background)."""
    stats_statement_timeout_seconds: float = 300.0
    """PostgreSQL: the longest one statement of a statistics computation may run (``SET LOCAL
    statement_timeout``) — a pathological period must not hold a connection and a core for hours.
    One whole dashboard took 33–50 s at 10 M completions (bench/scale.py), its longest statement a
    fraction of that. Past it the computation stops and the figures answer 503 ``stats_timeout``
    (kept figures are still served). 0: no limit. SQLite has no such setting."""
    log_witnesses: list[str] = []
    """Verifier keys (``name+id+key``, type 4) of the witnesses whose cosignatures the bank accepts
    and publishes; JSON list in ``CREDITBANK_LOG_WITNESSES``."""

    def has_id_secret(self) -> bool:
        """True when the secret is configured or its file exists (nothing is created)."""
        return self.secret is not None or (self.keys_dir / "secret.key").exists()

    def pdf_seal_grace(self) -> timedelta:
        return timedelta(hours=self.pdf_seal_grace_hours)

    def id_secret(self) -> bytes:
        """The deployment secret for ID-number HMACs, created once on first use.

        Starting the service checks it against the fingerprint in the database first
        (``learners.secret.guard``): a lost file is never silently replaced once learners exist."""
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        path = self.keys_dir / "secret.key"
        if not path.exists():
            self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once must not each write a different secret.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    return Settings()
