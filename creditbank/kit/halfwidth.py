"""Full-width characters folded to their ASCII forms (Unicode NFKC) for values that are codes, not text.

A Chinese input method in full-width mode types ``５００１１８…``, ``ＣＢ６１８…`` or ``１３８ ００１３ ８０００``;
WPS and web forms keep them as typed. To a clerk they are the same number, so ID numbers, account
numbers, outcome codes, dates and phone numbers are folded before they are checked — never names or
other printed text (``kit.text`` keeps those as written, NFC only). Python's ``\\d`` and
``str.isdigit`` accept the digits of every script (and ``int()`` takes them), so the checks after the
fold use ``[0-9]`` / ``isascii()``: a digit that is still not ASCII after the fold is refused, not
silently read.
"""

from __future__ import annotations

import re
import unicodedata


def fold(value: str) -> str:
    """``value`` with full-width letters, digits, punctuation and the ideographic space as ASCII.
    ASCII text is returned as it is (the common case: one flag test, no copy)."""
    if value.isascii():
        return value
    return unicodedata.normalize("NFKC", value)


PHONE = r"^\+?[0-9 -]{5,20}$"
"""What a phone number may look like once folded: digits, spaces and dashes, an optional ``+``."""
_PHONE = re.compile(PHONE)


def phone(value: str | None) -> str | None:
    """A phone number as it is stored: folded, runs of spaces made one, blank → None. Whether it then
    matches ``PHONE`` is the caller's check (the API's schema and ``learners.enroll`` both make it)."""
    if value is None:
        return None
    folded = " ".join(fold(value).split())
    return folded or None


def is_phone(value: str) -> bool:
    return _PHONE.match(value) is not None
