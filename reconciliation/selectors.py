"""Reads of the statement imports, always scoped by client."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import caches
from django.db.models import DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from bpo_ledger.models import AuditEvent, Customer, Payment, PaymentImport
from discrepancies.models import Discrepancy, DiscrepancyKind
from schedules.models import ALLOCATION_RULE_LABELS, Allocation

from . import matching
from .models import (
    CreditRefund,
    CsvMapping,
    ImportedStatement,
    ImportItem,
    ImportJob,
    ItemKind,
    MatchHold,
    ReconciliationRun,
)

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


# --- Runs ---------------------------------------------------------------------------------------


def runs_of(*, client) -> QuerySet[ReconciliationRun]:
    """Newest first (run_client_time_idx)."""
    return ReconciliationRun.objects.filter(client=client).select_related("client", "started_by").order_by("-started_at", "-id")


def run_get(*, client, pk: int) -> ReconciliationRun:
    return runs_of(client=client).get(pk=pk)


FINDING_KINDS = {matching.OVERPAYMENT, matching.UNDERPAYMENT, matching.DUPLICATE, matching.MISSING, matching.MISMATCH,
                 matching.CHARGEBACK}
PHASE_LABELS = {"read": "Read", "match": "Match", "write": "Write"}
COUNT_LABELS = {
    "payments_in": "Payments in", "expected_in": "Expected payments in", "settled": "Scheduled payments settled",
    "skipped": "Skipped (fees, other debits, refunds)", "logged": "Discrepancies logged",
    "already_logged": "Already logged before", "resolved": "Discrepancies resolved by the run",
    "unallocated": "Payments left unallocated", "waiting": "Missing held back (statements not in)",
}


@dataclass(frozen=True)
class RunSummary:
    phases: list[tuple[str, float]]  # (label, seconds)
    totals: list[tuple[str, int]]  # (label, count)
    rules: list[tuple[str, int]]  # (rule label, payments matched by it)
    findings: list[tuple[str, str, int]]  # (kind, label, count)


def run_summary(*, run: ReconciliationRun) -> RunSummary:
    """A run's counts and timings as its page lists them: rules in the engine's order, every
    finding kind (zero included) so that the page says what was not found too."""
    counts = run.counts or {}
    rules = [*matching.RULES, *sorted({key[8:] for key in counts if key.startswith("matched_")} - set(matching.RULES))]
    kinds = [k for k in DiscrepancyKind.values if k in FINDING_KINDS or counts.get(f"findings_{k}")]
    return RunSummary(
        phases=[(PHASE_LABELS.get(name, name.replace("_", " ").capitalize()), seconds)
                for name, seconds in (run.phase_seconds or {}).items()],
        totals=[(label, counts[key]) for key, label in COUNT_LABELS.items() if key in counts],
        rules=[(ALLOCATION_RULE_LABELS.get(rule, rule.replace("_", " ").capitalize()), counts.get(f"matched_{rule}", 0)) for rule in rules],
        findings=[(kind, DiscrepancyKind(kind).label, counts.get(f"findings_{kind}", 0)) for kind in kinds],
    )


# --- Received payments and what is left of them ---------------------------------------------------

ZERO = Value(Decimal("0.00"), output_field=DecimalField(max_digits=18, decimal_places=2))


def _total(queryset: QuerySet, group: str) -> Coalesce:
    summed = queryset.order_by().values(group).annotate(total=Sum("amount")).values("total")
    return Coalesce(Subquery(summed, output_field=DecimalField(max_digits=18, decimal_places=2)), ZERO)


def with_unallocated_rest(queryset: QuerySet[Payment]) -> QuerySet[Payment]:
    """Payments annotated with `allocated`, `refunded`, `reversed` (negative) and `rest`: what is
    neither applied to a scheduled payment, paid back as credit, nor taken back by a reversal.

    Each total is one subquery on an index that leads with the payment's client (allocation_payment_idx,
    credit_refund_payment_idx) or on payment_reverses_idx.
    """
    return queryset.annotate(
        allocated=_total(Allocation.objects.filter(client=OuterRef("client"), payment=OuterRef("pk")), "payment"),
        refunded=_total(CreditRefund.objects.filter(client=OuterRef("client"), payment=OuterRef("pk")), "payment"),
        reversed=_total(Payment.objects.filter(reverses=OuterRef("pk")), "reverses"),
    ).annotate(rest=F("amount") + F("reversed") - F("allocated") - F("refunded"))


def payment_refunded(*, payment: Payment) -> Decimal:
    """What of a received payment was paid back to the customer as credit (settings.PAYMENT_HELD_ELSEWHERE)."""
    return CreditRefund.objects.filter(client=payment.client_id, payment=payment).aggregate(s=Sum("amount"))["s"] or Decimal("0.00")


def payment_unallocated_rest(*, payment: Payment) -> Decimal:
    """What of a received payment is neither applied, refunded, nor taken back (with_unallocated_rest)."""
    return with_unallocated_rest(Payment.objects.filter(pk=payment.pk)).values_list("rest", flat=True).get()


def payments_unmatched(*, client) -> QuerySet[Payment]:
    """The client's money received with a rest not applied to anything, newest first."""
    received = Payment.objects.filter(client=client, amount__gt=0).select_related("client", "customer")
    return with_unallocated_rest(received).filter(rest__gt=0).order_by("-value_date", "-id")


