"""One scheduled payment at a time: money recorded by hand, failed collections, write-offs and
corrections. Each is on its schedule's log and moves the schedule's version on."""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.audit import Actor, audit_record
from bpo_ledger.errors import DomainError

from ..models import (
    PaymentStatus,
    ScheduledPayment,
)
from .lifecycle import _current, _reason, _save_change
from .planning import _initial_status, client_today, schedules_refresh_rollups


def _payment_current(scheduled_payment: ScheduledPayment, *, actor: Actor, version: int | None) -> ScheduledPayment:
    """The payment locked after its schedule (the lock order), once the actor may change it and
    the schedule is still at `version`; its .schedule is the locked schedule."""
    schedule = _current(scheduled_payment.schedule, actor=actor, version=version)
    payment = locks.locked(ScheduledPayment.objects.filter(pk=scheduled_payment.pk)).get()
    payment.schedule = schedule
    return payment


@transaction.atomic
def scheduled_payment_record(
    *,
    scheduled_payment: ScheduledPayment,
    actor: Actor,
    version: int | None = None,
    amount: Decimal,
    paid_on: dt.date,
    method: str,
    note: str,
) -> ScheduledPayment:
    """Record money received outside the bank files (cash, a card taken by phone); `note` says
    how (a receipt number, who took it)."""
    payment = _payment_current(scheduled_payment, actor=actor, version=version)
    schedule = payment.schedule
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    note = _reason("payment", note)
    if amount <= 0:
        raise DomainError("The amount must be more than zero.")
    if amount > payment.amount_outstanding:
        raise DomainError(
            f"{amount} is more than the {payment.amount_outstanding} outstanding on {payment.reference}; "
            "log the overpayment as a discrepancy instead."
        )
    before = {"status": payment.status, "amount_paid": payment.amount_paid}
    payment.amount_paid += amount
    if payment.amount_paid >= payment.amount_due:
        payment.status, payment.paid_at = PaymentStatus.PAID, timezone.now()
    else:
        payment.status = PaymentStatus.PARTIALLY_PAID
    payment.save(update_fields=["amount_paid", "status", "paid_at", "updated_at"])
    _save_change(schedule)
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.recorded", subject=schedule,
        details={
            "reference": payment.reference,
            "amount": amount,
            "paid_on": paid_on,
            "method": method,
            "reason": note,
            "changes": {
                "status": {"before": before["status"], "after": payment.status},
                "amount_paid": {"before": before["amount_paid"], "after": payment.amount_paid},
            },
        },
    )
    return payment


@transaction.atomic
def scheduled_payment_fail(
    *,
    scheduled_payment: ScheduledPayment,
    actor: Actor,
    version: int | None,
    reason: str,
    today: dt.date | None = None,
) -> ScheduledPayment:
    """A collection attempt failed (a debit bounced, a card declined): on the log, still owed."""
    payment = _payment_current(scheduled_payment, actor=actor, version=version)
    schedule = payment.schedule
    reason = _reason("fail", reason)
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    today = today or client_today(schedule.client)
    before = payment.status
    if payment.status == PaymentStatus.UPCOMING and payment.due_date <= today:
        payment.status = _initial_status(payment.due_date, today, schedule.client.grace_days)
        payment.save(update_fields=["status", "updated_at"])
    _save_change(schedule)
    audit_record(
        client=schedule.client, actor=actor, verb="payment.failed", subject=schedule,
        details={"reference": payment.reference, "reason": reason, "status": {"before": before, "after": payment.status}},
    )
    return payment


@transaction.atomic
def scheduled_payment_waive(
    *, scheduled_payment: ScheduledPayment, actor: Actor, version: int | None = None, amount: Decimal, reason: str
) -> ScheduledPayment:
    """Write off part or all of what is outstanding (an approved adjustment); on the schedule's log."""
    payment = _payment_current(scheduled_payment, actor=actor, version=version)
    schedule = payment.schedule
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    if amount <= 0 or amount > payment.amount_outstanding:
        raise DomainError(f"Write off between 0.01 and the {payment.amount_outstanding} outstanding on {payment.reference}.")
    before = {"status": payment.status, "amount_due": payment.amount_due}
    if payment.amount_paid == 0 and amount == payment.amount_due:
        # All of it: the payment is waived and keeps what was due, on record.
        payment.status = PaymentStatus.WAIVED
    else:
        payment.amount_due -= amount
        if payment.amount_due <= payment.amount_paid:
            payment.status = PaymentStatus.PAID
    payment.save(update_fields=["amount_due", "status", "updated_at"])
    _save_change(schedule)
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.written_off", subject=schedule,
        details={
            "reference": payment.reference, "amount": amount, "reason": reason,
            "changes": {
                "status": {"before": before["status"], "after": payment.status},
                "amount_due": {"before": before["amount_due"], "after": payment.amount_due},
            },
        },
    )
    return payment


@transaction.atomic
def scheduled_payment_correct_amount(
    *, scheduled_payment: ScheduledPayment, actor: Actor, version: int | None = None, amount_due: Decimal, reason: str
) -> ScheduledPayment:
    """Correct what one payment should have been (an approved adjustment); on the schedule's log."""
    payment = _payment_current(scheduled_payment, actor=actor, version=version)
    schedule = payment.schedule
    if amount_due <= 0:
        raise DomainError("The corrected amount must be more than zero.")
    if payment.status in (PaymentStatus.WAIVED, PaymentStatus.CANCELLED):
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: it cannot be corrected.")
    before = {"status": payment.status, "amount_due": payment.amount_due}
    payment.amount_due = amount_due
    if payment.amount_paid >= amount_due:
        payment.status = PaymentStatus.PAID
    elif payment.status == PaymentStatus.PAID:
        payment.status = PaymentStatus.PARTIALLY_PAID
    payment.save(update_fields=["amount_due", "status", "updated_at"])
    _save_change(schedule)
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.amount_corrected", subject=schedule,
        details={
            "reference": payment.reference, "reason": reason,
            "changes": {
                "status": {"before": before["status"], "after": payment.status},
                "amount_due": {"before": before["amount_due"], "after": payment.amount_due},
            },
        },
    )
    return payment
