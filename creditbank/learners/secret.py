"""The deployment secret behind ``learner.id_hmac``: checked, never silently replaced.

Learners are matched on HMAC(secret, ID number). A new or changed secret would give the same
person a second account without any error, so the database keeps a fingerprint of the secret
(HMAC of a fixed label under it — no more a dictionary target than the ``id_hmac`` values
themselves) and every start compares: a missing secret file or a different secret is refused
while learners exist (SPEC §3.2).
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, select

from creditbank.config import Settings
from creditbank.kit import clock
from creditbank.kit.tokens import hmac_hex
from creditbank.learners.models import DeploymentSecret, Learner

_LABEL = "creditbank/deployment-secret-fingerprint/v1"


class SecretRefused(RuntimeError):
    """Start refused: the secret is missing or is not the one the learners were enrolled under."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh}\n{en}")
        self.zh, self.en = zh, en


MISSING = SecretRefused(
    "部署密钥不见了（CREDITBANK_SECRET 未设置，keys/secret.key 不存在），但数据库里已有学习者。"
    "请从备份恢复 keys/secret.key 或设置原来的 CREDITBANK_SECRET；系统不会自动生成新密钥，"
    "否则同一个人会得到第二个账户。",
    "The deployment secret is missing (CREDITBANK_SECRET unset, keys/secret.key absent) but the "
    "database has learners. Restore keys/secret.key from your backup or set the original "
    "CREDITBANK_SECRET; a new secret is never generated here, or the same person would get a second account.",
)
CHANGED = SecretRefused(
    "部署密钥与数据库不符：数据库里的学习者是用另一个密钥（CREDITBANK_SECRET 或 keys/secret.key）"
    "登记的。请换回原来的密钥，否则同一个人会得到第二个账户。",
    "The deployment secret does not match the database: its learners were enrolled under another "
    "secret (CREDITBANK_SECRET or keys/secret.key). Put the original back; otherwise the same "
    "person would get a second account.",
)


def fingerprint(secret: bytes) -> str:
    return hmac_hex(secret, _LABEL)


def database_has_learners(engine: Engine) -> bool:
    """Before migrations run: does this database (at any revision) hold learners?"""
    with engine.connect() as connection:
        if not inspect(connection).has_table("learner"):
            return False
        return connection.execute(text("SELECT 1 FROM learner LIMIT 1")).first() is not None


def guard(session: Session, settings: Settings) -> bytes:
    """The secret to use, after checking it against the database; records it on first use."""
    recorded = session.get(DeploymentSecret, 1)
    has_learners = session.exec(select(Learner.id).limit(1)).first() is not None
    if not settings.has_id_secret() and (recorded is not None or has_learners):
        raise MISSING
    secret = settings.id_secret()
    current = fingerprint(secret)
    if recorded is None:
        # First start, or a database from before fingerprints: trust the secret in hand.
        session.add(DeploymentSecret(id=1, fingerprint=current, recorded_at=clock.now()))
    elif recorded.fingerprint != current:
        if has_learners:
            raise CHANGED
        recorded.fingerprint, recorded.recorded_at = current, clock.now()
        session.add(recorded)
    session.flush()
    return secret


def audit(session: Session, settings: Settings) -> list[str]:
    """Problems for ``creditbank audit``: an empty list when the secret matches."""
    recorded = session.get(DeploymentSecret, 1)
    has_learners = session.exec(select(Learner.id).limit(1)).first() is not None
    if not settings.has_id_secret():
        return [MISSING.en] if (recorded is not None or has_learners) else []
    if recorded is None:
        return []  # nothing to compare with until the service has started once since the upgrade
    if recorded.fingerprint != fingerprint(settings.id_secret()):
        return [CHANGED.en]
    return []
