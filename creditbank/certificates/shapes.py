"""Every credential is checked against its published JSON Schema (``schemas/``) before it is stored.

(The API's request and response bodies are pydantic models in ``certificates/schemas.py``.)
"""

from __future__ import annotations

import json
from functools import cache

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


@cache
def validator(kind: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / FILES[kind]).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def problems(kind: str, credential: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator(kind).iter_errors(credential)
    ]
