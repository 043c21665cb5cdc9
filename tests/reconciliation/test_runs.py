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
    assert all(type(value) is int for value in (money.amount, money.unallocated, money.value_date)), "cents and ordinals are ints"


def _allocation(payment, expected, cents, rule=matching.REFERENCE):
    return matching.Allocation(payment.pk, expected.pk, cents, rule, f"matched by reference {expected.reference} in the remittance text")


def _missing(expected, cents=25000):
    return matching.Finding(
        matching.MISSING, f"missing:{expected.pk}", f"{expected.reference} not paid", "USD", cents, None, expected.pk,
        None, (),
    )


@pytest.fixture
def two_due(client_a, customer_a, due):
    other = make_schedule(client_a, customer_a, due=dt.date(2026, 11, 30), today=TODAY, amount="80.00")
    return due, first_payment(other)


def test_a_run_allocates_settles_and_logs_each_finding_on_record(client_a, customer_a, two_due, engine):
    due, other = two_due
    paid = received(client_a, "250.00", reference=due.reference)
    engine(lambda inputs: matching.Result(
        allocations=[_allocation(paid, due, 25000)], findings=[_missing(other, 8000)], settled_expected=[due.pk],
        counts={"payments_in": 1, "expected_in": 2, "matched_reference": 1, "settled": 1, "findings_missing": 1},
    ))

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)

    run = outcome.run
    assert run.status == RunStatus.SUCCEEDED and run.finished_at and run.error == ""
    assert run.counts["matched_reference"] == 1 and run.counts["logged"] == 1 and run.counts["allocations"] == 1
    assert set(run.phase_seconds) == {"read", "match", "write"}
    allocation = Allocation.objects.get(client=client_a)
    assert (allocation.payment, allocation.scheduled_payment, allocation.amount, allocation.rule) == (paid, due, Decimal("250.00"), "reference")
    assert allocation.explanation == f"matched by reference {due.reference} in the remittance text"
    due.refresh_from_db()
    assert (due.status, due.amount_paid) == ("paid", Decimal("250.00"))
    assert due.paid_at == dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)  # midnight in New York, the day of the money
    due.schedule.refresh_from_db()
    assert (due.schedule.status, due.schedule.next_due_date) == ("completed", None)  # its one payment is paid
    item = Discrepancy.objects.get(client=client_a)
    assert (item.kind, item.scheduled_payment, item.customer, item.detected_by, item.fingerprint) == (
        "missing", other, customer_a, f"run:{run.pk}", f"missing:{other.pk}"
    )
    assert (item.amount_expected, item.amount_actual, item.amount_difference) == (Decimal("80.00"), None, Decimal("-80.00"))
    assert item.number == 1 and item.priority == "medium" and item.status == "open"
    verbs = list(AuditEvent.objects.filter(client=client_a, created_at__gte=run.started_at).values_list("verb", "subject_type"))
    assert ("reconciliation.run", "reconciliationrun") in verbs and ("discrepancy.logged", "discrepancy") in verbs
    assert outcome.logged == 1 and outcome.resolved == 0


def test_a_partial_allocation_leaves_the_payment_partially_paid(client_a, due, engine):
    paid = received(client_a, "100.00", reference=due.reference)
    engine(lambda inputs: matching.Result(allocations=[_allocation(paid, due, 10000)]))

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    due.refresh_from_db()
    assert (due.status, due.amount_paid, due.paid_at) == ("partially_paid", Decimal("100.00"), None)


def test_running_the_date_again_makes_a_new_run_that_logs_nothing_new(client_a, two_due, engine):
    due, other = two_due
    engine(lambda inputs: matching.Result(findings=[_missing(other, 8000), _missing(due)]))
    first = services.reconciliation_run(client=client_a, as_of=AS_OF)

    second = services.reconciliation_run(client=client_a, as_of=AS_OF)

    assert second.run.pk != first.run.pk
    assert (first.logged, second.logged, second.already_logged) == (2, 0, 2)
    assert Discrepancy.objects.filter(client=client_a).count() == 2
    assert sorted(Discrepancy.objects.values_list("number", flat=True)) == [1, 2]


