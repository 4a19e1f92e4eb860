"""Checking one reported completion, field by field (pure: no database, no web).

The same function checks a single POST and every row of a 100 000-row import, so both
paths refuse the same things with the same codes.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from json.encoder import encode_basestring as _string  # what json.dumps(ensure_ascii=False) writes
from typing import Any, NamedTuple

from creditbank.kit import idcard
from creditbank.kit.halfwidth import fold
from creditbank.kit.tokens import is_account_no


@dataclass(frozen=True)
class Problem:
    code: str
    field: str | None
    params: dict[str, Any]


class CleanRow(NamedTuple):
    """A row whose fields are well-formed; whether the learner/outcome exist is checked later.
    A named tuple: made twice per row of an import (check pass, write pass), ~4x quicker to build
    than a frozen dataclass."""

    line: int
    external_id: str
    account_no: str | None
    national_id: str | None
    outcome_code: str
    completed_on: date
    score: float | None
    hours: float | None
    name: str | None = None
    """The learner's name as the file gives it (its 姓名 column), to check against the registered one
    (``Poster``); not part of the completion."""


# The columns as the Chinese headers name them (batchfile.ALIASES reads these too): a row's message
# names its column both ways, so a clerk finds it whichever header the file used.
COLUMN_ZH = {
    "external_id": "外部编号",
    "account_no": "学习账号",
    "national_id": "身份证号",
    "outcome_code": "成果代码",
    "completed_on": "完成日期",
    "score": "成绩",
    "hours": "学时",
    "name": "姓名",
}
_SHOWN = 24  # characters of a refused value quoted back; the rest is "…"


def invalid(column: str, raw: Any, zh: str, en: str) -> Problem:
    """``invalid_value`` for one cell: the column in both namings, the value as it came (shortened)
    and the reason, each in its own language."""
    params = {
        "field_zh": f"{COLUMN_ZH[column]} {column}",
        "field_en": f"{column} ({COLUMN_ZH[column]})",
        "reason_zh": zh,
        "reason_en": en,
    }
    shown = _text(raw)
    if shown:
        shown = shown if len(shown) <= _SHOWN else shown[: _SHOWN - 1] + "…"
        params["reason_zh"] = f"“{shown}”{zh}"
        params["reason_en"] = f"'{shown}' {en}"
    return Problem("invalid_value", column, params)


def clean(line: int, values: dict[str, Any], *, today: date) -> CleanRow | Problem:
    external_id = _text(values.get("external_id"))
    if not external_id:
        return invalid("external_id", None, "必填", "is required")
    if len(external_id) > 100:
        return invalid(
            "external_id", external_id, "太长，最多 100 个字符", "is too long: at most 100 characters"
        )
    account_no = _text(values.get("account_no"))
    national_id = _text(values.get("national_id"))
    if bool(account_no) == bool(national_id):
        return Problem("learner_ref_required", "account_no", {})
    if account_no:
        account_no = fold(account_no).upper()  # ＣＢ６１８… typed in full-width mode is the same number
        if not _is_account_no(account_no):
            return Problem("learner_not_found", "account_no", {"ref": account_no})
    if national_id:
        try:
            national_id = idcard.parse(national_id, today=today).number
        except idcard.InvalidNationalId as exc:
            return Problem("invalid_national_id", "national_id", {"reason_zh": exc.zh, "reason_en": exc.en})
    outcome_code = _text(values.get("outcome_code"))
    if outcome_code and not outcome_code.isascii():
        outcome_code = fold(outcome_code)  # codes are the catalogue's ASCII ones: ＹＣ－ＥＬＥＣ is YC-ELEC
    if not outcome_code:
        return invalid("outcome_code", None, "必填", "is required")
    completed_raw = values.get("completed_on")
    if isinstance(completed_raw, date):
        completed_on = completed_raw
    else:
        parsed = parse_date(_text(completed_raw) or "")
        if parsed is None:
            return invalid(
                "completed_on",
                completed_raw,
                "不是日期，应写成 YYYY-MM-DD，如 2026-03-01（2026/3/1、2026.3.1、2026年3月1日 也可以，"
                "后面可带时间如 2026/3/1 0:00；年份在前）",
                "is not a date: write it as YYYY-MM-DD, e.g. 2026-03-01 (2026/3/1, 2026.3.1 and "
                "2026年3月1日 work too, also with a time after them such as 2026/3/1 0:00; year first)",
            )
        completed_on = parsed
    if completed_on > today:
        return Problem("completed_on_in_future", "completed_on", {"date": completed_on.isoformat()})
    numbers: dict[str, float | None] = {}
    for name in ("score", "hours"):
        raw = values.get(name)
        if raw is None or raw == "":
            numbers[name] = None
            continue
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0 or number > 100000:
            return invalid(name, raw, "应为不小于 0 的数字", "should be a number, 0 or more")
        numbers[name] = number
    return CleanRow(
        line=line,
        external_id=external_id,
        account_no=account_no,
        national_id=national_id,
        outcome_code=outcome_code,
        completed_on=completed_on,
        score=numbers["score"],
        hours=numbers["hours"],
        name=_text(values.get("name")),
    )


def parse_date(text: str) -> date | None:
    """A completion date as offices write it, or None. ISO ``2026-03-01`` first (nearly every row of
    a big import: one C call, no regex); then the forms Excel and WPS write in a Chinese locale
    when a date cell is saved as CSV — ``2026/3/1``, ``2026-3-1``, ``2026.3.1``, ``2026年3月1日`` —
    with or without a time after it: WPS writes a date cell as ``2026/3/5 0:00`` or
    ``2026/03/05 00:00:00``, and an LMS's completion *time* says the day as well. The time must be a
    real one (``25:00`` is refused) and is not kept: a completion is dated by its day, as written.
    Only year-first forms: ``01/03/2026`` is 1 March in one locale and 3 January in another, so
    it is refused rather than guessed. Full-width digits are folded."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return _local_date(text)


