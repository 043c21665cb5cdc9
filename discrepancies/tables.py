import datetime as dt

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe

from .models import ACTIVE_STATUSES, Approval, Discrepancy


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


def sla_breached(item: Discrepancy, *, now: dt.datetime) -> bool:
    return item.status in ACTIVE_STATUSES and item.sla_due_at < now


def _breached_attr(record, table):
    return "1" if sla_breached(record, now=table.now) else "0"


class QueueTable(tables.Table):
    """One row per item; every column comes from the row and its select_related joins."""

    select = tables.Column(empty_values=(), orderable=False, verbose_name="Pick", attrs={"td": {"class": "pick"}})
    reference = tables.Column(linkify=True, order_by=("client__code", "number"), verbose_name="Item")
    client = tables.Column(accessor="client__code", verbose_name="Client")
    kind = tables.Column()
    status = tables.Column(attrs={"td": {"data-status": lambda record: record.status}})
    priority = tables.Column(order_by=("priority_rank",), attrs={"td": {"data-priority": lambda record: record.priority}})
    summary = tables.Column(orderable=False, attrs={"td": {"class": "summary", "title": lambda record: record.summary}})
    customer = tables.Column(accessor="customer__name", verbose_name="Customer", orderable=False)
    amount_difference = tables.Column(verbose_name="Difference", attrs={"td": {"class": "num"}, "th": {"class": "num"}})
    assignee = tables.Column(accessor="assignee__username", verbose_name="Assignee", order_by=("assignee__username",))
    created_at = tables.Column(verbose_name="Age", order_by=("-created_at",), attrs={"td": {"class": "num"}})
    escalation_level = tables.Column(verbose_name="Level", attrs={"td": {"class": "num"}})
    escalated_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Escalated")
    sla_due_at = tables.Column(verbose_name="SLA", attrs={"td": {"class": "sla", "data-breached": _breached_attr}})

    class Meta:
        template_name = "discrepancies/_queue_table.html"
        # The SLA first after the item: it is what the queue is sorted by and worked in.
        sequence = (
            "select", "reference", "sla_due_at", "priority", "status", "kind", "client", "summary",
            "customer", "amount_difference", "assignee", "created_at", "escalation_level", "escalated_at",
        )
        attrs = {"class": "table queue", "id": "queue-table"}
        empty_text = "Nothing in this queue."
        row_attrs = {
            "data-href": lambda record: record.get_absolute_url(),
            "data-breached": _breached_attr,
        }

    def __init__(self, *args, now: dt.datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    # django-tables2 renders each cell through its generic machinery (signature inspection,
    # attrs per cell): at 50 rows x 13 columns that was most of the page's time. The rows of
    # this table are built here directly, from the same render_* methods, and the template
    # (discrepancies/_queue_table.html) keeps django-tables2's headers, sorting and pages.
    CELL_CLASSES = {"select": "pick", "summary": "summary", "amount_difference": "num", "created_at": "num", "escalation_level": "num", "sla_due_at": "sla"}

    def row_html(self, record) -> str:
        breached = "1" if sla_breached(record, now=self.now) else "0"
        cells = []
        for column in self.columns:
            name = column.name
            css = self.CELL_CLASSES.get(name)
            attrs = f' class="{css}"' if css else ""
            if name == "status":
                attrs += f' data-status="{escape(record.status)}"'
            elif name == "priority":
                attrs += f' data-priority="{escape(record.priority)}"'
            elif name == "summary":
                attrs += f' title="{escape(record.summary)}"'
            elif name == "sla_due_at":
                attrs += f' data-breached="{breached}"'
            cells.append(f"<td{attrs}>{conditional_escape(self._cell(name, record))}</td>")
        url = escape(self._url(record))
        # Every value above went through escape(); the markup around it is ours.
        return mark_safe(f'<tr data-href="{url}" data-breached="{breached}">{"".join(cells)}</tr>')  # noqa: S308

    def _url(self, record) -> str:
        """record.get_absolute_url() without a reverse() per row: one per client, then the id."""
        prefixes = self.__dict__.setdefault("_url_prefixes", {})
        prefix = prefixes.get(record.client_id)
        if prefix is None:
            prefix = prefixes[record.client_id] = record.get_absolute_url().removesuffix(f"{record.pk}/")
        return f"{prefix}{record.pk}/"

    def _cell(self, name, record):
        if name == "select":
            return self.render_select(record)
        if name == "reference":
            return format_html('<a href="{}">{}</a>', self._url(record), record.reference)
        if name == "client":
            return record.client.code
        if name == "kind":
            return self.render_kind(record.get_kind_display(), record)
        if name == "status":
            return record.get_status_display()
        if name == "priority":
            return record.get_priority_display()
        if name == "summary":
            return record.summary
        if name == "customer":
            return record.customer.name if record.customer else "—"
        if name == "amount_difference":
            return self.render_amount_difference(record.amount_difference, record)
        if name == "assignee":
            return record.assignee.username if record.assignee else "—"
        if name == "created_at":
            return self.render_created_at(record.created_at)
        if name == "escalation_level":
            return self.render_escalation_level(record.escalation_level)
        if name == "escalated_at":
            return record.escalated_at.strftime("%Y-%m-%d %H:%M") if record.escalated_at else "—"
        if name == "sla_due_at":
            return self.render_sla_due_at(record.sla_due_at, record)
        raise KeyError(name)

    def render_select(self, record):
        # The checkbox belongs to the bulk-assign form below the table (no form around the table).
        return format_html(
            '<input type="checkbox" name="ids" value="{}" form="bulk-assign" aria-label="Pick {}">',
            record.pk, record.reference,
        )

    def render_kind(self, value, record):
        if record.approval == Approval.PENDING:
            return f"{value} · awaiting approval"
        return value

    def render_amount_difference(self, value, record):
        return f"{record.currency} {value:,.2f}"

    def render_created_at(self, value):
        return f"{(self.now - value).days} d"

    def render_escalation_level(self, value):
        return value or ""

    def render_sla_due_at(self, value, record):
        if record.status not in ACTIVE_STATUSES:
            return "—"
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), sla_countdown(value, now=self.now))


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


def _amount(value) -> str:
    return "" if value is None else f"{value:.2f}"


def export_rows(queryset, *, now: dt.datetime):
    """The header, then one row per item: text escaped, amounts as plain decimals."""
    yield EXPORT_HEADER
    for item in queryset:
        yield [
            csv_text(item.reference), csv_text(item.client.code), item.kind, item.status, item.priority,
            csv_text(item.summary), csv_text(item.customer.name if item.customer else ""),
            csv_text(item.customer.external_ref if item.customer else ""), csv_text(item.currency),
            _amount(item.amount_expected), _amount(item.amount_actual), _amount(item.amount_difference),
            csv_text(item.assignee.get_username() if item.assignee else ""),
            item.created_at.isoformat(), item.sla_due_at.isoformat(),
            "yes" if sla_breached(item, now=now) else "no", item.escalation_level,
            item.root_cause, item.resolution_code,
        ]