def test_a_run_passes_its_own_open_items_and_any_open_item_on_a_payment(client_a, two_due, engine):
    from discrepancies.services import discrepancy_log

    due, other = two_due
    manual, _ = discrepancy_log(client=client_a, actor="system:test", kind="underpayment", summary="by hand",
                                scheduled_payment=other, fingerprint="hand:1")
    discrepancy_log(client=client_a, actor="system:test", kind="mismatch", mismatch_field="payer", summary="unrelated")
    fake = engine(lambda inputs: matching.Result(findings=[_missing(due)]))
    services.reconciliation_run(client=client_a, as_of=AS_OF)

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    items = {item.fingerprint: item for item in fake.calls[1]["open_items"]}
    assert set(items) == {"hand:1", f"missing:{due.pk}"}
    assert items["hand:1"].expected_id == other.pk and items[f"missing:{due.pk}"].kind == "missing"


def test_a_resolution_resolves_the_open_item_on_its_log(client_a, two_due, engine):
    due, other = two_due
    engine(lambda inputs: matching.Result(findings=[_missing(due)]))
    services.reconciliation_run(client=client_a, as_of=AS_OF)
    item = Discrepancy.objects.get(client=client_a)
    paid = received(client_a, "250.00", reference=due.reference, value_date=dt.date(2026, 12, 8))
    engine(lambda inputs: matching.Result(
        allocations=[_allocation(paid, due, 25000)], settled_expected=[due.pk],
        resolutions=[matching.Resolution(item.fingerprint, f"paid by payment {paid.pk} on 2026-12-08", (paid.pk,))],
    ))

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)

    item.refresh_from_db()
    assert (item.status, item.resolution_code) == ("resolved", "payment_located")
    assert f"paid by payment {paid.pk}" in item.resolution_text and item.resolved_at is not None
    assert item.sla_history[-1]["met_at"] is not None
    event = AuditEvent.objects.get(client=client_a, verb="reconciliation.resolved")
    assert event.subject_id == str(item.pk) and event.details["run"] == outcome.run.pk
    assert outcome.resolved == 1 and outcome.run.counts["resolved"] == 1


def test_a_low_priority_finding_is_logged_low_and_a_mismatch_names_its_field(client_a, customer_a, due, engine):
    paid = received(client_a, "250.00", reference=due.reference)
    engine(lambda inputs: matching.Result(findings=[matching.Finding(
        matching.MISMATCH, f"mismatch:account:{paid.pk}", "paid from another account", "USD", 25000, 25000, due.pk,
        customer_a.pk, (paid.pk,), mismatch_field="account", low_priority=True,
    ), matching.Finding(
        matching.MISMATCH, f"mismatch:payer:{paid.pk}", "payer unknown", "USD", None, 25000, None, None, (paid.pk,),
        mismatch_field="payer", suggestions=(customer_a.pk,),
    )]))

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    account = Discrepancy.objects.get(fingerprint=f"mismatch:account:{paid.pk}")
    assert (account.priority, account.mismatch_field, list(account.payments.all())) == ("low", "account_number", [paid])
    payer = Discrepancy.objects.get(fingerprint=f"mismatch:payer:{paid.pk}")
    assert payer.mismatch_field == "payer" and "suggested: Maria Gonzalez" in payer.summary


def test_a_customer_identified_by_the_run_is_recorded_on_the_payment(client_a, customer_a, due, engine):
    paid = received(client_a, "250.00", reference=due.reference)
    engine(lambda inputs: matching.Result(allocations=[_allocation(paid, due, 25000)], identified={paid.pk: customer_a.pk},
                                          settled_expected=[due.pk]))

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    paid.refresh_from_db()
    assert paid.customer == customer_a


