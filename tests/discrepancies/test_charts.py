"""charts.py alone, without the database: valid SVG, escaped text, no inline style, empty data."""

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from discrepancies import charts
from discrepancies.charts import Series

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [el.text for el in root.iter(f"{SVG}text")]


def titles(root: ET.Element) -> list[str]:
    return [el.text for el in root.iter(f"{SVG}title")]


def assert_csp_safe(svg: str) -> None:
    root = parse(svg)
    for el in root.iter():
        assert "style" not in el.attrib, el.tag
        assert el.tag not in (f"{SVG}style", f"{SVG}script", f"{SVG}foreignObject")
        assert not any(name.startswith("on") for name in el.attrib), el.attrib
    assert root.get("role") == "img"
    assert root.get("aria-label")


def stacked():
    return charts.bar_chart(
        label="Open items by kind",
        categories=["Overpayment", "Duplicate payment", "Chargeback"],
        series=[Series("Open", [3, 0, 1]), Series("Escalated", [1, 2, 0], "#e15759")],
        horizontal=True,
    )


def test_a_stacked_bar_chart_is_valid_svg_with_a_title_per_segment_and_a_legend():
    svg = stacked()
    root = parse(svg)
    assert root.get("aria-label") == "Open items by kind"
    assert root.get("viewBox").startswith("0 0 640 ")
    # Zero values draw nothing; every drawn segment says what it is on hover.
    assert titles(root) == [
        "Overpayment · Open: 3",
        "Overpayment · Escalated: 1",
        "Duplicate payment · Escalated: 2",
        "Chargeback · Open: 1",
    ]
    bars = [el for el in root.iter(f"{SVG}rect") if el.get("class") == "bar"]
    assert [b.get("fill") for b in bars] == ["#4e79a7", "#e15759", "#e15759", "#4e79a7"]
    labels = texts(root)
    assert {"Overpayment", "Duplicate payment", "Chargeback", "Open", "Escalated"} <= set(labels)
    # Totals at the end of each bar, and a 0..4 axis.
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-total"] == ["4", "2", "1"]
    assert {"0", "1", "2", "3", "4"} <= set(labels)
    assert_csp_safe(svg)


def test_stacked_segments_add_up_to_the_total_length():
    root = parse(stacked())
    bars = [el for el in root.iter(f"{SVG}rect") if el.get("class") == "bar"]
    first_bar = [float(b.get("width")) for b in bars[:2]]
    second_bar = float(bars[2].get("width"))
    assert sum(first_bar) == pytest.approx(2 * second_bar, abs=0.2)  # 4 items against 2


def test_a_vertical_bar_chart_with_money_formats_values_and_keeps_decimals():
    svg = charts.bar_chart(
        label="Amount in EUR by age",
        categories=["0-30", "31-60", "61-90", "90+"],
        series=[Series("Amount", [Decimal("1250.50"), Decimal("0.00"), Decimal("99.99"), Decimal("3000.00")])],
        integer=False,
        format_value=lambda v: f"EUR {v:,.2f}",
        width=480,
    )
    root = parse(svg)
    assert titles(root) == ["0-30: EUR 1,250.50", "61-90: EUR 99.99", "90+: EUR 3,000.00"]
    totals = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-total"]
    assert totals == ["EUR 1,250.50", "EUR 0.00", "EUR 99.99", "EUR 3,000.00"]
    assert "3,000" in texts(root)  # the top tick covers the largest bar
    assert_csp_safe(svg)


def test_labels_and_names_are_escaped_and_stay_text():
    evil = '<script>alert("x")</script>'
    svg = charts.bar_chart(
        label=f"Kinds {evil}",
        categories=[evil, "A & B"],
        series=[Series(evil, [1, 2], color='red" onload="alert(1)'), Series("Other", [1, 1])],
        horizontal=True,
    )
    assert "<script" not in svg
    assert 'onload="' not in svg
    root = parse(svg)
    assert root.get("aria-label") == f"Kinds {evil}"
    assert evil in texts(root)  # the legend, whole
    assert "A & B" in texts(root)
    assert f"{evil} · {evil}: 1" in titles(root)
    # The colour stays one attribute value: no event handler attribute sneaks in.
    assert_csp_safe(svg)

    line = charts.line_chart(label=evil, x_labels=[evil, "b"], series=[Series(evil, [1, 2])])
    assert "<script" not in line
    root = parse(line)
    assert evil in texts(root) and f"{evil} · {evil}: 1" in titles(root)
    assert_csp_safe(line)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"categories": [], "series": []},
        {"categories": ["a", "b"], "series": []},
        {"categories": ["a", "b"], "series": [Series("s", [0, 0])]},
        {"categories": ["a", "b"], "series": [Series("s", [0, 0])], "horizontal": True},
        {"categories": ["a"], "series": [Series("s", [Decimal("0.00")])], "integer": False},
    ],
)
def test_empty_data_renders_a_no_data_chart(kwargs):
    svg = charts.bar_chart(label="Open items", **kwargs)
    root = parse(svg)
    assert "No data" in texts(root)
    assert root.get("aria-label") == "Open items: no data"
    assert not [el for el in root.iter(f"{SVG}rect") if el.get("class") == "bar"]
    assert_csp_safe(svg)


