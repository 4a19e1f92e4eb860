"""Time in one place. Timestamps are aware UTC (SQLModel stores them as such on both databases);
hashed timestamps are ISO text with 'Z'."""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, date, datetime
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")
"""The bank's time zone. Learners and institutions are in China: "today", and every date and time a
page shows, are Beijing's (timestamps are stored in UTC)."""


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    # Learners and institutions are in China: a completion dated "today" in Beijing must not be
    # refused as "in the future" because UTC is still on yesterday.
    return now().astimezone(ZONE).date()


def local(ts: datetime) -> datetime:
    """``ts`` in the bank's time zone; a naive timestamp is taken as UTC (how they are stored)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(ZONE)


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later (earlier when negative). 29 February becomes
    28 February in a year without one; beyond the calendar it stops at ``date.min``/``date.max``."""
    year = day.year + years
    if year < MINYEAR:
        return date.min
    if year > MAXYEAR:
        return date.max
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February
        return day.replace(year=year, day=28)


def iso(ts: datetime) -> str:
    """Millisecond ISO-8601 with 'Z' — the exact text that goes into hashes."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def iso_seconds(ts: datetime) -> str:
    """XML Schema dateTime to the second ('2026-03-01T08:00:00Z'), the form VC validFrom/created use."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: object) -> datetime | None:
    """An ISO-8601 timestamp ('…Z' allowed) from untrusted input, or None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_typed(text: str) -> datetime | None:
    """A time a person typed (ISO 8601, '…Z' or an offset allowed, 'T' or a space), or None when it
    is not one. Without a zone it is the bank's time — what every page shows — so the keys page
    and ``creditbank keys compromised`` read '2026-12-03 00:36' as the same instant."""
    parsed = parse_iso(text.strip())
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZONE)
    return parsed