def test_a_reversal_takes_the_allocation_back_and_the_payment_is_open_again(client_a, customer_a, due, engine):
    paid = received(client_a, "250.00", reference=due.reference)
    engine(lambda inputs: matching.Result(allocations=[_allocation(paid, due, 25000)], settled_expected=[due.pk]))
    services.reconciliation_run(client=client_a, as_of=AS_OF)
    back = received(client_a, "-250.00", kind="reversal", reverses=paid, return_code="R10", value_date=dt.date(2026, 12, 4))
    fake = engine(lambda inputs: matching.Result(
        unallocations=[matching.Unallocation(paid.pk, due.pk, 25000, back.pk)], reopened_expected=[due.pk],
        findings=[matching.Finding(matching.CHARGEBACK, f"chargeback:{back.pk}", "payment returned", "USD", 25000, -25000,
                                   due.pk, customer_a.pk, (paid.pk, back.pk), return_code="R10")],
    ))

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)

    assert [r.id for r in fake.calls[0]["received"]] == [back.pk]
    assert not Allocation.objects.filter(client=client_a).exists()
    due.refresh_from_db()
    assert (due.status, due.amount_paid, due.paid_at) == ("overdue", Decimal("0.00"), None)  # Dec 1 + 3 grace days < Dec 10
    due.schedule.refresh_from_db()
    assert (due.schedule.status, due.schedule.next_due_date, due.schedule.is_overdue) == ("active", due.due_date, True)
    undone = UndoneAllocation.objects.get()
    assert (undone.payment, undone.scheduled_payment, undone.reversal, undone.amount, undone.run) == (
        paid, due, back, Decimal("250.00"), outcome.run
    )
    chargeback = Discrepancy.objects.get(kind="chargeback")
    assert set(chargeback.payments.all()) == {paid, back} and "R10" in chargeback.summary
    taken_back = AuditEvent.objects.get(client=client_a, verb="reconciliation.taken_back")
    assert taken_back.subject_id == str(due.schedule_id) and taken_back.details["return_code"] == "R10"

    fake = engine(lambda inputs: matching.Result())
    services.reconciliation_run(client=client_a, as_of=AS_OF)
    assert fake.calls[0]["received"] == [], "a reversal acted on is not read again"


def test_part_of_a_split_payment_taken_back_leaves_the_rest_allocated(client_a, two_due, engine):
    due, other = two_due
    paid = received(client_a, "330.00", reference=f"{due.reference} {other.reference}")
    engine(lambda inputs: matching.Result(allocations=[_allocation(paid, due, 25000), _allocation(paid, other, 8000)],
                                          settled_expected=[due.pk, other.pk]))
    services.reconciliation_run(client=client_a, as_of=AS_OF)
    back = received(client_a, "-100.00", kind="reversal", reverses=paid)
    engine(lambda inputs: matching.Result(unallocations=[matching.Unallocation(paid.pk, due.pk, 10000, back.pk)],
                                          reopened_expected=[due.pk]))

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    assert sorted(Allocation.objects.values_list("scheduled_payment_id", "amount")) == sorted(
        [(due.pk, Decimal("150.00")), (other.pk, Decimal("80.00"))]
    )
    due.refresh_from_db()
    assert (due.status, due.amount_paid) == ("partially_paid", Decimal("150.00"))


def test_a_failed_run_keeps_nothing_is_recorded_and_emails_the_supervisors(client_a, customer_a, two_due, engine, monkeypatch, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_user("sup", client_a, "supervisor")
    make_user("agent2", client_a, "agent")
    due, other = two_due
    paid = received(client_a, "250.00", reference=due.reference)
    engine(lambda inputs: matching.Result(
        allocations=[_allocation(paid, due, 25000)], findings=[_missing(other, 8000)], identified={paid.pk: customer_a.pk},
        settled_expected=[due.pk],
    ))
    events_before = AuditEvent.objects.count()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "_log_findings", broken)  # the write phase fails after allocating and settling

    with pytest.raises(services.RunFailed) as failed:
        services.reconciliation_run(client=client_a, as_of=AS_OF)

    run = ReconciliationRun.objects.get()
    assert failed.value.run == run and "disk full" in str(failed.value)
    assert (run.status, run.error) == ("failed", "RuntimeError: disk full") and run.finished_at
    assert not Allocation.objects.exists() and not Discrepancy.objects.exists()
    due.refresh_from_db()
    assert (due.status, due.amount_paid) == ("upcoming", Decimal("0.00"))
    assert AuditEvent.objects.count() == events_before
    [message] = mail.outbox
    assert message.to == ["sup@example.com"] and "failed" in message.subject and "disk full" in message.body


def test_a_dry_run_computes_the_outcome_and_writes_nothing(client_a, two_due, engine):
    due, other = two_due
    paid = received(client_a, "250.00", reference=due.reference)
    engine(lambda inputs: matching.Result(allocations=[_allocation(paid, due, 25000)], findings=[_missing(other, 8000)],
                                          settled_expected=[due.pk], counts={"matched_reference": 1}))
    tables = (ReconciliationRun, Allocation, Discrepancy, AuditEvent, UndoneAllocation)
    before = [model.objects.count() for model in tables]

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF, dry_run=True)

    assert outcome.run is None and len(outcome.result.allocations) == 1 and outcome.counts["matched_reference"] == 1
    assert [model.objects.count() for model in tables] == before
    due.refresh_from_db()
    assert (due.status, due.amount_paid) == ("upcoming", Decimal("0.00"))


