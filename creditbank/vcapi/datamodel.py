"""The W3C Verifiable Credentials Data Model 2.0 rules a document must meet before it is signed or
believed (pure: no keys, no network). Each broken rule raises :class:`DataModelError` naming the
VC 2.0 error type (§7.1 "Problem Details") and the path of the offending value.

What JSON-LD itself checks — terms the contexts define, protected terms not redefined, ``type``
values that expand to URLs — is left to :func:`creditbank.kit.jsonld.canonize`, which refuses
anything JSON-LD would drop.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
"""VC Data Model 1.1: still what the Data Integrity test suites' own credentials use."""

PARSING_ERROR = "PARSING_ERROR"
CRYPTOGRAPHIC_SECURITY_ERROR = "CRYPTOGRAPHIC_SECURITY_ERROR"
MALFORMED_VALUE_ERROR = "MALFORMED_VALUE_ERROR"
RANGE_ERROR = "RANGE_ERROR"
VC_ERROR_CODES = {
    PARSING_ERROR: -64,
    CRYPTOGRAPHIC_SECURITY_ERROR: -65,
    MALFORMED_VALUE_ERROR: -66,
    RANGE_ERROR: -67,
}
"""VC 2.0 §7.1: each problem type's integer code."""

# RFC 3986 scheme, then no whitespace; http(s) must name a host.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
_HTTP = re.compile(r"^https?://[^/?#\s]+")
# XML Schema dateTimeStamp: a date-time with a time zone
_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_LANGUAGE_KEYS = {"@value", "@language", "@direction"}


class DataModelError(ValueError):
    def __init__(self, problem: str, path: str, message: str) -> None:
        self.problem = problem
        self.path = path
        super().__init__(f"{path}: {message}")


def is_url(value: Any) -> bool:
    if not isinstance(value, str) or not _URL.match(value):
        return False
    if value.lower().startswith(("http:", "https:")):
        return bool(_HTTP.match(value))
    return True


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime for an XML Schema ``dateTimeStamp``, else None."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _fail(path: str, message: str, problem: str = MALFORMED_VALUE_ERROR) -> DataModelError:
    return DataModelError(problem, path, message)


def version(document: Mapping[str, Any]) -> str:
    """``"2.0"`` or ``"1.1"``, from the first ``@context`` item (PARSING_ERROR for anything else)."""
    if "@context" not in document:
        raise _fail("@context", "required", PARSING_ERROR)
    first = _as_list(document["@context"])[:1]
    if first == [VC_V2]:
        return "2.0"
    if first == [VC_V1]:
        return "1.1"
    raise _fail("@context", f"the first item must be {VC_V2} (or {VC_V1} for VC 1.1)", PARSING_ERROR)


def _context(document: Mapping[str, Any]) -> None:
    version(document)
    contexts = _as_list(document["@context"])
    for n, item in enumerate(contexts[1:], start=1):
        if isinstance(item, str):
            if not is_url(item):
                raise _fail(f"@context[{n}]", f"not a URL: {item!r}", PARSING_ERROR)
        elif not isinstance(item, dict):
            raise _fail(f"@context[{n}]", "must be a URL or a context object", PARSING_ERROR)


def _types(document: Mapping[str, Any], path: str, required: str | None = None) -> None:
    if "type" not in document:
        raise _fail(f"{path}type", "required")
    types = _as_list(document["type"])
    if not types or not all(isinstance(t, str) and t for t in types):
        raise _fail(f"{path}type", "must be one or more terms or URLs")
    if required and required not in types:
        raise _fail(f"{path}type", f"must include {required}")


def _single_url(value: Any, path: str) -> None:
    if not is_url(value):
        raise _fail(path, f"must be a single URL, got {value!r}")


def _language_value(value: Any, path: str) -> None:
    """A string, a language value object, or a list of those (§11.1)."""
    for n, item in enumerate(_as_list(value)):
        where = f"{path}[{n}]" if isinstance(value, list) else path
        if isinstance(item, str):
            continue
        if not isinstance(item, dict) or "@value" not in item or not isinstance(item["@value"], str):
            raise _fail(where, "must be a string or a language value object")
        extra = set(item) - _LANGUAGE_KEYS
        if extra:
            raise _fail(where, f"a language value object has no {sorted(extra)}")


def _names(node: Mapping[str, Any], path: str) -> None:
    for key in ("name", "description"):
        if key in node:
            _language_value(node[key], f"{path}{key}")


def _typed_objects(document: Mapping[str, Any], key: str, *, needs_id: bool = False) -> None:
    """``credentialStatus``, ``evidence``, ``termsOfUse``, ``refreshService``, ``credentialSchema``:
    one object or a set of objects, each with a ``type`` (§4.5) and, if present, a single URL id."""
    if key not in document:
        return
    values = _as_list(document[key])
    for n, item in enumerate(values):
        where = f"{key}[{n}]" if isinstance(document[key], list) else key
        if not isinstance(item, dict):
            raise _fail(where, "must be an object")
        _types(item, f"{where}.")
        if "id" in item or needs_id:
            _single_url(item.get("id"), f"{where}.id")


def _issuer(document: Mapping[str, Any]) -> None:
    if "issuer" not in document:
        raise _fail("issuer", "required")
    issuer = document["issuer"]
    if isinstance(issuer, dict):
        _single_url(issuer.get("id"), "issuer.id")
        _names(issuer, "issuer.")
    else:
        _single_url(issuer, "issuer")


