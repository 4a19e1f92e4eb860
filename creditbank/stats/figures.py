"""A figure: what one chart and its table show — the same rows for the page, the JSON and the exports.

Pure: no database. ``stats.queries`` fills figures from SQL aggregates; ``web`` draws them;
``stats.export`` writes them as CSV or XLSX, cell for cell what the table shows (``cell``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from creditbank.certificates.credentials import CATEGORY_NAMES, KIND_TITLES
from creditbank.kit.units import credits as units_to_credits

Kind = Literal["label", "count", "percent", "credits", "hours", "text"]


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: Kind = "count"

    def title(self, lang: str) -> str:
        title = self.zh if lang == "zh" else self.en
        return f"{title} (%)" if self.kind == "percent" else title


@dataclass(frozen=True)
class Chart:
    """How the figure is drawn: one bar (or line point) per row, one series per value column."""

    series: tuple[str, ...]
    """Column keys drawn as series (all of one unit)."""
    kind: Literal["bar", "line", "hbar"] = "bar"
    target: str | None = None
    """A column holding each row's target (drawn as a marker series beside the values)."""


@dataclass
class Figure:
    name: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    chart: Chart
    start: date | None = None
    end: date | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    """(zh, en) sentences shown under the table: how the numbers are computed."""
    as_of: datetime | None = None
    """When the figures were computed, if they were computed ahead and kept (``stats.snapshots``);
    None: computed for this answer."""
    ledger_seq: int | None = None
    """The ledger position the figures include (every ledger transaction up to it)."""

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def as_json(self) -> dict[str, Any]:
        return {
            "figure": self.name,
            "title_zh": self.zh,
            "title_en": self.en,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "columns": [{"key": c.key, "zh": c.zh, "en": c.en, "kind": c.kind} for c in self.columns],
            "rows": [self._json_row(row) for row in self.rows],
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "ledger_seq": self.ledger_seq,
        }

    def _json_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row for the JSON: credits in credits (1.5, SPEC §4) — the rows hold hundredths, as the
        ledger does — and fractions to four decimals."""
        credits = {c.key for c in self.columns if c.kind == "credits"}
        return {
            k: (units_to_credits(v) if k in credits and v is not None else _json(v)) for k, v in row.items()
        }

    def table(self, lang: str) -> list[list[Any]]:
        """The rows as the table shows them (labels in ``lang``, percentages as percent numbers)."""
        return [[cell(column, row, lang) for column in self.columns] for row in self.rows]


def as_of_text(as_of: datetime | None, ledger_seq: int | None, lang: str) -> str | None:
    """ "数据截至 … / figures as of …" for figures computed ahead; None for figures computed for
    this answer (current)."""
    if as_of is None:
        return None
    local = as_of.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    if lang == "zh":
        return f"数据截至 {local}（北京时间），含账本第 {ledger_seq or 0:,} 笔交易及以前的记录"
    return f"Figures as of {local} (Beijing time), ledger up to transaction {ledger_seq or 0:,}"


def _json(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return value


def cell(column: Column, row: dict[str, Any], lang: str) -> Any:
    """One table cell, exactly as shown: the page, the CSV and the XLSX all call this."""
    if column.kind == "label":
        return row.get(f"{column.key}_{lang}") or row.get(f"{column.key}_zh") or ""
    value = row.get(column.key)
    if value is None:
        return None
    if column.kind == "percent":
        return round(value * 100, 1)
    if column.kind == "credits":
        return round(value / 100, 2)
    if column.kind == "hours":
        return round(value, 1)
    return value


def shown(value: Any, column: Column) -> str:
    """A cell as text on the page."""
    if value is None:
        return "—"
    if column.kind == "percent":
        return f"{value:.1f} %"
    if column.kind == "credits":
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# -- the labels of group keys ----------------------------------------------------------------------

UNKNOWN = ("未填写", "not given")
AGE_BANDS = {
    "under_18": ("18 岁以下", "under 18"),
    "18_59": ("18–59 岁", "18–59"),
    "60_plus": ("60 岁及以上", "60 and over"),
}
GENDERS = {"male": ("男", "male"), "female": ("女", "female")}
CONVERSION_STATES = {
    "pending": ("待审批", "pending"),
    "approved": ("已批准", "approved"),
    "rejected": ("已拒绝", "rejected"),
    "expired": ("已过期", "expired"),
    "reversed": ("已取消", "reversed"),
    "withdrawn": ("已撤回", "withdrawn"),
    "superseded": ("已被直接登记取代", "superseded by a posted completion"),
}
ALL = ("全部", "all")


def label(group: str, key: Any) -> tuple[str, str]:
    """(zh, en) for a group key: an age band, a gender, a category, a month or a place name."""
    if key is None or key == "":
        return UNKNOWN
    table = {
        "age_band": AGE_BANDS,
        "gender": GENDERS,
        "category": CATEGORY_NAMES,
        "state": CONVERSION_STATES,
        "kind": KIND_TITLES,
    }.get(group)
    if table is not None:
        return table.get(key, (str(key), str(key)))
    return str(key), str(key)


def labelled(group: str, key: Any, **values: Any) -> dict[str, Any]:
    zh, en = label(group, key)
    return {"key": key, "label_zh": zh, "label_en": en, **values}
