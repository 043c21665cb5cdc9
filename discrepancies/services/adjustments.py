"""Adjustments: write-offs, amount corrections and manual matches, logged as discrepancies of
kind adjustment. Above the client's threshold a second supervisor decides (four eyes)."""

import datetime as dt
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Abs
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.access import SUPERVISE_ROLES, require_role
from bpo_ledger.audit import audit_record
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client, Payment
from bpo_ledger.money import format_money
from schedules import services as schedule_services
from schedules.models import PaymentStatus, ScheduledPayment

from .. import policy
from ..models import ACTIVE_STATUSES, AdjustmentType, Approval, Discrepancy, DiscrepancyKind, Status
from ._common import already_logged, conditional_update, sla_record, stale_error
from .intake import discrepancy_log


def _scheduled_payment_locked(pk: int) -> ScheduledPayment:
    # Locked first (scheduled payments come before discrepancies and the client's chain head in
    # the lock order): the adjustment is applied to the balance as it is now.
    return locks.locked(ScheduledPayment.objects.select_related("schedule").filter(pk=pk)).get()


def adjustments_in_window(scheduled_payment: ScheduledPayment, *, days: int) -> Decimal:
    """What the adjustments on this scheduled payment in the last `days` days move, together: the
    absolute amount of each (write-offs, corrections by their change, matches by what they
    settle), applied or pending, by anyone; rejected ones left out."""
    since = timezone.now() - dt.timedelta(days=days)
    total = (
        Discrepancy.objects.filter(
            client=scheduled_payment.client_id, kind=DiscrepancyKind.ADJUSTMENT, scheduled_payment=scheduled_payment,
            created_at__gt=since,
        )
        .exclude(approval=Approval.REJECTED)
        .aggregate(total=Sum(Abs("amount_difference")))["total"]
    )
    return total or Decimal("0.00")


def _check_request(*, client, adjustment_type, scheduled_payment, amount, payment):
    """The amount the request adjusts by, once the request makes sense for this payment."""
    currency = scheduled_payment.schedule.currency
    reference = scheduled_payment.reference
    outstanding = scheduled_payment.amount_outstanding
    if adjustment_type == AdjustmentType.MANUAL_MATCH:
        if payment is None or payment.client_id != client.pk:
            raise ValidationError({"payment": "Choose the received payment to match."})
        if payment.amount <= 0:
            raise ValidationError({"payment": "A reversal or refund cannot settle a payment."})
        if payment.currency != currency:
            raise ValidationError({"payment": f"The payment is in {payment.currency}; {reference} is in {currency}."})
        amount = min(payment.amount, outstanding)
    if amount is None or amount <= 0:
        raise ValidationError({"amount": "The amount must be more than zero."})
    status = scheduled_payment.get_status_display().lower()
    if adjustment_type != AdjustmentType.AMOUNT_CORRECTION and not scheduled_payment.is_open:
        raise ValidationError({"scheduled_payment": f"{reference} is {status}: nothing is owed on it."})
    if adjustment_type == AdjustmentType.WRITE_OFF and amount > outstanding:
        raise ValidationError({"amount": f"Only {format_money(outstanding, currency)} is outstanding on {reference}."})
    if adjustment_type == AdjustmentType.AMOUNT_CORRECTION:
        if scheduled_payment.status in (PaymentStatus.WAIVED, PaymentStatus.CANCELLED):
            raise ValidationError({"scheduled_payment": f"{reference} is {status}: it cannot be corrected."})
        if amount == scheduled_payment.amount_due:
            raise ValidationError({"amount": f"{reference} is already {format_money(amount, currency)}."})
    return amount


