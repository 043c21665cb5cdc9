"""Reminder senders killed for real (SIGKILL) mid-batch, as a process and as a Celery worker.

The senders run in other processes against the test database; their SMS provider writes each
message it delivers to a file, so that what every customer received is counted across processes.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from bpo_ledger.selectors import audit_events_of
from config.celery import app
from schedules import tasks
from schedules.models import Reminder
from schedules.services import reminders_sweep_stale
from tests.conftest import wait_for
from tests.schedules.conftest import make_customer, make_schedule

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
    pytest.mark.django_db(transaction=True),
]
on_redis = pytest.mark.skipif(
    not django_settings.CELERY_BROKER_URL.startswith("redis://"), reason="needs Redis (CELERY_BROKER_URL=redis://...)"
)

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 23)
NOW = "2026-11-23T14:00:00+00:00"  # 09:00 in New York, inside the reminder hours
CUSTOMERS = 40
CLAIM_TIMEOUT = 2  # seconds: the senders beat every 0.2 s


@pytest.fixture
def phones(client_a):
    """CUSTOMERS customers of ACME, reminded by SMS today; their phone numbers."""
    client_a.reminder_channels = ["sms"]
    client_a.save()
    numbers = [f"+1415555{n:04d}" for n in range(CUSTOMERS)]
    for number in numbers:
        make_schedule(client_a, make_customer(client_a, phone=number), due=TODAY, today=TODAY)
    return numbers


@pytest.fixture
def sms_log(tmp_path):
    return tmp_path / "sms.log"


def sender_env(sms_log: Path, *, answer_seconds: float) -> dict:
    """The environment of a sender in another process: this test's database, broker and provider."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "SMS_BACKEND": "tests.schedules.providers.SlowFileSMSBackend",
        "SMS_FILE_PATH": str(sms_log),
        "SMS_ANSWER_SECONDS": str(answer_seconds),
        "REMINDER_CLAIM_TIMEOUT_SECONDS": str(CLAIM_TIMEOUT),
        "PYTHONPATH": str(REPO),
    }


def start(args: list[str], env: dict) -> subprocess.Popen:
    # A session of its own, so that the kill reaches every process it starts (a worker's pool).
    return subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def delivered(sms_log: Path) -> Counter:
    """Messages the provider delivered, per phone number."""
    if not sms_log.exists():
        return Counter()
    return Counter(line.split("\t")[2] for line in sms_log.read_text().splitlines())


def statuses() -> Counter:
    return Counter(Reminder.objects.values_list("status", flat=True))


def assert_killed_mid_batch(sms_log: Path) -> None:
    """What a killed sender leaves: its outcomes up to the message in flight, the rest untried."""
    at_kill = statuses()
    got = sum(delivered(sms_log).values())
    assert at_kill["sending"] <= 1  # the message in the provider's hands, if any
    assert got - 1 <= at_kill["sent"] <= got  # every delivery but the one in flight is recorded
    assert at_kill["claimed"] > CUSTOMERS // 2  # most of the batch was never tried
    assert at_kill["failed"] == 0


def assert_each_customer_got_each_reminder_once(client, phones, sms_log: Path) -> None:
    assert delivered(sms_log) == Counter({phone: 1 for phone in phones})
    assert statuses() == {"sent": CUSTOMERS}
    verbs = Counter(
        (event.subject_id, event.verb)
        for event in audit_events_of(client=client).filter(verb__startswith="reminder.")
    )
    assert len(verbs) == CUSTOMERS and set(verbs.values()) == {1}
    assert {verb for _, verb in verbs} == {"reminder.sent"}


def test_a_sender_killed_mid_batch_then_the_sweep_and_another_run_deliver_each_reminder_once(
    client_a, phones, sms_log
):
    command = ["manage.py", "send_reminders", "--client", "ACME", "--now", NOW]
    sender = start(command, sender_env(sms_log, answer_seconds=0.3))
    try:
        assert wait_for(lambda: sum(delivered(sms_log).values()) >= 10, timeout=60, every=0.02), sender.communicate()[0]
    finally:
        kill(sender)
    assert_killed_mid_batch(sms_log)

    time.sleep(CLAIM_TIMEOUT + 0.5)  # the dead sender's claim is stale now
    again = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=sender_env(sms_log, answer_seconds=0.01),
        capture_output=True, text=True, timeout=120,
    )

    assert again.returncode == 0, again.stderr
    first_line = again.stdout.splitlines()[0]
    assert first_line.startswith("Reminders of stopped senders:") and "0 in flight, marked failed" in first_line
    assert_each_customer_got_each_reminder_once(client_a, phones, sms_log)


def test_a_sweep_while_a_slow_sender_holds_its_claims_takes_nothing_from_it(client_a, phones, sms_log, settings):
    settings.REMINDER_CLAIM_TIMEOUT = CLAIM_TIMEOUT
    # 40 messages at 0.15 s: the batch takes three times the claim timeout.
    sender = start(["manage.py", "send_reminders", "--client", "ACME", "--now", NOW], sender_env(sms_log, answer_seconds=0.15))
    sweeps = []
    try:
        while sender.poll() is None:
            sweeps.append(reminders_sweep_stale())
            time.sleep(0.2)
        output = sender.communicate()[0]
    finally:
        if sender.poll() is None:
            kill(sender)

    assert sender.returncode == 0, output
    assert len(sweeps) >= 10 and not any(sweeps)
    assert f"{CUSTOMERS} sent" in output and "taken back" not in output
    assert_each_customer_got_each_reminder_once(client_a, phones, sms_log)


@pytest.fixture
def broker():
    """The broker's queue empty before and after, with no message left unacknowledged by a killed worker."""
    import redis

    def empty():
        app.control.purge()
        redis.Redis.from_url(django_settings.CELERY_BROKER_URL).delete("unacked", "unacked_index", "unacked_mutex")

    app.conf.task_always_eager = False
    empty()
    yield
    empty()


def worker(name: str, env: dict) -> subprocess.Popen:
    return start(
        ["-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--hostname", f"{name}@%h"],
        env,
    )


@on_redis
def test_a_celery_worker_killed_mid_batch_then_a_new_worker_delivers_each_reminder_once(
    client_a, phones, sms_log, broker
):
    first = worker("killed", sender_env(sms_log, answer_seconds=0.3))
    try:
        tasks.send_client_reminders.delay(client_a.pk, NOW)
        assert wait_for(lambda: sum(delivered(sms_log).values()) >= 10, timeout=90, every=0.02), first.communicate()[0]
    finally:
        kill(first)
    assert_killed_mid_batch(sms_log)

    time.sleep(CLAIM_TIMEOUT + 0.5)
    second = worker("second", sender_env(sms_log, answer_seconds=0.01))
    try:
        tasks.send_reminders.delay(NOW)  # the hourly job: the sweep, then one task per client
        finished = wait_for(lambda: statuses() == {"sent": CUSTOMERS}, timeout=90)
    finally:
        second.terminate()
        try:
            output = second.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            kill(second)
            output = second.communicate()[0]
    assert finished, output
    assert "reminders of stopped senders" in output
    assert_each_customer_got_each_reminder_once(client_a, phones, sms_log)
