"""The SLA sweep: items past their SLA due time are escalated, with a higher level and a new due
time, on the log; running it again at the same moment changes nothing more."""

import datetime as dt
import importlib
import re
import time
from io import StringIO

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.audit import audit_verify
from bpo_ledger.clock import local_time_text
from bpo_ledger.errors import StaleError
from config.celery import app
from discrepancies import reports, services, tasks
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


# --- A breach is kept for good: an escalation gives a new due time without erasing it -------------


def swept_item(client, agent):
    """An item of the agent's that missed its due time 8 hours ago and was escalated by the sweep,
    now (real time: the pages compare with it) with a new due time 72 hours ahead."""
    now = timezone.now()
    item = put(log_item(client, expected="100.00", actual="0.00", now=now - dt.timedelta(hours=80)), Status.IN_PROGRESS, assignee=agent)
    assert services.discrepancies_escalate_overdue(now=now) == 1
    item = fresh(item)
    assert item.status == Status.ESCALATED and item.sla_due_at > timezone.now()
    return item


def test_an_escalated_item_still_counts_as_breached_in_the_queue_filter(client, client_a, agent, supervisor):
    late = swept_item(client_a, agent)
    on_time = log_item(client_a)
    client.force_login(supervisor)

    def refs(**params):
        response = client.get(reverse("queue"), params)
        return [row.record.reference for row in response.context["table"].paginated_rows]

    assert refs(sla_breached="true") == [late.reference]
    assert refs(sla_breached="false") == [on_time.reference]
    body = client.get(reverse("queue")).content.decode()
    assert body.count('data-breached="1"') == 2  # the late item's row and its SLA cell


def test_an_escalated_item_still_counts_as_breached_on_the_team_page_and_the_dashboard(client, client_a, agent, supervisor):
    swept_item(client_a, agent)
    log_item(client_a)
    client.force_login(supervisor)
    team = {row["assignee__username"]: row for row in client.get(reverse("team")).context["rows"]}
    assert (team["agent"]["breached"], team[None]["breached"]) == (1, 0)
    dashboard = client.get(reverse("discrepancy_dashboard", args=["ACME"]))
    assert dashboard.context["report"].breaches.total == 1
    assert dict((p, n) for p, _, n in dashboard.context["report"].breaches.rows)["medium"] == 1


def test_the_missed_due_time_stays_on_record_beside_the_next_levels(client_a):
    item = medium_item(client_a, opened_hours_ago=100)
    first_due = item.sla_due_at
    services.discrepancies_escalate_overdue(now=NOW)
    item = fresh(item)
    assert (item.first_sla_breached_at, item.sla_breached_at) == (first_due, first_due)
    assert item.sla_history == [
        {"level": 0, "due_at": first_due.isoformat(), "met_at": None, "missed_at": first_due.isoformat()},
        {"level": 1, "due_at": item.sla_due_at.isoformat(), "met_at": None, "missed_at": None},
    ]
    (event,) = events_of(item, "discrepancy.escalate")
    assert event.details["missed_sla_due_at"].startswith(first_due.strftime("%Y-%m-%dT%H:%M"))
    # A second escalation adds the third due time; the first breach is still the first.
    later = NOW + dt.timedelta(hours=MEDIUM_HOURS, minutes=1)
    services.discrepancies_escalate_overdue(now=later)
    item = fresh(item)
    assert [p["missed_at"] is not None for p in item.sla_history] == [True, True, False]
    assert item.first_sla_breached_at == first_due


def resolve(item, actor):
    item = fresh(item)
    return services.discrepancy_transition(
        discrepancy=item, actor=actor, action="resolve", version=item.version,
        resolution_code="customer_notified", resolution_text="Called the customer",
    )


def test_a_resolved_item_still_counts_in_sla_performance(client_a, agent, supervisor):
    escalated = swept_item(client_a, agent)
    resolve(escalated, supervisor)
    in_time = put(log_item(client_a), Status.IN_PROGRESS, assignee=agent)
    resolve(in_time, agent)
    # Resolved after its due time, before any sweep saw it: missed all the same.
    unswept = put(log_item(client_a, actual="0.00", now=timezone.now() - dt.timedelta(hours=80)), Status.IN_PROGRESS, assignee=agent)
    resolve(unswept, agent)
    performance = reports.sla_performance(client=client_a)
    assert (performance.resolved, performance.met, performance.missed, performance.met_percent) == (3, 1, 2, 33)
    assert fresh(escalated).first_sla_breached_at is not None and fresh(in_time).first_sla_breached_at is None


def test_the_dashboard_shows_sla_performance(client, client_a, agent, supervisor):
    resolve(swept_item(client_a, agent), supervisor)
    client.force_login(supervisor)
    body = client.get(reverse("discrepancy_dashboard", args=["ACME"])).content.decode()
    assert "SLA performance: items resolved in the last 30 days" in body
    assert '<th scope="row">Missed</th><td class="num">1</td>' in body
    assert '<span class="kpi-value">0%</span> <span class="kpi-label">resolved in 30 days within their first SLA</span>' in body


