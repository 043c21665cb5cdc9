"""Reads of the core ledger, always scoped by client."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from .models import AuditEvent, Client, Customer, Payment, PaymentImport


def customers_of(*, client: Client) -> QuerySet[Customer]:
    return Customer.objects.filter(client=client)


def customer_get(*, client: Client, pk: int) -> Customer:
    """The client's customer, or Customer.DoesNotExist (a 404 to the view) for anyone else's."""
    return Customer.objects.select_related("client").get(client=client, pk=pk)


def payments_of(*, client: Client) -> QuerySet[Payment]:
    return Payment.objects.filter(client=client).select_related("client", "customer", "payment_import", "entered_by")


def audit_events_of(*, client: Client) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(client=client).select_related("actor").order_by("-seq")


def audit_timeline(*, client: Client, subject_type: str, subject_id) -> QuerySet[AuditEvent]:
    """A subject's log, newest first (uses audit_subject_idx)."""
    return audit_events_of(client=client).filter(
        subject_type=subject_type, subject_id=str(subject_id)
    )


@dataclass(frozen=True)
class ClientSummary:
    customers: int
    payments_30d: int
    received_30d: list[tuple[str, object]]  # (currency, total) pairs
    last_import: PaymentImport | None
    last_event_at: dt.datetime | None


def client_summary(*, client: Client) -> ClientSummary:
    since = timezone.localdate() - dt.timedelta(days=30)
    recent = Payment.objects.filter(client=client, value_date__gte=since)
    totals = recent.values("currency").annotate(total=Sum("amount"), n=Count("id")).order_by("currency")
    last_event = AuditEvent.objects.filter(client=client).order_by("-seq").only("created_at").first()
    return ClientSummary(
        customers=Customer.objects.filter(client=client).count(),
        payments_30d=sum(row["n"] for row in totals),
        received_30d=[(row["currency"], row["total"]) for row in totals],
        last_import=PaymentImport.objects.filter(client=client).order_by("-created_at").first(),
        last_event_at=last_event.created_at if last_event else None,
    )
