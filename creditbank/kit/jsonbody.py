"""Strict JSON for request bodies: RFC 8259 text in UTF-8 whose numbers a float can hold.

Python's ``json`` (which FastAPI and Starlette use) is lenient where the bank must not be: it reads
UTF-16 and UTF-32, takes ``NaN`` and ``Infinity`` (not JSON), turns ``1e400`` into ``inf``, and
fails on a number over 4 300 digits or deep nesting with a ``ValueError`` or ``RecursionError``
that is not a ``JSONDecodeError`` — FastAPI answered those with a bare 400, the batch route and
POST /verify with a 500 (a non-finite number reached RFC 8785, which refuses it). :func:`loads`
refuses each with a :class:`NotJson` that says why in both languages; a syntax error stays
``json.JSONDecodeError`` (its position is reported by :func:`syntax_error`).
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from creditbank.errors import CreditbankError, render

_BOM = "\ufeff"
_MAYBE_BEYOND_A_FLOAT = re.compile(r"[eE]\+?\d{3}|\d{300}")
"""Where a number literal could overflow a float (an exponent of three digits, or 300 digits in a
row): only then are floats parsed through :func:`_float`, a Python call per float (a 10 000-row batch:
25 ms instead of 18 ms); otherwise ``json`` keeps its C path."""


class NotJson(ValueError):
    """A body that is not strict JSON. ``kind``: ``encoding``, ``number`` or ``depth``."""

    def __init__(self, kind: str, zh: str, en: str) -> None:
        self.kind = kind
        self.zh = zh
        self.en = en
        super().__init__(en)

    def entry(self) -> dict[str, Any]:
        """As an ``errors`` entry of a problem (the shape of :func:`syntax_error`)."""
        return {"field": "", "code": "json_invalid", "message_zh": self.zh, "message_en": self.en}


def _shown(text: str) -> str:
    return text if len(text) <= 24 else text[:20] + "…"


def _constant(name: str) -> Any:
    raise NotJson(
        "number",
        f"JSON 中没有 {name} 这样的值：请写成有限的数字或 null",
        f"{name} is not a JSON value; send a finite number or null",
    )


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NotJson(
            "number",
            f"数字 {_shown(text)} 超出范围：请求中的数字应在 ±1.7e308 之内",
            f"The number {_shown(text)} is out of range; numbers must lie within ±1.7e308",
        )
    return value


# Made once: json.loads(text, parse_constant=…) would build a decoder per call (~4 µs, more than a
# small body's parsing).
_DECODER = json.JSONDecoder(parse_constant=_constant)
_CHECKING_FLOATS = json.JSONDecoder(parse_constant=_constant, parse_float=_float)


def loads(raw: bytes | str) -> Any:
    """The value of a JSON body; :class:`NotJson` or ``json.JSONDecodeError`` when it is not one.
    A leading UTF-8 byte order mark is ignored (RFC 8259 §8.1 lets a parser do so)."""
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotJson(
                "encoding",
                f"请求内容应为 UTF-8 编码的 JSON（第 {exc.start + 1} 个字节不是 UTF-8）："
                "请以 UTF-8 保存或发送，不要用 GBK、GB18030 或 UTF-16",
                f"The body must be JSON encoded in UTF-8 (byte {exc.start + 1} is not UTF-8): send it as "
                "UTF-8, not GBK, GB18030 or UTF-16",
            ) from None
    else:
        text = raw
    if text.startswith(_BOM):
        text = text[1:]
    try:
        value = (_CHECKING_FLOATS if _MAYBE_BEYOND_A_FLOAT.search(text) else _DECODER).decode(text)
    except RecursionError:
        raise NotJson("depth", "JSON 嵌套层数过多", "The JSON is nested too deeply") from None
    except NotJson:
        raise
    except json.JSONDecodeError:
        raise
    except ValueError:  # int() of more than sys.get_int_max_str_digits() digits
        limit = sys.get_int_max_str_digits()
        raise NotJson(
            "number",
            f"JSON 中有一个数字位数过多（超过 {limit} 位）",
            f"A number in the JSON has too many digits (more than {limit})",
        ) from None
    try:
        where = nul_at(value) if "\\u0000" in text else None  # the substring test first: rare walk
    except RecursionError:  # as deep as the decoder allowed, deeper than this walk may go
        raise NotJson("depth", "JSON 嵌套层数过多", "The JSON is nested too deeply") from None
    if where is not None:
        # PostgreSQL text cannot hold NUL (a 500 there) and SQLite would store it: refused for both,
        # in the words kit.text's checked fields use, so a typed and an untyped field read alike.
        params = {"field": where, "char": "U+0000"}
        raise CreditbankError(
            "validation_error",
            errors=[
                {
                    "field": where,
                    "code": "invalid_text",
                    "message_zh": render("invalid_text", params, "zh"),
                    "message_en": render("invalid_text", params, "en"),
                }
            ],
        )
    return value


def syntax_error(doc: str, pos: int, reason: str = "") -> dict[str, Any]:
    """Where a JSON body broke, as a person counts in an editor: line and column, in characters,
    from 1 — the same on every route (``doc`` and ``pos`` of a ``JSONDecodeError``)."""
    line = doc.count("\n", 0, pos) + 1
    column = pos - doc.rfind("\n", 0, pos)
    en = f"Malformed JSON near line {line}, column {column}"
    return {
        "field": "",
        "code": "json_invalid",
        "message_zh": f"JSON 格式错误（第 {line} 行第 {column} 列附近）",
        "message_en": f"{en}: {reason}" if reason else en,
    }


def problem_entry(exc: ValueError) -> dict[str, Any]:
    """The ``errors`` entry for what :func:`loads` raised."""
    if isinstance(exc, json.JSONDecodeError):
        return syntax_error(exc.doc, exc.pos, exc.msg)
    if isinstance(exc, NotJson):
        return exc.entry()
    raise TypeError(exc)


def nul_at(value: Any, path: str = "") -> str | None:
    """Where the first NUL character of ``value`` is, as a dotted field path (``rows.3.external_id``;
    ``""``: the value itself), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return here
        found = nul_at(item, here)
        if found is not None:
            return found
    return None