def test_the_detail_page_lists_each_due_time_met_or_missed(client, client_a, agent, supervisor):
    item = swept_item(client_a, agent)
    first, second = item.sla_history
    client.force_login(agent)

    def periods():
        body = client.get(item.get_absolute_url()).content.decode()
        listed = body.split('<ol class="sla-periods">')[1].split("</ol>")[0]
        return [" ".join(re.sub(r"<[^>]+>", "", li).split()) for li in listed.split("<li ")[1:]]

    def minute(value):  # as the page shows it: in the client's zone, labelled
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return local_time_text(moment, client_a.timezone)

    due, next_due = minute(first["due_at"]), minute(second["due_at"])
    assert periods() == [
        f'data-sla-state="missed">{due}: missed at {due}',
        f'data-sla-state="pending">{next_due} (escalation level 1): pending',
    ]
    resolved = resolve(item, agent)
    assert periods()[1] == f'data-sla-state="met">{next_due} (escalation level 1): met at {minute(resolved.resolved_at)}'


def test_a_supervisor_moving_the_due_time_does_not_erase_a_missed_one(client_a, supervisor):
    pending = log_item(client_a)  # medium: due in 72 hours
    moved = services.discrepancy_set_priority(discrepancy=pending, actor=supervisor, priority="low", version=pending.version, reason="Small")
    assert len(moved.sla_history) == 1 and moved.sla_history[0]["due_at"] == moved.sla_due_at.isoformat()
    missed = log_item(client_a, actual="0.00", now=timezone.now() - dt.timedelta(hours=80))  # missed, not yet swept
    moved = services.discrepancy_set_priority(discrepancy=missed, actor=supervisor, priority="low", version=missed.version, reason="Small")
    assert [p["missed_at"] is not None for p in moved.sla_history] == [True, False]
    assert moved.sla_breached_at == missed.sla_due_at and moved.sla_breached(timezone.now())


def test_the_migration_rebuilds_the_record_the_services_keep(client_a, agent, supervisor):
    """Items from before the record: their logs give back what the services now write."""
    from django.apps import apps

    backfill = importlib.import_module("discrepancies.migrations.0005_sla_record").backfill_sla_records
    escalated = swept_item(client_a, agent)
    resolved = swept_item(client_a, agent)
    services.discrepancy_transition(discrepancy=resolved, actor=supervisor, action="return_to_agent", version=resolved.version)
    resolve(resolved, agent)
    moved = log_item(client_a, actual="0.00", now=timezone.now() - dt.timedelta(hours=80))
    services.discrepancy_set_priority(discrepancy=moved, actor=supervisor, priority="low", version=moved.version, reason="Small")
    def ms(moment):  # the log keeps times to the millisecond: so does the rebuilt record
        moment = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        return moment and moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def record(d):
        # When a due time was met is the moment of the step, which its event's time gives within
        # a few milliseconds: compared apart, below.
        history = [{k: ms(v) if k in ("due_at", "missed_at") else v for k, v in p.items() if k != "met_at"} for p in d.sla_history]
        return history, ms(d.first_sla_breached_at), ms(d.sla_breached_at)

    def met(d):
        return [p["met_at"] and dt.datetime.fromisoformat(p["met_at"]) for p in d.sla_history]

    met_kept = {d.pk: met(d) for d in Discrepancy.objects.all()}

    kept = {d.pk: record(d) for d in Discrepancy.objects.all()}
    assert len(kept[escalated.pk][0]) == 2 and len(kept[resolved.pk][0]) == 3 and len(kept[moved.pk][0]) == 2
    # An item changed where its log does not say (loaded by hand): its current due time alone.
    unlogged = log_item(client_a)
    due, resolved_at = timezone.now() - dt.timedelta(hours=2), timezone.now() - dt.timedelta(hours=1)
    put(unlogged, Status.RESOLVED, sla_due_at=due, resolved_at=resolved_at)
    Discrepancy.objects.update(sla_history=[], first_sla_breached_at=None, sla_breached_at=None)

    backfill(apps, None)

    assert Discrepancy.objects.get(pk=unlogged.pk).sla_history == [
        {"level": 0, "due_at": due.isoformat(), "met_at": None, "missed_at": due.isoformat()}
    ]
    rebuilt = {d.pk: record(d) for d in Discrepancy.objects.all()}
    assert rebuilt.pop(unlogged.pk)[1:] == (ms(due), ms(due))
    assert rebuilt == kept
    for d in Discrepancy.objects.exclude(pk=unlogged.pk):
        pairs = list(zip(met(d), met_kept[d.pk], strict=True))
        assert all((a is None) == (b is None) and (a is None or abs(a - b) < dt.timedelta(seconds=1)) for a, b in pairs)