def test_an_auditor_may_not_run_it(client_a, auditor, engine):
    from django.core.exceptions import PermissionDenied

    engine(lambda inputs: matching.Result())
    with pytest.raises(PermissionDenied):
        services.reconciliation_run(client=client_a, as_of=AS_OF, actor=auditor)
    assert not ReconciliationRun.objects.exists()


def test_a_returned_debit_is_retried_per_policy_then_the_mandate_paused(client_a, customer_a, engine):
    schedule = make_schedule(client_a, customer_a, due=dt.date(2026, 12, 1), today=TODAY, kind="autopay")
    payment = first_payment(schedule)
    client_a.autopay_max_retries, client_a.autopay_retry_days = 1, 3
    client_a.save()

    def returned(inputs):
        return matching.Result(mandate_actions=[matching.MandateAction(schedule.pk, payment.pk, matching.RETRY, "R01", 1)])

    engine(returned)
    services.reconciliation_run(client=client_a, as_of=AS_OF)  # Thursday Dec 10 + 3 business days

    payment.refresh_from_db()
    assert (payment.due_date, payment.status) == (dt.date(2026, 12, 15), "upcoming")
    retry = AuditEvent.objects.get(verb="payment.debit_retry")
    assert retry.subject_id == str(schedule.pk) and "R01" in retry.details["reason"]

    services.reconciliation_run(client=client_a, as_of=AS_OF)  # returned again: retries used up

    schedule.refresh_from_db()
    assert schedule.status == "paused"
    paused = AuditEvent.objects.get(verb="schedule.paused", subject_id=str(schedule.pk))
    assert "R01" in paused.details["reason"] and "after 1 retries" in paused.details["reason"]


@pytest.mark.parametrize(("code", "action", "status", "reason"), [
    ("R02", matching.PAUSE, "paused", "mandate paused: debit returned (R02)"),
    ("R07", matching.REVOKE, "cancelled", "mandate revoked (R07)"),
])
def test_a_return_pauses_or_revokes_the_mandate_on_the_schedule_log(client_a, customer_a, engine, code, action, status, reason):
    schedule = make_schedule(client_a, customer_a, due=dt.date(2026, 12, 1), today=TODAY, kind="autopay")
    payment = first_payment(schedule)
    engine(lambda inputs: matching.Result(mandate_actions=[matching.MandateAction(schedule.pk, payment.pk, action, code, 1)]))

    services.reconciliation_run(client=client_a, as_of=AS_OF)

    schedule.refresh_from_db()
    assert schedule.status == status
    event = AuditEvent.objects.filter(subject_type="paymentschedule", subject_id=str(schedule.pk)).order_by("-seq").first()
    assert event.details["reason"] == reason


# --- End to end: statements imported, schedules made through the services, the real engine -------

ACCOUNT = "GB29 NWBK 6016 1331 9268 19"  # customer_a's account on file


@pytest.fixture
def month(client_a, customer_a):
    """Three one-time schedules of customer A: USD 250.00 due Dec 1, 80.00 due Nov 30, 100.00 due Dec 2."""
    return [
        first_payment(make_schedule(client_a, customer_a, due=due, today=TODAY, amount=amount))
        for due, amount in ((dt.date(2026, 12, 1), "250.00"), (dt.date(2026, 11, 30), "80.00"), (dt.date(2026, 12, 2), "100.00"))
    ]


def _import(client, mapping, *rows, name):
    from tests.reconciliation.conftest import csv_file, import_csv

    return import_csv(client, "system:test", csv_file(*rows), mapping, name=name)


