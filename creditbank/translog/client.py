"""A tlog-tiles client: follows any creditbank log (or a static mirror of it) with nothing but
``GET <prefix>/checkpoint`` and ``GET <prefix>/tile/…`` — what a witness or an auditor outside the
bank runs. It trusts nothing it fetches: callers verify the checkpoint's signature and every proof.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

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

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        return self.transport("POST", f"{self.base_url}/{path.lstrip('/')}", body, content_type)
