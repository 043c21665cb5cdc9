"""The nightly jobs of a client: due dates generated ahead and payments moved along their statuses.

Each locks what it changes, in the order of bpo_ledger.locks, and waits for rows another
transaction holds, but only up to LOCK_WAIT: a job that still cannot have them changes nothing
and raises NightlyJobBlocked naming the client, so that the command exits non-zero and the task
is retried, instead of reporting a night's work left undone as done.
"""

import datetime as dt
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from bpo_ledger import locks
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
    _holidays,
    _payment_rows,
    _plan,
    client_today,
    scheduled_payments_insert,
    schedules_refresh_rollups,
)

SYSTEM_ACTOR = "system:nightly"
# How long a nightly job waits for a row someone else holds. A person's change holds its rows
# for a moment; an import holds its client's for as long as the file takes.
LOCK_WAIT = dt.timedelta(seconds=30)
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout runs out


class NightlyJobBlocked(Exception):
    """Rows the job needs stayed locked by another transaction for longer than it may wait."""


@contextmanager
def _waiting_at_most(client: Client, job: str):
    """Inside the job's transaction: any row lock waited for longer than LOCK_WAIT raises
    NightlyJobBlocked (and the transaction rolls back). SQLite locks no rows: nothing to bound."""
    if connection.vendor != "postgresql":
        yield
        return
    seconds = LOCK_WAIT.total_seconds()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)", [f"{int(seconds * 1000)}ms"])
        (previous, _) = cursor.fetchone()
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise NightlyJobBlocked(
            f"{client.code}: {job} waited {seconds:g} s for rows another transaction keeps locked "
            "and changed nothing; run it again."
        ) from exc
    with connection.cursor() as cursor:
        # The caller's transaction may go on: give it back its own limit.
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


@transaction.atomic
def schedules_extend_horizon(*, client: Client, today: dt.date | None = None) -> int:
    """Generate the next due dates of open-ended schedules whose horizon runs short; returns rows added.

    Raises NightlyJobBlocked if a schedule stays locked by someone else longer than LOCK_WAIT.
    """
    today = today or client_today(client)
    target = today + dt.timedelta(days=HORIZON_DAYS)
    with _waiting_at_most(client, "the horizon extension"):
        # Only the schedules are locked (not their client, whose row every audit append holds).
        schedules = list(
            locks.locked(
                PaymentSchedule.objects.select_related("client").filter(
                    client=client, status=ScheduleStatus.ACTIVE, kind__in=OPEN_ENDED_KINDS, horizon_until__lt=target
                )
            )
        )
        if not schedules:
            return 0
        last_seq = dict(
            ScheduledPayment.objects.filter(schedule__in=schedules)
            .values("schedule").annotate(m=Max("sequence")).values_list("schedule", "m")
        )
        rows = []
        holidays = _holidays(client)
        for schedule in schedules:
            dues = _plan(
                schedule, through=target, first_sequence=last_seq.get(schedule.pk, 0) + 1, holidays=holidays
            )
            rows.extend(_payment_rows(schedule, dues, today))
            schedule.horizon_until = target
        scheduled_payments_insert(rows)
        PaymentSchedule.objects.bulk_update(schedules, ["horizon_until"], batch_size=1000)
        schedules_refresh_rollups(schedule_ids=[s.pk for s in schedules])
    return len(rows)


# Open and not yet overdue: what the nightly move may carry on.
MOVABLE_STATUSES = (PaymentStatus.UPCOMING, PaymentStatus.DUE, PaymentStatus.PARTIALLY_PAID)


@transaction.atomic
def scheduled_payments_advance(*, client: Client, today: dt.date | None = None) -> dict:
    """The nightly move: upcoming -> due on the due date, due -> overdue after the grace days.

    Paused and cancelled schedules do not move. Each schedule whose payments fell overdue gets
    one event on its log naming them. Raises NightlyJobBlocked if a row it needs stays locked by
    someone else longer than LOCK_WAIT.
    """
    today = today or client_today(client)
    overdue_cutoff = today - dt.timedelta(days=client.grace_days)
    with _waiting_at_most(client, "the nightly status move"):
        movable = ScheduledPayment.objects.filter(client=client, status__in=MOVABLE_STATUSES, due_date__lte=today)
        # The lock order: the schedules, then their payments, the client row (audit) last. A
        # schedule paused while we waited for it is no longer active once we have it.
        schedule_ids = list(
            locks.locked(
                PaymentSchedule.objects.filter(
                    pk__in=movable.filter(schedule__status=ScheduleStatus.ACTIVE).values("schedule_id"),
                    status=ScheduleStatus.ACTIVE,
                )
            ).values_list("pk", flat=True)
        )
        rows = list(
            locks.locked(movable.filter(schedule_id__in=schedule_ids)).values_list(
                "pk", "schedule_id", "reference", "due_date", "status"
            )
        )
        became_due = [pk for pk, _, _, due_date, status in rows if status == PaymentStatus.UPCOMING]
        late = [(pk, schedule_id, reference, due_date) for pk, schedule_id, reference, due_date, _ in rows if due_date < overdue_cutoff]
        late_ids = {pk for pk, _, _, _ in late}
        now = timezone.now()
        ScheduledPayment.objects.filter(pk__in=[pk for pk in became_due if pk not in late_ids]).update(
            status=PaymentStatus.DUE, updated_at=now
        )
        ScheduledPayment.objects.filter(pk__in=late_ids).update(status=PaymentStatus.OVERDUE, updated_at=now)
        by_schedule: dict[int, list] = {}
        for _, schedule_id, reference, due_date in late:
            by_schedule.setdefault(schedule_id, []).append({"reference": reference, "due_date": due_date})
        audit_record_many(
            client=client,
            actor=SYSTEM_ACTOR,
            events=[
                PendingEvent(
                    "payment.overdue",
                    ("paymentschedule", schedule_id),
                    {"payments": payments, "grace_days": client.grace_days},
                )
                for schedule_id, payments in sorted(by_schedule.items())
            ],
        )
        moved_schedules = sorted({schedule_id for _, schedule_id, _, _, _ in rows})
        if moved_schedules:
            schedules_refresh_rollups(schedule_ids=moved_schedules)
    return {"due": len(became_due), "overdue": len(late), "schedules": len(by_schedule)}
