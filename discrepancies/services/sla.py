"""The SLA sweep: escalating items past their due time and raising the priority of aged ones."""

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Abs, Least
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.audit import PendingEvent, audit_record_many
from bpo_ledger.models import Client

from .. import policy
from ..events import SLA_SWEEP
from ..models import ACTIVE_STATUSES, Discrepancy, Status
from ._common import sla_record


def _past_sla(now: dt.datetime):
    return Discrepancy.objects.filter(status__in=ACTIVE_STATUSES, sla_due_at__lt=now)


@transaction.atomic
def discrepancies_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """Escalate every active item past its SLA due time and raise its level; safe to run twice.

    The missed due time stays on the item's SLA record (so it still counts as breached), and the
    new due time is a fresh SLA period from now, so the next breach escalates again and an item
    not yet past it is left alone.
    """
    now = now or timezone.now()
    overdue = (
        _past_sla(now)
        .select_related("client")
        # By client: their chain heads are then locked in one order by every sweep.
        .order_by("client_id", "pk")
    )
    # An item someone is changing right now is left to the next sweep.
    late = list(locks.locked(overdue, skip_locked=True, ordered=False))
    by_client: dict[int, list] = {}
    for item in late:
        item.previous_status = item.status
        item.status = Status.ESCALATED
        item.escalation_level += 1
        item.escalated_at = now
        item.missed_sla_due_at = item.sla_due_at
        item.sla_due_at = policy.sla_due_at(now, item.client.sla_hours(item.priority))
        # The missed due time stays on record; the next level's is added after it.
        history = policy.sla_ended(item.sla_history, now=now)
        history = policy.sla_started(history, due_at=item.sla_due_at, level=item.escalation_level)
        for field, value in sla_record(history).items():
            setattr(item, field, value)
        item.version += 1
        item.updated_at = now
        by_client.setdefault(item.client_id, []).append(item)
    Discrepancy.objects.bulk_update(late, [
        "status", "escalation_level", "escalated_at", "sla_due_at", "sla_history", "first_sla_breached_at", "sla_breached_at",
        "version", "updated_at",
    ], batch_size=500)
    for items in by_client.values():
        audit_record_many(
            client=items[0].client, actor=SLA_SWEEP,
            events=[
                PendingEvent("discrepancy.escalate", item, {
                    "reason": "SLA breached", "missed_sla_due_at": item.missed_sla_due_at, "escalation_level": item.escalation_level,
                    "changes": {"status": {"before": item.previous_status, "after": Status.ESCALATED}},
                    "sla_due_at": item.sla_due_at,
                })
                for item in items
            ],
        )
    return len(late)


@transaction.atomic
def discrepancies_age_priorities(*, client: Client, now: dt.datetime | None = None) -> int:
    """Raise the priority of items that have aged, by the client's policy (never lowers it).

    Overridden priorities stay as the supervisor set them. Each raise is on the item's log.
    """
    now = now or timezone.now()
    # policy.priority_rank in SQL: the amount's rank plus one per full age step, at most critical.
    base = _age_base_rank(client)
    events = []
    # Oldest step first: an item three steps old is raised once, straight to its rank.
    for steps in (3, 2, 1):
        raised = list(
            locks.locked(_aged_below_rank(client, now, base, steps), skip_locked=True)
            .values_list("pk", "priority", "target_rank")
        )
        for rank in (1, 2, 3):
            pks = [pk for pk, _, target in raised if target == rank]
            for start in range(0, len(pks), 500):
                Discrepancy.objects.filter(pk__in=pks[start : start + 500]).update(
                    priority_rank=rank, priority=policy.PRIORITIES[rank], version=F("version") + 1, updated_at=now
                )
        events += [
            PendingEvent("discrepancy.priority_aged", ("discrepancy", pk), {
                "reason": f"Open for {client.priority_age_step_days * steps}+ days",
                "changes": {"priority": {"before": before, "after": policy.PRIORITIES[target]}},
            })
            for pk, before, target in raised
        ]
    audit_record_many(client=client, actor=SLA_SWEEP, events=events)
    return len(events)


def _age_base_rank(client: Client):
    """policy.priority_rank's amount part in SQL."""
    return Case(
        When(amount_abs__gte=client.priority_critical_amount, then=Value(3)),
        When(amount_abs__gte=client.priority_high_amount, then=Value(2)),
        When(amount_abs__gte=client.priority_medium_amount, then=Value(1)),
        default=Value(0),
    )


def _aged_below_rank(client: Client, now: dt.datetime, base, steps: int):
    """The client's items at least `steps` age steps old whose priority is below what they have earned."""
    cutoff = now - dt.timedelta(days=client.priority_age_step_days * steps)
    return (
        Discrepancy.objects.filter(client=client, status__in=ACTIVE_STATUSES, priority_overridden=False, created_at__lte=cutoff)
        .annotate(amount_abs=Abs("amount_difference"), target_rank=Least(base + Value(steps), Value(3)))
        .filter(priority_rank__lt=F("target_rank"))
    )


def _left_held(now: dt.datetime, clients) -> int:
    """Items the sweep had to leave because someone else held them: still past their SLA, or
    still below the priority their age has earned. The next sweep takes them."""
    held = set(_past_sla(now).values_list("pk", flat=True))
    for client in clients:
        base = _age_base_rank(client)
        for steps in (1, 2, 3):
            held.update(_aged_below_rank(client, now, base, steps).values_list("pk", flat=True))
    return len(held)


@dataclass(frozen=True)
class SlaSweep:
    escalated: int
    raised: dict[str, int]  # client code -> priorities raised by age
    held: int  # items left because someone was changing them; the next sweep takes them


def discrepancies_sla_sweep(*, now: dt.datetime | None = None) -> SlaSweep:
    """The 15-minute job: escalate what is past its SLA, then age priorities per active client.

    Each step commits on its own; run again at the same moment, it changes nothing more.
    """
    now = now or timezone.now()
    escalated = discrepancies_escalate_overdue(now=now)
    clients = list(Client.objects.filter(is_active=True).order_by("code"))
    raised = {client.code: discrepancies_age_priorities(client=client, now=now) for client in clients}
    return SlaSweep(escalated, raised, held=_left_held(now, clients))
