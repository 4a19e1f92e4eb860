"""Free text that ends up printed or signed: people's and institutions' names, titles, places.

One rule for every way in — the API's bodies (the pydantic types below), the console's forms and
the services themselves (``clean``), so an import, the CLI or the demo cannot store what the API
refuses:

1. Unicode NFC, so "é" typed two ways is one name (a certificate signs the exact code points).
2. Invisible characters that copy-paste drags along from Excel, WeChat or web pages are removed:
   zero-width space/joiners, word joiner, byte-order mark, soft hyphen (``REMOVED``).
3. Whitespace (tabs, line breaks, ideographic and no-break spaces) becomes one ASCII space between
   words and none at either end — a name is one line.
4. Refused with ``invalid_text``: any other control (Unicode Cc: NUL, escape, …), format (Cf) or
   surrogate (Cs) character — above all the bidirectional controls (U+202A–U+202E,
   U+2066–U+2069, LRM/RLM/ALM), which make a printed name read differently from the signed one.
   Refused rather than silently dropped: a clerk should see that the pasted text was not what it
   looked like.
5. Then the caller's length rules apply: a required field that is empty after all this is
   refused (a blank name broke every certificate: the credential schema wants a non-empty name).
"""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from creditbank.errors import CreditbankError

REMOVED = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
"""Zero-width space, ZWNJ, ZWJ, word joiner, BOM / zero-width no-break space, soft hyphen,
Mongolian vowel separator: invisible, and meaningless in a Chinese or Latin name."""


class InvalidText(ValueError):
    """``char`` is the first refused character, written ``U+XXXX`` (invisible, so never shown raw)."""

    def __init__(self, char: str) -> None:
        self.char = f"U+{ord(char):04X}"
        super().__init__(f"contains the invisible or control character {self.char}")


def normalize(value: str) -> str:
    """Rules 1–4 above; raises ``InvalidText``. The result may be empty."""
    value = unicodedata.normalize("NFC", value)
    kept = []
    for char in value:
        if char in REMOVED:
            continue
        if char.isspace():
            kept.append(" ")
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            raise InvalidText(char)
        kept.append(char)
    return " ".join("".join(kept).split())


def visible(value: str) -> str:
    """``value`` for showing on a page as it is stored, with every character rule 4 refuses written
    ``⟨U+202E⟩`` — a name stored before these rules (kept in a correction's history) would
    otherwise reorder the text around it or hide what was wrong with it."""
    return "".join(
        f"⟨U+{ord(char):04X}⟩" if unicodedata.category(char) in ("Cc", "Cf", "Cs") else char for char in value
    )


def clean(value: str, *, field: str, max_length: int | None = None) -> str:
    """A required field: normalised, or ``invalid_text`` / ``invalid_value`` (empty, too long)."""
    try:
        cleaned = normalize(value)
    except InvalidText as exc:
        raise CreditbankError("invalid_text", {"field": field, "char": exc.char}) from None
    if not cleaned:
        raise CreditbankError("invalid_value", {"field": field, "reason_zh": "必填", "reason_en": "required"})
    if max_length is not None and len(cleaned) > max_length:
        raise CreditbankError(
            "invalid_value",
            {
                "field": field,
                "reason_zh": f"最长 {max_length} 字符",
                "reason_en": f"at most {max_length} characters",
            },
        )
    return cleaned


def optional(value: str | None, *, field: str, max_length: int | None = None) -> str | None:
    """An optional field: normalised; blank becomes None."""
    if value is None:
        return None
    try:
        cleaned = normalize(value)
    except InvalidText as exc:
        raise CreditbankError("invalid_text", {"field": field, "char": exc.char}) from None
    if not cleaned:
        return None
    return clean(cleaned, field=field, max_length=max_length)


def _normalized(value: str, info: ValidationInfo) -> str:
    try:
        return normalize(value)
    except InvalidText as exc:
        raise PydanticCustomError(
            "invalid_text",
            "{field} contains invisible or control characters ({char})",
            {"field": info.field_name or "text", "char": exc.char},
        ) from None


def _required(value: str, info: ValidationInfo) -> str:
    cleaned = _normalized(value, info)
    if not cleaned:
        raise PydanticCustomError(
            "blank_text",
            "{field} is blank: it needs at least one visible character",
            {"field": info.field_name or "text"},
        )
    return cleaned


def _optional(value: str | None, info: ValidationInfo) -> str | None:
    return None if value is None else _normalized(value, info) or None


PRINTED = AfterValidator(_required)
"""Marks a request body's required text field: ``Annotated[str, Field(min_length=1, max_length=100),
PRINTED]``. The length rules apply to the text as sent (so the OpenAPI schema stays true: whatever it
calls invalid is refused), then it is normalised; blank after that is ``blank_text``."""
OPTIONAL_PRINTED = AfterValidator(_optional)
"""The same for an optional field, ``Annotated[str | None, Field(max_length=100), OPTIONAL_PRINTED]``:
blank after normalising becomes None."""