_LOCAL_DATE = re.compile(r"([0-9]{4})(?:([-/.])([0-9]{1,2})\2([0-9]{1,2})|年([0-9]{1,2})月([0-9]{1,2})日?)")
_TIME = re.compile(r"(?:\s+|T)([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,6})?)?")


@lru_cache(maxsize=4096)
def _local_date(text: str) -> date | None:
    """Cached: a term's file has a few dozen distinct dates over its 100 000 rows."""
    text = fold(text).strip()
    time = _TIME.search(text)
    if time is not None:
        if time.end() != len(text):
            return None
        hour, minute, second = (int(part or 0) for part in time.groups())
        if hour > 23 or minute > 59 or second > 59:
            return None
        text = text[: time.start()]
    match = _LOCAL_DATE.fullmatch(text.replace(" ", ""))
    if match is None:
        return None
    year, _, month, day, month_zh, day_zh = match.groups()
    try:
        return date(int(year), int(month or month_zh), int(day or day_zh))
    except ValueError:
        return None


_is_account_no = lru_cache(maxsize=1 << 16)(is_account_no)
"""A file names each learner ~20 times (one row per outcome): their check digit is computed once."""


EARLIEST_BIRTH_YEAR = 1900
"""No learner is born before it (``kit.idcard`` refuses such ID numbers; enrolment such birth dates)."""


def check_completed_on(completed_on: date, birth_year: int) -> Problem | None:
    """A completion cannot predate its learner (``completed_on: 1800-01-01`` for someone born in 1949
    was accepted and signed). Only the birth year is stored (``Learner.birth_year``: the full date
    would give digits 7–14 of the ID number away), so the bound is 1 January of that year."""
    born = max(birth_year, EARLIEST_BIRTH_YEAR)
    if completed_on.year < born:
        return Problem(
            "completed_on_before_birth",
            "completed_on",
            {"date": completed_on.isoformat(), "birth_year": born},
        )
    return None


def check_score(score: float | None, min_score: float | None) -> Problem | None:
    if min_score is None:
        return None
    if score is None:
        return Problem("score_required", "score", {"minimum": _num(min_score)})
    if score < min_score:
        return Problem("score_below_minimum", "score", {"score": _num(score), "minimum": _num(min_score)})
    return None


def content_hash(
    *,
    external_id: str,
    account_no: str,
    outcome_code: str,
    completed_on: date,
    score: float | None,
    hours: float | None,
) -> str:
    """What makes two posts 'the same completion' — the learner by account, however named.

    Strings and None only (scores as text): RFC 8785 is ``json.dumps`` with sorted keys, written
    here directly in key order (4× quicker, computed for every imported row;
    ``tests/ledger/test_chain_digest.py`` compares it with the reference implementation)."""
    score_text, hours_text = canon(score), canon(hours)
    text = (
        f'{{"account_no":{_string(account_no)},"completed_on":{_string(completed_on.isoformat())},'
        f'"external_id":{_string(external_id)},"hours":{"null" if hours_text is None else _string(hours_text)},'
        f'"outcome_code":{_string(outcome_code)},"score":{"null" if score_text is None else _string(score_text)}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canon(value: float | None) -> str | None:
    # "87.0", "87" and 87 are the same score; compare them as text to two decimals.
    return None if value is None else f"{value:.2f}"


def _num(value: float) -> str:
    return f"{value:g}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
