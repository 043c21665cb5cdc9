import django_tables2 as tables
from django.urls import reverse

from bpo_ledger.models import Payment, PaymentImport
from bpo_ledger.tables import LocalDateTimeColumn

from .models import ReconciliationRun


class ImportTable(tables.Table):
    created_at = LocalDateTimeColumn(verbose_name="Imported")
    file_name = tables.Column(
        "File", linkify=lambda record: reverse("import_detail", args=[record.client.code, record.pk])
    )
    imported_by = tables.Column("By", orderable=False, default="a system job")
    totals = tables.Column("Totals", orderable=False)
    entries_count = tables.Column("Entries", attrs={"td": {"class": "num"}})
    created_count = tables.Column("Stored", attrs={"td": {"class": "num"}})
    skipped_count = tables.Column("Already known", attrs={"td": {"class": "num"}})
    pending_count = tables.Column("Pending", attrs={"td": {"class": "num"}})
    notices_count = tables.Column("Notices", attrs={"td": {"class": "num"}})

    def render_imported_by(self, value):
        return value.get_full_name() or value.get_username()

    def render_totals(self, value):
        return ", ".join(f"{currency} {amount}" for currency, amount in sorted(value.items())) or "—"

    class Meta:
        model = PaymentImport
        fields = ("created_at", "file_name", "format", "status", "entries_count", "created_count", "skipped_count",
                  "pending_count", "notices_count")
        sequence = (*fields, "totals", "imported_by")
        attrs = {"class": "table"}
        empty_text = "No statements imported yet."

    def __init__(self, *args, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone


def run_matched(counts: dict) -> int:
    """Payments matched by any rule, from a run's counts (matched_<rule>)."""
    return sum(n for key, n in (counts or {}).items() if key.startswith("matched_"))


def run_findings(counts: dict) -> int:
    return sum(n for key, n in (counts or {}).items() if key.startswith("findings_"))


def run_duration(run) -> str:
    if not run.finished_at:
        return "—"
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class RunTable(tables.Table):
    started_at = LocalDateTimeColumn(
        verbose_name="Started", linkify=lambda record: reverse("run_detail", args=[record.client.code, record.pk])
    )
    as_of = tables.Column("As of")
    payments_in = tables.Column("Payments in", accessor="counts", orderable=False, attrs={"td": {"class": "num"}})
    matched = tables.Column("Matched", accessor="counts", orderable=False, attrs={"td": {"class": "num"}})
    findings = tables.Column("Findings", accessor="counts", orderable=False, attrs={"td": {"class": "num"}})
    duration = tables.Column("Duration", accessor="pk", orderable=False, attrs={"td": {"class": "num"}})

    def render_payments_in(self, value):
        return (value or {}).get("payments_in", 0)

    def render_matched(self, value):
        return run_matched(value)

    def render_findings(self, value):
        return run_findings(value)

    def render_duration(self, record):
        return run_duration(record)

    class Meta:
        model = ReconciliationRun
        fields = ("started_at", "status", "as_of", "trigger")
        sequence = (*fields, "payments_in", "matched", "findings", "duration")
        attrs = {"class": "table"}
        empty_text = "No reconciliation run yet."

    def __init__(self, *args, time_zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone


class UnmatchedPaymentTable(tables.Table):
    value_date = tables.Column(
        linkify=lambda record: reverse("payment_detail", args=[record.client.code, record.pk]),
    )
    amount = tables.Column(attrs={"td": {"class": "num"}})
    rest = tables.Column("Not applied", orderable=False, attrs={"td": {"class": "num"}})
    payer_account_masked = tables.Column("Payer account", orderable=False)
    customer = tables.Column(linkify=lambda record: record.customer.get_absolute_url() if record.customer else None)
    match = tables.TemplateColumn(
        template_name="reconciliation/_match_cell.html", verbose_name="", orderable=False, accessor="pk"
    )

    class Meta:
        model = Payment
        fields = ("value_date", "amount", "currency", "payer_name", "reference", "bank_transaction_id", "customer")
        sequence = ("value_date", "amount", "rest", "currency", "payer_name", "payer_account_masked", "reference",
                    "bank_transaction_id", "customer", "match")
        attrs = {"class": "table"}
        empty_text = "Every payment received is applied."