@transaction.atomic
def adjustment_request(
    *,
    client: Client,
    actor,
    adjustment_type: str,
    scheduled_payment: ScheduledPayment,
    amount: Decimal | None = None,
    reason: str,
    payment: Payment | None = None,
    root_cause: str = "",
    fingerprint: str = "",
) -> Discrepancy:
    """Log a write-off, amount correction or manual match as an adjustment.

    Up to the client's threshold it is applied at once; above it, it waits for a supervisor
    other than the requester, and until then changes no balance. A fingerprint already logged
    returns that adjustment, unchanged.
    """
    require_role(actor, client)
    if scheduled_payment.client_id != client.pk:
        raise ValidationError({"scheduled_payment": "This payment belongs to another client."})
    if adjustment_type == AdjustmentType.MANUAL_MATCH:
        # Before any row lock (rank 0): a manual match waits while a reconciliation run of the
        # client works, and then sees what the run allocated.
        locks.reconciliation_lock(client_id=client.pk)
    # As it is now, not as the caller's page showed it: the before values go on the record.
    scheduled_payment = _scheduled_payment_locked(scheduled_payment.pk)
    if fingerprint and (existing := already_logged(client, fingerprint)):
        return existing
    if adjustment_type not in AdjustmentType.values:
        raise ValidationError({"adjustment_type": "Choose write-off, amount correction or manual match."})
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why: the approver reads it."})
    amount = _check_request(
        client=client, adjustment_type=adjustment_type, scheduled_payment=scheduled_payment, amount=amount, payment=payment,
    )
    currency = scheduled_payment.schedule.currency
    before = {
        "reference": scheduled_payment.reference,
        "amount_due": scheduled_payment.amount_due,
        "amount_paid": scheduled_payment.amount_paid,
        "status": scheduled_payment.status,
    }
    # Expected and actual are the adjusted figure before and after, so the difference is the
    # amount at stake (for a correction, the change, not the new amount).
    if adjustment_type == AdjustmentType.WRITE_OFF:
        figure_before, figure_after = scheduled_payment.amount_due, scheduled_payment.amount_due - amount
        after = {"amount_due": figure_after}
    elif adjustment_type == AdjustmentType.AMOUNT_CORRECTION:
        figure_before, figure_after = scheduled_payment.amount_due, amount
        after = {"amount_due": figure_after}
    else:
        figure_before, figure_after = scheduled_payment.amount_paid, scheduled_payment.amount_paid + amount
        after = {"amount_paid": figure_after, "payment": payment.bank_transaction_id}
    at_stake = abs(figure_after - figure_before)
    # Summed under the scheduled payment's lock (taken above): two requests at once are counted
    # one after the other, so neither slips under the threshold beside the other.
    window_total = at_stake + adjustments_in_window(scheduled_payment, days=client.adjustment_approval_window_days)
    needs_approval = window_total > client.adjustment_approval_threshold
    approval_reason = (
        f"Needs a supervisor's approval: adjustments on {scheduled_payment.reference} in the last "
        f"{client.adjustment_approval_window_days} days come to {format_money(window_total, currency)}, "
        f"above the {format_money(client.adjustment_approval_threshold, client.currency)} threshold."
    ) if needs_approval else ""
    item, _ = discrepancy_log(
        client=client, actor=actor, kind=DiscrepancyKind.ADJUSTMENT,
        summary=f"{AdjustmentType(adjustment_type).label} of {format_money(at_stake, currency)} on {scheduled_payment.reference}",
        currency=currency, amount_expected=figure_before, amount_actual=figure_after,
        scheduled_payment=scheduled_payment, payments=[payment] if payment else [], root_cause=root_cause,
        fingerprint=fingerprint,
    )
    Discrepancy.objects.filter(pk=item.pk).update(
        adjustment_type=adjustment_type, adjustment_amount=amount,
        adjustment_before=_json(before), adjustment_after=_json(after),
        approval=Approval.PENDING if needs_approval else Approval.NOT_REQUIRED, approval_reason=approval_reason,
        resolution_text=reason,
    )
    item.refresh_from_db()
    audit_record(
        client=client, actor=actor, verb="adjustment.requested", subject=item,
        details={"type": adjustment_type, "amount": amount, "currency": currency, "reason": reason, "before": before, "after": after,
                 "needs_approval": needs_approval, "threshold": client.adjustment_approval_threshold,
                 "window_days": client.adjustment_approval_window_days, "window_total": window_total},
    )
    if not needs_approval:
        _adjustment_apply(item, actor)
        item.refresh_from_db()
    return item


