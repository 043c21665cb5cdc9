"""One scheduled payment at a time: money recorded by hand, failed collections, write-offs and
corrections. Each is on its schedule's log and moves the schedule's version on."""

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils.module_loading import import_string

from bpo_ledger import locks
from bpo_ledger.audit import Actor, audit_record
from bpo_ledger.errors import DomainError
from bpo_ledger.models import MANUAL_SOURCE_ACCOUNT, Payment, PaymentKind, PaymentSource

from ..models import (
    Allocation,
    PaymentMethod,
    PaymentStatus,
    ScheduledPayment,
)
from .lifecycle import _current, _reason, _save_change
from .planning import _initial_status, client_today, schedules_refresh_rollups

# A payment date before this is a typing slip (a wrong year), not a payment to put on record.
EARLIEST_PAYMENT_DATE = dt.date(1990, 1, 1)


def _payment_current(scheduled_payment: ScheduledPayment, *, actor: Actor, version: int | None) -> ScheduledPayment:
    """The payment locked after its schedule (the lock order), once the actor may change it and
    the schedule is still at `version`; its .schedule is the locked schedule."""
    schedule = _current(scheduled_payment.schedule, actor=actor, version=version)
    payment = locks.locked(ScheduledPayment.objects.filter(pk=scheduled_payment.pk)).get()
    payment.schedule = schedule
    return payment


def _start_of_day(day: dt.date, zone_name: str) -> dt.datetime:
    """The first moment of `day` in the IANA zone, in UTC: the local date of the result is `day`."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(zone_name)).astimezone(dt.UTC)


def _received_by_hand(
    scheduled_payment: ScheduledPayment, *, actor: Actor, amount: Decimal, paid_on: dt.date, method: str
) -> Payment:
    """The ledger's Payment row of money recorded by hand, unique like a statement line."""
    schedule = scheduled_payment.schedule
    return Payment.objects.create(
        client=schedule.client,
        customer=schedule.customer,
        source=PaymentSource.MANUAL,
        entered_by=None if isinstance(actor, str) else actor,
        kind=PaymentKind.CREDIT,
        amount=amount,
        currency=schedule.currency,
        value_date=paid_on,
        booking_date=paid_on,
        source_account=MANUAL_SOURCE_ACCOUNT,
        bank_transaction_id=f"manual-{uuid.uuid4()}",
        payer_name=schedule.customer.name,
        reference=f"{scheduled_payment.reference} ({PaymentMethod(method).label.lower()})",
    )


def _check_paid_on(paid_on: dt.date, today: dt.date, zone_name: str) -> None:
    if paid_on > today:
        raise DomainError(f"The payment date {paid_on.isoformat()} is after today ({today.isoformat()} in {zone_name}).")
    if paid_on < EARLIEST_PAYMENT_DATE:
        raise DomainError(f"The payment date {paid_on.isoformat()} is before {EARLIEST_PAYMENT_DATE.isoformat()}: check the year.")


