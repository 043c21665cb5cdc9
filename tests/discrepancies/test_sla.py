"""The SLA sweep: items past their SLA due time are escalated, with a higher level and a new due
time, on the log; running it again at the same moment changes nothing more."""

import datetime as dt
import time
from io import StringIO

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import CommandError, call_command
from django.db import connection

from bpo_ledger import locks
from bpo_ledger.audit import audit_verify
from bpo_ledger.errors import StaleError
from config.celery import app
from discrepancies import services, tasks
from discrepancies.models import Discrepancy, Status
from tests.conftest import held

from .conftest import events_of, log_item, put

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
MEDIUM_HOURS = 72  # the default SLA of a medium item


def medium_item(client, *, opened_hours_ago, **fields):
    """A medium item (USD 100.00 at stake) opened that many hours before NOW: due 72 hours after."""
    return log_item(client, expected="100.00", actual="0.00", now=NOW - dt.timedelta(hours=opened_hours_ago), **fields)


def fresh(item):
    return Discrepancy.objects.get(pk=item.pk)


def test_it_escalates_only_active_items_past_their_due_time(client_a, agent):
    late = put(medium_item(client_a, opened_hours_ago=80), Status.IN_PROGRESS, assignee=agent)
    on_time = medium_item(client_a, opened_hours_ago=10)
    exactly_due = medium_item(client_a, opened_hours_ago=MEDIUM_HOURS)
    finished = put(medium_item(client_a, opened_hours_ago=200), Status.RESOLVED)
    closed = put(medium_item(client_a, opened_hours_ago=200), Status.CLOSED)

    assert services.discrepancies_escalate_overdue(now=NOW) == 1

    escalated = fresh(late)
    assert (escalated.status, escalated.escalation_level, escalated.escalated_at) == (Status.ESCALATED, 1, NOW)
    assert escalated.sla_due_at == NOW + dt.timedelta(hours=MEDIUM_HOURS)
    assert escalated.version == late.version + 1
    assert escalated.assignee == agent  # the agent keeps it; the supervisor now sees it too
    for untouched in (on_time, exactly_due, finished, closed):
        assert (fresh(untouched).status, fresh(untouched).escalation_level) == (untouched.status, 0)
    (event,) = events_of(late, "discrepancy.escalate")
    assert event.actor is None and event.actor_label == "system:sla_sweep"
    assert event.details["reason"] == "SLA breached"
    assert event.details["escalation_level"] == 1
    assert event.details["changes"]["status"] == {"before": "in_progress", "after": "escalated"}
    assert audit_verify(client=client_a).ok


def test_running_it_twice_at_the_same_moment_changes_nothing_more(client_a):
    item = medium_item(client_a, opened_hours_ago=100)
    assert services.discrepancies_escalate_overdue(now=NOW) == 1
    after_first = fresh(item)
    assert services.discrepancies_escalate_overdue(now=NOW) == 0
    assert services.discrepancies_escalate_overdue(now=NOW + dt.timedelta(minutes=15)) == 0
    after_second = fresh(item)
    assert (after_second.escalation_level, after_second.version, after_second.sla_due_at) == (
        after_first.escalation_level, after_first.version, after_first.sla_due_at,
    )
    assert len(events_of(item, "discrepancy.escalate")) == 1


def test_an_escalation_left_past_its_new_due_time_goes_up_another_level(client_a):
    item = medium_item(client_a, opened_hours_ago=100)
    services.discrepancies_escalate_overdue(now=NOW)
    later = NOW + dt.timedelta(hours=MEDIUM_HOURS, minutes=1)
    assert services.discrepancies_escalate_overdue(now=later) == 1
    again = fresh(item)
    assert (again.escalation_level, again.sla_due_at) == (2, later + dt.timedelta(hours=MEDIUM_HOURS))
    assert [e.details["changes"]["status"]["before"] for e in events_of(item, "discrepancy.escalate")] == ["open", "escalated"]


def test_it_sweeps_every_client_and_logs_each_on_its_own_chain(client_a, client_b):
    a = medium_item(client_a, opened_hours_ago=100)
    b = medium_item(client_b, opened_hours_ago=100)
    assert services.discrepancies_escalate_overdue(now=NOW) == 2
    assert events_of(a, "discrepancy.escalate")[0].client == client_a
    assert events_of(b, "discrepancy.escalate")[0].client == client_b
    assert audit_verify(client=client_a).ok and audit_verify(client=client_b).ok


