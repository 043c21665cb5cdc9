"""Server-rendered SVG charts: pure functions from numbers and labels to an SVG string.

No Django here. Every text and attribute value is escaped with html.escape, so the result may be
marked safe in a template. No style attributes, <style> or <script> (the Content-Security-Policy
forbids them): colours are SVG presentation attributes, hover and layout live in app.css.
Each chart has role="img" and an aria-label; every bar segment and point carries a <title> that
browsers show on hover. The page puts a table with the same numbers beside each chart.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from html import escape

# Tableau 10: distinct hues that stay apart for the common colour-vision deficiencies.
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)
INK = "#1d2330"
MUTED = "#5b6472"
GRID = "#e3e6eb"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif"
FONT_SIZE = 12
CHAR_WIDTH = 6.8  # average glyph width at FONT_SIZE, for laying out labels without a font engine

Number = int | Decimal


@dataclass(frozen=True)
class Series:
    """One named row of values, one per category (or per x position of a line chart)."""

    name: str
    values: Sequence[Number]
    color: str = ""
    dashed: bool = False  # line charts: tells series apart without relying on colour
    colors: Sequence[str] = ()  # bar charts with one series: a colour per bar


def plain_number(value: Number) -> str:
    """1234 -> '1,234'; Decimal('1234.50') -> '1,234.50'; Decimal('2.5') -> '2.5'."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return f"{value:,f}"


def _e(value) -> str:
    return escape(str(value), quote=True)


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing '.0'."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _to_decimal(value: Number) -> Decimal:
    if isinstance(value, float):
        raise TypeError("charts take int or Decimal values, never floats")
    value = Decimal(value)
    if not value.is_finite() or value < 0:
        raise ValueError(f"a chart value must be a finite number >= 0, not {value}")
    return value


def _truncate(text: str, width: float) -> str:
    chars = max(int(width / CHAR_WIDTH), 3)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _colors(series: Sequence[Series]) -> list[str]:
    return [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]


def nice_scale(maximum: Decimal, *, ticks: int = 5, integer: bool = False) -> tuple[Decimal, Decimal]:
    """(axis maximum, tick step) with the step 1, 2 or 5 times a power of ten, covering maximum."""
    if maximum <= 0:
        return Decimal(1), Decimal(1)
    raw = maximum / ticks
    exponent = raw.adjusted()
    fraction = raw.scaleb(-exponent)
    nice = next(n for n in (1, 2, 5, 10) if fraction <= n)
    step = Decimal(nice).scaleb(exponent)
    if integer and step < 1:
        step = Decimal(1)
    top = (maximum / step).to_integral_value(rounding=ROUND_CEILING) * step
    return top, step


def _tick_values(top: Decimal, step: Decimal) -> list[Decimal]:
    count = int((top / step).to_integral_value())
    return [step * i for i in range(count + 1)]


def _open(width: int, height: int, label: str, css: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {_e(css)}" role="img" '
        f'aria-label="{_e(label)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{_e(FONT)}" font-size="{FONT_SIZE}" fill="{INK}">'
    ]


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "", fill: str = "", extra: str = "") -> str:
    attrs = f'x="{_n(x)}" y="{_n(y)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if css:
        attrs += f' class="{_e(css)}"'
    if fill:
        attrs += f' fill="{_e(fill)}"'
    if extra:
        attrs += " " + extra
    return f"<text {attrs}>{_e(text)}</text>"


def empty_chart(label: str, *, width: int = 640, height: int = 160, message: str = "No data") -> str:
    """The frame of a chart with nothing to draw: says so instead of dividing by zero."""
    parts = _open(width, height, f"{label}: {message.lower()}", "chart-empty")
    parts.append(
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" rx="4" fill="#fafbfc" '
        f'stroke="{GRID}"/>'
    )
    parts.append(_text(width / 2, height / 2 + 4, message, anchor="middle", css="chart-nodata", fill=MUTED))
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: Sequence[Series], colors: list[str], x: float, y: float, width: float) -> tuple[list[str], float]:
    """Swatches with names, wrapped to the width; returns the parts and the height used."""
    parts = ['<g class="chart-legend">']
    cx, cy = x, y
    for s, color in zip(series, colors, strict=True):
        item_width = 18 + len(s.name) * CHAR_WIDTH + 16
        if cx > x and cx + item_width > x + width:
            cx, cy = x, cy + 18
        if s.dashed:
            parts.append(
                f'<line x1="{_n(cx)}" y1="{_n(cy + 6)}" x2="{_n(cx + 14)}" y2="{_n(cy + 6)}" '
                f'stroke="{_e(color)}" stroke-width="2.5" stroke-dasharray="4 2"/>'
            )
        else:
            parts.append(f'<rect x="{_n(cx)}" y="{_n(cy)}" width="12" height="12" rx="2" fill="{_e(color)}"/>')
        parts.append(_text(cx + 18, cy + 10, s.name))
        cx += item_width
    parts.append("</g>")
    return parts, cy - y + 18