def test_end_to_end_a_statement_settles_logs_once_and_resolves_when_the_money_comes(client_a, customer_a, month, mapping):
    full, unpaid, short = month
    _import(client_a, mapping,
            f"2026-12-01,250.00,{full.reference},Maria Gonzalez,{ACCOUNT}",
            f"2026-12-02,60.00,Payment {short.reference.lower()},Maria Gonzalez,{ACCOUNT}",
            f"2026-12-03,250.00,{full.reference},Maria Gonzalez,{ACCOUNT}",
            "2026-12-09,12.00,coffee,Nobody Known,XX00 1111",
            name="week1.csv")

    first = services.reconciliation_run(client=client_a, as_of=AS_OF)

    full.refresh_from_db(), short.refresh_from_db(), unpaid.refresh_from_db()
    assert (full.status, full.amount_paid) == ("paid", Decimal("250.00"))
    assert (short.status, short.amount_paid) == ("partially_paid", Decimal("60.00"))
    assert (unpaid.status, unpaid.amount_paid) == ("upcoming", Decimal("0.00"))  # its status is the nightly job's
    allocations = list(Allocation.objects.filter(client=client_a).values_list("scheduled_payment_id", "amount", "rule"))
    assert sorted(allocations) == sorted([(full.pk, Decimal("250.00"), "reference"), (short.pk, Decimal("60.00"), "reference")])
    kinds = {item.kind: item for item in Discrepancy.objects.filter(client=client_a)}
    assert set(kinds) == {"missing", "underpayment", "duplicate", "mismatch"}
    assert kinds["missing"].scheduled_payment == unpaid and kinds["underpayment"].scheduled_payment == short
    assert kinds["duplicate"].scheduled_payment == full and kinds["mismatch"].mismatch_field == "payer"
    assert all(item.detected_by == f"run:{first.run.pk}" for item in kinds.values())
    assert first.run.counts["logged"] == 4 and first.run.counts["matched_reference"] == 2 and first.run.waiting_for == []

    again = services.reconciliation_run(client=client_a, as_of=AS_OF)

    assert again.run.pk != first.run.pk and again.run.status == "succeeded"
    assert (again.logged, again.resolved, again.run.counts["allocations"]) == (0, 0, 0)
    assert Discrepancy.objects.filter(client=client_a).count() == 4 and Allocation.objects.filter(client=client_a).count() == 2

    _import(client_a, mapping, f"2026-12-10,80.00,{unpaid.reference},Maria Gonzalez,{ACCOUNT}", name="week2.csv")
    later = services.reconciliation_run(client=client_a, as_of=AS_OF + dt.timedelta(days=1))

    unpaid.refresh_from_db()
    assert (unpaid.status, unpaid.amount_paid) == ("paid", Decimal("80.00"))
    missing = Discrepancy.objects.get(pk=kinds["missing"].pk)
    assert missing.status == "resolved" and "paid in full" in missing.resolution_text
    assert later.resolved == 1 and later.logged == 0
    assert AuditEvent.objects.filter(verb="reconciliation.resolved", subject_id=str(missing.pk)).count() == 1


def test_end_to_end_missing_waits_for_the_statements_of_the_days_it_needs(client_a, customer_a, month, mapping):
    full, unpaid, short = month
    _import(client_a, mapping, f"2026-12-01,250.00,{full.reference},Maria Gonzalez,{ACCOUNT}", name="early.csv")

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)

    assert not Discrepancy.objects.filter(kind="missing").exists()
    assert outcome.run.waiting_for == [{"account": "US-CHK-001", "through": "2026-12-01", "payments": 2}]


def test_end_to_end_a_reversal_reopens_the_payment_with_one_chargeback_item(client_a, customer_a, month, mapping):
    full, unpaid, short = month
    _import(client_a, mapping, f"2026-12-01,250.00,{full.reference},Maria Gonzalez,{ACCOUNT}", name="in.csv")
    services.reconciliation_run(client=client_a, as_of=dt.date(2026, 12, 2))
    paid = Payment.objects.get(client=client_a, amount=Decimal("250.00"))
    back = received(client_a, "-250.00", kind="reversal", reverses=paid, return_code="R01", value_date=dt.date(2026, 12, 4))

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)

    full.refresh_from_db()
    assert (full.status, full.amount_paid, full.paid_at) == ("overdue", Decimal("0.00"), None)
    assert not Allocation.objects.filter(scheduled_payment=full).exists()
    [chargeback] = Discrepancy.objects.filter(client=client_a, scheduled_payment=full)
    assert chargeback.kind == "chargeback" and back in chargeback.payments.all()
    assert outcome.run.counts["taken_back"] == 1

    again = services.reconciliation_run(client=client_a, as_of=AS_OF)
    assert again.logged == 0 and again.run.counts["taken_back"] == 0
    assert Discrepancy.objects.filter(client=client_a, scheduled_payment=full).count() == 1


