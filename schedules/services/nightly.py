"""The nightly jobs of a client: due dates generated ahead and payments moved along their statuses."""

import datetime as dt

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from bpo_ledger.audit import PendingEvent, audit_record_many
from bpo_ledger.models import Client

from ..models import (
    PaymentSchedule,
    PaymentStatus,
    ScheduledPayment,
    ScheduleStatus,
)
from .planning import (
    HORIZON_DAYS,
    OPEN_ENDED_KINDS,
    _payment_rows,
    _plan,
    client_today,
    scheduled_payments_insert,
    schedules_refresh_rollups,
)


@transaction.atomic
def schedules_extend_horizon(*, client: Client, today: dt.date | None = None) -> int:
    """Generate the next due dates of open-ended schedules whose horizon runs short; returns rows added."""
    today = today or client_today(client)
    target = today + dt.timedelta(days=HORIZON_DAYS)
    schedules = list(
        PaymentSchedule.objects.select_for_update(skip_locked=True)
        .select_related("client")
        .filter(client=client, status=ScheduleStatus.ACTIVE, kind__in=OPEN_ENDED_KINDS, horizon_until__lt=target)
    )
    if not schedules:
        return 0
    last_seq = dict(
        ScheduledPayment.objects.filter(schedule__in=schedules)
        .values("schedule").annotate(m=Max("sequence")).values_list("schedule", "m")
    )
    rows = []
    for schedule in schedules:
        dues = _plan(schedule, through=target, first_sequence=last_seq.get(schedule.pk, 0) + 1)
        rows.extend(_payment_rows(schedule, dues, today))
        schedule.horizon_until = target
    scheduled_payments_insert(rows)
    PaymentSchedule.objects.bulk_update(schedules, ["horizon_until"], batch_size=1000)
    schedules_refresh_rollups(schedule_ids=[s.pk for s in schedules])
    return len(rows)


@transaction.atomic
def scheduled_payments_advance(*, client: Client, today: dt.date | None = None) -> dict:
    """The nightly move: upcoming -> due on the due date, due -> overdue after the grace days.

    Paused and cancelled schedules do not move. Each schedule whose payments fell overdue gets
    one event on its log naming them.
    """
    today = today or client_today(client)
    active = Q(client=client, schedule__status=ScheduleStatus.ACTIVE)
    now = timezone.now()
    became_due = ScheduledPayment.objects.filter(active, status=PaymentStatus.UPCOMING, due_date__lte=today).update(
        status=PaymentStatus.DUE, updated_at=now
    )
    overdue_cutoff = today - dt.timedelta(days=client.grace_days)
    late = ScheduledPayment.objects.filter(
        active,
        status__in=(PaymentStatus.UPCOMING, PaymentStatus.DUE, PaymentStatus.PARTIALLY_PAID),
        due_date__lt=overdue_cutoff,
    )
    late_rows = list(late.values_list("pk", "schedule_id", "reference", "due_date"))
    ScheduledPayment.objects.filter(pk__in=[r[0] for r in late_rows]).update(status=PaymentStatus.OVERDUE, updated_at=now)
    by_schedule: dict[int, list] = {}
    for _, schedule_id, reference, due_date in late_rows:
        by_schedule.setdefault(schedule_id, []).append({"reference": reference, "due_date": due_date})
    audit_record_many(
        client=client,
        actor="system:nightly",
        events=[
            PendingEvent("payment.overdue", ("paymentschedule", schedule_id), {"payments": payments, "grace_days": client.grace_days})
            for schedule_id, payments in sorted(by_schedule.items())
        ],
    )
    touched = set(by_schedule) | set(
        ScheduledPayment.objects.filter(client=client, due_date=today, status=PaymentStatus.DUE).values_list("schedule_id", flat=True)
    )
    if touched:
        schedules_refresh_rollups(schedule_ids=list(touched))
    return {"due": became_due, "overdue": len(late_rows), "schedules": len(by_schedule)}