def _check_received(received: Payment, scheduled_payment: ScheduledPayment, amount: Decimal) -> None:
    """A bank payment applied by hand must be the client's, in the schedule's currency, and
    have `amount` of it not yet allocated elsewhere."""
    schedule = scheduled_payment.schedule
    if received.client_id != schedule.client_id:
        raise DomainError("This received payment belongs to another client.")
    if received.currency != schedule.currency:
        raise DomainError(f"The payment is in {received.currency}; {scheduled_payment.reference} is in {schedule.currency}.")
    allocated = Allocation.objects.filter(client=schedule.client_id, payment=received).aggregate(s=Sum("amount"))["s"] or 0
    # Money taken back by a reversal, return or chargeback of it is no longer there to apply.
    reversed_ = -(Payment.objects.filter(client=schedule.client_id, reverses=received, amount__lt=0)
                  .aggregate(s=Sum("amount"))["s"] or 0)
    # ... nor is what a higher app holds of it (credit already paid back to the customer).
    held = sum((import_string(path)(payment=received) for path in settings.PAYMENT_HELD_ELSEWHERE), Decimal("0.00"))
    rest = received.amount - allocated - reversed_ - held
    if amount > rest:
        raise DomainError(
            f"Only {max(rest, Decimal('0.00'))} of payment {received.bank_transaction_id} "
            "is not yet applied to a scheduled payment."
        )


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
    received: Payment | None = None,
    today: dt.date | None = None,
) -> ScheduledPayment:
    """Apply money received to a scheduled payment; `note` says how (a receipt, who took it).

    Without `received` the money came outside the bank files (cash, a card taken by phone): it
    becomes a Payment of source manual, dated `paid_on`, a day of the client's calendar. With it,
    that received payment (a bank line matched by hand) is applied. Either way an Allocation
    links the two. Once settled, paid_at is the start, in the client's time zone, of the latest
    day of the money applied to it: a day, without a time of day.
    """
    if received is not None:
        # A bank payment matched by hand: after any reconciliation run of the client (rank 0 of
        # the lock order), so that its unallocated rest, checked below, is the one the run left.
        locks.reconciliation_lock(client_id=scheduled_payment.client_id)
    payment = _payment_current(scheduled_payment, actor=actor, version=version)
    schedule = payment.schedule
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    note = _reason("payment", note)
    if method not in PaymentMethod.values:
        raise DomainError(f"Unknown payment method {method!r}; use one of {', '.join(PaymentMethod.values)}.")
    if amount <= 0:
        raise DomainError("The amount must be more than zero.")
    if amount > payment.amount_outstanding:
        raise DomainError(
            f"{amount} is more than the {payment.amount_outstanding} outstanding on {payment.reference}; "
            "log the overpayment as a discrepancy instead."
        )
    if received is None:
        _check_paid_on(paid_on, today or client_today(schedule.client), schedule.client.timezone)
        received = _received_by_hand(payment, actor=actor, amount=amount, paid_on=paid_on, method=method)
        rule, explanation = "manual", f"Recorded by hand ({PaymentMethod(method).label.lower()}): {note}"
    else:
        _check_received(received, payment, amount)
        rule, explanation = "manual_match", f"Matched by hand: {note}"
    allocation = Allocation.objects.create(
        client=schedule.client, payment=received, scheduled_payment=payment, amount=amount, rule=rule,
        explanation=explanation[:500], created_by=None if isinstance(actor, str) else actor,
    )
    before = {"status": payment.status, "amount_paid": payment.amount_paid}
    payment.amount_paid += amount
    if payment.amount_paid >= payment.amount_due:
        # Settled on the latest day of the money applied to it, which need not be today's entry.
        settled_on = Allocation.objects.filter(client=schedule.client_id, scheduled_payment=payment).aggregate(
            day=Max("payment__value_date")
        )["day"]
        payment.status, payment.paid_at = PaymentStatus.PAID, _start_of_day(settled_on, schedule.client.timezone)
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
            "currency": schedule.currency,
            "paid_on": paid_on,
            "method": method,
            "reason": note,
            "payment": received.bank_transaction_id,
            "source": received.source,
            "allocation": allocation.pk,
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


@transaction.atomic
def scheduled_payment_retry_debit(
    *, scheduled_payment: ScheduledPayment, actor: Actor, due_date: dt.date, reason: str, today: dt.date
) -> ScheduledPayment:
    """An autopay debit returned for want of funds is tried again: the payment is due again on
    `due_date` (a business day the caller chose per the client's policy); on the schedule's log."""
    payment = _payment_current(scheduled_payment, actor=actor, version=None)
    schedule = payment.schedule
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    before = {"due_date": payment.due_date, "status": payment.status}
    payment.due_date = due_date
    payment.status = _initial_status(due_date, today, schedule.client.grace_days) if payment.amount_paid == 0 else payment.status
    payment.save(update_fields=["due_date", "status", "updated_at"])
    _save_change(schedule)
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.debit_retry", subject=schedule,
        details={
            "reference": payment.reference, "reason": reason,
            "changes": {
                "due_date": {"before": before["due_date"], "after": due_date},
                "status": {"before": before["status"], "after": payment.status},
            },
        },
    )
    return payment
