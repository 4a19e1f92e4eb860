"""A tlog-tiles client: follows any creditbank log (or a static mirror of it) with nothing but
``GET <prefix>/checkpoint`` and ``GET <prefix>/tile/…`` — what a witness or an auditor outside the
bank runs. It trusts nothing it fetches: callers verify the checkpoint's signature and every proof.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from creditbank.translog import tiles

Transport = Callable[[str, str, bytes | None, str | None], tuple[int, bytes]]
"""(method, url, body, content type) → (HTTP status, body)."""


class FetchError(RuntimeError):
    pass


def urllib_transport(
    method: str, url: str, body: bytes | None, content_type: str | None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    request.add_header("Accept-Encoding", "identity")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FetchError(f"{url}: {exc}") from None


def folder_transport(
    method: str, url: str, body: bytes | None, content_type: str | None
) -> tuple[int, bytes]:
    """A static mirror copied to disk, read through ``file://`` URLs (its ``log/tile/…`` files)."""
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    try:
        return 200, path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return 404, b""
    except OSError as exc:
        raise FetchError(f"{path}: {exc}") from None


def client_for(source: str) -> LogClient:
    """A client for a bank or mirror address (``https://…``, the folder above ``log/``) or a folder
    holding a copy of one."""
    if source.startswith(("http://", "https://")):
        return LogClient(source)
    return LogClient(Path(source).resolve().as_uri(), folder_transport)


class LogClient:
    def __init__(self, base_url: str, transport: Transport = urllib_transport) -> None:
        """``base_url``: the bank's address; the log's prefix is ``<base_url>/log``."""
        self.base_url = base_url.rstrip("/")
        self.prefix = self.base_url + "/log"
        self.transport = transport

    def get(self, path: str) -> bytes:
        status, body = self.transport("GET", f"{self.prefix}/{path}", None, None)
        if status != 200:
            raise FetchError(f"GET {self.prefix}/{path}: HTTP {status}")
        return body

    def checkpoint_note(self) -> str:
        return self.get("checkpoint").decode("utf-8")

    def _fetch(self, level: int, index: int, width: int) -> list[bytes]:
        if width == tiles.WIDTH:
            return tiles.split(self.get(tiles.tile_path(level, index)))
        try:
            return tiles.split(self.get(tiles.tile_path(level, index, width)))
        except FetchError:  # tlog-tiles: a partial tile may be gone once the full one exists
            return tiles.split(self.get(tiles.tile_path(level, index)))[:width]

    def tree(self, size: int) -> tiles.TreeReader:
        return tiles.TreeReader(size, self._fetch)

    def entries(self, index: int, width: int) -> list[bytes]:
        """The entries of bundle ``index`` (``width`` of them: 256 for a full bundle)."""
        path = tiles.tile_path("entries", index, None if width == tiles.WIDTH else width)
        blob = self.get(path)
        out, offset = [], 0
        while offset < len(blob):
            length = int.from_bytes(blob[offset : offset + 2], "big")
            out.append(blob[offset + 2 : offset + 2 + length])
            offset += 2 + length
        if len(out) != width or offset != len(blob):
            raise FetchError(f"entry bundle {index}: expected {width} entries")
        return out

    def entries_between(self, begin: int, end: int) -> list[bytes]:
        """Entries ``begin … end-1``, bundle by bundle (a partial bundle, or the full one it became)."""
        out: list[bytes] = []
        for index in range(begin // tiles.WIDTH, (end - 1) // tiles.WIDTH + 1 if end > begin else 0):
            width = min(tiles.WIDTH, end - index * tiles.WIDTH)
            try:
                bundle = self.entries(index, width)
            except FetchError:
                if width == tiles.WIDTH:
                    raise
                bundle = self.entries(index, tiles.WIDTH)[:width]
            first = index * tiles.WIDTH
            out += bundle[max(0, begin - first) :]
        return out

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        return self.transport("POST", f"{self.base_url}/{path.lstrip('/')}", body, content_type)
