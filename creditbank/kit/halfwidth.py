"""Full-width characters folded to their ASCII forms (Unicode NFKC) for values that are codes, not text.

A Chinese input method in full-width mode types ``５００１１８…``, ``ＣＢ６１８…`` or ``１３８ ００１３ ８０００``;
WPS and web forms keep them as typed. To a clerk they are the same number, so ID numbers, account
numbers, outcome codes, dates and phone numbers are folded before they are checked — never names or
other printed text (``kit.text`` keeps those as written, NFC only; ``name_key`` folds a name only to
compare it, never to store it). Python's ``\\d`` and
``str.isdigit`` accept the digits of every script (and ``int()`` takes them), so the checks after the
fold use ``[0-9]`` / ``isascii()``: a digit that is still not ASCII after the fold is refused, not
silently read.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from creditbank.kit.text import REMOVED


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


MIDDLE_DOTS = "\u00b7\u2022\u2027\u30fb\u2219\u22c5\u0387\u2e31\u318d."
"""What stands for the 间隔号 between the parts of a Uyghur, Tibetan or foreign name (买买提·吐尔逊) as
offices type it: the middle dot, a bullet, the hyphenation point, the katakana middle dot (and its
half-width form, which NFKC makes it), dot operators, the Greek and Hangul look-alikes an input
method offers, and a plain full stop (also the full-width one, after NFKC) where the keyboard has
none of them."""
_DOTS = str.maketrans(dict.fromkeys(MIDDLE_DOTS, "\u00b7"))
_INVISIBLE = dict.fromkeys(map(ord, REMOVED))


@lru_cache(maxsize=1 << 14)  # an import names each learner ~20 times
def name_key(name: str) -> str:
    """A name as two spellings of it are compared, not stored: NFKC (full-width letters, the
    ideographic space), no whitespace at all (张 桂兰, "张　桂兰" and 张桂兰 are one name; so are
    "Li Na" and "LiNa"), no invisible characters pasted along from Excel, one middle dot for all
    the ones in ``MIDDLE_DOTS``, and case folded (LI NA is Li Na)."""
    folded = unicodedata.normalize("NFKC", name).translate(_INVISIBLE).translate(_DOTS)
    return "".join(folded.split()).casefold()
