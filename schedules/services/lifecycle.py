"""A schedule's life after creation: deferrals, pauses, cancellation, method and amount changes,
customers' inquiries. Each checks the actor's role, refuses a change to a version of the schedule
the user no longer sees, and writes its AuditEvent (the schedule log) in the same transaction."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.access import require_role
from bpo_ledger.audit import Actor, audit_record
from bpo_ledger.crypto import normalize_account
from bpo_ledger.errors import DomainError, StaleError

from .. import duedates
from ..models import (
    OPEN_PAYMENT_STATUSES,
    PaymentSchedule,
    PaymentStatus,
    ScheduledPayment,
    ScheduleKind,
    ScheduleStatus,
)
from .planning import (
    OPEN_ENDED_KINDS,
    _holidays,
    _horizon,
    _initial_status,
    _payment_rows,
    _plan,
    _validate,
    client_today,
    schedule_date_problem,
    scheduled_payments_insert,
    schedules_refresh_rollups,
)


@dataclass(frozen=True)
class Step:
    """A step a person takes on a schedule: the statuses it may start from, and whether the
    schedule's log needs a reason for it."""

    allowed_from: tuple[str, ...]
    needs_reason: bool = True


OPEN = (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)
# The schedule page offers only the steps the status allows, and its forms ask for a reason
# where the step needs one; the services below refuse the same.
STEPS = {
    "defer": Step(OPEN),
    "pause": Step((ScheduleStatus.ACTIVE,)),
    "resume": Step((ScheduleStatus.PAUSED,)),
    "method": Step(OPEN),
    "amount": Step(OPEN),
    # A customer may ask about any schedule; the summary of what they asked is the record.
    "inquiry": Step(tuple(ScheduleStatus.values), needs_reason=False),
    "payment": Step(OPEN),  # money recorded by hand: the receipt or who took it
    "fail": Step(OPEN),
    "cancel": Step(OPEN),
}


def schedule_step_allowed(schedule: PaymentSchedule, step: str) -> bool:
    return schedule.status in STEPS[step].allowed_from


def schedule_step_needs_reason(step: str) -> bool:
    return STEPS[step].needs_reason


def _reason(step: str, reason: str) -> str:
    reason = (reason or "").strip()
    if not reason and STEPS[step].needs_reason:
        raise DomainError("Give a reason: it goes on the schedule's log.")
    return reason


def _current(schedule: PaymentSchedule, *, actor: Actor, version: int | None) -> PaymentSchedule:
    """The schedule locked as it is now, once the actor may change it and it is still at `version`.

    version is the one the user saw (None for jobs and services acting on the row as it is now).
    """
    require_role(actor, schedule.client)
    current = locks.locked(PaymentSchedule.objects.select_related("client", "customer").filter(pk=schedule.pk)).get()
    if version is not None and current.version != version:
        raise StaleError(
            f"Schedule {current.reference} was changed by someone else since you opened the page: "
            "reload it and make your change again. Nothing was overwritten."
        )
    return current


def _save_change(schedule: PaymentSchedule, *fields: str) -> None:
    """Save the changed fields and move the version on: a page showing the old one is refused."""
    schedule.version += 1
    schedule.save(update_fields=[*fields, "version", "updated_at"])


def _require_open(schedule: PaymentSchedule) -> None:
    if not schedule.is_open:
        raise DomainError(f"Schedule {schedule.reference} is {schedule.get_status_display().lower()}: it can no longer change.")


def _open_payments_locked(schedule: PaymentSchedule) -> list[ScheduledPayment]:
    """The schedule's open payments, locked (after the schedule), in sequence order."""
    open_payments = ScheduledPayment.objects.filter(schedule=schedule, status__in=OPEN_PAYMENT_STATUSES)
    return sorted(locks.locked(open_payments), key=attrgetter("sequence"))