def test_a_page_opened_before_the_sweep_is_stale_after_it(client_a, agent):
    item = put(medium_item(client_a, opened_hours_ago=100), Status.IN_PROGRESS, assignee=agent)
    services.discrepancies_escalate_overdue(now=NOW)
    with pytest.raises(StaleError, match="it is now escalated"):
        services.discrepancy_transition(discrepancy=item, actor=agent, action="await_customer", version=item.version)


# --- The command and the Celery task ----------------------------------------------------


def run_command(*args):
    out = StringIO()
    call_command("escalate_overdue", *args, stdout=out)
    return out.getvalue()


def test_the_command_escalates_ages_and_prints_the_counts(client_a, client_b):
    late = medium_item(client_a, opened_hours_ago=100)
    aged = log_item(client_b, expected="10.00", actual="0.00", now=NOW - dt.timedelta(days=31))
    output = run_command("--now", "2026-11-23T15:00:00+00:00")
    assert output.splitlines() == [
        "2 discrepancies past their SLA escalated",
        "ACME: 0 priorities raised by age",
        "GLOBEX: 1 priorities raised by age",
    ]
    assert fresh(late).status == Status.ESCALATED
    assert fresh(aged).priority == "medium"
    assert run_command("--now", "2026-11-23T15:00:00+00:00").splitlines() == [
        "0 discrepancies past their SLA escalated",
        "ACME: 0 priorities raised by age",
        "GLOBEX: 0 priorities raised by age",
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_an_item_someone_is_changing_is_left_for_the_next_sweep_and_the_sweep_says_so(client_a):
    busy = medium_item(client_a, opened_hours_ago=100)
    free = medium_item(client_a, opened_hours_ago=100)
    err = StringIO()
    with held(lambda: locks.locked(Discrepancy.objects.filter(pk=busy.pk)).get()):
        call_command("escalate_overdue", "--now", "2026-11-23T15:00:00+00:00", stdout=StringIO(), stderr=err)
    assert (fresh(busy).status, fresh(free).status) == (Status.OPEN, Status.ESCALATED)
    assert "1 discrepancies were being changed by someone else and were left as they are" in err.getvalue()
    # Released, the next sweep takes it and has nothing left over.
    assert tasks.sla_sweep("2026-11-23T15:00:00+00:00") == {"escalated": 1, "raised": {"ACME": 0}, "held": 0}
    assert fresh(busy).status == Status.ESCALATED


def test_the_command_reads_a_time_without_offset_as_utc(client_a):
    medium_item(client_a, opened_hours_ago=MEDIUM_HOURS - 1)  # due at 16:00 UTC
    assert run_command("--now", "2026-11-23T15:59:00").startswith("0 discrepancies")
    assert run_command("--now", "2026-11-23T16:01:00").startswith("1 discrepancies")


def test_the_command_refuses_a_time_it_cannot_read(client_a):
    with pytest.raises(CommandError, match="is not a date and time"):
        run_command("--now", "yesterday")


def test_the_task_runs_the_sweep_in_process(client_a):
    item = medium_item(client_a, opened_hours_ago=100)
    assert tasks.sla_sweep("2026-11-23T15:00:00+00:00") == {"escalated": 1, "raised": {"ACME": 0}, "held": 0}
    assert tasks.sla_sweep("2026-11-23T15:00:00") == {"escalated": 0, "raised": {"ACME": 0}, "held": 0}
    assert fresh(item).escalation_level == 1


def test_the_beat_runs_the_sweep_every_15_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["discrepancies-sla-sweep"]
    assert entry["task"] == tasks.sla_sweep.name == "discrepancies.tasks.sla_sweep"
    assert entry["schedule"].minute == {0, 15, 30, 45}


@pytest.fixture
def worker():
    app.conf.task_always_eager = False
    # One thread: tasks run one after the other, in the order they were sent.
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
        yield


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_sweep_and_a_repeat_changes_nothing(worker, client_a):
    item = medium_item(client_a, opened_hours_ago=100)
    tasks.sla_sweep.delay("2026-11-23T15:00:00+00:00")
    assert wait_for(lambda: fresh(item).escalation_level == 1)
    tasks.sla_sweep.delay("2026-11-23T15:00:00+00:00")  # the same run again: nothing more
    later = NOW + dt.timedelta(hours=MEDIUM_HOURS, minutes=1)
    tasks.sla_sweep.delay(later.isoformat())  # a real second breach, sent after the repeat
    assert wait_for(lambda: fresh(item).escalation_level == 2)
    assert len(events_of(item, "discrepancy.escalate")) == 2
