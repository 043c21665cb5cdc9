import datetime as dt

# Django's escape() without its lazy-string wrapper: a queue page escapes 700 cells.
from html import escape as _esc

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from bpo_ledger.clock import in_zone
from bpo_ledger.money import format_amount, format_money
from bpo_ledger.templatetags.ledger import local_time

from .models import (
    ACTIVE_STATUSES,
    Approval,
    DiscrepancyKind,
    Priority,
    Status,
    discrepancy_reference,
)

KIND_LABELS = dict(DiscrepancyKind.choices)
STATUS_LABELS = dict(Status.choices)
PRIORITY_LABELS = dict(Priority.choices)


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


def sla_countdown(due_at: dt.datetime, *, now: dt.datetime) -> str:
    """'due in 3 h' before the SLA due time, 'breached 2 h ago' after it."""
    seconds = (due_at - now).total_seconds()
    return f"due in {_span(seconds)}" if seconds >= 0 else f"breached {_span(-seconds)} ago"




class QueueTable(tables.Table):
    """One row per item, every column from the row (selectors.as_queue_rows). The columns
    here give the headers, sorting and pages; the cells are built by row_html()."""

    select = tables.Column(empty_values=(), orderable=False, verbose_name="Pick")
    reference = tables.Column(order_by=("client__code", "number"), verbose_name="Item")
    client = tables.Column(accessor="client__code", verbose_name="Client")
    kind = tables.Column()
    status = tables.Column()
    priority = tables.Column(order_by=("priority_rank",))
    summary = tables.Column(orderable=False)
    customer = tables.Column(accessor="customer__name", verbose_name="Customer", orderable=False)
    amount_difference = tables.Column(verbose_name="Difference", attrs={"th": {"class": "num"}})
    assignee = tables.Column(accessor="assignee__username", verbose_name="Assignee", order_by=("assignee__username",))
    created_at = tables.Column(verbose_name="Age", order_by=("-created_at",))
    escalation_level = tables.Column(verbose_name="Level")
    escalated_at = tables.Column(verbose_name="Escalated")
    sla_due_at = tables.Column(verbose_name="SLA")

    class Meta:
        template_name = "discrepancies/_queue_table.html"
        # The SLA first after the item: it is what the queue is sorted by and worked in.
        sequence = (
            "select", "reference", "sla_due_at", "priority", "status", "kind", "client", "summary",
            "customer", "amount_difference", "assignee", "created_at", "escalation_level", "escalated_at",
        )
        attrs = {"class": "table queue", "id": "queue-table"}
        empty_text = "Nothing in this queue."

    def __init__(self, *args, now: dt.datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    # django-tables2 renders each cell through its generic machinery (signature inspection,
    # attrs per cell, lazy escaping): at 50 rows x 13 columns that was most of the page's time.
    # The rows of this table are built here directly, and the template
    # (discrepancies/_queue_table.html) keeps django-tables2's headers, sorting and pages.
    def row_html(self, record) -> str:
        """One <tr>: every value escaped here, the markup around it ours."""
        names = self.__dict__.get("_names")
        if names is None:
            names = self.__dict__["_names"] = [column.name for column in self.columns]
        breached = "1" if record.sla_breached(self.now) else "0"
        url = _esc(self._url(record))
        cells = self._cells(record, url, breached)
        row = "".join(cells[name] for name in names)
        return mark_safe(f'<tr data-href="{url}" data-breached="{breached}">{row}</tr>')  # noqa: S308

    def _cells(self, record, url: str, breached: str) -> dict[str, str]:
        reference = _esc(discrepancy_reference(record.client_code, record.number))
        kind = _esc(KIND_LABELS[record.kind])
        if record.approval == Approval.PENDING:
            kind += ' <span class="flag">awaiting approval</span>'
        if record.status in ACTIVE_STATUSES:
            due = record.sla_due_at
            sla = f'<time datetime="{due.isoformat()}">{sla_countdown(due, now=self.now)}</time>'
        else:
            sla = "—"
        escalated = record.escalated_at
        summary = _esc(record.summary)
        return {
            # The checkbox belongs to the bulk-assign form below the table (no form around it).
            "select": f'<td class="pick"><input type="checkbox" name="ids" value="{record.pk}" form="bulk-assign" aria-label="Pick {reference}"></td>',
            "reference": f'<td><a href="{url}">{reference}</a></td>',
            "sla_due_at": f'<td class="sla" data-breached="{breached}">{sla}</td>',
            "priority": f'<td data-priority="{_esc(record.priority)}">{_esc(PRIORITY_LABELS[record.priority])}</td>',
            "status": f'<td data-status="{_esc(record.status)}">{_esc(STATUS_LABELS[record.status])}</td>',
            "kind": f"<td>{kind}</td>",
            "client": f"<td>{_esc(record.client_code)}</td>",
            "summary": f'<td class="summary" title="{summary}">{summary}</td>',
            "customer": f"<td>{_esc(record.customer_name or '—')}</td>",
            "amount_difference": f'<td class="num">{_esc(format_money(record.amount_difference, record.currency))}</td>',
            "assignee": f"<td>{_esc(record.assignee_username or '—')}</td>",
            "created_at": f'<td class="num">{(self.now - record.created_at).days} d</td>',
            "escalation_level": f'<td class="num">{record.escalation_level or ""}</td>',
            "escalated_at": f"<td>{local_time(escalated, record.client_timezone) if escalated else '—'}</td>",
        }

    def _url(self, record) -> str:
        """The item's page without a reverse() per row: one per client, then the id."""
        prefixes = self.__dict__.setdefault("_url_prefixes", {})
        prefix = prefixes.get(record.client_id)
        if prefix is None:
            url = reverse("discrepancy_detail", args=[record.client_code, record.pk])
            prefix = prefixes[record.client_id] = url.removesuffix(f"{record.pk}/")
        return f"{prefix}{record.pk}/"


# --- CSV export of a queue ------------------------------------------------------------------

EXPORT_HEADER = [
    "reference", "client", "kind", "status", "priority", "summary", "customer", "customer_ref", "currency",
    "amount_expected", "amount_actual", "amount_difference", "assignee", "created_at", "sla_due_at",
    "sla_breached", "escalation_level", "root_cause", "resolution_code",
]
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value) -> str:
    """A text cell that a spreadsheet shows as text, never runs (formula injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_rows(queryset, *, now: dt.datetime):
    """The header, then one row per item: text escaped, amounts as plain decimals, times in the client's zone."""
    yield EXPORT_HEADER
    for item in queryset:
        yield [
            csv_text(item.reference), csv_text(item.client.code), item.kind, item.status, item.priority,
            csv_text(item.summary), csv_text(item.customer.name if item.customer else ""),
            csv_text(item.customer.external_ref if item.customer else ""), csv_text(item.currency),
            format_amount(item.amount_expected, grouping=False), format_amount(item.amount_actual, grouping=False),
            format_amount(item.amount_difference, grouping=False),
            csv_text(item.assignee.get_username() if item.assignee else ""),
            # In the item's client's zone, with its offset: 2026-12-03T09:15:00+09:00.
            in_zone(item.created_at, item.client.timezone).isoformat(),
            in_zone(item.sla_due_at, item.client.timezone).isoformat(),
            "yes" if item.sla_breached(now) else "no", item.escalation_level,
            item.root_cause, item.resolution_code,
        ]
