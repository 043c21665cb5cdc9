"""Reads of the statement imports, always scoped by client."""

from django.core.cache import caches
from django.db.models import QuerySet

from bpo_ledger.models import PaymentImport

from .models import CsvMapping, ImportedStatement, ImportItem, ImportJob, ItemKind

PROGRESS_CACHE = "progress"


def imports_of(*, client) -> QuerySet[PaymentImport]:
    return PaymentImport.objects.filter(client=client).select_related("imported_by", "voided_by")


def import_get(*, client, pk: int) -> PaymentImport:
    return imports_of(client=client).get(pk=pk)


def import_items(*, payment_import: PaymentImport) -> dict[str, list[ImportItem]]:
    """The import's items by kind, in file order."""
    grouped: dict[str, list[ImportItem]] = {kind: [] for kind in ItemKind.values}
    for item in ImportItem.objects.filter(payment_import=payment_import).select_related("done_by").order_by("id"):
        grouped[item.kind].append(item)
    return grouped


def import_statements(*, payment_import: PaymentImport) -> QuerySet[ImportedStatement]:
    return ImportedStatement.objects.filter(payment_import=payment_import).order_by("id")


def item_get(*, client, pk: int) -> ImportItem:
    return ImportItem.objects.select_related("payment_import", "client").get(client=client, pk=pk)


def mappings_of(*, client) -> QuerySet[CsvMapping]:
    return CsvMapping.objects.filter(client=client).order_by("name")


def jobs_running(*, client) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(client=client, status__in=["queued", "running"]).order_by("-created_at")


def job_get(*, client, pk: int) -> ImportJob:
    return ImportJob.objects.select_related("payment_import").get(client=client, pk=pk)


def job_progress_key(job_id: int) -> str:
    return f"import-job:{job_id}"


def job_progress(*, job: ImportJob) -> tuple[int, int]:
    """(rows read, rows stored) of a running job, as its worker last reported them."""
    found = caches[PROGRESS_CACHE].get(job_progress_key(job.pk))
    if found:
        return tuple(found)
    return job.rows_read, job.rows_stored
