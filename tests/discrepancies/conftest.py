"""Fixtures for discrepancy tests: items logged through the services, a second agent and a second
supervisor of client A, a scheduled payment to adjust."""

import datetime as dt
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection

from tests.conftest import make_user

_fingerprints = count(1)

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)


def log_item(client, *, actor="system:test", kind="underpayment", expected="100.00", actual="60.00", **fields):
    """Log a discrepancy through the service; amounts as strings (None for none)."""
    from discrepancies import services

    fields.setdefault("summary", f"{kind} for the test")
    item, created = services.discrepancy_log(
        client=client,
        actor=actor,
        kind=kind,
        amount_expected=None if expected is None else Decimal(expected),
        amount_actual=None if actual is None else Decimal(actual),
        **fields,
    )
    assert created
    return item


def put(item, status, assignee=None, **fields):
    """Test set-up only: place an item in a status without going through the workflow."""
    from discrepancies.models import Discrepancy

    Discrepancy.objects.filter(pk=item.pk).update(status=status, assignee=assignee, **fields)
    item.refresh_from_db()
    return item


def events_of(item, verb=None):
    """The item's log, oldest first."""
    from bpo_ledger.models import AuditEvent

    events = AuditEvent.objects.filter(client=item.client_id, subject_type="discrepancy", subject_id=str(item.pk))
    if verb:
        events = events.filter(verb=verb)
    return list(events.order_by("seq"))


def schedule_events(scheduled_payment, verb=None):
    from bpo_ledger.models import AuditEvent

    events = AuditEvent.objects.filter(
        client=scheduled_payment.client_id, subject_type="paymentschedule", subject_id=str(scheduled_payment.schedule_id)
    )
    if verb:
        events = events.filter(verb=verb)
    return list(events.order_by("seq"))


@pytest.fixture
def open_item(client_a, customer_a):
    """An open, unassigned underpayment of 40.00 in client A."""
    return log_item(client_a, customer=customer_a)


@pytest.fixture
def other_agent(client_a):
    return make_user("agent_b", client_a, "agent", first_name="Bea")


@pytest.fixture
def other_supervisor(client_a):
    return make_user("supervisor_b", client_a, "supervisor", first_name="Sven")


@pytest.fixture
def payment_due(client_a, customer_a):
    """The one payment of a one-time schedule of USD 250.00, due Dec 1, 2026."""
    from schedules.services import ScheduleSpec, schedule_create

    schedule = schedule_create(
        client=client_a,
        actor="system:test",
        spec=ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("250.00"), start_date=dt.date(2026, 12, 1)),
        today=dt.date(2026, 11, 23),
    )
    return schedule.payments.get()


@pytest.fixture
def received_payment(client_a, customer_a):
    """A credit of USD 200.00 received from customer A's bank."""
    from bpo_ledger.models import Payment

    return Payment.objects.create(
        client=client_a, customer=customer_a, amount=Decimal("200.00"), currency="USD",
        value_date=dt.date(2026, 11, 20), source_account="ACME-OPERATING", bank_transaction_id=f"TX-{next(_fingerprints)}",
        payer_name="Maria Gonzalez", reference="ACME-000001-01",
    )
