"""Logging a discrepancy, by hand or from a reconciliation run: its checks, its number in the
client's sequence and the fingerprint that keeps one problem one item."""

import datetime as dt
import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.access import require_role
from bpo_ledger.audit import Actor, audit_record
from bpo_ledger.models import Client, Customer, Payment
from bpo_ledger.money import validate_currency
from schedules.models import ScheduledPayment

from .. import policy
from ..models import PRIORITY_RANK, Discrepancy, DiscrepancyKind, MismatchField, RootCause
from ._common import already_logged


def _priority_at_opening(client: Client, amount: Decimal, opened_at: dt.datetime) -> str:
    rank = policy.priority_rank(
        amount, opened_at=opened_at, now=opened_at, medium=client.priority_medium_amount,
        high=client.priority_high_amount, critical=client.priority_critical_amount,
        age_step_days=client.priority_age_step_days,
    )
    return policy.PRIORITIES[rank]


def _next_number(client: Client) -> int:
    # Numbers are handed out one at a time, under the client's chain head lock.
    locks.client_chain_head(client_id=client.pk)
    return (Discrepancy.objects.filter(client=client).aggregate(n=Max("number"))["n"] or 0) + 1


def _check(*, client, kind, summary, currency, customer, scheduled_payment, payments, mismatch_field, root_cause) -> None:
    errors = {}
    try:
        validate_currency(currency)
    except ValidationError as exc:
        errors["currency"] = exc.messages
    if kind not in DiscrepancyKind.values:
        errors["kind"] = f"Unknown kind {kind!r}."
    if kind == DiscrepancyKind.MISMATCH and mismatch_field not in MismatchField.values:
        errors["mismatch_field"] = "Say which field does not match."
    if kind != DiscrepancyKind.MISMATCH and mismatch_field:
        errors["mismatch_field"] = "Only a mismatch names a mismatched field."
    if root_cause and root_cause not in RootCause.values:
        errors["root_cause"] = f"Unknown root cause {root_cause!r}."
    if not summary.strip():
        errors["summary"] = "Describe the problem in a line."
    for name, related in (("customer", customer), ("scheduled_payment", scheduled_payment)):
        if related is not None and related.client_id != client.pk:
            errors[name] = "This belongs to another client."
    if any(p.client_id != client.pk for p in payments):
        errors["payments"] = "A payment belongs to another client."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def discrepancy_log(
    *,
    client: Client,
    actor: Actor,
    kind: str,
    summary: str,
    currency: str = "",
    amount_expected: Decimal | None = None,
    amount_actual: Decimal | None = None,
    customer: Customer | None = None,
    scheduled_payment: ScheduledPayment | None = None,
    payments: list[Payment] = (),
    mismatch_field: str = "",
    root_cause: str = "",
    detected_by: str = "",
    fingerprint: str = "",
    now: dt.datetime | None = None,
) -> tuple[Discrepancy, bool]:
    """Log a discrepancy, by hand or from a reconciliation run; returns (item, created).

    The same fingerprint in the same client is the same problem: the existing item comes back.
    """
    require_role(actor, client)
    opened_at = now or timezone.now()
    if fingerprint and (existing := already_logged(client, fingerprint)):
        return existing, False
    currency = currency or client.currency
    _check(
        client=client, kind=kind, summary=summary, currency=currency, customer=customer, scheduled_payment=scheduled_payment,
        payments=payments, mismatch_field=mismatch_field, root_cause=root_cause,
    )
    if scheduled_payment is not None and customer is None:
        customer = scheduled_payment.schedule.customer
    difference = (amount_actual or Decimal("0")) - (amount_expected or Decimal("0"))
    priority = _priority_at_opening(client, difference, opened_at)
    due = policy.sla_due_at(opened_at, client.sla_hours(priority))
    item = Discrepancy.objects.create(
        client=client,
        number=_next_number(client),
        kind=kind,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        summary=summary.strip(),
        currency=currency,
        amount_expected=amount_expected,
        amount_actual=amount_actual,
        amount_difference=difference,
        customer=customer,
        scheduled_payment=scheduled_payment,
        mismatch_field=mismatch_field,
        root_cause=root_cause,
        sla_due_at=due,
        sla_history=policy.sla_started([], due_at=due, level=0),
        detected_by=detected_by or (actor if isinstance(actor, str) else f"user:{actor.get_username()}"),
        reported_by=None if isinstance(actor, str) else actor,
        fingerprint=fingerprint or f"manual:{uuid.uuid4()}",
    )
    if now is not None:
        # auto_now_add ignores a given value. An item logged as of a moment (a run's) is opened
        # then, so its age, its priority ageing and its SLA all count from the same instant.
        Discrepancy.objects.filter(pk=item.pk).update(created_at=opened_at)
        item.created_at = opened_at
    if payments:
        item.payments.set(payments)
    audit_record(
        client=client, actor=actor, verb="discrepancy.logged", subject=item,
        details={
            "kind": kind, "summary": item.summary, "priority": priority, "currency": item.currency,
            "amount_expected": amount_expected, "amount_actual": amount_actual, "difference": difference,
            "scheduled_payment": scheduled_payment.reference if scheduled_payment else None,
            "sla_due_at": item.sla_due_at, "detected_by": item.detected_by,
        },
    )
    return item, True
