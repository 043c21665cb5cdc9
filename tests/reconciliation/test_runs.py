"""The reconciliation run: what it reads, what it writes (all or nothing), once per problem, one run
per client at a time, and a manual match that never allocates what a run did."""

import datetime as dt
import threading
import time
from decimal import Decimal
from itertools import count

import pytest
from django.core import mail
from django.db import connection, connections

from bpo_ledger.errors import DomainError
from bpo_ledger.models import AuditEvent, Payment
from discrepancies.models import Discrepancy
from reconciliation import matching, services
from reconciliation.models import ReconciliationRun, RunStatus, UndoneAllocation
from reconciliation.services import runs
from schedules.models import Allocation, ScheduledPayment
from tests.conftest import make_user
from tests.schedules.conftest import first_payment, make_schedule

_txids = count(1)

AS_OF = dt.date(2026, 12, 10)
TODAY = dt.date(2026, 11, 20)

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)")


def received(client, amount, *, value_date=dt.date(2026, 12, 1), customer=None, **fields):
    return Payment.objects.create(
        client=client, customer=customer, amount=Decimal(amount), currency=fields.pop("currency", "USD"),
        value_date=value_date, source_account="US-CHK-001", bank_transaction_id=f"TX-{next(_txids)}",
        payer_name=fields.pop("payer_name", "Maria Gonzalez"), **fields,
    )


class FakeEngine:
    """Stands in for matching.reconcile: keeps what it was given, returns the result it is told."""

    def __init__(self, result_of):
        self.result_of = result_of
        self.calls = []

    def __call__(self, **inputs):
        self.calls.append(inputs)
        return self.result_of(inputs)


@pytest.fixture
def engine(monkeypatch):
    def install(result_of):
        fake = FakeEngine(result_of)
        monkeypatch.setattr(matching, "reconcile", fake)
        return fake

    return install


@pytest.fixture
def due(client_a, customer_a):
    """A one-time schedule of USD 250.00, due Tuesday Dec 1, 2026: its scheduled payment."""
    return first_payment(make_schedule(client_a, customer_a, due=dt.date(2026, 12, 1), today=TODAY))


def test_the_run_reads_open_payments_money_with_a_rest_customers_and_open_items(client_a, customer_a, due, engine):
    paid = received(client_a, "300.00", reference=due.reference, remittance="thanks")
    Allocation.objects.create(client=client_a, payment=paid, scheduled_payment=due, amount=Decimal("100.00"), rule="manual_match")
    ScheduledPayment.objects.filter(pk=due.pk).update(amount_paid=Decimal("100.00"), status="partially_paid")
    used_up = received(client_a, "50.00")
    Allocation.objects.create(client=client_a, payment=used_up, scheduled_payment=due, amount=Decimal("50.00"), rule="manual")
    later = received(client_a, "70.00", value_date=AS_OF + dt.timedelta(days=1))
    back = received(client_a, "-300.00", kind="reversal", reverses=paid, return_code="R01")
    fake = engine(lambda inputs: matching.Result())

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    inputs = fake.calls[0]
    assert inputs["policy"].as_of == AS_OF.toordinal()
    [expected] = inputs["expected"]
    assert expected == matching.Expected(
        due.pk, customer_a.pk, due.schedule_id, due.reference, "", dt.date(2026, 12, 1).toordinal(), "USD", 25000, 10000,
        False, False,
    )
    by_id = {r.id: r for r in inputs["received"]}
    assert set(by_id) == {back.pk}, "the payment a reversal took back, a used-up one and a later one are not in"
    assert by_id[back.pk].amount == -30000 and by_id[back.pk].reverses == paid.pk and by_id[back.pk].return_code == "R01"
    assert later.pk not in by_id and used_up.pk not in by_id
    assert {(s.payment_id, s.expected_id, s.amount) for s in inputs["settled"]} == {(paid.pk, due.pk, 10000), (used_up.pk, due.pk, 5000)}
    assert [(c.id, c.external_ref) for c in inputs["customers"]] == [(customer_a.pk, "CRM-1")]
    assert inputs["customers"][0].account_hash == customer_a.bank_account_hash != ""


def test_money_in_is_read_with_its_unallocated_rest_and_its_text(client_a, customer_a, due, engine):
    paid = received(client_a, "300.00", reference=due.reference, remittance="invoice 7", payer_account_hash="abc")
    Allocation.objects.create(client=client_a, payment=paid, scheduled_payment=due, amount=Decimal("120.50"), rule="manual_match")
    fake = engine(lambda inputs: matching.Result())

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    [money] = fake.calls[0]["received"]
    assert (money.id, money.amount, money.unallocated, money.value_date) == (paid.pk, 30000, 17950, dt.date(2026, 12, 1).toordinal())
    assert money.text == f"{due.reference} invoice 7" and money.payer_account_hash == "abc" and money.kind == "credit"
