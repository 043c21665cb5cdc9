"""A schedule's life after creation: deferrals, pauses, cancellation, method and amount changes,
customers' inquiries. Each checks the actor's role, refuses a change to a version of the schedule
the user no longer sees, and writes its AuditEvent (the schedule log) in the same transaction."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter

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
    payment_reference,
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


class DeferScope(StrEnum):
    """Which payments a deferral moves."""

    NEXT = "next"
    ALL_LATER = "all_later"

    @property
    def label(self) -> str:
        return DEFER_SCOPE_LABELS[self]


DEFER_SCOPE_LABELS = {
    DeferScope.NEXT: "Only the next payment",
    DeferScope.ALL_LATER: "This and all later payments, keeping the day of month",
}


@dataclass(frozen=True)
class DeferMove:
    """One payment a deferral moves (before is None for one it adds past the last)."""

    sequence: int
    reference: str
    before: dt.date | None
    after: dt.date
    nominal: dt.date


def _is_monthly(frequency: str) -> bool:
    return duedates.Frequency(frequency) not in (duedates.Frequency.WEEKLY, duedates.Frequency.BIWEEKLY)


def schedule_anchor_day(schedule: PaymentSchedule) -> int | None:
    """The day of month a monthly, quarterly... schedule's payments fall on (None for weekly ones)."""
    if not schedule.frequency or not _is_monthly(schedule.frequency):
        return None
    return schedule.anchor_day or (schedule.cycle_start or schedule.start_date).day


def _cycle_from(schedule: PaymentSchedule, until: dt.date) -> tuple[dt.date, int | None]:
    """Where the cycle restarts so that its first date is in `until`'s cycle and the later ones
    follow: a monthly cycle from the first of until's month on the anchor day, a weekly one
    from until itself."""
    anchor = schedule_anchor_day(schedule)
    return (until.replace(day=1) if anchor else until), anchor


def _defer_plan(
    schedule: PaymentSchedule, remaining: list[ScheduledPayment], *, until: dt.date, scope: str, today: dt.date
) -> tuple[list[DeferMove], list[duedates.Due]]:
    """The payments a deferral moves, and those it adds to keep an open-ended schedule's horizon;
    sets the schedule's cycle fields (unsaved) as the deferral leaves them. Raises DomainError."""
    try:
        scope = DeferScope(scope)
    except ValueError:
        raise DomainError(f"Choose which payments to move: {' or '.join(s.label.lower() for s in DeferScope)}.") from None
    if not remaining:
        raise DomainError(f"Schedule {schedule.reference} has no open payment to defer.")
    first = remaining[0]
    if until <= first.due_date:
        raise DomainError(f"Defer to a date after the next due date, {first.due_date:%Y-%m-%d}.")
    if until < today:
        raise DomainError("Defer to a date in the future.")
    if problem := schedule_date_problem(until):
        raise DomainError(problem)
    cyclic = bool(schedule.frequency) and schedule.kind not in (ScheduleKind.ONE_TIME, ScheduleKind.DEFERRED)
    moving = remaining if scope == DeferScope.ALL_LATER and cyclic else remaining[:1]
    nominal_dates = [until]
    rule = duedates.BusinessDayRule(schedule.client.business_day_rule)
    holidays = _holidays(schedule.client)
    try:
        if len(moving) > 1:
            cycle_start, anchor = _cycle_from(schedule, until)
            cycle = duedates.cycle_dates(
                start=cycle_start, frequency=schedule.frequency, interval=schedule.interval, anchor_day=anchor, count=len(moving)
            )
            nominal_dates += list(cycle)[1:]
        moves = [
            DeferMove(p.sequence, p.reference, p.due_date, duedates.roll(nominal, rule=rule, holidays=holidays), nominal)
            for p, nominal in zip(moving, nominal_dates, strict=True)
        ]
    except (ValueError, OverflowError):  # dates past the calendar's end (year 9999)
        raise DomainError(f"{until:%Y-%m-%d} is too far ahead: the later payments would fall after the year 9999.") from None
    if len(moving) < len(remaining) and moves[0].after >= remaining[1].due_date:
        following = remaining[1]
        raise DomainError(
            f"{DeferScope.NEXT.label} must stay before the following payment, {following.reference} due "
            f"{following.due_date:%Y-%m-%d}; to move that one too, choose "
            f"“{DeferScope.ALL_LATER.label.lower()}”."
        )
    added = []
    if scope == DeferScope.ALL_LATER and schedule.kind in OPEN_ENDED_KINDS:
        # Later cycles continue from the new date on the same day of month, counted from the
        # first moved payment, so the nightly extension carries on where the deferral left off.
        schedule.cycle_start, schedule.anchor_day = _cycle_from(schedule, until)[0], schedule_anchor_day(schedule)
        schedule.cycle_start_sequence = first.sequence
        schedule.horizon_until = _horizon(schedule, today)
        added = _plan(schedule, through=schedule.horizon_until, first_sequence=remaining[-1].sequence + 1)
    if schedule.kind == ScheduleKind.DEFERRED:
        schedule.deferred_until = until
    return moves, added


def schedule_defer_preview(
    *, schedule: PaymentSchedule, actor: Actor, until: dt.date, scope: str, today: dt.date | None = None
) -> list[DeferMove]:
    """The dates schedule_defer would set, without saving anything; raises DomainError."""
    require_role(actor, schedule.client)
    schedule = PaymentSchedule.objects.select_related("client", "customer").get(pk=schedule.pk)
    _require_open(schedule)
    today = today or client_today(schedule.client)
    remaining = list(ScheduledPayment.objects.filter(schedule=schedule, status__in=OPEN_PAYMENT_STATUSES).order_by("sequence"))
    moves, added = _defer_plan(schedule, remaining, until=until, scope=scope, today=today)
    client_code = schedule.client.code
    return moves + [
        DeferMove(due.sequence, payment_reference(client_code, schedule.number, due.sequence), None, due.due_date, due.nominal_date)
        for due in added
    ]


@transaction.atomic
def schedule_defer(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    version: int | None,
    until: dt.date,
    reason_code: str,
    reason: str,
    scope: str,
    approved_by=None,
    today: dt.date | None = None,
) -> PaymentSchedule:
    """Move the next payment to `until`, alone or with every later one (keeping their day of
    month); the old dates stay on record."""
    schedule = _current(schedule, actor=actor, version=version)
    _require_open(schedule)
    reason = _reason("defer", reason)
    today = today or client_today(schedule.client)
    remaining = _open_payments_locked(schedule)
    moves, added = _defer_plan(schedule, remaining, until=until, scope=scope, today=today)
    moved = {p.sequence: p for p in remaining}
    now = timezone.now()  # bulk_update leaves auto_now fields as they were
    for move in moves:
        payment = moved[move.sequence]
        payment.due_date, payment.updated_at = move.after, now
        payment.status = _initial_status(move.after, today, schedule.client.grace_days)
    ScheduledPayment.objects.bulk_update([moved[m.sequence] for m in moves], ["due_date", "status", "updated_at"])
    scheduled_payments_insert(_payment_rows(schedule, added, today))
    _save_change(schedule, "cycle_start", "cycle_start_sequence", "anchor_day", "horizon_until", "deferred_until")
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client,
        actor=actor,
        verb="schedule.deferred",
        subject=schedule,
        details={
            "scope": DeferScope(scope).value,
            "until": until,
            "reason_code": reason_code,
            "reason": reason,
            "approved_by": approved_by.get_username() if approved_by else None,
            "moved": {m.reference: {"before": m.before, "after": m.after} for m in moves},
            "added": len(added),
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