def _json(values: dict) -> dict:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}


def _adjustment_apply(item: Discrepancy, actor) -> None:
    """Change the balance through the schedules services (on the schedule's log) and resolve the item."""
    scheduled_payment = item.scheduled_payment
    reason = f"Adjustment {item.reference}: {item.resolution_text}"
    if item.adjustment_type == AdjustmentType.WRITE_OFF:
        schedule_services.scheduled_payment_waive(scheduled_payment=scheduled_payment, actor=actor, amount=item.adjustment_amount, reason=reason)
    elif item.adjustment_type == AdjustmentType.AMOUNT_CORRECTION:
        schedule_services.scheduled_payment_correct_amount(scheduled_payment=scheduled_payment, actor=actor, amount_due=item.adjustment_amount, reason=reason)
    else:
        payment = item.payments.get()
        schedule_services.scheduled_payment_record(
            scheduled_payment=scheduled_payment, actor=actor, amount=item.adjustment_amount,
            paid_on=payment.value_date, method="bank_transfer", note=reason, received=payment,
        )
    now = timezone.now()
    Discrepancy.objects.filter(pk=item.pk).update(
        applied_at=now, status=Status.RESOLVED, resolution_code="applied", resolved_at=now,
        version=F("version") + 1, updated_at=now, **sla_record(policy.sla_ended(item.sla_history, now=now)),
    )
    audit_record(
        client=item.client, actor=actor, verb="adjustment.applied", subject=item,
        details={
            "type": item.adjustment_type, "amount": item.adjustment_amount, "currency": item.currency,
            "scheduled_payment": scheduled_payment.reference,
            "changes": {"status": {"before": item.status, "after": Status.RESOLVED}},
        },
    )


@transaction.atomic
def adjustment_decide(*, discrepancy: Discrepancy, actor, approve: bool, comment: str, version: int) -> Discrepancy:
    """A supervisor approves (and so applies) or rejects a pending adjustment; never their own."""
    item = Discrepancy.objects.select_related("client", "scheduled_payment", "reported_by").get(pk=discrepancy.pk)
    require_role(actor, item.client, SUPERVISE_ROLES)
    if isinstance(actor, str) or item.reported_by_id == actor.pk:
        raise PermissionDenied("Nobody approves their own adjustment: another supervisor must decide.")
    if item.version != version:
        raise stale_error(item, item.status)
    if item.approval != Approval.PENDING:
        raise DomainError(f"{item.reference} does not wait for approval.")
    comment = comment.strip()
    if not comment:
        raise DomainError("Add a comment for the record.")
    if approve:
        if item.adjustment_type == AdjustmentType.MANUAL_MATCH:
            locks.reconciliation_lock(client_id=item.client_id)
        _scheduled_payment_locked(item.scheduled_payment_id)
    now = timezone.now()
    changes = {
        "approval": Approval.APPROVED if approve else Approval.REJECTED,
        "approved_by": actor, "approval_comment": comment, "approval_decided_at": now,
    }
    if not approve:
        changes.update(status=Status.CLOSED, closed_at=now, resolution_code="", **sla_record(policy.sla_ended(item.sla_history, now=now)))
    before = item.status
    conditional_update(item, sources=ACTIVE_STATUSES, version=version, conditions={"approval": Approval.PENDING}, **changes)
    item.refresh_from_db()
    details = {"reason": comment, "requested_by": item.reported_by.get_username() if item.reported_by else None}
    if not approve:
        details["changes"] = {"status": {"before": before, "after": item.status}}
    audit_record(
        client=item.client, actor=actor, verb="adjustment.approved" if approve else "adjustment.rejected", subject=item,
        details=details,
    )
    if approve:
        _adjustment_apply(item, actor)
        item.refresh_from_db()
    return item
