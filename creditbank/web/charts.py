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
import re
import threading
from typing import Any

import pygal
from cachetools import LRUCache
from pygal.style import Style

from creditbank.stats.figures import Column, Figure, cell

_drawn: LRUCache[bytes, str] = LRUCache(maxsize=256)
_lock = threading.Lock()
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
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
    chart_class = {"bar": pygal.Bar, "line": pygal.Line, "hbar": pygal.HorizontalBar}[kind]
    rows = figure.rows
    height = max(360, 34 * len(rows) * max(1, len(series)) + 160) if kind == "hbar" else 400
    chart = chart_class(
        style=STYLE,
        width=640,
        height=height,
        js=[],  # no script: pygal's tooltips would load one from the internet
        print_values=True,
        print_values_position="top",
        print_zeroes=True,
        show_legend=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(4, len(series)),
        x_label_rotation=0 if kind == "hbar" or len(rows) <= 6 else 30,
        truncate_label=-1,
        truncate_legend=-1,
        margin=16,
        value_formatter=lambda v: "—" if v is None else f"{v:g}",
        no_data_text="无数据 no data" if lang == "zh" else "no data",
        explicit_size=False,
    )
    chart.title = figure.title(lang)
    chart.x_labels = [row_label(figure, row, lang) for row in rows]
    for column in series:
        chart.add(column.title(lang), [cell(column, row, lang) for row in rows])
    # pygal writes its config as a script even without its JS; an image never runs it, and the
    # drawing needs none of it.
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def numbers(figure: Figure, lang: str) -> dict[str, list[Any]]:
    """The values the chart draws, per series title (what a test compares with the table)."""
    columns = {c.key: c for c in figure.columns}
    keys = list(figure.chart.series) + ([figure.chart.target] if figure.chart.target else [])
    return {columns[k].title(lang): [cell(columns[k], row, lang) for row in figure.rows] for k in keys}
