"""A figure as an SVG chart, drawn on the server by pygal.

Why server-side SVG and not a JavaScript chart library: the dashboard then works without
JavaScript like every other page, needs no script under the CSP, renders the same in any browser,
prints, and the accessible form of each chart is the table beside it (the chart is an ``<img>``
whose text alternative names the table). The numbers printed on the bars are ``figures.cell``
values — the very numbers of the table and the exports.

The SVG is served as an image of its own (``/operator/stats/{figure}.svg``), with a CSP of its own:
no script at all, only the inline style pygal writes into the drawing.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import unicodedata
from typing import Any

import pygal
from cachetools import LRUCache
from pygal.style import Style
from pygal.util import text_len

from creditbank.stats.figures import Column, Figure, cell

_drawn: LRUCache[bytes, str] = LRUCache(maxsize=256)
_lock = threading.Lock()
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_HBAR_VALUE = re.compile(r'<text text-anchor="middle" x="([-\d.]+)" (y="[-\d.]+") class="value">')
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'"
FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'
# Ink, the link blue, then colours that keep ≥ 3:1 against white and tell apart without hue alone
# (bars also carry their numbers, and the legend names each series).
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#6b6b6b",
    colors=("#0b4fbf", "#a3211a", "#17632f", "#7a4100", "#5b2a86", "#474747"),
    font_family=FONT,
    label_font_family=FONT,
    major_label_font_family=FONT,
    value_font_family=FONT,
    value_label_font_family=FONT,
    title_font_family=FONT,
    legend_font_family=FONT,
    label_font_size=16,
    major_label_font_size=16,
    value_font_size=17,
    legend_font_size=17,
    title_font_size=19,
    tooltip_font_size=16,
    no_data_font_size=26,
)


_WIDTH = 640
_UPRIGHT_ROWS = 6
"""More rows than this are drawn as lying bars (``hbar``)."""
_UPRIGHT_LABEL = _WIDTH / (_UPRIGHT_ROWS + 1) / STYLE.label_font_size
"""A label wider than a bar group (in em) is drawn lying too: upright ones would overlap."""
_VALUE_ROOM = 64
"""Room at the right of lying bars for the number after the longest one (e.g. 100.0, 12,345)."""


def _text_width(text: str) -> float:
    """Width in em: a CJK character is one em, a Latin one about half (pygal counts every character
    alike, so CJK labels came out wider than the room it made for them)."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.55 for c in text)


def _extra_room(labels: list[str]) -> float:
    """What pygal's estimate of the widest label (``pygal.util.text_len``) lacks, in SVG units."""
    size = STYLE.label_font_size
    return max(
        (max(0.0, _text_width(label) * size - text_len(len(label), size)) for label in labels), default=0.0
    )


def _extra_half(labels: list[str]) -> float:
    """Half the widest label: a label centred on the last point of a line sticks out that far."""
    return max((_text_width(label) * STYLE.label_font_size / 2 for label in labels), default=0.0)


