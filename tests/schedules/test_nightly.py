"""The nightly job against rows other transactions hold: it waits for them, then does its work;
held too long, it fails loudly instead of reporting a night's work undone as done."""

import datetime as dt
import io
import threading
from decimal import Decimal

import pytest
from django.core.management import ManagementUtility, call_command
from django.db import connection, connections

from bpo_ledger import locks
from bpo_ledger.models import AuditEvent
from schedules import services, tasks
from schedules.models import PaymentSchedule
from schedules.services import ScheduleSpec
from tests.conftest import held, make_client
from tests.schedules.conftest import make_customer

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
    pytest.mark.django_db(transaction=True),
]

TODAY = dt.date(2026, 11, 23)
WAITING = 1.5  # seconds a job that waits is seen waiting


@pytest.fixture
def plan(client_a, customer_a):
    """Monthly from Sep 1, made on Sep 1: by Nov 23 three payments are past grace, and the
    horizon (Feb 28) is short of Nov 23 + 180 days (May 22), so Mar, Apr and May are due to be added."""
    spec = ScheduleSpec(
        customer=customer_a, kind="recurring", amount=Decimal("40.00"), start_date=dt.date(2026, 9, 1), frequency="monthly"
    )
    schedule = services.schedule_create(client=client_a, actor="system:test", spec=spec, today=dt.date(2026, 9, 1))
    assert schedule.payments.count() == 6
    return schedule


def hold_client_row(client):
    """What every audit append of the client does until its transaction ends."""
    return held(lambda: locks.client_chain_head(client_id=client.pk))


def hold_schedule(schedule):
    """What every change to a schedule by a person does until its transaction ends."""
    return held(lambda: locks.locked(PaymentSchedule.objects.filter(pk=schedule.pk)).get())


class Job:
    """`run` in a thread with its own connection, as a worker would run it."""

    def __init__(self, run):
        self.value = self.error = None

        def target():
            try:
                self.value = run()
            except BaseException as exc:  # handed to the test by result()
                self.error = exc
            finally:
                connections.close_all()

        self.thread = threading.Thread(target=target)
        self.thread.start()

    def still_waiting_after(self, seconds: float) -> bool:
        self.thread.join(seconds)
        return self.thread.is_alive()

    def result(self, timeout: float = 30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the job is still waiting"
        if self.error is not None:
            raise self.error
        return self.value


def nightly_command(*args) -> Job:
    def run():
        out, err = io.StringIO(), io.StringIO()
        call_command("schedules_nightly", "--date", TODAY.isoformat(), *args, stdout=out, stderr=err)
        return out.getvalue()

    return Job(run)


def overdue_events(schedule):
    return list(AuditEvent.objects.filter(verb="payment.overdue", subject_id=str(schedule.pk)))


def test_an_audit_append_of_the_same_client_does_not_stop_the_horizon_extension(client_a, plan):
    with hold_client_row(client_a):
        # The extension locks its schedules only: it neither waits for nor skips past the client row.
        added = Job(lambda: services.schedules_extend_horizon(client=client_a, today=TODAY)).result(timeout=10)
        assert added == 3
    plan.refresh_from_db()
    assert plan.horizon_until == dt.date(2027, 5, 22)
    assert list(plan.payments.order_by("sequence").values_list("due_date", flat=True))[-3:] == [
        dt.date(2027, 3, 1), dt.date(2027, 4, 1), dt.date(2027, 5, 3),  # May 1 is a Saturday
    ]


def test_the_nightly_job_waits_for_the_client_row_then_does_its_work(client_a, plan):
    with hold_client_row(client_a):
        job = nightly_command("--client", "ACME")
        assert job.still_waiting_after(WAITING)
        assert overdue_events(plan) == []
        assert not plan.payments.filter(status="overdue").exists()
    output = job.result()

    assert output.strip() == "ACME 2026-11-23: 2 now due, 3 overdue on 1 schedules, 3 payments generated"
    [event] = overdue_events(plan)
    assert [p["reference"] for p in event.details["payments"]] == ["ACME-000001-01", "ACME-000001-02", "ACME-000001-03"]
    assert plan.payments.filter(status="overdue").count() == 3
    assert plan.payments.count() == 9


def test_the_nightly_job_waits_for_a_schedule_someone_is_changing_then_does_its_work(client_a, plan):
    with hold_schedule(plan):
        job = nightly_command("--client", "ACME")
        assert job.still_waiting_after(WAITING)
        assert plan.payments.count() == 6
    output = job.result()

    assert output.strip() == "ACME 2026-11-23: 2 now due, 3 overdue on 1 schedules, 3 payments generated"
    assert len(overdue_events(plan)) == 1
    plan.refresh_from_db()
    assert plan.payments.count() == 9 and plan.horizon_until == dt.date(2027, 5, 22)
    assert plan.is_overdue


def test_the_horizon_extension_waits_for_a_schedule_someone_is_changing_instead_of_skipping_it(client_a, plan):
    with hold_schedule(plan):
        job = Job(lambda: services.schedules_extend_horizon(client=client_a, today=TODAY))
        assert job.still_waiting_after(WAITING)
    assert job.result() == 3
    assert plan.payments.count() == 9


@pytest.fixture
def short_wait(monkeypatch):
    monkeypatch.setattr("schedules.services.nightly.LOCK_WAIT", dt.timedelta(seconds=1))


def test_a_schedule_held_too_long_makes_the_command_exit_non_zero_naming_the_client(client_a, plan, short_wait, capsys):
    globex = make_client("GLOBEX", name="Globex Telecom", currency="EUR", timezone="Europe/Berlin", country="DE")
    other = services.schedule_create(
        client=globex, actor="system:test", today=dt.date(2026, 9, 1),
        spec=ScheduleSpec(customer=make_customer(globex), kind="one_time", amount=Decimal("9.00"), start_date=dt.date(2026, 10, 1)),
    )
    events_before = AuditEvent.objects.filter(client=client_a).count()

    with hold_schedule(plan), pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "schedules_nightly", "--skip-checks", "--date", TODAY.isoformat()]).execute()

    assert exit_.value.code == 1
    out, err = capsys.readouterr()
    assert "ACME: the nightly status move waited 1 s for rows another transaction keeps locked and changed nothing" in err
    assert "The nightly job did not finish for ACME: run it again for them." in err
    # The other client still had its night.
    assert "GLOBEX 2026-11-23: 1 now due, 1 overdue on 1 schedules, 0 payments generated" in out
    assert other.payments.get().status == "overdue"
    # Nothing of ACME's changed.
    assert AuditEvent.objects.filter(client=client_a).count() == events_before
    assert not plan.payments.filter(status="overdue").exists()
    assert plan.payments.count() == 6


def test_the_celery_task_fails_when_the_rows_stay_held_and_does_not_report_success(client_a, plan, short_wait, monkeypatch):
    attempts = []
    advance = services.scheduled_payments_advance
    monkeypatch.setattr(services, "scheduled_payments_advance", lambda **kw: attempts.append(1) or advance(**kw))

    with hold_schedule(plan):
        result = tasks.schedules_nightly.apply(args=(client_a.pk, TODAY.isoformat()))

    assert result.failed()
    assert isinstance(result.result, services.NightlyJobBlocked)
    assert "ACME" in str(result.result)
    assert len(attempts) == 1 + tasks.schedules_nightly.max_retries  # tried again before giving up
    assert not plan.payments.filter(status="overdue").exists()