def _subjects(document: Mapping[str, Any]) -> None:
    if "credentialSubject" not in document:
        raise _fail("credentialSubject", "required")
    subjects = _as_list(document["credentialSubject"])
    if not subjects:
        raise _fail("credentialSubject", "must make claims about at least one subject")
    for n, subject in enumerate(subjects):
        where = (
            f"credentialSubject[{n}]"
            if isinstance(document["credentialSubject"], list)
            else "credentialSubject"
        )
        if not isinstance(subject, dict) or not subject:
            raise _fail(where, "each subject must be an object with at least one claim")
        if "id" in subject:
            _single_url(subject["id"], f"{where}.id")


def _validity(document: Mapping[str, Any]) -> None:
    if version(document) == "1.1":
        if "issuanceDate" not in document:
            raise _fail("issuanceDate", "required (VC 1.1)")
        keys: tuple[str, str] = ("issuanceDate", "expirationDate")
    else:
        keys = ("validFrom", "validUntil")
    times = {}
    for key in keys:
        if key in document:
            parsed = parse_datetime(document[key])
            if parsed is None:
                raise _fail(key, f"must be an XML Schema dateTimeStamp, got {document[key]!r}")
            times[key] = parsed
    if len(times) == 2 and times[keys[0]] > times[keys[1]]:
        raise _fail(keys[1], f"is earlier than {keys[0]}", RANGE_ERROR)


Fetch = Callable[[str], bytes | None]
"""A resource's bytes by URL, if this process holds it (the bundled contexts); None otherwise."""


def _related_resources(document: Mapping[str, Any], fetch: Fetch) -> None:
    if "relatedResource" not in document:
        return
    seen: set[str] = set()
    for n, item in enumerate(_as_list(document["relatedResource"])):
        where = f"relatedResource[{n}]"
        if not isinstance(item, dict):
            raise _fail(where, "must be an object")
        _single_url(item.get("id"), f"{where}.id")
        if item["id"] in seen:
            raise _fail(f"{where}.id", "must be unique among the related resources")
        seen.add(item["id"])
        if "digestSRI" not in item and "digestMultibase" not in item:
            raise _fail(where, "needs digestSRI or digestMultibase")
        content = fetch(item["id"])
        if content is None:
            continue  # not held here: cannot be checked offline (reported as a warning by the caller)
        for key, expected in (("digestSRI", _sri), ("digestMultibase", _multibase)):
            if key in item and item[key] not in expected(content, item[key]):
                raise _fail(f"{where}.{key}", "does not match the resource", CRYPTOGRAPHIC_SECURITY_ERROR)


def _sri(content: bytes, given: Any) -> set[str]:
    algorithm = given.split("-", 1)[0] if isinstance(given, str) else ""
    if algorithm not in ("sha256", "sha384", "sha512"):
        return set()
    digest = hashlib.new(algorithm, content).digest()
    return {
        f"{algorithm}-{base64.b64encode(digest).decode()}",
        f"{algorithm}-{base64.urlsafe_b64encode(digest).decode()}",
    }


def _multibase(content: bytes, given: Any) -> set[str]:
    digest = hashlib.sha256(content).digest()
    forms = {digest, b"\x12\x20" + digest}  # bare SHA-256, or as a multihash
    return {"u" + base64.urlsafe_b64encode(d).decode().rstrip("=") for d in forms}


def _no_fetch(url: str) -> bytes | None:
    return None


def check_credential(document: Any, *, fetch: Fetch = _no_fetch) -> None:
    """Raise :class:`DataModelError` unless ``document`` is a well-formed VC 2.0 credential."""
    if not isinstance(document, dict):
        raise _fail("(document)", "a credential must be a JSON object", PARSING_ERROR)
    _context(document)
    _types(document, "", "VerifiableCredential")
    if "EnvelopedVerifiableCredential" in _as_list(document["type"]):
        raise _fail("type", "enveloped credentials (VC-JOSE-COSE) are not supported here")
    if "id" in document:
        _single_url(document["id"], "id")
    _issuer(document)
    _subjects(document)
    _validity(document)
    _names(document, "")
    for key in ("credentialStatus", "evidence", "termsOfUse", "refreshService"):
        _typed_objects(document, key)
    _typed_objects(document, "credentialSchema", needs_id=True)
    _related_resources(document, fetch)
    if "proof" in document:
        proofs = _as_list(document["proof"])
        if not proofs or not all(isinstance(p, dict) for p in proofs):
            raise _fail("proof", "must be an object or a set of objects", PARSING_ERROR)


def check_presentation(document: Any) -> None:
    """Raise :class:`DataModelError` unless ``document`` is a well-formed VC 2.0 presentation (its
    credentials are checked one by one by the caller)."""
    if not isinstance(document, dict):
        raise _fail("(document)", "a presentation must be a JSON object", PARSING_ERROR)
    _context(document)
    _types(document, "", "VerifiablePresentation")
    if "EnvelopedVerifiablePresentation" in _as_list(document["type"]):
        raise _fail("type", "enveloped presentations (VC-JOSE-COSE) are not supported here")
    if "id" in document:
        _single_url(document["id"], "id")
    if "holder" in document:
        holder = document["holder"]
        _single_url(holder.get("id") if isinstance(holder, dict) else holder, "holder")
    for n, credential in enumerate(_as_list(document.get("verifiableCredential", []))):
        if not isinstance(credential, dict):
            raise _fail(f"verifiableCredential[{n}]", "must be a credential object, not a string or number")
    if "proof" in document:
        proofs = _as_list(document["proof"])
        if not proofs or not all(isinstance(p, dict) for p in proofs):
            raise _fail("proof", "must be an object or a set of objects", PARSING_ERROR)