def test_an_empty_line_chart_has_no_data_and_a_flat_one_says_so():
    root = parse(charts.line_chart(label="Flow", x_labels=[], series=[Series("Opened", [])]))
    assert "No data" in texts(root)
    flat = charts.line_chart(
        label="Flow", x_labels=["Mar 1", "Mar 2", "Mar 3"],
        series=[Series("Opened", [0, 0, 0]), Series("Resolved", [0, 0, 0], dashed=True)],
    )
    root = parse(flat)
    assert "No items in this period" in texts(root)
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    assert_csp_safe(flat)


def test_a_single_point_line_chart_does_not_divide_by_zero():
    root = parse(charts.line_chart(label="Flow", x_labels=["Mar 1"], series=[Series("Opened", [2])]))
    (circle,) = root.iter(f"{SVG}circle")
    assert circle.find(f"{SVG}title").text == "Mar 1 · Opened: 2"


def test_a_two_series_line_chart_has_a_point_per_day_and_thinned_x_labels():
    days = [f"Mar {d}" for d in range(1, 31)]
    opened = [d % 4 for d in range(30)]
    resolved = [d % 3 for d in range(30)]
    svg = charts.line_chart(
        label="Opened and resolved",
        x_labels=days,
        hover_labels=[f"Day {d}" for d in range(1, 31)],
        series=[Series("Opened", opened, "#1f5fbf"), Series("Resolved", resolved, "#1b7a3d", dashed=True)],
        width=960,
    )
    root = parse(svg)
    polylines = list(root.iter(f"{SVG}polyline"))
    assert [p.get("stroke") for p in polylines] == ["#1f5fbf", "#1b7a3d"]
    assert polylines[1].get("stroke-dasharray") and not polylines[0].get("stroke-dasharray")
    assert all(len(p.get("points").split()) == 30 for p in polylines)
    # Opened as circles, resolved as squares: told apart without colour.
    assert len(list(root.iter(f"{SVG}circle"))) == 30
    assert len([r for r in root.iter(f"{SVG}rect") if r.get("class") == "point"]) == 30
    assert titles(root)[0] == "Day 1 · Opened: 0" and titles(root)[-1] == "Day 30 · Resolved: 2"
    shown = [t for t in texts(root) if t.startswith("Mar ")]
    assert "Mar 30" in shown and 5 <= len(shown) < 30
    assert {"Opened", "Resolved"} <= set(texts(root))
    assert_csp_safe(svg)


def test_points_sit_on_the_value_axis():
    root = parse(charts.line_chart(label="F", x_labels=["a", "b", "c"], series=[Series("s", [0, 5, 10])]))
    ys = [float(c.get("cy")) for c in root.iter(f"{SVG}circle")]
    assert ys[0] > ys[1] > ys[2]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.2)


@pytest.mark.parametrize(
    ("maximum", "integer", "expected"),
    [
        (Decimal(0), True, (Decimal(1), Decimal(1))),
        (Decimal(1), True, (Decimal(1), Decimal(1))),
        (Decimal(4), True, (Decimal(4), Decimal(1))),
        (Decimal(7), True, (Decimal(8), Decimal(2))),
        (Decimal(23), True, (Decimal(25), Decimal(5))),
        (Decimal(980), True, (Decimal(1000), Decimal(200))),
        (Decimal("0.30"), False, (Decimal("0.30"), Decimal("0.1"))),
        (Decimal("3000.00"), False, (Decimal(3000), Decimal(1000))),
    ],
)
def test_the_value_axis_uses_round_steps(maximum, integer, expected):
    assert charts.nice_scale(maximum, integer=integer) == expected


def test_values_must_be_counts_or_decimals():
    with pytest.raises(TypeError):
        charts.bar_chart(label="x", categories=["a"], series=[Series("s", [1.5])])
    with pytest.raises(ValueError):
        charts.bar_chart(label="x", categories=["a"], series=[Series("s", [-1])])
    with pytest.raises(ValueError):
        charts.bar_chart(label="x", categories=["a", "b"], series=[Series("s", [1])])


def test_long_category_labels_are_shortened_but_kept_whole_for_assistive_text():
    long = "An exceptionally long kind label that would not fit the margin"
    root = parse(charts.bar_chart(label="x", categories=[long], series=[Series("s", [1])], horizontal=True))
    (label,) = [t for t in root.iter(f"{SVG}text") if t.get("data-full")]
    assert label.text.endswith("…") and len(label.text) < len(long)
    assert label.get("data-full") == long
    assert titles(root) == [f"{long}: 1"]


def test_plain_numbers():
    assert charts.plain_number(1234) == "1,234"
    assert charts.plain_number(Decimal("1234.50")) == "1,234.50"
    assert charts.plain_number(Decimal("2.5")) == "2.5"
    assert charts.plain_number(Decimal("3000.00")) == "3,000"
