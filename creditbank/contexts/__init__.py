"""Bundled JSON-LD contexts — the only contexts creditbank ever processes.

Contexts are never fetched at run time: a context is part of what a signature means, so the
bytes we canonicalise with must be the bytes we shipped. Each URL in index.json maps to a file in
this package (see README.md beside this file for where each file came from and its SHA-256).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3P0 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CLR_V2P0 = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
DID_V1 = "https://www.w3.org/ns/did/v1"

#: context URL -> file name in this package (index.json is shared with tests/interop's loader)
INDEX: MappingProxyType[str, str] = MappingProxyType(
    json.loads(resources.files(__name__).joinpath("index.json").read_bytes())
)
if not {VC_V2, OB_V3P0, CLR_V2P0, DATA_INTEGRITY_V2, MULTIKEY_V1, DID_V1} <= INDEX.keys():
    raise RuntimeError("creditbank/contexts/index.json is missing a required context")


class ContextNotBundledError(LookupError):
    """A JSON-LD context URL that creditbank does not ship (and will not fetch)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"JSON-LD context {url!r} is not bundled with creditbank and is never fetched "
            f"at run time; bundled: {', '.join(sorted(INDEX))}"
        )
        self.url = url


def is_bundled(url: str) -> bool:
    return url in INDEX


def context_bytes(url: str) -> bytes:
    """The exact bytes of a bundled context file."""
    try:
        name = INDEX[url]
    except KeyError:
        raise ContextNotBundledError(url) from None
    return resources.files(__name__).joinpath(name).read_bytes()


@cache
def _parsed(url: str) -> Any:
    return json.loads(context_bytes(url))


def load(url: str) -> dict[str, Any]:
    """A fresh (deep-copied) parse of a bundled context document."""
    return copy.deepcopy(_parsed(url))
