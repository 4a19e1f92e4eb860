"""Debian's Chromium for the browser tests (Playwright cannot download browsers here).

One Chromium serves the whole test session (the ``browser`` fixture in tests/conftest.py):
Playwright's sync API allows one running instance per thread, and launching costs ~1 s."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags this sandbox needs (root, no GPU, no outside network).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_chromium() -> None:
    if CHROMIUM is None:
        message = (
            "Debian's chromium is not installed: browser tests SKIPPED (scripts/setup-system.sh installs it)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
