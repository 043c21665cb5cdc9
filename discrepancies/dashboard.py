"""The charts of a client's discrepancy dashboard: reports.py counts, charts.py draws, this
module chooses what is drawn and in which colours (the page, views/dashboard.py, adds a table
with the same numbers under each chart)."""

from bpo_ledger.money import format_amount, format_money

from . import charts, reports
from .models import Priority, Status

# One colour per status and priority, the same on every chart (Tableau 10 hues).
STATUS_COLORS = {
    Status.OPEN: "#4e79a7",
    Status.ASSIGNED: "#76b7b2",
    Status.IN_PROGRESS: "#59a14f",
    Status.AWAITING_CUSTOMER: "#edc948",
    Status.ESCALATED: "#e15759",
}
PRIORITY_COLORS = {
    Priority.CRITICAL: "#b3261e",
    Priority.HIGH: "#f28e2b",
    Priority.MEDIUM: "#4e79a7",
    Priority.LOW: "#9aa3ae",
}
OPENED_COLOR, RESOLVED_COLOR = "#1f5fbf", "#1b7a3d"
# Currencies get calm hues (no red: it means "breach" on this page), in alphabetical order.
CURRENCY_COLORS = ("#4e79a7", "#f28e2b", "#76b7b2", "#b07aa1", "#9c755f", "#edc948", "#bab0ac")


def _per_day_chart(label: str, days: list, solid: tuple[str, str], dashed: tuple[str, str]) -> str:
    """Two counts per day (rows with .day and the counts as attributes): a solid and a dashed line."""
    return charts.line_chart(
        label=f"{label} The table below has the numbers.",
        x_labels=[d.day.strftime("%b %-d") for d in days],
        hover_labels=[d.day.strftime("%a %b %-d") for d in days],
        series=[
            charts.Series(solid[0], [getattr(d, solid[1]) for d in days], OPENED_COLOR),
            charts.Series(dashed[0], [getattr(d, dashed[1]) for d in days], RESOLVED_COLOR, dashed=True),
        ],
        width=960,
    )


def dashboard_charts(report: reports.DashboardReport) -> dict:
    """The SVG of every chart on the page (escaped by charts.py, safe to mark safe)."""
    items = report.open_items
    by_kind = charts.bar_chart(
        label=f"Open items by kind, stacked by status: {items.total} in all. The table below has the numbers.",
        categories=[row.label for row in items.rows],
        series=[
            charts.Series(label, [row.counts[i] for row in items.rows], STATUS_COLORS[status])
            for i, (status, label) in enumerate(items.statuses)
        ],
        horizontal=True,
        axis_title="Items",
    )
    by_status = charts.bar_chart(
        label=f"Open items by status: {items.total} in all. The table below has the numbers.",
        categories=[label for _, label in items.statuses],
        series=[
            charts.Series("Items", items.status_totals, colors=[STATUS_COLORS[s] for s, _ in items.statuses])
        ],
        horizontal=True,
        axis_title="Items",
    )
    currency_color = {
        a.currency: CURRENCY_COLORS[i % len(CURRENCY_COLORS)] for i, a in enumerate(report.aging)
    }
    aging_counts = charts.bar_chart(
        label="Open items by age in days, stacked by currency. The table below has the numbers.",
        categories=[label for label, _ in reports.AGING_BUCKETS],
        series=[
            charts.Series(a.currency, [b.count for b in a.buckets], currency_color[a.currency])
            for a in report.aging
        ],
        width=400,
        height=220,
        axis_title="Items",
    )
    # One chart per currency: amounts in different currencies never share an axis.
    aging_amounts = [
        (
            a.currency,
            charts.bar_chart(
                label=f"Open amount in {a.currency} by age in days: {format_money(a.amount, a.currency)} in all.",
                categories=[b.label for b in a.buckets],
                series=[charts.Series(f"Amount {a.currency}", [b.amount for b in a.buckets], currency_color[a.currency])],
                width=400,
                height=220,
                integer=False,
                format_value=lambda v, c=a.currency: format_money(v, c),
                format_total=format_amount,  # the axis names the currency
                axis_title=a.currency,
            ),
        )
        for a in report.aging
    ]
    breaches = charts.bar_chart(
        label=f"SLA breaches by priority: {report.breaches.total} active items past their due time.",
        categories=[label for _, label, _ in report.breaches.rows],
        series=[
            charts.Series(
                "Breaches",
                [n for _, _, n in report.breaches.rows],
                colors=[PRIORITY_COLORS[p] for p, _, _ in report.breaches.rows],
            )
        ],
        width=480,
        axis_title="Items",
    )
    flow = _per_day_chart(
        f"Items opened and resolved per day over the last {len(report.flow)} days: "
        f"{report.opened_total} opened, {report.resolved_total} resolved.",
        report.flow, ("Opened", "opened"), ("Resolved", "resolved"),
    )
    match_rate = _per_day_chart(
        f"Payments received and fully allocated per value date over the last {len(report.match_rate)} days: "
        f"{report.received_total} received, {report.allocated_total} fully allocated.",
        report.match_rate, ("Received", "received"), ("Fully allocated", "allocated"),
    )
    return {
        "match_rate": match_rate,
        "by_kind": by_kind,
        "by_status": by_status,
        "aging_counts": aging_counts,
        "aging_amounts": aging_amounts,
        "breaches": breaches,
        "flow": flow,
    }
