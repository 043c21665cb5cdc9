"""Reads of discrepancies, always scoped by client or by the user's clients and their role there."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from bpo_ledger.access import WRITE_ROLES, Access
from bpo_ledger.models import Client, Membership, Payment

from .models import ACTIVE_STATUSES, Approval, Attachment, Discrepancy, Note, Status, sla_breached_q

# What a list row shows: one query per page, whatever the number of rows.
LIST_RELATED = ("client", "customer", "assignee")
# The columns a queue row reads (discrepancies.tables.QueueTable), and no others; the names of
# the client, customer and assignee come as plain values: building 50 rows of four models,
# three of them nearly empty, cost more than fetching them.
QUEUE_ROW_FIELDS = (
    "client", "number", "kind", "status", "priority", "summary", "currency", "amount_difference",
    "created_at", "sla_due_at", "sla_breached_at", "escalation_level", "escalated_at", "approval",
)


def queue_for(*, user, accesses: list[Access]) -> QuerySet[Discrepancy]:
    """The queue across the user's clients.

    Agents see their own items and the unassigned pool; supervisors, admins and auditors see
    every item of the clients where they hold that role (supervisors reassign, auditors read).
    """
    if not accesses:
        return Discrepancy.objects.none()
    everything = [client.pk for client in clients_seen_whole(accesses=accesses)]
    own_and_pool = [a.client.pk for a in accesses if a.can_write and not a.can_supervise]
    scope = Q(client__in=everything) | (
        Q(client__in=own_and_pool) & (Q(assignee=user) | Q(assignee__isnull=True))
    )
    return Discrepancy.objects.filter(scope)


def clients_seen_whole(*, accesses: list[Access]) -> list[Client]:
    """The clients whose every item the user sees: where they supervise, or only read (audit)."""
    return [a.client for a in accesses if a.can_supervise or not a.can_write]


def as_queue_rows(queryset: QuerySet[Discrepancy]) -> QuerySet[Discrepancy]:
    """The items of a queue with the columns its rows show, in one query."""
    return queryset.only(*QUEUE_ROW_FIELDS).annotate(
        client_code=F("client__code"), client_timezone=F("client__timezone"), customer_name=F("customer__name"),
        assignee_username=F("assignee__username"),
    )


def as_export_rows(queryset: QuerySet[Discrepancy]) -> QuerySet[Discrepancy]:
    """The items of a queue with everything the CSV export writes."""
    return queryset.select_related(*LIST_RELATED)


def escalations_for(*, clients: list[Client]) -> QuerySet[Discrepancy]:
    """Escalated items of these clients, the longest-escalated first (uses discrepancy_queue_idx)."""
    return (
        as_queue_rows(Discrepancy.objects.filter(client__in=clients, status=Status.ESCALATED))
        .order_by("escalated_at", "sla_due_at", "pk")
    )


def approvals_pending(*, clients: list[Client]) -> QuerySet[Discrepancy]:
    """Adjustments waiting for a supervisor, oldest first (uses discrepancy_approval_idx)."""
    return (
        Discrepancy.objects.filter(client__in=clients, approval=Approval.PENDING)
        .select_related("client", "customer", "scheduled_payment", "reported_by")
        .order_by("created_at", "pk")
    )


def team_workload(*, clients: list[Client], now: dt.datetime | None = None) -> list[dict]:
    """Active items per assignee (None: the unassigned pool) of these clients, in one query."""
    now = now or timezone.now()
    return list(
        Discrepancy.objects.filter(client__in=clients, status__in=ACTIVE_STATUSES)
        .values("assignee", "assignee__username", "assignee__first_name", "assignee__last_name")
        .annotate(
            active=Count("pk"),
            assigned=Count("pk", filter=Q(status=Status.ASSIGNED)),
            in_progress=Count("pk", filter=Q(status=Status.IN_PROGRESS)),
            awaiting_customer=Count("pk", filter=Q(status=Status.AWAITING_CUSTOMER)),
            escalated=Count("pk", filter=Q(status=Status.ESCALATED)),
            breached=Count("pk", filter=sla_breached_q(now)),
        )
        .order_by("assignee__username")
    )


def discrepancy_get(*, client: Client, pk: int) -> Discrepancy:
    """The client's item with everything its page shows, or Discrepancy.DoesNotExist."""
    return Discrepancy.objects.select_related(
        "client", "customer", "scheduled_payment__schedule", "assignee", "reported_by", "approved_by"
    ).get(client=client, pk=pk)


def payments_of(*, discrepancy: Discrepancy) -> QuerySet[Payment]:
    return discrepancy.payments.filter(client=discrepancy.client_id).order_by("value_date", "pk")


def notes_of(*, discrepancy: Discrepancy) -> QuerySet[Note]:
    return Note.objects.filter(client=discrepancy.client_id, discrepancy=discrepancy).select_related("author")


def attachments_of(*, discrepancy: Discrepancy) -> QuerySet[Attachment]:
    return Attachment.objects.filter(client=discrepancy.client_id, discrepancy=discrepancy).select_related(
        "uploaded_by"
    )


def attachment_get(*, client: Client, pk: int) -> Attachment:
    """The client's attachment, or Attachment.DoesNotExist for anyone else's."""
    return Attachment.objects.get(client=client, pk=pk)


def workers_of(*, clients: list[Client]):
    """Users who may be given items of these clients (agents, supervisors), by username."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            pk__in=Membership.objects.filter(client__in=clients, role__in=WRITE_ROLES).values("user"),
        )
        .order_by("username")
    )