# --- One run per client at a time; a manual match waits for a run -----------------------------


def _in_thread(target):
    """Run `target` in a thread with its own connection; returns (thread, results list)."""
    results = []

    def run():
        try:
            results.append(target())
        except Exception as exc:
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


def _run_held_after_matching(client, monkeypatch):
    """A run in a thread, held once the engine has decided (it holds the client's reconciliation
    lock and no row lock yet) until the returned event is set; returns (event, thread, results)."""
    matched, finish = threading.Event(), threading.Event()
    reconcile = matching.reconcile

    def slow_engine(**inputs):
        result = reconcile(**inputs)
        matched.set()
        finish.wait(30)
        return result

    monkeypatch.setattr(matching, "reconcile", slow_engine)
    thread, results = _in_thread(lambda: services.reconciliation_run(client=client, as_of=AS_OF))
    assert matched.wait(30)
    return finish, thread, results


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_second_run_of_the_client_is_refused_while_one_works(client_a, client_b, month):
    from bpo_ledger import locks

    holding, release = threading.Event(), threading.Event()

    def hold():
        with locks.reconciliation_lock_tried(client_id=client_a.pk) as had:
            holding.set()
            release.wait(30)
            return had

    thread, results = _in_thread(hold)
    assert holding.wait(10)
    try:
        with pytest.raises(services.RunRefused, match="already in progress"):
            services.reconciliation_run(client=client_a, as_of=AS_OF)
        assert not ReconciliationRun.objects.filter(client=client_a).exists()
        assert services.reconciliation_run(client=client_b, as_of=AS_OF).run.status == "succeeded"  # other clients run
    finally:
        release.set()
        thread.join(10)
    assert results == [True]
    assert services.reconciliation_run(client=client_a, as_of=AS_OF).run.status == "succeeded"


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_manual_match_waits_for_the_run_and_never_allocates_the_payment_twice(client_a, customer_a, agent, month, mapping, monkeypatch):
    from discrepancies.services import adjustment_request

    full, unpaid, short = month
    _import(client_a, mapping, f"2026-12-01,250.00,{full.reference},Maria Gonzalez,{ACCOUNT}", name="in.csv")
    paid = Payment.objects.get(client=client_a)
    finish, run_thread, run_results = _run_held_after_matching(client_a, monkeypatch)

    match_thread, match_results = _in_thread(lambda: adjustment_request(
        client=client_a, actor=agent, adjustment_type="manual_match", scheduled_payment=short, payment=paid,
        reason="the customer says this paid the December invoice",
    ))
    time.sleep(1)
    assert match_thread.is_alive() and match_results == [], "the manual match waits while the run works"
    finish.set()
    run_thread.join(30)
    match_thread.join(30)

    assert run_results[0].run.status == "succeeded"
    [refused] = match_results
    assert isinstance(refused, DomainError) and "Only 0.00 of payment" in str(refused)
    assert list(Allocation.objects.filter(payment=paid).values_list("scheduled_payment_id", "amount")) == [(full.pk, Decimal("250.00"))]
    short.refresh_from_db()
    assert short.amount_paid == Decimal("0.00")


def test_end_to_end_a_return_of_an_old_payment_reopens_it_with_a_chargeback(client_a, customer_a):
    old = first_payment(make_schedule(client_a, customer_a, due=dt.date(2026, 10, 1), today=dt.date(2026, 9, 20)))
    paid = received(client_a, "250.00", reference=old.reference, value_date=dt.date(2026, 10, 1))
    Allocation.objects.create(client=client_a, payment=paid, scheduled_payment=old, amount=Decimal("250.00"), rule="reference")
    ScheduledPayment.objects.filter(pk=old.pk).update(
        amount_paid=Decimal("250.00"), status="paid", paid_at=dt.datetime(2026, 10, 1, 4, tzinfo=dt.UTC)
    )
    back = received(client_a, "-250.00", kind="chargeback", reverses=paid, value_date=dt.date(2026, 12, 5))

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)  # Oct 1 is long past the duplicate window

    old.refresh_from_db()
    assert (old.status, old.amount_paid) == ("overdue", Decimal("0.00"))
    [chargeback] = Discrepancy.objects.filter(client=client_a)
    assert (chargeback.kind, chargeback.scheduled_payment) == ("chargeback", old) and back in chargeback.payments.all()
    assert UndoneAllocation.objects.get().reversal == back and outcome.run.counts["taken_back"] == 1

    again = services.reconciliation_run(client=client_a, as_of=AS_OF)
    assert (again.logged, again.run.counts["taken_back"]) == (0, 0)


