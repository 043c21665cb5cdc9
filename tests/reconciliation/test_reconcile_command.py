"""python manage.py reconcile: the summary of a run, a dry run that writes nothing, a failed or
refused run that exits non-zero with its message."""

import datetime as dt
import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from bpo_ledger.models import AuditEvent
from discrepancies.models import Discrepancy
from reconciliation.models import ReconciliationRun
from reconciliation.services import runs
from schedules.models import Allocation
from tests.reconciliation.conftest import csv_file, import_csv
from tests.schedules.conftest import first_payment, make_schedule

ACCOUNT = "GB29 NWBK 6016 1331 9268 19"


@pytest.fixture
def statement(client_a, customer_a, mapping):
    """Two payments due (Dec 1 and Nov 30) and a statement through Dec 9 paying the first by reference, twice."""
    today = dt.date(2026, 11, 20)
    paid = first_payment(make_schedule(client_a, customer_a, due=dt.date(2026, 12, 1), today=today))
    unpaid = first_payment(make_schedule(client_a, customer_a, due=dt.date(2026, 11, 30), today=today, amount="80.00"))
    import_csv(client_a, "system:test", csv_file(
        f"2026-12-01,250.00,{paid.reference},Maria Gonzalez,{ACCOUNT}",
        f"2026-12-03,250.00,{paid.reference},Maria Gonzalez,{ACCOUNT}",
        "2026-12-09,5.00,fee refund,Bank Of Nowhere,XX00 0001",
    ), mapping)
    return paid, unpaid


def reconcile(*args) -> str:
    out = io.StringIO()
    call_command("reconcile", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_summary_of_the_run(client_a, statement):
    output = reconcile("--client", "ACME", "--as-of", "2026-12-10")

    run = ReconciliationRun.objects.get()
    assert f"ACME: run {run.pk} as of 2026-12-10 succeeded" in output
    assert "payments in 3, expected payments in 2" in output
    assert "matched by rule: reference 1, customer_amount 0, customer_variance 0, credit 0" in output
    assert "findings by kind: overpayment 0, underpayment 0, duplicate 1, missing 1, mismatch 1, chargeback 0" in output
    assert "discrepancies: 3 logged, 0 already logged, 0 resolved" in output
    assert "waiting for no statements" in output
    assert "time per phase: read" in output and "match" in output and "write" in output
    assert run.trigger == "command"

    again = reconcile("--client", "ACME", "--as-of", "2026-12-10")
    assert "discrepancies: 0 logged, 0 already logged, 0 resolved" in again  # open items are not found again


def test_it_names_the_accounts_a_missing_payment_waits_for(client_a, customer_a, mapping):
    today = dt.date(2026, 11, 20)
    make_schedule(client_a, customer_a, due=dt.date(2026, 11, 30), today=today)
    import_csv(client_a, "system:test", csv_file("2026-11-25,10.00,other,Nobody Known,XX00 0002"), mapping)

    output = reconcile("--client", "ACME", "--as-of", "2026-12-10")

    assert "waiting for statements of: US-CHK-001 (statements through 2026-11-25)" in output
    assert not Discrepancy.objects.filter(kind="missing").exists()


def test_a_dry_run_prints_what_would_happen_and_writes_nothing(client_a, statement):
    tables = (ReconciliationRun, Allocation, Discrepancy, AuditEvent)
    before = [model.objects.count() for model in tables]

    output = reconcile("--client", "ACME", "--as-of", "2026-12-10", "--dry-run")

    assert "ACME: dry run as of 2026-12-10, nothing written" in output
    assert "matched by rule: reference 1" in output and "3 would be logged" in output
    assert [model.objects.count() for model in tables] == before


def test_a_failed_run_exits_non_zero_with_its_error(client_a, statement, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(runs, "_log_findings", broken)

    with pytest.raises(CommandError, match="failed \\(RuntimeError: the disk is full\\); nothing of it was kept"):
        reconcile("--client", "ACME", "--as-of", "2026-12-10")
    assert ReconciliationRun.objects.get().status == "failed"
    assert not Allocation.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
@pytest.mark.django_db(transaction=True)
def test_a_run_refused_while_another_works_exits_non_zero(client_a):
    from bpo_ledger import locks

    holding, release = threading.Event(), threading.Event()

    def hold():
        try:
            with locks.reconciliation_lock_tried(client_id=client_a.pk):
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    try:
        with pytest.raises(CommandError, match="A reconciliation run of ACME is already in progress"):
            reconcile("--client", "ACME")
    finally:
        release.set()
        thread.join(10)


@pytest.mark.parametrize(("args", "message"), [
    (("--client", "NOPE"), "No client with code 'NOPE'"),
    (("--client", "ACME", "--as-of", "10/12/2026"), "is not a date"),
])
def test_it_refuses_a_wrong_client_or_date(client_a, args, message):
    with pytest.raises(CommandError, match=message):
        reconcile(*args)


def test_it_says_when_missing_payments_wait_for_a_first_statement(client_a, customer_a):
    make_schedule(client_a, customer_a, due=dt.date(2026, 11, 30), today=dt.date(2026, 11, 20))

    output = reconcile("--client", "ACME", "--as-of", "2026-12-10")

    assert "missing held back for 1 payments: no statement of the client is in yet" in output
