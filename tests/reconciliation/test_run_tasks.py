"""The nightly reconciliation: one task per client from 02:00 its time, once per local date even on
the nights clocks change; a run refused while another works is tried again later."""

import datetime as dt

import pytest
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Retry
from django.urls import reverse

from bpo_ledger.clock import client_today
from config.celery import app
from reconciliation import tasks
from reconciliation.models import ReconciliationRun
from tests.conftest import make_client, wait_for
from tests.reconciliation.conftest import csv_file, import_csv
from tests.schedules.conftest import first_payment, make_schedule

UTC = dt.UTC


@pytest.fixture
def worker(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    app.conf.task_always_eager = False
    # One task at a time: SQLite's in-memory test database refuses a second writer outright (the
    # file database of `make run` waits for it instead).
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
        yield


@pytest.mark.django_db(transaction=True)
def test_the_nightly_job_fans_out_per_client_and_reconciles_each_once(worker, client_a, client_b, customer_a, mapping):
    due = first_payment(make_schedule(client_a, customer_a, due=dt.date(2026, 12, 1), today=dt.date(2026, 11, 20)))
    import_csv(client_a, "system:test", csv_file(f"2026-12-01,250.00,{due.reference},Maria Gonzalez,GB29 NWBK 6016 1331 9268 19"), mapping)
    # 07:30 UTC: 02:30 in New York (ACME, Dec 2), 08:30 in Berlin (GLOBEX, Dec 2).
    tasks.reconcile_due_clients.delay("2026-12-02T07:30:00+00:00")

    assert wait_for(lambda: ReconciliationRun.objects.filter(status="succeeded").count() == 2)
    tasks.reconcile_due_clients.delay("2026-12-02T07:45:00+00:00")  # the next tick: both dates are done
    assert not wait_for(lambda: ReconciliationRun.objects.count() > 2, timeout=3)
    runs = {run.client_id: run for run in ReconciliationRun.objects.all()}
    assert runs[client_a.pk].as_of == runs[client_b.pk].as_of == dt.date(2026, 12, 2)
    assert runs[client_a.pk].trigger == "nightly" and runs[client_a.pk].counts["matched_reference"] == 1
    due.refresh_from_db()
    assert due.status == "paid"


def test_no_client_is_reconciled_before_two_in_its_morning(client_a, client_b, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.reconcile_client, "delay_on_commit", lambda *args: queued.append(args))

    # 06:45 UTC: 01:45 in New York, 07:45 in Berlin.
    assert tasks.reconcile_due_clients("2026-12-02T06:45:00+00:00") == [client_b.pk]
    assert queued == [(client_b.pk, "2026-12-02", "nightly", None)]


def _walk(monkeypatch, start: dt.datetime, hours: int) -> list[tuple[dt.datetime, int, str]]:
    """Beat's ticks every 15 minutes from `start` for `hours`, each task run as soon as it is
    queued; returns (tick, client id, as_of) of every task queued."""
    queued = []
    tick = start

    def run_now(client_id, as_of, trigger, user_id):
        queued.append((tick, client_id, as_of))
        tasks.reconcile_client.apply(args=(client_id, as_of, trigger, user_id), throw=True)

    monkeypatch.setattr(tasks.reconcile_client, "delay_on_commit", run_now)
    while tick < start + dt.timedelta(hours=hours):
        tasks.reconcile_due_clients(tick.isoformat())
        tick += dt.timedelta(minutes=15)
    return queued


@pytest.mark.parametrize(("night", "zone", "first_tick_utc"), [
    # New York springs forward at 02:00 EST: 02:00 never comes, 03:00 EDT is 07:00 UTC.
    (dt.date(2026, 3, 8), "America/New_York", dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    # New York falls back at 02:00 EDT: 01:xx comes twice, then 02:00 EST is 07:00 UTC.
    (dt.date(2026, 11, 1), "America/New_York", dt.datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),
    # Berlin springs forward at 02:00 CET to 03:00 CEST, 01:00 UTC.
    (dt.date(2026, 3, 29), "Europe/Berlin", dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    # Berlin falls back at 03:00 CEST: 02:xx comes twice, first at 00:00 UTC, again at 01:00 UTC.
    (dt.date(2026, 10, 25), "Europe/Berlin", dt.datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
])
def test_each_local_date_is_reconciled_once_on_the_nights_clocks_change(db, monkeypatch, night, zone, first_tick_utc):
    client = make_client("DST", timezone=zone)
    day = dt.timedelta(days=1)
    start = dt.datetime.combine(night - day, dt.time(12, 0), tzinfo=UTC)

    queued = _walk(monkeypatch, start, hours=60)

    assert [as_of for _, _, as_of in queued] == [(night - day).isoformat(), night.isoformat(), (night + day).isoformat()]
    assert [tick for tick, _, as_of in queued if as_of == night.isoformat()] == [first_tick_utc]
    runs = ReconciliationRun.objects.filter(client=client).order_by("as_of")
    assert [(run.as_of, run.status, run.trigger) for run in runs] == [
        (night - day, "succeeded", "nightly"), (night, "succeeded", "nightly"), (night + day, "succeeded", "nightly"),
    ]


def test_a_second_delivery_of_a_nightly_task_does_nothing(client_a):
    tasks.reconcile_client.apply(args=(client_a.pk, "2026-12-02", "nightly", None), throw=True)
    tasks.reconcile_client.apply(args=(client_a.pk, "2026-12-02", "nightly", None), throw=True)

    assert ReconciliationRun.objects.filter(client=client_a).count() == 1


def test_reconcile_now_runs_again_as_the_user_who_asked(client_a, agent):
    tasks.reconcile_client.apply(args=(client_a.pk, "2026-12-02", "nightly", None), throw=True)
    tasks.reconcile_client.apply(args=(client_a.pk, "2026-12-02", "manual", agent.pk), throw=True)

    manual = ReconciliationRun.objects.get(trigger="manual")
    assert manual.started_by == agent and manual.status == "succeeded"


def test_a_run_refused_while_another_works_is_tried_again_later(client_a, monkeypatch):
    from reconciliation import services

    def refused(**kwargs):
        raise services.RunRefused("A reconciliation run of ACME is already in progress")

    retries = []

    def retry(**kwargs):
        retries.append(kwargs)
        return Retry("later")

    monkeypatch.setattr(services, "reconciliation_run", refused)
    monkeypatch.setattr(tasks.reconcile_client, "retry", retry)

    with pytest.raises(Retry):
        tasks.reconcile_client.run(client_a.pk, "2026-12-02", "manual", None)
    assert retries[0]["countdown"] == tasks.REFUSED_RETRY_SECONDS
    assert "already in progress" in str(retries[0]["exc"])


def test_a_failed_nightly_run_is_tried_again_an_hour_later_not_every_tick(client_a, monkeypatch):
    from reconciliation.services import runs

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runs, "_log_findings", broken)
    queued = _walk(monkeypatch, dt.datetime(2026, 12, 2, 7, 0, tzinfo=UTC), hours=1)

    assert len(queued) == 1  # 07:00 failed; 07:15, 07:30, 07:45 wait
    failed = ReconciliationRun.objects.get()
    assert failed.status == "failed"

    ReconciliationRun.objects.filter(pk=failed.pk).update(finished_at=failed.finished_at - dt.timedelta(minutes=61))
    monkeypatch.undo()
    queued = _walk(monkeypatch, dt.datetime(2026, 12, 2, 8, 0, tzinfo=UTC), hours=1)
    assert len(queued) == 1
    assert ReconciliationRun.objects.filter(status="succeeded", as_of=dt.date(2026, 12, 2)).count() == 1


# --- "Reconcile now" ---------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.reconcile_client, "delay_on_commit", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def statement(client_a, mapping):
    return import_csv(client_a, "system:test", csv_file("2026-11-02,10.00,R1,Ann,GB11"), mapping)


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_agents_and_supervisors_reconcile_now_and_land_on_the_runs_list(client, roles, role, client_a, queued):
    client.force_login(roles[role])

    response = client.post(reverse("run_request", args=["ACME"]))

    assert response.status_code == 302 and response.url == "/clients/ACME/runs/"
    assert queued == [(client_a.pk, client_today(client_a).isoformat(), "manual", roles[role].pk)]


@pytest.mark.parametrize(("role", "status"), [("auditor", 403), ("outsider", 404)])
def test_an_auditor_may_not_reconcile_now_and_an_outsider_finds_no_such_page(client, roles, role, status, queued):
    client.force_login(roles[role])

    assert client.post(reverse("run_request", args=["ACME"])).status_code == status
    assert queued == []


def test_reconcile_now_takes_a_post_only(client, agent, queued):
    client.force_login(agent)

    assert client.get(reverse("run_request", args=["ACME"])).status_code == 405
    assert queued == []


@pytest.mark.parametrize(("role", "shown"), [("agent", True), ("supervisor", True), ("auditor", False)])
def test_the_import_pages_offer_reconcile_now_to_those_who_may(client, roles, role, shown, statement):
    client.force_login(roles[role])
    action = f'action="{reverse("run_request", args=["ACME"])}"'

    for url in (reverse("import_list", args=["ACME"]), reverse("import_detail", args=["ACME", statement.pk])):
        page = client.get(url).content.decode()
        assert (action in page and "Reconcile now" in page) == shown, url