def test_end_to_end_voiding_the_import_of_a_return_gives_the_money_back_to_the_next_run(client_a, customer_a, month, mapping):
    from bpo_ledger.models import PaymentImport
    from reconciliation.services import statement_import_void

    full, unpaid, short = month
    _import(client_a, mapping, f"2026-12-01,250.00,{full.reference},Maria Gonzalez,{ACCOUNT}", name="in.csv")
    services.reconciliation_run(client=client_a, as_of=dt.date(2026, 12, 2))
    paid = Payment.objects.get(client=client_a, amount=Decimal("250.00"))
    returns = PaymentImport.objects.create(client=client_a, file_name="returns.ach", sha256="0" * 64, format="nacha")
    received(client_a, "-250.00", kind="reversal", reverses=paid, return_code="R01", payment_import=returns,
             value_date=dt.date(2026, 12, 4))
    services.reconciliation_run(client=client_a, as_of=AS_OF)
    chargeback = Discrepancy.objects.get(client=client_a, kind="chargeback")

    statement_import_void(payment_import=returns, actor="system:test", reason="the bank sent it by mistake")
    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)

    assert not UndoneAllocation.objects.exists()
    full.refresh_from_db()
    assert (full.status, full.amount_paid) == ("paid", Decimal("250.00"))
    chargeback.refresh_from_db()
    assert chargeback.status == "resolved" and outcome.resolved == 1


def test_end_to_end_a_duplicate_stays_one_item_long_after_the_payment_it_repeats(client_a, customer_a):
    old = first_payment(make_schedule(client_a, customer_a, due=dt.date(2026, 10, 1), today=dt.date(2026, 9, 20)))
    received(client_a, "250.00", reference=old.reference, value_date=dt.date(2026, 10, 1), payer_account_hash=customer_a.bank_account_hash)
    received(client_a, "250.00", reference=old.reference, value_date=dt.date(2026, 10, 3), payer_account_hash=customer_a.bank_account_hash)
    first = services.reconciliation_run(client=client_a, as_of=dt.date(2026, 10, 5))
    assert [item.kind for item in Discrepancy.objects.filter(client=client_a)] == ["duplicate"] and first.logged == 1

    later = services.reconciliation_run(client=client_a, as_of=AS_OF)  # the payment settled 70 days before

    assert later.logged == 0 and Discrepancy.objects.filter(client=client_a).count() == 1


def test_an_item_a_person_logged_is_left_to_a_person_even_when_its_payment_is_settled(client_a, due, engine):
    from discrepancies.services import discrepancy_log

    manual, _ = discrepancy_log(client=client_a, actor="system:test", kind="chargeback", summary="customer disputes it",
                                scheduled_payment=due, fingerprint="hand:dispute")
    engine(lambda inputs: matching.Result(resolutions=[matching.Resolution("hand:dispute", "paid in full", ())]))

    outcome = services.reconciliation_run(client=client_a, as_of=AS_OF)

    manual.refresh_from_db()
    assert manual.status == "open" and outcome.resolved == 0 and outcome.run.counts["resolved"] == 0


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_voiding_an_import_waits_for_the_run_at_work(client_a, customer_a, month, mapping, monkeypatch):
    from reconciliation.services import statement_import_void

    full, unpaid, short = month
    statement = _import(client_a, mapping, f"2026-12-01,250.00,{full.reference},Maria Gonzalez,{ACCOUNT}", name="in.csv")
    finish, run_thread, run_results = _run_held_after_matching(client_a, monkeypatch)
    void_thread, void_results = _in_thread(lambda: statement_import_void(
        payment_import=statement, actor="system:test", reason="wrong file"))
    time.sleep(1)
    assert void_thread.is_alive() and void_results == [], "the void waits while the run works"
    finish.set()
    run_thread.join(30)
    void_thread.join(30)

    assert run_results[0].run.status == "succeeded" and void_results[0].status == "voided"
    assert not Allocation.objects.filter(client=client_a).exists()
    full.refresh_from_db()
    assert full.status != "paid" and full.amount_paid == Decimal("0.00")  # open again as of the void's day