def payment_get(*, client, pk: int) -> Payment:
    """The client's payment with its rest, or Payment.DoesNotExist (a 404) for anyone else's."""
    return with_unallocated_rest(
        Payment.objects.filter(client=client).select_related(
            "client", "customer", "payment_import", "entered_by", "reverses", "confirmed_import"
        )
    ).get(pk=pk)


def payment_allocations(*, payment: Payment) -> QuerySet[Allocation]:
    return (
        Allocation.objects.filter(client=payment.client_id, payment=payment)
        .select_related("scheduled_payment__schedule__client", "created_by")
        .order_by("created_at", "id")
    )


def payment_reversals(*, payment: Payment) -> QuerySet[Payment]:
    return Payment.objects.filter(client=payment.client_id, reverses=payment).order_by("value_date", "id")


def payment_discrepancies(*, payment: Payment) -> QuerySet[Discrepancy]:
    return Discrepancy.objects.filter(client=payment.client_id, payments=payment).select_related("client").order_by("-created_at")


def payment_refunds(*, payment: Payment) -> QuerySet[CreditRefund]:
    return CreditRefund.objects.filter(client=payment.client_id, payment=payment).select_related("refunded_by")


def payment_match_hold(*, payment: Payment) -> MatchHold | None:
    """Whether runs leave the payment to people (a supervisor undid its match)."""
    return MatchHold.objects.filter(client=payment.client_id, payment=payment).select_related("held_by").first()


HISTORY_SCANNED = 500


def payment_history(*, payment: Payment, allocations) -> list[AuditEvent]:
    """The payment's own log (undos, refunds), and the events on its schedules' logs about its
    allocations (a match by hand, a payment recorded), newest first."""
    events = AuditEvent.objects.filter(client=payment.client_id).select_related("actor")
    own = list(events.filter(subject_type="payment", subject_id=str(payment.pk)).order_by("-seq")[:HISTORY_SCANNED])
    allocation_ids = {allocation.pk for allocation in allocations}
    schedule_ids = {str(allocation.scheduled_payment.schedule_id) for allocation in allocations}
    about = []
    if schedule_ids:
        # audit_subject_idx narrows to the schedules' logs; the details say which allocation.
        scanned = events.filter(subject_type="paymentschedule", subject_id__in=schedule_ids).order_by("-seq")[:HISTORY_SCANNED]
        about = [
            event for event in scanned
            if event.verb != "allocation.undone"  # already on the payment's own log
            and (event.details.get("allocation") in allocation_ids or event.details.get("payment_id") == payment.pk)
        ]
    return sorted([*own, *about], key=lambda event: -event.seq)


# --- Customers' credit ----------------------------------------------------------------------------


def customer_credit(*, customer: Customer) -> tuple[list[Payment], dict[str, Decimal]]:
    """The customer's payments holding credit (their rest), newest first, and the credit by currency."""
    payments = list(
        with_unallocated_rest(Payment.objects.filter(client=customer.client_id, customer=customer, amount__gt=0))
        .filter(rest__gt=0)
        .select_related("client")
        .order_by("-value_date", "-id")
    )
    totals: dict[str, Decimal] = {}
    for payment in payments:
        totals[payment.currency] = totals.get(payment.currency, Decimal("0.00")) + payment.rest
    return payments, dict(sorted(totals.items()))
