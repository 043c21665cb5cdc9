"""The Celery jobs, run by a real worker on the configured broker (Redis in CI)."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from config.celery import app
from schedules import tasks
from schedules.models import Reminder, ScheduledPayment
from schedules.services import ScheduleSpec, schedule_create
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    app.conf.task_always_eager = False
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
        yield


def test_the_hourly_job_fans_out_per_client_and_sends_each_reminder_once(worker, client_a, customer_a):
    due = dt.date(2026, 12, 1)
    schedule_create(
        client=client_a, actor="system:test",
        spec=ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("80.00"), start_date=due),
        today=dt.date(2026, 11, 20),
    )
    now = "2026-11-24T15:00:00+00:00"  # 10:00 in New York, 7 days before the due date
    tasks.send_reminders.delay(now)
    assert wait_for(lambda: Reminder.objects.filter(status="sent").count() == 1)
    tasks.send_reminders.delay(now)  # the same hour again: nothing more goes out
    time.sleep(2)
    assert Reminder.objects.count() == 1
    assert len(mail.outbox) == 1
    assert "ACME-000001-01" in mail.outbox[0].body


def test_the_nightly_job_runs_where_it_is_one_in_the_morning(worker, client_a, customer_a):
    schedule_create(
        client=client_a, actor="system:test",
        spec=ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("80.00"), start_date=dt.date(2026, 11, 2)),
        today=dt.date(2026, 10, 30),
    )
    # 06:30 UTC is 01:30 in New York (the client's zone): the job runs for ACME as of Nov 23.
    tasks.run_nightly_where_due.delay("2026-11-23T06:30:00+00:00")
    assert wait_for(lambda: ScheduledPayment.objects.filter(status="overdue").count() == 1)