def _legend_columns(titles: list[str], room: float) -> int:
    """As many legend columns as the widest title leaves room for (three English titles such as
    'certificates verified' in three columns ran past the right edge)."""
    widest = (
        max((_text_width(t) * STYLE.legend_font_size for t in titles), default=0.0)
        + 2 * STYLE.legend_font_size
    )
    return max(1, min(4, len(titles), int(room // widest)))


def _label_column(figure: Figure) -> list[Column]:
    return [c for c in figure.columns if c.kind == "label"]


def row_label(figure: Figure, row: dict[str, Any], lang: str) -> str:
    """What names a row under its bar: the label columns joined (e.g. 永川区 · 60 岁及以上)."""
    parts = [str(cell(c, row, lang) or "") for c in _label_column(figure) if c.key != "met"]
    return " · ".join(p for p in parts if p)


def svg(figure: Figure, lang: str) -> str:
    """The chart of ``figure``; the same figure (same rows, same language) is drawn once per process:
    pygal takes ~50 ms a chart, more than most of the dashboard's queries (bench/stats.py)."""
    key = hashlib.sha256(json.dumps([figure.as_json(), lang], sort_keys=True, default=str).encode()).digest()
    with _lock:
        drawn = _drawn.get(key)
    if drawn is None:
        drawn = _draw(figure, lang)
        with _lock:
            _drawn[key] = drawn
    return drawn


def _draw(figure: Figure, lang: str) -> str:
    columns = {c.key: c for c in figure.columns}
    series = [columns[k] for k in figure.chart.series]
    if figure.chart.target:
        series.append(columns[figure.chart.target])
    kind = figure.chart.kind
    rows = figure.rows
    labels = [row_label(figure, row, lang) for row in rows]
    if kind == "bar" and (
        len(rows) > _UPRIGHT_ROWS or max(map(_text_width, labels), default=0) > _UPRIGHT_LABEL
    ):
        # Upright bars put their labels under each other's feet: with 20 rows (5 districts × 4 age
        # bands) rotated labels piled up, ran into the legend and were cut at the edge, and the
        # printed values overlapped. Lying bars give each row a line of its own for its label.
        kind = "hbar"
    chart_class = {"bar": pygal.Bar, "line": pygal.Line, "hbar": pygal.HorizontalBar}[kind]
    if kind == "hbar":
        # pygal draws the first row at the bottom: reversed, the chart reads top to bottom like the table.
        rows, labels = rows[::-1], labels[::-1]
    step = math.ceil(len(rows) / _UPRIGHT_ROWS) if kind == "line" else 1
    # Room at the right: for the numbers after lying bars; for a line's last label, centred on its end.
    right = _VALUE_ROOM if kind == "hbar" else _extra_half(labels[-1:]) if step > 1 else 0.0
    # pygal lays the legend out under the plot only, right of lying bars' labels.
    room = (
        _WIDTH
        - 32
        - right
        - (max(map(_text_width, labels), default=0) * STYLE.label_font_size if kind == "hbar" else 0)
    )
    height = max(360, 34 * len(rows) * max(1, len(series)) + 160) if kind == "hbar" else 400
    chart = chart_class(
        style=STYLE,
        width=_WIDTH,
        height=height,
        js=[],  # no script: pygal's tooltips would load one from the internet
        print_values=True,
        print_values_position="top",
        # A line's zeros lie on the axis, over its labels and each other: the line shows them.
        print_zeroes=kind != "line",
        show_legend=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=_legend_columns([c.title(lang) for c in series], room),
        x_label_rotation=0,
        # Level labels side by side need room: a line of 12 months names every second one — the
        # second, fourth …, so the first is not drawn over the axis's 0 in the corner.
        x_labels_major=labels[step - 1 :: step] if step > 1 else None,
        show_minor_x_labels=step == 1,
        truncate_label=-1,
        truncate_legend=-1,
        margin=16,
        # pygal makes room for a label as if every character were narrow: a CJK label lying at the
        # left ran past the edge (永川区 · 60 岁及以上 was cut). The difference goes to the margin.
        margin_left=16 + _extra_room(labels) if kind == "hbar" else 16,
        margin_right=16 + right,
        # Lying bars' value axis runs across: fewer steps, or 0.1 … 1.0 of an empty figure overlap.
        max_scale=6 if kind == "hbar" else 16,
        value_formatter=lambda v: "—" if v is None else f"{v:g}",
        no_data_text="无数据 no data" if lang == "zh" else "no data",
        explicit_size=False,
    )
    chart.title = figure.title(lang)
    chart.x_labels = labels
    for column in series:
        chart.add(column.title(lang), [cell(column, row, lang) for row in rows])
    # pygal writes its config as a script even without its JS; an image never runs it, and the
    # drawing needs none of it.
    drawn = _SCRIPT.sub("", chart.render(is_unicode=True))
    if kind == "hbar":
        # pygal centres a lying bar's number on the bar's end, half over the bar (dark on the fill):
        # it goes just after the end instead, into the room kept at the right (_VALUE_ROOM).
        drawn = _HBAR_VALUE.sub(
            lambda m: f'<text text-anchor="start" x="{float(m[1]) + 6:.2f}" {m[2]} class="value">', drawn
        )
    return drawn


def numbers(figure: Figure, lang: str) -> dict[str, list[Any]]:
    """The values the chart draws, per series title (what a test compares with the table)."""
    columns = {c.key: c for c in figure.columns}
    keys = list(figure.chart.series) + ([figure.chart.target] if figure.chart.target else [])
    return {columns[k].title(lang): [cell(columns[k], row, lang) for row in figure.rows] for k in keys}
