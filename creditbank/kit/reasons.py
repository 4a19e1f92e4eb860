"""Why the bank undid something on its own, stored as a code and the person's words; worded per
language only when shown.

A reason a person typed is stored as typed ("登记错误"). When the bank acts on its own (a
conversion undone because a record it used was revoked, a certificate revoked with the record it
rests on, a request expired or superseded) it stores ``"<code>: <words>"`` — the code and, where
there is one, what the person who started it typed or the record it names — and each page renders
it in its own language: ``text(stored, "zh")`` is pure Chinese around the person's words,
``text(stored, "en")`` pure English around them. Reasons stored before this (one Chinese / English
string) are read the same way, so old rows show one language too.
"""

from __future__ import annotations

import re

from creditbank.errors import in_language

SOURCE_REVOKED = "source_revoked"
"""A conversion undone (or a pending request ended): a record it used was revoked. Words: why."""
COMPLETION_REVOKED = "completion_revoked"
"""A certificate revoked with a record it rests on. Words: why the record was revoked."""
EXPIRED = "expired"
"""A request nobody decided within 30 days. No words."""
SUPERSEDED = "superseded"
"""A request ended because the school posted the course itself. Words: that completion's id."""
NOT_GIVEN = "not_given"
"""A rejection whose decider gave no reason (the API's ``reason`` is optional, SPEC §4). No words."""

_WORDS = {
    SOURCE_REVOKED: ("来源记录已撤销：{words}", "A record it used was revoked: {words}"),
    COMPLETION_REVOKED: (
        "所依据的学习成果记录已撤销：{words}",
        "The learning record it rests on was revoked: {words}",
    ),
    EXPIRED: ("超过 30 天未处理", "Not decided within 30 days"),
    SUPERSEDED: (
        "学校已直接登记该课程（学习成果记录 {words}）",
        "The school posted this course directly (record {words})",
    ),
    NOT_GIVEN: ("未说明理由", "No reason given"),
}
_NOT_GIVEN = ("未说明", "no reason given")
_CODED = re.compile(rf"^({'|'.join(_WORDS)}): ?(.*)$", re.S)
_LEGACY = (
    (re.compile(r"^来源记录已撤销 / source completion revoked: (.*)$", re.S), SOURCE_REVOKED),
    (
        re.compile(r"^所依据的学习成果记录已撤销：(.*) / the completion it rests on was revoked$", re.S),
        COMPLETION_REVOKED,
    ),
    (re.compile(r"^超过 30 天未处理 / not decided within 30 days()$"), EXPIRED),
    (
        re.compile(r"^学校已直接登记该课程（学习成果记录 (\S+)） / the school posted this course directly"),
        SUPERSEDED,
    ),
)


def coded(code: str, words: str | None = None) -> str:
    """What to store: the code and the person's words (or the record named)."""
    return f"{code}: {(words or '').strip()}".rstrip()


def parse(stored: str) -> tuple[str | None, str]:
    """(code, words) of a stored reason; (None, the text) for a person's own reason."""
    found = _CODED.match(stored)
    if found:
        return found.group(1), found.group(2).strip()
    for pattern, code in _LEGACY:
        old = pattern.match(stored)
        if old:
            return code, old.group(1).strip()
    return None, stored


def text(stored: str | None, lang: str) -> str:
    """The stored reason in one language: the bank's words in ``lang`` around the person's own."""
    if not stored:
        return ""
    code, words = parse(stored)
    if code is None:
        return in_language(stored, lang)  # a person's reason; an older "中文 / English" pair, one half
    en = lang == "en"
    template = _WORDS[code][1 if en else 0]
    return template.format(words=words or _NOT_GIVEN[1 if en else 0])


def both(stored: str | None) -> str:
    """Chinese, then English (the API's and the PDF's one field for both readers)."""
    zh, en = text(stored, "zh"), text(stored, "en")
    return zh if zh == en else f"{zh} / {en}"
