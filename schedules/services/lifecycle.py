"""A schedule's life after creation: deferrals, pauses, cancellation, method and amount changes,
customers' inquiries. Each writes its AuditEvent (the schedule log) in the same transaction."""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bpo_ledger.audit import Actor, audit_record
from bpo_ledger.crypto import normalize_account
from bpo_ledger.errors import DomainError

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
    scheduled_payments_insert,
    schedules_refresh_rollups,
)


def _locked(schedule: PaymentSchedule) -> PaymentSchedule:
    return PaymentSchedule.objects.select_for_update().select_related("client", "customer").get(pk=schedule.pk)


def _require_open(schedule: PaymentSchedule) -> None:
    if not schedule.is_open:
        raise DomainError(f"Schedule {schedule.reference} is {schedule.get_status_display().lower()}: it can no longer change.")


def _reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Give a reason: it goes on the schedule's log.")
    return reason


def _open_payments(schedule: PaymentSchedule):
    return ScheduledPayment.objects.select_for_update().filter(
        schedule=schedule, status__in=OPEN_PAYMENT_STATUSES
    ).order_by("sequence")


@transaction.atomic
def schedule_defer(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    until: dt.date,
    reason_code: str,
    reason: str,
    approved_by=None,
    today: dt.date | None = None,
) -> PaymentSchedule:
    """Move the remaining due dates so the next one falls on `until`; the old dates stay on record."""
    schedule = _locked(schedule)
    _require_open(schedule)
    reason = _reason_required(reason)
    today = today or client_today(schedule.client)
    remaining = list(_open_payments(schedule))
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
    schedule.save(update_fields=["cycle_start", "cycle_start_sequence", "anchor_day", "horizon_until", "deferred_until", "updated_at"])
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


def _set_status(schedule: PaymentSchedule, *, actor: Actor, allowed_from: tuple, to: str, verb: str, reason: str) -> PaymentSchedule:
    schedule = _locked(schedule)
    reason = _reason_required(reason)
    if schedule.status not in allowed_from:
        raise DomainError(
            f"Schedule {schedule.reference} is {schedule.get_status_display().lower()}; "
            f"it cannot be {verb.split('.')[1]}."
        )
    before = schedule.status
    # Conditional UPDATE: only the writer that still sees the old status wins.
    updated = PaymentSchedule.objects.filter(pk=schedule.pk, status=before).update(
        status=to, updated_at=timezone.now()
    )
    if not updated:
        raise DomainError("The schedule was changed by someone else; reload and try again.")
    schedule.status = to
    audit_record(
        client=schedule.client,
        actor=actor,
        verb=verb,
        subject=schedule,
        details={"reason": reason, "changes": {"status": {"before": before, "after": to}}},
    )
    return schedule


# The schedule statuses each step may start from; the schedule page offers only these.
OPEN = (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)
STEP_STATUSES = {
    "defer": OPEN, "method": OPEN, "amount": OPEN, "payment": OPEN, "fail": OPEN, "cancel": OPEN,
    "pause": (ScheduleStatus.ACTIVE,),
    "resume": (ScheduleStatus.PAUSED,),
    "inquiry": tuple(ScheduleStatus.values),  # a customer may ask about any schedule
}


def schedule_step_allowed(schedule: PaymentSchedule, step: str) -> bool:
    return schedule.status in STEP_STATUSES[step]


@transaction.atomic
def schedule_pause(*, schedule: PaymentSchedule, actor: Actor, reason: str) -> PaymentSchedule:
    """Pause: no reminders go out and nothing falls overdue on the log until it resumes."""
    return _set_status(schedule, actor=actor, allowed_from=STEP_STATUSES["pause"], to=ScheduleStatus.PAUSED, verb="schedule.paused", reason=reason)


@transaction.atomic
def schedule_resume(*, schedule: PaymentSchedule, actor: Actor, reason: str) -> PaymentSchedule:
    return _set_status(schedule, actor=actor, allowed_from=STEP_STATUSES["resume"], to=ScheduleStatus.ACTIVE, verb="schedule.resumed", reason=reason)


@transaction.atomic
def schedule_cancel(*, schedule: PaymentSchedule, actor: Actor, reason: str) -> PaymentSchedule:
    """Cancel the schedule and every payment still open; paid ones stay as they are."""
    schedule = _set_status(
        schedule,
        actor=actor,
        allowed_from=STEP_STATUSES["cancel"],
        to=ScheduleStatus.CANCELLED,
        verb="schedule.cancelled",
        reason=reason,
    )
    ScheduledPayment.objects.filter(schedule=schedule, status__in=OPEN_PAYMENT_STATUSES).update(
        status=PaymentStatus.CANCELLED, updated_at=timezone.now()
    )
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    return schedule


@transaction.atomic
def schedule_change_method(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    method: str,
    reason: str,
    autopay_method: str = "",
    autopay_account: str = "",
    mandate_reference: str = "",
) -> PaymentSchedule:
    """Change how the customer pays (and, for autopay, the mandate's account)."""
    schedule = _locked(schedule)
    _require_open(schedule)
    reason = _reason_required(reason)
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
    schedule.save()
    audit_record(
        client=schedule.client, actor=actor, verb="schedule.method_changed", subject=schedule,
        details={"reason": reason, "changes": changes},
    )
    return schedule


@transaction.atomic
def schedule_change_amount(
    *, schedule: PaymentSchedule, actor: Actor, amount: Decimal, reason: str, today: dt.date | None = None
) -> PaymentSchedule:
    """Change the amount of future, untouched payments only; past and part-paid ones keep theirs.

    For an installment plan `amount` is the new total, spread over the future installments.
    """
    schedule = _locked(schedule)
    _require_open(schedule)
    reason = _reason_required(reason)
    if amount <= 0:
        raise DomainError("The amount must be more than zero.")
    today = today or client_today(schedule.client)
    future = [p for p in _open_payments(schedule) if p.due_date >= today and p.amount_paid == 0]
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
        payment.amount_due = new
    ScheduledPayment.objects.bulk_update(future, ["amount_due", "updated_at"])
    schedule.amount = amount
    schedule.save(update_fields=["amount", "updated_at"])
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
    *, schedule: PaymentSchedule, actor: Actor, channel: str, summary: str, outcome: str
) -> None:
    """Put a customer's question about the schedule on its log."""
    if channel not in INQUIRY_CHANNELS:
        raise DomainError(f"Unknown inquiry channel {channel!r}; use one of {', '.join(INQUIRY_CHANNELS)}.")
    if not summary.strip():
        raise DomainError("Summarize what the customer asked.")
    audit_record(
        client=schedule.client, actor=actor, verb="inquiry.logged", subject=schedule,
        details={"channel": channel, "reason": summary.strip(), "outcome": outcome.strip()},
    )