def _check(categories: Sequence[str], series: Sequence[Series]) -> list[list[Decimal]]:
    for s in series:
        if len(s.values) != len(categories) or (s.colors and len(s.colors) != len(categories)):
            raise ValueError(f"series {s.name!r} needs one value (and colour) per category, {len(categories)}")
    return [[_to_decimal(v) for v in s.values] for s in series]


def bar_chart(
    *,
    label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    horizontal: bool = False,
    width: int = 640,
    height: int = 240,
    integer: bool = True,
    format_value: Callable[[Number], str] = plain_number,
    format_total: Callable[[Number], str] | None = None,
    axis_title: str = "",
) -> str:
    """Bars, one per category, stacked when there are several series (with a legend).

    horizontal=True lays categories out as rows, which keeps long labels readable.
    format_value writes hover texts, format_total (default: the same) the total by each bar.
    """
    format_total = format_total or format_value
    values = _check(categories, series)
    totals = [sum((row[i] for row in values), Decimal(0)) for i in range(len(categories))]
    if not categories or not series or max(totals) == 0:
        return empty_chart(label, width=width)
    colors = _colors(series)
    top, step = nice_scale(max(totals), integer=integer)
    ticks = _tick_values(top, step)
    legend_height = 0.0
    legend = []
    if len(series) > 1:
        legend, legend_height = _legend(series, colors, 8, 6, width - 16)
        legend_height += 8

    if horizontal:
        band = 30
        label_width = min(max(len(c) for c in categories) * CHAR_WIDTH + 14, width * 0.35)
        left, right = label_width, 56
        plot_top = legend_height + 6
        plot_height = band * len(categories)
        height = int(plot_top + plot_height + 36 + (14 if axis_title else 0))
        plot_width = width - left - right
    else:
        tick_width = max(len(plain_number(t)) for t in ticks) * CHAR_WIDTH + 14
        left, right = max(tick_width, 36), 12
        # Room for the axis title, then for the totals above the bars.
        plot_top = legend_height + 18 + (16 if axis_title else 0)
        bottom = 28
        plot_height = height - plot_top - bottom
        plot_width = width - left - right
        band = plot_width / len(categories)
    scale = plot_width / float(top) if horizontal else plot_height / float(top)

    parts = _open(width, height, label, "chart-bars")
    parts.extend(legend)
    # Grid lines and tick labels along the value axis.
    parts.append('<g class="chart-axis">')
    for t in ticks:
        offset = float(t) * scale
        if horizontal:
            x = left + offset
            parts.append(f'<line x1="{_n(x)}" y1="{_n(plot_top)}" x2="{_n(x)}" y2="{_n(plot_top + plot_height)}" stroke="{GRID}"/>')
            parts.append(_text(x, plot_top + plot_height + 16, plain_number(t), anchor="middle", fill=MUTED))
        else:
            y = plot_top + plot_height - offset
            parts.append(f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_width)}" y2="{_n(y)}" stroke="{GRID}"/>')
            parts.append(_text(left - 6, y + 4, plain_number(t), anchor="end", fill=MUTED))
    if horizontal:
        parts.append(f'<line x1="{_n(left)}" y1="{_n(plot_top)}" x2="{_n(left)}" y2="{_n(plot_top + plot_height)}" stroke="{MUTED}"/>')
        if axis_title:
            parts.append(_text(left + plot_width / 2, plot_top + plot_height + 32, axis_title, anchor="middle", fill=MUTED))
    else:
        base = plot_top + plot_height
        parts.append(f'<line x1="{_n(left)}" y1="{_n(base)}" x2="{_n(left + plot_width)}" y2="{_n(base)}" stroke="{MUTED}"/>')
        if axis_title:
            parts.append(_text(4, legend_height + 12, axis_title, fill=MUTED))
    parts.append("</g>")

    for i, category in enumerate(categories):
        parts.append('<g class="chart-bar">')
        if horizontal:
            thickness = 18
            y0 = plot_top + i * band + (band - thickness) / 2
            parts.append(_text(left - 8, y0 + thickness / 2 + 4, _truncate(category, left - 12), anchor="end", extra=f'data-full="{_e(category)}"'))
        else:
            thickness = min(band * 0.62, 64)
            x0 = left + i * band + (band - thickness) / 2
            parts.append(_text(left + i * band + band / 2, plot_top + plot_height + 18, _truncate(category, band - 4), anchor="middle"))
        position = 0.0
        for s, row, color in zip(series, values, colors, strict=True):
            if row[i] == 0:
                continue
            length = float(row[i]) * scale
            name = f"{category} · {s.name}" if len(series) > 1 else category
            hover = f"<title>{_e(name)}: {_e(format_value(row[i]))}</title>"
            if horizontal:
                rect = f'x="{_n(left + position)}" y="{_n(y0)}" width="{_n(length)}" height="{thickness}"'
            else:
                rect = f'x="{_n(x0)}" y="{_n(plot_top + plot_height - position - length)}" width="{_n(thickness)}" height="{_n(length)}"'
            fill = s.colors[i] if s.colors else color
            parts.append(f'<rect class="bar" {rect} fill="{_e(fill)}">{hover}</rect>')
            position += length
        total = format_total(totals[i])
        if horizontal:
            parts.append(_text(left + position + 6, y0 + thickness / 2 + 4, total, css="chart-total"))
        else:
            parts.append(_text(x0 + thickness / 2, plot_top + plot_height - position - 5, total, anchor="middle", css="chart-total"))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    *,
    label: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    hover_labels: Sequence[str] | None = None,
    width: int = 720,
    height: int = 260,
    integer: bool = True,
    format_value: Callable[[Number], str] = plain_number,
) -> str:
    """One line per series over the same x positions (e.g. days), with a marker per point."""
    values = _check(x_labels, series)
    hover_labels = list(hover_labels or x_labels)
    if len(hover_labels) != len(x_labels):
        raise ValueError("one hover label per x position")
    if not x_labels or not series:
        return empty_chart(label, width=width)
    peak = max(max(row) for row in values)
    colors = _colors(series)
    legend, legend_height = _legend(series, colors, 8, 6, width - 16)
    top, step = nice_scale(peak, integer=integer)
    ticks = _tick_values(top, step)
    left = max(max(len(plain_number(t)) for t in ticks) * CHAR_WIDTH + 14, 36)
    widest = max(len(x) for x in x_labels) * CHAR_WIDTH + 12
    right, bottom = max(16, widest / 2), 28  # the last x label is centred on the last point
    plot_top = legend_height + 18
    plot_width = width - left - right
    plot_height = height - plot_top - bottom
    scale = plot_height / float(top)
    count = len(x_labels)
    gap = plot_width / (count - 1) if count > 1 else 0.0

    def x_at(i: int) -> float:
        return left + i * gap if count > 1 else left + plot_width / 2

    def y_at(value: Decimal) -> float:
        return plot_top + plot_height - float(value) * scale

    parts = _open(width, height, label, "chart-lines")
    parts.extend(legend)
    parts.append('<g class="chart-axis">')
    for t in ticks:
        y = y_at(t)
        parts.append(f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_width)}" y2="{_n(y)}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, plain_number(t), anchor="end", fill=MUTED))
    base = plot_top + plot_height
    parts.append(f'<line x1="{_n(left)}" y1="{_n(base)}" x2="{_n(left + plot_width)}" y2="{_n(base)}" stroke="{MUTED}"/>')
    # As many x labels as fit without overlapping, always including the last one.
    every = max(1, math.ceil(widest / gap)) if gap else 1
    shown = set(range(count - 1, -1, -every))
    for i in sorted(shown):
        x = x_at(i)
        parts.append(f'<line x1="{_n(x)}" y1="{_n(base)}" x2="{_n(x)}" y2="{_n(base + 4)}" stroke="{MUTED}"/>')
        parts.append(_text(x, base + 18, x_labels[i], anchor="middle", fill=MUTED))
    parts.append("</g>")

    if peak == 0:
        parts.append(_text(left + plot_width / 2, plot_top + plot_height / 2, "No items in this period", anchor="middle", css="chart-nodata", fill=MUTED))
    for s, row, color in zip(series, values, colors, strict=True):
        points = " ".join(f"{_n(x_at(i))},{_n(y_at(v))}" for i, v in enumerate(row))
        dash = ' stroke-dasharray="6 3"' if s.dashed else ""
        parts.append('<g class="chart-series">')
        parts.append(f'<polyline points="{points}" fill="none" stroke="{_e(color)}" stroke-width="2.5" stroke-linejoin="round"{dash}/>')
        for i, v in enumerate(row):
            hover = f"<title>{_e(hover_labels[i])} · {_e(s.name)}: {_e(format_value(v))}</title>"
            marker = (
                f'<rect class="point" x="{_n(x_at(i) - 3.5)}" y="{_n(y_at(v) - 3.5)}" width="7" height="7" fill="{_e(color)}">{hover}</rect>'
                if s.dashed
                else f'<circle class="point" cx="{_n(x_at(i))}" cy="{_n(y_at(v))}" r="3.5" fill="{_e(color)}">{hover}</circle>'
            )
            parts.append(marker)
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
