"""The ``keys`` commands when the keys folder cannot be written, and the keys folder's own mode.

An operator review found tracebacks (and, on a full disk, an empty ``issuer-key-….pem`` left
behind) where a refusal in both languages was due; ``keys rotate`` spoke English only; the keys
folder was created 0755 though docs/deploy.md says 0700; and a restart with the old
``CREDITBANK_BASE_URL`` after ``keys move-domain`` advised moving the bank back."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditbank.certificates import keys as keystore
from creditbank.certificates.keys import KeyStore
from creditbank.cli import app


def _bank(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    store = KeyStore(folder)
    store.ensure_identity("https://xuefen.example.gov.cn")
    store.ensure_active()
    return folder


def _invoke(monkeypatch, tmp_path: Path, *args: str, **env: str):
    from creditbank.config import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", f"sqlite:///{tmp_path / 'creditbank.db'}")
    monkeypatch.setenv("CREDITBANK_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CREDITBANK_SECRET", "s")
    monkeypatch.delenv("CREDITBANK_BASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    finally:
        get_settings.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != keystore.LOCK}


def _said_in_order(output: str, zh: str, en: str) -> bool:
    flat = "".join(output.split())
    return zh in flat and en.replace(" ", "") in flat and flat.index(zh) < flat.index(en.replace(" ", ""))


@pytest.mark.parametrize("failing_write", [1, 2], ids=["key file", "key list"])
def test_rotate_on_a_full_disk_refuses_in_both_languages_and_leaves_no_file(
    failing_write, tmp_path, monkeypatch
):
    folder = _bank(tmp_path)
    before = _snapshot(folder)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == failing_write:  # 1: the new PEM; 2: issuer-keys.json naming it
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(keystore.os, "replace", replace)
    result = _invoke(monkeypatch, tmp_path, "keys", "rotate")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert _said_in_order(result.output, "磁盘已满", "the disk is full"), result.output
    assert str(folder) in "".join(result.output.split()), result.output
    assert _snapshot(folder) == before  # no 0-byte PEM, no temp file, key list unchanged


@pytest.mark.parametrize(
    "args",
    [["keys", "rotate"], ["keys", "rename", "--zh", "永川区学分银行", "--en", "Yongchuan Bank"]],
    ids=" ".join,
)
def test_a_keys_folder_that_cannot_be_written_is_refused_in_both_languages(args, tmp_path, monkeypatch):
    folder = _bank(tmp_path)
    before = _snapshot(folder)

    def mkstemp(*_args, **_kwargs):  # what chattr +i (or a read-only mount) does to a new file
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(keystore.tempfile, "mkstemp", mkstemp)
    result = _invoke(monkeypatch, tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert _said_in_order(result.output, "文件夹不可写", "the folder is not writable"), result.output
    assert _snapshot(folder) == before


def test_rotate_says_what_happened_in_both_languages(tmp_path, monkeypatch):
    folder = _bank(tmp_path)
    result = _invoke(monkeypatch, tmp_path, "keys", "rotate")
    assert result.exit_code == 0, result.output
    active = KeyStore(folder).active().kid
    assert _said_in_order(result.output, f"现在用密钥{active}签名", f"The active key is now {active}"), (
        result.output
    )
    assert not list(folder.glob(".*.tmp"))


def test_setting_up_a_bank_creates_its_keys_folder_0700_and_warns_about_an_open_one(tmp_path, monkeypatch):
    old = os.umask(0o022)  # the usual umask: a plain mkdir made the folder 0755
    try:
        args = (
            "operator",
            "create",
            "office",
            "--name",
            "区社区教育办公室",
            "--password",
            "长城长城长城12345",
        )
        result = _invoke(monkeypatch, tmp_path, *args)
        assert result.exit_code == 0, result.output
        assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
        os.chmod(tmp_path / "keys", 0o755)
        again = _invoke(
            monkeypatch, tmp_path, "operator", "create", "office2", "--password", "长城长城长城12345"
        )
        flat = " ".join(again.output.split())
        assert "0755" in flat and f"chmod 700 {tmp_path / 'keys'}" in flat, flat
    finally:
        os.umask(old)


def test_the_keys_folder_is_created_private(tmp_path):
    old = os.umask(0o022)
    try:
        assert keystore.ensure_keys_dir(tmp_path / "keys") is None
        assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
        (tmp_path / "open").mkdir(mode=0o755)
        os.chmod(tmp_path / "open", 0o755)
        (tmp_path / "open" / "issuer.json").write_text("{}")  # a bank's folder: left as the operator set it
        warning = keystore.ensure_keys_dir(tmp_path / "open")
        assert warning is not None and "chmod 700" in warning and "0755" in warning
        # A fresh checkout's keys/ (0755 from git, only its README): made private, no warning.
        (tmp_path / "checkout").mkdir(mode=0o755)
        os.chmod(tmp_path / "checkout", 0o755)
        (tmp_path / "checkout" / "README.md").write_text("keys")
        assert keystore.ensure_keys_dir(tmp_path / "checkout") is None
        assert (tmp_path / "checkout").stat().st_mode & 0o777 == 0o700
    finally:
        os.umask(old)


def test_a_restart_with_the_old_base_url_after_a_move_says_to_update_it(tmp_path, monkeypatch):
    old_url, new_url = "https://xuefen.example.gov.cn", "https://cb.example.gov.cn"
    folder = tmp_path / "keys"
    KeyStore(folder).ensure_identity(old_url)
    moved = _invoke(monkeypatch, tmp_path, "keys", "move-domain", new_url)
    assert moved.exit_code == 0, moved.output
    assert json.loads((folder / "issuer.json").read_text())["base_url"] == new_url

    refused = _invoke(monkeypatch, tmp_path, "serve", CREDITBANK_BASE_URL=old_url)
    assert refused.exit_code == 2, refused.output
    flat = " ".join(refused.output.split())
    assert f"CREDITBANK_BASE_URL={new_url}" in flat, flat
    assert "moved from" in flat and "Only if you really mean to move the bank back" in flat, flat
    assert flat.index("迁移到") < flat.index("moved from"), flat
