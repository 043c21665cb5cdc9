import django_tables2 as tables
from django.conf import settings
from django.core.paginator import EmptyPage
from django.http import Http404
from django.urls import reverse
from django_tables2 import LazyPaginator, RequestConfig

from . import events
from .models import AuditEvent, Customer, Payment
from .templatetags.ledger import local_time

PAGE_SIZE = 50
# However a request asks, a page holds at most MAX_PER_PAGE rows, and pages end at MAX_PAGE: past
# it the database would skip millions of rows to find the page (narrow the list by its filters).
MAX_PER_PAGE = 200
MAX_PAGE = 10_000


def _whole_number(text: str | None) -> int | None:
    """A request's page or per_page as a number; None when it is no plain whole number."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    # Past twelve digits every bound is passed; int() is not asked to read a megabyte of them.
    return int(text) if len(text) <= 12 else MAX_PAGE * MAX_PER_PAGE + 1


def paginate(request, table: tables.Table, *, per_page: int = PAGE_SIZE) -> tables.Table:
    """Sort and page a list as the request asks, without counting the whole table (LazyPaginator).

    per_page is clamped to 1..MAX_PER_PAGE; a page past MAX_PAGE is a 404; a page that is no
    page number, or past the end of the list, shows the first page.
    """
    RequestConfig(request, paginate=False).configure(table)
    asked = _whole_number(request.GET.get(table.prefixed_per_page_field))
    per_page = min(max(asked or per_page, 1), MAX_PER_PAGE)
    number = _whole_number(request.GET.get(table.prefixed_page_field)) or 1
    if number > MAX_PAGE:
        raise Http404(f"Pages end at {MAX_PAGE:,}: narrow the list with its filters.")
    try:
        table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=number)
    except EmptyPage:
        table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=1)
    return table


class LocalDateTimeColumn(tables.Column):
    """A moment in the time zone of the table's client (the table's `time_zone`), labelled with it."""

    def __init__(self, *args, seconds: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = seconds

    def render(self, value, table):
        return local_time(value, table.time_zone, seconds=self.seconds)


class CustomerTable(tables.Table):
    name = tables.Column(linkify=lambda record: record.get_absolute_url())
    bank_account_masked = tables.Column("Bank account", orderable=False)
    email_consent = tables.BooleanColumn("Email ok")
    sms_consent = tables.BooleanColumn("SMS ok")

    class Meta:
        model = Customer
        fields = ("name", "external_ref", "email", "phone", "email_consent", "sms_consent")
        sequence = (*fields, "bank_account_masked")
        attrs = {"class": "table"}
        empty_text = "No customers match."


class PaymentTable(tables.Table):
    value_date = tables.Column(
        linkify=lambda record: reverse(settings.PAYMENT_PAGE_URL, args=[record.client.code, record.pk]),
    )
    amount = tables.Column(attrs={"td": {"class": "num"}})
    payer_account_masked = tables.Column("Payer account", orderable=False)
    customer = tables.Column(linkify=lambda record: record.customer.get_absolute_url() if record.customer else None)
    entered_by = tables.Column("Entered by", orderable=False)

    def render_entered_by(self, value):
        return value.get_full_name() or value.get_username()

    class Meta:
        model = Payment
        fields = (
            "value_date",
            "kind",
            "source",
            "amount",
            "currency",
            "payer_name",
            "reference",
            "bank_transaction_id",
            "customer",
        )
        sequence = (*fields, "payer_account_masked", "entered_by")
        attrs = {"class": "table"}
        empty_text = "No payments match."


class AuditEventTable(tables.Table):
    seq = tables.Column("#")
    created_at = LocalDateTimeColumn(verbose_name="When", seconds=True)
    subject = tables.Column("Subject", accessor="subject_type", orderable=False)
    what = tables.Column("What happened", accessor="verb", orderable=False)

    def render_subject(self, record):
        return f"{events.subject_label(record.subject_type)} {record.subject_id}"

    def render_what(self, record):
        return events.sentence(record, self.time_zone)

    class Meta:
        model = AuditEvent
        fields = ("seq", "created_at")
        sequence = ("seq", "created_at", "subject", "what")
        attrs = {"class": "table audit"}
        empty_text = "Nothing on record yet."

    def __init__(self, *args, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone
