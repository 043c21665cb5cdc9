"""Data for the run and payment page tests: schedules, payments received, matches as a run
leaves them, runs and the discrepancies they logged."""

import datetime as dt
from decimal import Decimal
from itertools import count

from django.utils import timezone

_ids = count(1)


def one_time_schedule(client, customer, *, amount="250.00", due=dt.date(2026, 12, 1)):
    """A one-time schedule created on Nov 23, 2026: its one scheduled payment."""
    from schedules.services import ScheduleSpec, schedule_create

    schedule = schedule_create(
        client=client, actor="system:test",
        spec=ScheduleSpec(customer=customer, kind="one_time", amount=Decimal(amount), start_date=due),
        today=dt.date(2026, 11, 23),
    )
    return schedule.payments.get()


def received(client, customer=None, *, amount="250.00", value_date=dt.date(2026, 12, 1), payer="Maria Gonzalez",
             reference="", payer_account="", **fields):
    """A credit received from the bank."""
    from bpo_ledger.crypto import normalize_account
    from bpo_ledger.models import Payment

    extra = {}
    if payer_account:
        extra = {"payer_account": payer_account, "payer_account_last4": normalize_account(payer_account)[-4:]}
    return Payment.objects.create(
        client=client, customer=customer, amount=Decimal(amount), currency=fields.pop("currency", "USD"),
        value_date=value_date, source_account="ACME-OPERATING", bank_transaction_id=f"BANK-{next(_ids):05d}",
        payer_name=payer, reference=reference, **extra, **fields,
    )


def matched(payment, scheduled_payment, *, amount=None, rule="reference", explanation=None):
    """An allocation as the nightly run writes it, with the scheduled payment settled by it."""
    from schedules.models import Allocation, PaymentStatus

    amount = Decimal(amount) if amount is not None else payment.amount
    allocation = Allocation.objects.create(
        client_id=payment.client_id, payment=payment, scheduled_payment=scheduled_payment, amount=amount, rule=rule,
        explanation=explanation if explanation is not None else
        f"matched by reference {scheduled_payment.reference} in the remittance text",
    )
    scheduled_payment.refresh_from_db()
    scheduled_payment.amount_paid += amount
    scheduled_payment.status = (
        PaymentStatus.PAID if scheduled_payment.amount_paid >= scheduled_payment.amount_due else PaymentStatus.PARTIALLY_PAID
    )
    scheduled_payment.save(update_fields=["amount_paid", "status"])
    return allocation


def run_of(client, *, as_of=dt.date(2026, 12, 2), status="succeeded", minutes_ago=60, seconds=42, **fields):
    from reconciliation.models import ReconciliationRun

    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return ReconciliationRun.objects.create(
        client=client, as_of=as_of, status=status, started_at=started,
        finished_at=started + dt.timedelta(seconds=seconds) if status != "running" else None, **fields,
    )


def logged_by(run_or_person, client, *, kind="missing", summary=None, **fields):
    """A discrepancy detected by a run (its detected_by) or by a person's name."""
    from discrepancies import services

    detected_by = run_or_person if isinstance(run_or_person, str) else run_or_person.detected_by
    item, _ = services.discrepancy_log(
        client=client, actor="system:test", kind=kind, summary=summary or f"{kind} logged by {detected_by}",
        amount_expected=Decimal("100.00"), amount_actual=Decimal("0.00"), detected_by=detected_by,
        fingerprint=f"fp-{next(_ids)}", **fields,
    )
    return item
