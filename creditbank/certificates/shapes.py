"""Every credential is checked against its published JSON Schema (``schemas/``) before it is stored.

The bank publishes the same files at ``<base URL>/schemas/<file>`` (``api/shapes.py``), and that
address is the schema's ``$id``. The files in ``schemas/`` carry no ``$id``: a schema's address is
where a deployment serves it, like the problem types (``/problems``) and the vocabulary (``/ns``).

(The API's request and response bodies are pydantic models in ``certificates/schemas.py``.)
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from creditbank.kit.resources import shared_dir

SCHEMAS = shared_dir("schemas", "achievement-credential.schema.json")
FILES = {
    "achievement": "achievement-credential.schema.json",
    "transcript": "transcript-credential.schema.json",
    # Conversion and qualification certificates are Open Badges too: one achievement each.
    "conversion": "achievement-credential.schema.json",
    "qualification": "achievement-credential.schema.json",
    "award": "achievement-credential.schema.json",
}

PUBLISHED = tuple(sorted(set(FILES.values())))


def address(base_url: str, file: str) -> str:
    """Where the bank at ``base_url`` serves the schema ``file``: its ``$id``."""
    return f"{base_url.rstrip('/')}/schemas/{file}"


@cache
def _schema(file: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / file).read_text(encoding="utf-8"))


def published(base_url: str, file: str) -> dict[str, Any]:
    """The schema ``file`` (one of :data:`PUBLISHED`) as the bank at ``base_url`` serves it."""
    schema = _schema(file)
    return {"$schema": schema["$schema"], "$id": address(base_url, file)} | schema


@cache
def validator(kind: str) -> Draft202012Validator:
    schema = _schema(FILES[kind])
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def problems(kind: str, credential: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator(kind).iter_errors(credential)
    ]
