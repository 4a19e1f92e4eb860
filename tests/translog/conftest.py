"""A bank listening on a real port, for the commands that speak HTTP (witness, verify-consistency)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from creditbank.app import create_app
from creditbank.db import Database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_bank(settings, **overrides) -> Iterator[tuple[str, object, Database]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    configured = settings.model_copy(update={"base_url": base, **overrides})
    db = Database(configured.database_url)
    app = create_app(configured, db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield base, app, db
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()


@pytest.fixture
def live() -> Callable:
    return live_bank