@transaction.atomic
def schedule_defer(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    version: int | None,
    until: dt.date,
    reason_code: str,
    reason: str,
    approved_by=None,
    today: dt.date | None = None,
) -> PaymentSchedule:
    """Move the remaining due dates so the next one falls on `until`; the old dates stay on record."""
    if problem := schedule_date_problem(until):
        raise ValidationError({"until": problem})
    schedule = _current(schedule, actor=actor, version=version)
    _require_open(schedule)
    reason = _reason("defer", reason)
    today = today or client_today(schedule.client)
    remaining = _open_payments_locked(schedule)
    if not remaining:
        raise DomainError(f"Schedule {schedule.reference} has no open payment to defer.")
    first = remaining[0]
    if until <= first.due_date:
        raise DomainError(f"Defer to a date after the next due date, {first.due_date:%Y-%m-%d}.")
    if until < today:
        raise DomainError("Defer to a date in the future.")
    rule = duedates.BusinessDayRule(schedule.client.business_day_rule)
    if schedule.kind in (ScheduleKind.ONE_TIME, ScheduleKind.DEFERRED) or not schedule.frequency:
        nominal_dates = [until]
    else:
        nominal_dates = list(
            duedates.cycle_dates(
                start=until,
                frequency=duedates.Frequency(schedule.frequency),
                interval=schedule.interval,
                anchor_day=until.day,
                count=len(remaining),
            )
        )
    holidays = _holidays(schedule.client)
    moves = {}
    for payment, nominal in zip(remaining, nominal_dates, strict=True):
        new_date = duedates.roll(nominal, rule=rule, holidays=holidays)
        moves[payment.reference] = {"before": payment.due_date, "after": new_date}
        payment.due_date = new_date
        payment.status = _initial_status(new_date, today, schedule.client.grace_days)
        payment.updated_at = timezone.now()  # bulk_update leaves auto_now fields as they were
    ScheduledPayment.objects.bulk_update(remaining, ["due_date", "status", "updated_at"])
    if schedule.kind in OPEN_ENDED_KINDS:
        # Later cycles continue from the new date, counted from the first moved payment.
        schedule.cycle_start = until
        schedule.cycle_start_sequence = first.sequence
        schedule.anchor_day = until.day
        last = remaining[-1]
        horizon = _horizon(schedule, today)
        extra = _plan(schedule, through=horizon, first_sequence=last.sequence + 1)
        scheduled_payments_insert(_payment_rows(schedule, extra, today))
        schedule.horizon_until = horizon
    if schedule.kind == ScheduleKind.DEFERRED:
        schedule.deferred_until = until
    _save_change(schedule, "cycle_start", "cycle_start_sequence", "anchor_day", "horizon_until", "deferred_until")
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client,
        actor=actor,
        verb="schedule.deferred",
        subject=schedule,
        details={
            "until": until,
            "reason_code": reason_code,
            "reason": reason,
            "approved_by": approved_by.get_username() if approved_by else None,
            "moved": moves,
        },
    )
    return schedule


def _set_status(
    schedule: PaymentSchedule, *, actor: Actor, version: int | None, step: str, to: str, verb: str, reason: str
) -> PaymentSchedule:
    schedule = _current(schedule, actor=actor, version=version)
    reason = _reason(step, reason)
    if not schedule_step_allowed(schedule, step):
        raise DomainError(
            f"Schedule {schedule.reference} is {schedule.get_status_display().lower()}; "
            f"it cannot be {verb.split('.')[1]}."
        )
    before = schedule.status
    schedule.status = to
    _save_change(schedule, "status")
    audit_record(
        client=schedule.client,
        actor=actor,
        verb=verb,
        subject=schedule,
        details={"reason": reason, "changes": {"status": {"before": before, "after": to}}},
    )
    return schedule


@transaction.atomic
def schedule_pause(*, schedule: PaymentSchedule, actor: Actor, version: int | None, reason: str) -> PaymentSchedule:
    """Pause: no reminders go out and nothing falls overdue on the log until it resumes."""
    return _set_status(
        schedule, actor=actor, version=version, step="pause", to=ScheduleStatus.PAUSED, verb="schedule.paused", reason=reason
    )


@transaction.atomic
def schedule_resume(*, schedule: PaymentSchedule, actor: Actor, version: int | None, reason: str) -> PaymentSchedule:
    return _set_status(
        schedule, actor=actor, version=version, step="resume", to=ScheduleStatus.ACTIVE, verb="schedule.resumed", reason=reason
    )


@transaction.atomic
def schedule_cancel(*, schedule: PaymentSchedule, actor: Actor, version: int | None, reason: str) -> PaymentSchedule:
    """Cancel the schedule and every payment still open; paid ones stay as they are."""
    schedule = _set_status(
        schedule, actor=actor, version=version, step="cancel", to=ScheduleStatus.CANCELLED, verb="schedule.cancelled", reason=reason
    )
    open_payments = [p.pk for p in _open_payments_locked(schedule)]
    ScheduledPayment.objects.filter(pk__in=open_payments).update(status=PaymentStatus.CANCELLED, updated_at=timezone.now())
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    return schedule


