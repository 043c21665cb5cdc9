import django_tables2 as tables
from django.urls import reverse

from bpo_ledger.models import PaymentImport
from bpo_ledger.tables import LocalDateTimeColumn


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
