"""Alembic migrations, shipped inside the package so an installed creditbank can upgrade itself."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from creditbank.db import create_sqlite_file

HERE = Path(__file__).parent


def alembic_config(url: str, *, secret: bytes | None = None) -> Config:
    cfg = Config()
    cfg.attributes["id_secret"] = secret  # migrations that re-key or seal stored data need it
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", *, secret: bytes | None = None) -> None:
    create_sqlite_file(url)  # 0600 before alembic's own engine would create it world-readable
    command.upgrade(alembic_config(url, secret=secret), revision)