@transaction.atomic
def schedule_change_method(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    version: int | None,
    method: str,
    reason: str,
    autopay_method: str = "",
    autopay_account: str = "",
    mandate_reference: str = "",
) -> PaymentSchedule:
    """Change how the customer pays (and, for autopay, the mandate's account)."""
    schedule = _current(schedule, actor=actor, version=version)
    _require_open(schedule)
    reason = _reason("method", reason)
    before = {"method": schedule.method, "account": schedule.autopay_account_masked, "mandate": schedule.mandate_reference}
    schedule.method = method
    if schedule.kind == ScheduleKind.AUTOPAY:
        if autopay_method:
            schedule.autopay_method = autopay_method
        if autopay_account:
            account = normalize_account(autopay_account)
            schedule.autopay_account, schedule.autopay_account_last4 = account, account[-4:]
        if mandate_reference:
            schedule.mandate_reference = mandate_reference
    _validate(schedule)
    after = {"method": schedule.method, "account": schedule.autopay_account_masked, "mandate": schedule.mandate_reference}
    changes = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if autopay_account and "account" not in changes:
        changes["account"] = {"before": before["account"], "after": after["account"]}
    if not changes:
        raise DomainError("Nothing changed: choose a different method or account.")
    _save_change(
        schedule, "method", "autopay_method", "autopay_account", "autopay_account_last4", "mandate_reference"
    )
    audit_record(
        client=schedule.client, actor=actor, verb="schedule.method_changed", subject=schedule,
        details={"reason": reason, "changes": changes},
    )
    return schedule


@transaction.atomic
def schedule_change_amount(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    version: int | None,
    amount: Decimal,
    reason: str,
    today: dt.date | None = None,
) -> PaymentSchedule:
    """Change the amount of future, untouched payments only; past and part-paid ones keep theirs.

    For an installment plan `amount` is the new total, spread over the future installments.
    """
    schedule = _current(schedule, actor=actor, version=version)
    _require_open(schedule)
    reason = _reason("amount", reason)
    if amount <= 0:
        raise DomainError("The amount must be more than zero.")
    today = today or client_today(schedule.client)
    future = [p for p in _open_payments_locked(schedule) if p.due_date >= today and p.amount_paid == 0]
    if not future:
        raise DomainError(f"Schedule {schedule.reference} has no future unpaid payment to change.")
    before_amount = schedule.amount
    if schedule.kind == ScheduleKind.INSTALLMENT:
        fixed = sum(
            (p.amount_due for p in ScheduledPayment.objects.filter(schedule=schedule).exclude(pk__in=[p.pk for p in future])),
            Decimal("0.00"),
        )
        rest = amount - fixed
        if rest <= 0:
            raise DomainError(f"The new total must exceed {fixed} already due or paid.")
        try:
            new_amounts = duedates.split_installments(rest, len(future))
        except ValueError as exc:
            raise DomainError(str(exc)) from None
    else:
        new_amounts = [amount] * len(future)
    changed = {}
    for payment, new in zip(future, new_amounts, strict=True):
        changed[payment.reference] = {"before": payment.amount_due, "after": new}
        payment.amount_due, payment.updated_at = new, timezone.now()
    ScheduledPayment.objects.bulk_update(future, ["amount_due", "updated_at"])
    schedule.amount = amount
    _save_change(schedule, "amount")
    audit_record(
        client=schedule.client, actor=actor, verb="schedule.amount_changed", subject=schedule,
        details={
            "reason": reason,
            "changes": {"amount": {"before": before_amount, "after": amount}},
            "payments": changed,
        },
    )
    return schedule


INQUIRY_CHANNELS = ("phone", "email", "chat", "letter", "in_person")


@transaction.atomic
def schedule_log_inquiry(
    *, schedule: PaymentSchedule, actor: Actor, version: int | None, channel: str, summary: str, outcome: str
) -> None:
    """Put a customer's question about the schedule on its log.

    It changes nothing, so it leaves the version as it is; but an outcome agreed on a page that
    showed an older version may no longer hold, so that is refused like a change.
    """
    schedule = _current(schedule, actor=actor, version=version)
    if channel not in INQUIRY_CHANNELS:
        raise DomainError(f"Unknown inquiry channel {channel!r}; use one of {', '.join(INQUIRY_CHANNELS)}.")
    if not summary.strip():
        raise DomainError("Summarize what the customer asked.")
    audit_record(
        client=schedule.client, actor=actor, verb="inquiry.logged", subject=schedule,
        details={"channel": channel, "reason": summary.strip(), "outcome": outcome.strip()},
    )
