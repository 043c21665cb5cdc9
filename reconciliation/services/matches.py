"""Matches changed by hand: a supervisor undoes an allocation, or pays a customer's credit back.

Both are on the received payment's log as well as on the schedule's or the customer's.
"""

from decimal import Decimal

from django.db import transaction

from bpo_ledger import locks
from bpo_ledger.access import SUPERVISE_ROLES, require_role
from bpo_ledger.audit import Actor, audit_record
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Payment
from bpo_ledger.money import format_money
from schedules.models import (
    Allocation,
    PaymentSchedule,
    PaymentStatus,
    ScheduledPayment,
    ScheduleStatus,
)
from schedules.services.lifecycle import _save_change
from schedules.services.planning import _initial_status, client_today, schedules_refresh_rollups

from ..models import CreditRefund, MatchHold
from ..selectors import payment_unallocated_rest


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(f"Say why the {what}: it goes on the log.")
    return reason[:500]


def _reopened_status(scheduled_payment: ScheduledPayment, *, today) -> str:
    """The status of a scheduled payment once money was taken back off it."""
    if scheduled_payment.status not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_PAID):
        return scheduled_payment.status  # waived or cancelled stay so
    if scheduled_payment.amount_paid >= scheduled_payment.amount_due:
        return PaymentStatus.PAID
    if scheduled_payment.amount_paid > 0:
        return PaymentStatus.PARTIALLY_PAID
    return _initial_status(scheduled_payment.due_date, today, scheduled_payment.client.grace_days)


@transaction.atomic
def allocation_undo(*, allocation: Allocation, actor: Actor, reason: str) -> ScheduledPayment:
    """Take a match back (supervisors): the amount comes off the scheduled payment, which is
    open again, and the received payment's money is unallocated; on both logs."""
    client = allocation.client
    require_role(actor, client, SUPERVISE_ROLES)
    reason = _reason(reason, "match is undone")
    # After any reconciliation run of the client at work (rank 0): never from under its feet.
    locks.reconciliation_lock(client_id=client.pk)
    # Lock order: the schedule (rank 2), then the scheduled payment (rank 3). A second undo of
    # the same allocation waits here and then finds it gone.
    schedule_id = ScheduledPayment.objects.values_list("schedule_id", flat=True).get(pk=allocation.scheduled_payment_id)
    schedule = locks.locked(PaymentSchedule.objects.filter(pk=schedule_id)).get()
    scheduled = locks.locked(ScheduledPayment.objects.select_related("client").filter(pk=allocation.scheduled_payment_id)).get()
    current = Allocation.objects.select_related("payment").filter(pk=allocation.pk, client=client).first()
    if current is None:
        raise DomainError("This match was already undone.")
    payment = current.payment
    before = {"status": scheduled.status, "amount_paid": scheduled.amount_paid}
    scheduled.amount_paid = max(scheduled.amount_paid - current.amount, Decimal("0.00"))
    scheduled.status = _reopened_status(scheduled, today=client_today(client))
    if scheduled.amount_paid < scheduled.amount_due:
        scheduled.paid_at = None
    scheduled.save(update_fields=["amount_paid", "status", "paid_at", "updated_at"])
    current.delete()
    reopen = schedule.status == ScheduleStatus.COMPLETED and scheduled.status != PaymentStatus.PAID
    if reopen:
        schedule.status = ScheduleStatus.ACTIVE  # something is owed on it again
    _save_change(schedule, *(["status"] if reopen else []))
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    details = {
        "allocation": current.pk,
        "reference": scheduled.reference,
        "amount": current.amount,
        "currency": payment.currency,
        "payment": payment.bank_transaction_id,
        "payment_id": payment.pk,
        "rule": current.rule,
        "reason": reason,
        "changes": {
            "status": {"before": before["status"], "after": scheduled.status},
            "amount_paid": {"before": before["amount_paid"], "after": scheduled.amount_paid},
        },
    }
    if reopen:
        details["changes"]["schedule_status"] = {"before": ScheduleStatus.COMPLETED, "after": ScheduleStatus.ACTIVE}
    # The next run would find the same reference again: the payment is left to people.
    MatchHold.objects.get_or_create(client=client, payment=payment, defaults={"held_by": actor, "reason": reason})
    audit_record(client=client, actor=actor, verb="allocation.undone", subject=schedule, details=details)
    audit_record(client=client, actor=actor, verb="allocation.undone", subject=payment, details=details)
    return scheduled


@transaction.atomic
def credit_refund(*, payment: Payment, actor: Actor, amount: Decimal, reason: str) -> CreditRefund:
    """Pay back part or all of a known customer's credit held on one payment (supervisors), so
    that the next run no longer applies it; on the payment's and the customer's log."""
    client = payment.client
    require_role(actor, client, SUPERVISE_ROLES)
    if isinstance(actor, str):
        raise DomainError("A refund is made by a supervisor, on record under their name.")
    reason = _reason(reason, "credit is refunded")
    if payment.customer_id is None:
        raise DomainError("This payment is of no known customer: match it, or log it as a discrepancy.")
    if amount is None or amount <= 0:
        raise DomainError("The amount to refund must be more than zero.")
    # After any reconciliation run of the client at work (rank 0), which may be applying this
    # credit; then the customer (rank 1) serializes refunds of their credit: two at once are
    # counted in turn.
    locks.reconciliation_lock(client_id=client.pk)
    customer = locks.customer_locked(pk=payment.customer_id)
    rest = payment_unallocated_rest(payment=payment)
    if amount > rest:
        held = format_money(max(rest, Decimal("0.00")), payment.currency)
        raise DomainError(
            f"Only {held} of payment {payment.bank_transaction_id} is held as credit: "
            f"{format_money(amount, payment.currency)} cannot be refunded."
        )
    refund = CreditRefund.objects.create(
        client=client, customer=customer, payment=payment, amount=amount, reason=reason,
        refunded_by=actor,
    )
    details = {
        "refund": refund.pk, "amount": amount, "currency": payment.currency,
        "payment": payment.bank_transaction_id, "payment_id": payment.pk,
        "credit_left": rest - amount, "reason": reason,
    }
    audit_record(client=client, actor=actor, verb="credit.refunded", subject=payment, details=details)
    audit_record(client=client, actor=actor, verb="credit.refunded", subject=customer, details=details)
    return refund
