"""Reminders: what customers are told, when, on which channel, and that each goes out once."""

import datetime as dt
import io
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemEmailBackend
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone

from bpo_ledger import services as ledger_services
from bpo_ledger.events import sentence
from bpo_ledger.selectors import audit_timeline
from schedules.models import PaymentStatus, Reminder, ReminderTemplate, ScheduledPayment
from schedules.services import (
    reminders_send,
    reminders_sweep_stale,
    schedule_cancel,
    schedule_pause,
    scheduled_payment_record,
)
from schedules.services.reminders import MAX_ATTEMPTS, claim_timeout
from schedules.sms import LocmemSMSBackend
from tests.conftest import make_client
from tests.schedules.conftest import first_payment, make_customer, make_schedule

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)

TODAY = dt.date(2026, 11, 23)  # a Monday; ACME is in New York
NOW = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # 09:00 in New York, inside 08:00-21:00
HOW_TO_PAY = "Pay online at acme.example/pay or transfer to IBAN US00 ACME 0000 0001."
MODULE = __name__


@pytest.fixture
def acme(client_a):
    """Client A reminding by email and SMS, with its payment instructions."""
    client_a.payment_instructions = HOW_TO_PAY
    client_a.reminder_channels = ["email", "sms"]
    client_a.save()
    return client_a


def reminder_of(payment, channel="email"):
    return Reminder.objects.get(scheduled_payment=payment, channel=channel)


def log_of(client, schedule, verb):
    return list(
        audit_timeline(client=client, subject_type="paymentschedule", subject_id=schedule.pk).filter(verb=verb)
    )


def sms_to(outbox, phone):
    return [m for m in outbox if m["to"] == phone]


# Email backends standing in for a provider that misbehaves.


class WorkerDied(BaseException):
    """The process is killed (SIGKILL, OOM): not an error the sender can catch and record."""


class DyingEmailBackend(LocmemEmailBackend):
    """Delivers `die_after` messages, then the process dies while sending the next."""

    die_after = 0
    delivered = 0

    def send_messages(self, messages):
        if DyingEmailBackend.delivered >= DyingEmailBackend.die_after:
            raise WorkerDied()
        DyingEmailBackend.delivered += len(messages)
        return super().send_messages(messages)


class RefusingEmailBackend(LocmemEmailBackend):
    """The provider refuses every message."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("provider unavailable")


class FlakyEmailBackend(LocmemEmailBackend):
    """The provider refuses the first message, then works."""

    refused = 0

    def send_messages(self, messages):
        if FlakyEmailBackend.refused == 0:
            FlakyEmailBackend.refused += 1
            raise TimeoutError("provider timed out")
        return super().send_messages(messages)


class DiesBeforeTheAnswerSMSBackend(LocmemSMSBackend):
    """Delivers the `die_at`-th message, then the process dies before the provider answers."""

    die_at = 0

    def send(self, **message):
        message_id = super().send(**message)
        if len(self.outbox) >= self.die_at:
            raise WorkerDied()
        return message_id


def stall_past_the_claim_timeout(at: int, delivered: int) -> None:
    """The sender stops for longer than the claim timeout before its `at`-th message (a long GC
    pause, a frozen VM): meanwhile the hourly sweep takes its claim back as a dead sender's."""
    if delivered + 1 == at:
        StallingEmailBackend.swept = reminders_sweep_stale(
            now=timezone.now() + claim_timeout() + dt.timedelta(minutes=1)
        )


class StallingEmailBackend(LocmemEmailBackend):
    stall_at = 0
    swept = None

    def send_messages(self, messages):
        stall_past_the_claim_timeout(self.stall_at, len(mail.outbox))
        return super().send_messages(messages)


class StallingSMSBackend(LocmemSMSBackend):
    def send(self, **message):
        stall_past_the_claim_timeout(StallingEmailBackend.stall_at, len(self.outbox))
        return super().send(**message)


class SlowEmailBackend(LocmemEmailBackend):
    """A provider that takes a moment per message, so that concurrent senders overlap."""

    def send_messages(self, messages):
        time.sleep(0.003)
        return super().send_messages(messages)


# 1. What is sent, and when.


@pytest.mark.parametrize(
    "due_in_days, kind, days",
    [(7, "upcoming", 7), (1, "upcoming", 1), (0, "due_today", 0), (-3, "overdue", 3), (-10, "overdue", 10)],
)
def test_it_reminds_at_each_lead_day_on_the_due_date_and_when_overdue(acme, mailoutbox, due_in_days, kind, days):
    customer = make_customer(acme, email="maria@example.com")
    due = TODAY + dt.timedelta(days=due_in_days)
    schedule = make_schedule(acme, customer, due=due, today=TODAY, amount="1234.50")
    payment = first_payment(schedule)

    run = reminders_send(client=acme, now=NOW)

    assert (run.created, run.sent, run.skipped) == (2, 1, 1)  # email; SMS skipped: no phone
    [message] = mailoutbox
    assert message.to == ["maria@example.com"]
    for must_say in ("USD 1,234.50", due.strftime("%d %B %Y").lstrip("0"), payment.reference, HOW_TO_PAY):
        assert must_say in message.body
    assert payment.reference in message.subject
    reminder = reminder_of(payment)
    assert (reminder.kind, reminder.days, reminder.status) == (kind, days, "sent")
    assert reminder.recipient == "maria@example.com"


def test_it_sends_nothing_on_days_the_policy_does_not_name(acme, mailoutbox, sms_outbox):
    customer = make_customer(acme, email="maria@example.com", phone="+14155550123")
    for due_in_days in (8, 4, 2, -4, -7, -11):
        make_schedule(acme, customer, due=TODAY + dt.timedelta(days=due_in_days), today=TODAY)

    run = reminders_send(client=acme, now=NOW)

    assert (run.created, run.sent) == (0, 0)
    assert mailoutbox == [] and sms_outbox == []
    assert not Reminder.objects.exists()


@pytest.mark.parametrize("due_in_days, days", [(7, 7), (1, 1), (0, 0)])
def test_autopay_gets_a_debit_notice_instead_of_upcoming_and_due_today(acme, mailoutbox, due_in_days, days):
    customer = make_customer(acme, email="maria@example.com")
    due = TODAY + dt.timedelta(days=due_in_days)
    schedule = make_schedule(acme, customer, due=due, today=TODAY, amount="89.99", kind="autopay")
    payment = first_payment(schedule)

    reminders_send(client=acme, now=NOW)

    reminder = reminder_of(payment)
    assert (reminder.kind, reminder.days, reminder.status) == ("debit_notice", days, "sent")
    [message] = mailoutbox
    # Nothing to do for the customer but have the money there: the notice says how it is taken.
    for must_say in ("USD 89.99", due.strftime("%d %B %Y").lstrip("0"), payment.reference, "•••• 6819", "collect"):
        assert must_say in message.body
    assert "due in" not in message.body and "due today" not in message.body


def test_a_missed_autopay_collection_gets_an_overdue_reminder_with_how_to_pay(acme, mailoutbox):
    customer = make_customer(acme, email="maria@example.com")
    schedule = make_schedule(acme, customer, due=TODAY - dt.timedelta(days=3), today=TODAY, kind="autopay")

    reminders_send(client=acme, now=NOW)

    assert reminder_of(first_payment(schedule)).kind == "overdue"
    [message] = mailoutbox
    assert "overdue" in message.subject and HOW_TO_PAY in message.body


def test_a_part_paid_payment_is_reminded_of_what_is_still_outstanding(acme, mailoutbox):
    customer = make_customer(acme, email="maria@example.com")
    schedule = make_schedule(acme, customer, due=TODAY + dt.timedelta(days=7), today=TODAY, amount="300.00")
    payment = scheduled_payment_record(
        scheduled_payment=first_payment(schedule), actor="system:test", amount=Decimal("120.00"),
        paid_on=TODAY, method="card", note="paid by phone",
    )
    assert payment.status == PaymentStatus.PARTIALLY_PAID

    reminders_send(client=acme, now=NOW)

    [message] = mailoutbox
    assert "USD 180.00" in message.body and "300.00" not in message.body


# 2. Channels, consent and contact details; never for what is not owed.


def test_it_uses_only_the_channels_the_customer_consented_to(acme, mailoutbox, sms_outbox):
    both = make_customer(acme, email="both@example.com", phone="+14155550101")
    email_only = make_customer(acme, email="email@example.com", phone="+14155550102", sms_consent=False)
    sms_only = make_customer(acme, email="sms@example.com", email_consent=False, phone="+14155550103")
    payments = {
        c.pk: first_payment(make_schedule(acme, c, due=TODAY + dt.timedelta(days=1), today=TODAY))
        for c in (both, email_only, sms_only)
    }

    run = reminders_send(client=acme, now=NOW)

    assert sorted(m.to[0] for m in mailoutbox) == ["both@example.com", "email@example.com"]
    assert sorted(m["to"] for m in sms_outbox) == ["+14155550101", "+14155550103"]
    [sms] = sms_to(sms_outbox, "+14155550103")
    for must_say in ("USD 250.00", "24 November 2026", payments[sms_only.pk].reference, HOW_TO_PAY):
        assert must_say in sms["body"]
    assert (run.sent, run.skipped) == (4, 2)
    email_skip = reminder_of(payments[sms_only.pk], "email")
    sms_skip = reminder_of(payments[email_only.pk], "sms")
    assert (email_skip.status, email_skip.skip_reason) == ("skipped", "no consent to email")
    assert (sms_skip.status, sms_skip.skip_reason) == ("skipped", "no consent to SMS")


def test_a_missing_email_or_phone_is_skipped_with_the_reason(acme, mailoutbox, sms_outbox):
    customer = make_customer(acme, email_consent=True, sms_consent=True)
    payment = first_payment(make_schedule(acme, customer, due=TODAY, today=TODAY))

    run = reminders_send(client=acme, now=NOW)

    assert mailoutbox == [] and sms_outbox == []
    assert run.skipped == 2
    assert reminder_of(payment, "email").skip_reason == "no email address"
    assert reminder_of(payment, "sms").skip_reason == "no phone number"
    assert {r.status for r in Reminder.objects.all()} == {"skipped"}


def test_it_uses_only_the_channels_the_client_uses(client_a, mailoutbox, sms_outbox):
    assert client_a.reminder_channels == ["email"]
    customer = make_customer(client_a, email="maria@example.com", phone="+14155550123")
    make_schedule(client_a, customer, due=TODAY, today=TODAY)

    reminders_send(client=client_a, now=NOW)

    assert len(mailoutbox) == 1 and sms_outbox == []
    assert list(Reminder.objects.values_list("channel", flat=True)) == ["email"]


def test_it_never_reminds_of_paid_waived_or_cancelled_payments_or_paused_schedules(acme, mailoutbox, sms_outbox):
    due = TODAY + dt.timedelta(days=1)
    schedules = {
        name: make_schedule(acme, make_customer(acme, email=f"{name}@example.com"), due=due, today=TODAY)
        for name in ("open", "paid", "waived", "cancelled", "paused")
    }
    scheduled_payment_record(
        scheduled_payment=first_payment(schedules["paid"]), actor="system:test", amount=Decimal("250.00"),
        paid_on=TODAY, method="card", note="paid by phone",
    )
    # No waive service yet: the status is what matters here.
    ScheduledPayment.objects.filter(schedule=schedules["waived"]).update(status=PaymentStatus.WAIVED)
    schedule_cancel(schedule=schedules["cancelled"], actor="system:test", version=None, reason="Contract ended")
    schedule_pause(schedule=schedules["paused"], actor="system:test", version=None, reason="Customer in hospital")

    reminders_send(client=acme, now=NOW)

    assert [m.to for m in mailoutbox] == [["open@example.com"]]
    assert set(Reminder.objects.values_list("scheduled_payment__schedule", flat=True)) == {schedules["open"].pk}


def test_what_changes_while_a_reminder_waits_is_checked_when_it_is_sent(acme, mailoutbox, sms_outbox):
    """Queued at 03:00 the customer's time, sent after 08:00: by then some are settled, paused,
    part-paid, or the customer withdrew consent."""
    due = TODAY + dt.timedelta(days=7)
    customers = {
        name: make_customer(acme, email=f"{name}@example.com", phone=phone, timezone_name="Asia/Tokyo")
        for name, phone in (("paid", ""), ("paused", ""), ("part", "+14155550199"))
    }
    # Recurring: paying one payment leaves the schedule active.
    schedules = {
        name: make_schedule(acme, c, due=due, today=TODAY, amount="300.00", kind="recurring")
        for name, c in customers.items()
    }
    three_am_tokyo = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)
    assert reminders_send(client=acme, now=three_am_tokyo).deferred == 4

    scheduled_payment_record(
        scheduled_payment=first_payment(schedules["paid"]), actor="system:test", amount=Decimal("300.00"),
        paid_on=TODAY, method="card", note="paid by phone",
    )
    schedule_pause(schedule=schedules["paused"], actor="system:test", version=None, reason="Dispute")
    scheduled_payment_record(
        scheduled_payment=first_payment(schedules["part"]), actor="system:test", amount=Decimal("100.00"),
        paid_on=TODAY, method="card", note="paid by phone",
    )
    ledger_services.customer_update(customer=customers["part"], actor="system:test", version=None, sms_consent=False)
    run = reminders_send(client=acme, now=three_am_tokyo + dt.timedelta(hours=5))

    assert reminder_of(first_payment(schedules["paid"])).skip_reason == "payment is paid"
    assert reminder_of(first_payment(schedules["paused"])).skip_reason == "schedule is paused"
    assert reminder_of(first_payment(schedules["part"]), "sms").skip_reason == "no consent to SMS"
    assert sms_outbox == []
    [message] = mailoutbox
    assert message.to == ["part@example.com"] and "USD 200.00" in message.body
    assert (run.sent, run.skipped) == (1, 3)


# 3. Allowed hours, in the customer's own time zone.


def test_at_three_in_the_customers_night_it_waits_for_their_morning(acme, mailoutbox):
    tokyo = make_customer(acme, email="kenji@example.com", timezone_name="Asia/Tokyo")
    new_york = make_customer(acme, email="nina@example.com")  # the client's zone
    due = TODAY + dt.timedelta(days=1)
    tokyo_payment = first_payment(make_schedule(acme, tokyo, due=due, today=TODAY))
    make_schedule(acme, new_york, due=due, today=TODAY)
    three_am_tokyo = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)  # 13:00 in New York

    run = reminders_send(client=acme, now=three_am_tokyo)

    assert [m.to for m in mailoutbox] == [["nina@example.com"]]
    assert (run.sent, run.deferred) == (1, 1)
    waiting = reminder_of(tokyo_payment)
    eight_am_tokyo = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)
    assert (waiting.status, waiting.next_attempt_at, waiting.attempts) == ("queued", eight_am_tokyo, 0)

    reminders_send(client=acme, now=eight_am_tokyo - dt.timedelta(minutes=1))
    assert len(mailoutbox) == 1

    run = reminders_send(client=acme, now=eight_am_tokyo)
    assert run.sent == 1
    assert mailoutbox[-1].to == ["kenji@example.com"]
    assert reminder_of(tokyo_payment).status == "sent"


def test_after_the_evening_cut_off_it_waits_for_the_next_morning(acme, mailoutbox):
    london = make_customer(acme, email="ada@example.com", timezone_name="Europe/London")
    payment = first_payment(make_schedule(acme, london, due=TODAY + dt.timedelta(days=7), today=TODAY))
    ten_pm_london = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.UTC)

    reminders_send(client=acme, now=ten_pm_london)

    assert mailoutbox == []
    assert reminder_of(payment).next_attempt_at == dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


# 4. Each reminder once, however often and however many run.


def test_it_does_not_send_twice(acme, mailoutbox, sms_outbox):
    for n in range(3):
        customer = make_customer(acme, email=f"c{n}@example.com", phone=f"+1415555010{n}")
        make_schedule(acme, customer, due=TODAY + dt.timedelta(days=7), today=TODAY)

    first = reminders_send(client=acme, now=NOW)
    again = reminders_send(client=acme, now=NOW)
    an_hour_later = reminders_send(client=acme, now=NOW + dt.timedelta(hours=1))

    assert (first.created, first.sent) == (6, 6)
    assert again.as_dict() == an_hour_later.as_dict() == reminders_send(client=acme, now=NOW).as_dict()
    assert (again.created, again.sent, again.skipped, again.deferred) == (0, 0, 0, 0)
    assert len(mailoutbox) == 3 and len(sms_outbox) == 3
    assert Reminder.objects.count() == 6


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_send_each_reminder_exactly_once(acme, mailoutbox, settings, monkeypatch):
    # Small batches, so that both senders are claiming while the other sends.
    monkeypatch.setattr("schedules.services.reminders.BATCH_SIZE", 20)
    settings.EMAIL_BACKEND = f"{MODULE}.SlowEmailBackend"
    acme.reminder_channels = ["email"]
    acme.save()
    count = 130
    references = set()
    for n in range(count):
        customer = make_customer(acme, email=f"c{n}@example.com")
        references.add(first_payment(make_schedule(acme, customer, due=TODAY + dt.timedelta(days=1), today=TODAY)).reference)
    runs, errors = [], []
    start = threading.Barrier(2)

    def sender():
        try:
            start.wait()
            runs.append(reminders_send(client=acme, now=NOW))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    sent_per_reference = Counter(ref for m in mail.outbox for ref in references if ref in m.subject)
    assert set(sent_per_reference) == references
    assert set(sent_per_reference.values()) == {1}
    assert Reminder.objects.filter(status="sent").count() == count == Reminder.objects.count()
    assert sum(r.sent for r in runs) == count
    assert sum(r.created for r in runs) == count  # each row counted by the sender that made it
    assert all(r.sent > 0 for r in runs), f"the senders did not overlap: {[r.sent for r in runs]}"


# 5. A sender that dies mid-batch.


@pytest.mark.django_db(transaction=True)
def test_a_sender_that_dies_mid_batch_keeps_what_it_sent_and_hands_back_what_it_never_tried(
    acme, mailoutbox, settings, monkeypatch
):
    monkeypatch.setattr("schedules.services.reminders.BATCH_SIZE", 50)  # the arithmetic below
    acme.reminder_channels = ["email"]
    acme.save()
    schedules = []
    for n in range(120):
        customer = make_customer(acme, email=f"c{n}@example.com")
        schedules.append(make_schedule(acme, customer, due=TODAY, today=TODAY))
    settings.EMAIL_BACKEND = f"{MODULE}.DyingEmailBackend"
    DyingEmailBackend.die_after, DyingEmailBackend.delivered = 60, 0

    with pytest.raises(WorkerDied):
        reminders_send(client=acme, now=NOW)

    assert len(mail.outbox) == 60
    statuses = Counter(Reminder.objects.values_list("status", flat=True))
    # The 60 delivered are recorded as sent; the 61st was in the provider's hands; the rest of
    # its batch was never tried, and the last batch never claimed.
    assert statuses == {"sent": 60, "sending": 1, "claimed": 39, "queued": 20}
    assert sum(len(log_of(acme, s, "reminder.sent")) for s in schedules) == 60

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert reminders_send(client=acme, now=NOW + dt.timedelta(hours=1)).sent == 20
    assert not reminders_sweep_stale()  # not stale yet: the sender might still be at work
    swept = reminders_sweep_stale(now=timezone.now() + claim_timeout() + dt.timedelta(minutes=1))

    assert (swept.requeued, swept.retried, swept.unknown) == (39, 0, 1)
    assert reminders_send(client=acme, now=NOW + dt.timedelta(hours=2)).sent == 39
    per_customer = Counter(m.to[0] for m in mail.outbox)
    assert len(per_customer) == 119 and set(per_customer.values()) == {1}
    # Email cannot be recalled or deduplicated: the one in flight is failed for a person to check.
    unknown = Reminder.objects.select_related("scheduled_payment__schedule").get(status="failed")
    assert unknown.scheduled_payment.schedule.customer.email not in per_customer
    assert f"Message-ID <reminder-{unknown.pk}@bpo-ledger.local>" in unknown.last_error
    [event] = log_of(acme, unknown.scheduled_payment.schedule, "reminder.failed")
    assert event.details["reference"] == unknown.scheduled_payment.reference
    # What the schedule's log shows a person.
    assert sentence(event) == (
        f"Reminder failed by the reminder job: due today reminder for {unknown.scheduled_payment.reference} by "
        f"email. Reason: {unknown.last_error}"
    )
    for schedule in schedules:
        verbs = [e.verb for e in audit_timeline(client=acme, subject_type="paymentschedule", subject_id=schedule.pk)
                 if e.verb.startswith("reminder.")]
        assert len(verbs) == 1, f"{schedule}: {verbs}"
    assert reminders_send(client=acme, now=NOW + dt.timedelta(hours=3)).sent == 0
    assert len(mail.outbox) == 119


def test_an_sms_in_flight_when_the_sender_died_is_retried_under_its_key_and_delivered_once(
    acme, sms_outbox, settings
):
    acme.reminder_channels = ["sms"]
    acme.save()
    schedules = [
        make_schedule(acme, make_customer(acme, phone=f"+1415555{n:04d}"), due=TODAY, today=TODAY) for n in range(6)
    ]
    settings.SMS_BACKEND = f"{MODULE}.DiesBeforeTheAnswerSMSBackend"
    DiesBeforeTheAnswerSMSBackend.die_at = 3

    with pytest.raises(WorkerDied):
        reminders_send(client=acme, now=NOW)

    assert len(sms_outbox) == 3  # the third was delivered; the provider's answer never came back
    assert Counter(Reminder.objects.values_list("status", flat=True)) == {"sent": 2, "sending": 1, "claimed": 3}
    settings.SMS_BACKEND = "schedules.sms.LocmemSMSBackend"
    swept = reminders_sweep_stale(now=timezone.now() + claim_timeout() + dt.timedelta(minutes=1))
    assert (swept.requeued, swept.retried, swept.unknown) == (3, 1, 0)

    run = reminders_send(client=acme, now=NOW + dt.timedelta(hours=1))

    assert run.sent == 4
    assert Counter(m["to"] for m in sms_outbox) == {f"+1415555{n:04d}": 1 for n in range(6)}
    in_flight = Reminder.objects.get(attempts=2)
    assert in_flight.provider_id == sms_to(sms_outbox, in_flight.recipient)[0]["id"]
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}
    for schedule in schedules:
        assert len(log_of(acme, schedule, "reminder.sent")) == 1
        assert log_of(acme, schedule, "reminder.failed") == []


def test_an_sms_whose_sender_dies_every_time_is_given_up_after_the_last_attempt(acme, sms_outbox, settings):
    acme.reminder_channels = ["sms"]
    acme.save()
    schedule = make_schedule(acme, make_customer(acme, phone="+14155550123"), due=TODAY, today=TODAY)
    settings.SMS_BACKEND = f"{MODULE}.DiesBeforeTheAnswerSMSBackend"
    DiesBeforeTheAnswerSMSBackend.die_at = 1
    later = timezone.now() + claim_timeout() + dt.timedelta(minutes=1)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        with pytest.raises(WorkerDied):
            reminders_send(client=acme, now=NOW + dt.timedelta(hours=attempt))
        swept = reminders_sweep_stale(now=later)
        assert (swept.retried, swept.unknown) == ((1, 0) if attempt < MAX_ATTEMPTS else (0, 1))

    reminder = reminder_of(first_payment(schedule), "sms")
    assert (reminder.status, reminder.attempts) == ("failed", MAX_ATTEMPTS)
    assert len(sms_outbox) == 1  # every retry went under the same key: delivered once
    [event] = log_of(acme, schedule, "reminder.failed")
    assert f"look for reminder-{reminder.pk} in the provider's log" in event.details["reason"]
    assert reminders_send(client=acme, now=NOW + dt.timedelta(days=1)).sent == 0


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_sender_whose_claim_the_sweep_took_back_writes_nothing_over_it(
    acme, mailoutbox, sms_outbox, settings, channel
):
    acme.reminder_channels = [channel]
    acme.save()
    schedules = [
        make_schedule(acme, make_customer(acme, email=f"c{n}@example.com", phone=f"+1415555{n:04d}"), due=TODAY, today=TODAY)
        for n in range(5)
    ]
    settings.EMAIL_BACKEND = f"{MODULE}.StallingEmailBackend"
    settings.SMS_BACKEND = f"{MODULE}.StallingSMSBackend"
    StallingEmailBackend.stall_at, StallingEmailBackend.swept = 3, None

    run = reminders_send(client=acme, now=NOW)

    # Two sent and recorded; the third went out after the sweep had taken the claim back, and
    # the last two were left to whoever claims them next.
    assert (run.sent, run.taken_back) == (2, 3)
    swept = StallingEmailBackend.swept
    in_flight = Reminder.objects.select_related("scheduled_payment__schedule").get(attempts=1, sent_at=None)
    if channel == "email":
        assert (swept.requeued, swept.retried, swept.unknown) == (2, 0, 1)
        assert in_flight.status == "failed" and "outcome unknown" in in_flight.last_error
    else:
        assert (swept.requeued, swept.retried, swept.unknown) == (2, 1, 0)
        assert in_flight.status == "queued"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "schedules.sms.LocmemSMSBackend"
    again = reminders_send(client=acme, now=NOW + dt.timedelta(hours=1))

    delivered = Counter([m.to[0] for m in mailoutbox] + [m["to"] for m in sms_outbox])
    assert len(delivered) == 5 and set(delivered.values()) == {1}  # nobody got a second message
    for schedule in schedules:
        verbs = [e.verb for e in audit_timeline(client=acme, subject_type="paymentschedule", subject_id=schedule.pk)
                 if e.verb.startswith("reminder.")]
        expected = ["reminder.failed"] if channel == "email" and schedule == in_flight.scheduled_payment.schedule else ["reminder.sent"]
        assert verbs == expected, schedule
    # SMS: the one in flight is retried under its key; the provider answers with the first message's id.
    assert again.sent == (2 if channel == "email" else 3)
    assert Reminder.objects.filter(status="sent").count() == (4 if channel == "email" else 5)


def test_skipped_and_deferred_reminders_are_not_lost_when_the_sender_dies(acme, mailoutbox, settings, monkeypatch):
    monkeypatch.setattr("schedules.services.reminders.BATCH_SIZE", 50)
    acme.reminder_channels = ["email"]
    acme.save()
    asleep = make_customer(acme, email="kenji@example.com", timezone_name="Asia/Tokyo")
    no_consent = make_customer(acme, email="nope@example.com", email_consent=False)
    awake = make_customer(acme, email="nina@example.com")
    payments = {
        c.pk: first_payment(make_schedule(acme, c, due=TODAY, today=TODAY)) for c in (asleep, no_consent, awake)
    }
    settings.EMAIL_BACKEND = f"{MODULE}.DyingEmailBackend"
    DyingEmailBackend.die_after, DyingEmailBackend.delivered = 0, 0

    with pytest.raises(WorkerDied):
        reminders_send(client=acme, now=dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC))

    assert reminder_of(payments[asleep.pk]).status == "queued"
    assert reminder_of(payments[no_consent.pk]).status == "skipped"
    assert reminder_of(payments[awake.pk]).status == "sending"


# 6. Provider errors: retried with backoff, then failed, on the schedule's log.


def test_a_provider_error_is_retried_with_growing_backoff_then_failed(acme, mailoutbox, settings):
    settings.EMAIL_BACKEND = f"{MODULE}.RefusingEmailBackend"
    customer = make_customer(acme, email="maria@example.com")
    schedule = make_schedule(acme, customer, due=TODAY, today=TODAY)
    payment = first_payment(schedule)

    moment, waits = NOW, []
    for attempt in range(1, MAX_ATTEMPTS):
        run = reminders_send(client=acme, now=moment)
        reminder = reminder_of(payment)
        assert (run.retried, reminder.status, reminder.attempts) == (1, "queued", attempt)
        assert reminder.last_error == "ConnectionRefusedError: provider unavailable"
        waits.append(reminder.next_attempt_at - moment)
        # Not before its time.
        assert reminders_send(client=acme, now=reminder.next_attempt_at - dt.timedelta(seconds=1)).retried == 0
        moment = reminder.next_attempt_at
    assert waits == sorted(waits) and waits[0] < waits[-1]
    assert log_of(acme, schedule, "reminder.failed") == []

    run = reminders_send(client=acme, now=moment)

    reminder = reminder_of(payment)
    assert (run.failed, reminder.status, reminder.attempts) == (1, "failed", MAX_ATTEMPTS)
    [event] = log_of(acme, schedule, "reminder.failed")
    assert event.actor_label == "system:reminders"
    assert event.details["reference"] == payment.reference
    assert event.details["reason"] == "ConnectionRefusedError: provider unavailable"
    assert reminders_send(client=acme, now=moment + dt.timedelta(days=1)).as_dict()["failed"] == 0
    assert reminder_of(payment).attempts == MAX_ATTEMPTS
    assert mailoutbox == []


def test_a_retry_that_succeeds_sends_one_message(acme, mailoutbox, settings):
    settings.EMAIL_BACKEND = f"{MODULE}.FlakyEmailBackend"
    FlakyEmailBackend.refused = 0
    customer = make_customer(acme, email="maria@example.com")
    payment = first_payment(make_schedule(acme, customer, due=TODAY, today=TODAY))

    reminders_send(client=acme, now=NOW)
    reminders_send(client=acme, now=reminder_of(payment).next_attempt_at)

    assert len(mailoutbox) == 1
    assert (reminder_of(payment).status, reminder_of(payment).attempts) == ("sent", 2)


def test_a_sent_reminder_is_on_the_schedule_log_with_the_provider_id(acme, mailoutbox, sms_outbox):
    customer = make_customer(acme, email="maria@example.com", phone="+14155550123")
    schedule = make_schedule(acme, customer, due=TODAY, today=TODAY)
    payment = first_payment(schedule)

    reminders_send(client=acme, now=NOW)

    events = {e.details["channel"]: e for e in log_of(acme, schedule, "reminder.sent")}
    assert set(events) == {"email", "sms"}
    [message], [sms] = mailoutbox, sms_outbox
    assert events["email"].details["provider_id"] == message.extra_headers["Message-ID"] == reminder_of(payment).provider_id
    assert events["sms"].details["provider_id"] == sms["id"] == reminder_of(payment, "sms").provider_id
    assert events["email"].details["reference"] == payment.reference
    assert events["email"].details["kind"] == "due_today"


# 7. A client's own wording.


def test_a_clients_own_template_is_used_for_that_client_only(acme, client_b, mailoutbox):
    ReminderTemplate.objects.create(
        client=acme,
        kind="upcoming",
        channel="email",
        subject="Heads up: {{ reference }}",
        body="Hi {{ customer_name }}, {{ currency }} {{ amount }} falls due on {{ due_date }}. {{ how_to_pay }}",
    )
    ours = make_customer(acme, email="maria@example.com", name="Maria Gonzalez")
    theirs = make_customer(client_b, email="lena@example.com")
    our_payment = first_payment(make_schedule(acme, ours, due=TODAY + dt.timedelta(days=7), today=TODAY))
    their_payment = first_payment(make_schedule(client_b, theirs, due=TODAY + dt.timedelta(days=7), today=TODAY))

    reminders_send(client=acme, now=NOW)
    reminders_send(client=client_b, now=NOW)

    by_recipient = {m.to[0]: m for m in mailoutbox}
    ours_message = by_recipient["maria@example.com"]
    assert ours_message.subject == f"Heads up: {our_payment.reference}"
    assert ours_message.body == (
        f"Hi Maria Gonzalez, USD 250.00 falls due on 30 November 2026. {HOW_TO_PAY}"
    )
    theirs_message = by_recipient["lena@example.com"]
    assert "Heads up" not in theirs_message.subject
    assert theirs_message.body.startswith("Dear ") and their_payment.reference in theirs_message.body


# 8. The command.


def test_the_command_sends_and_prints_the_counts(acme, mailoutbox):
    customer = make_customer(acme, email="maria@example.com", phone="+14155550123", sms_consent=False)
    make_schedule(acme, customer, due=TODAY + dt.timedelta(days=1), today=TODAY)
    out = io.StringIO()

    call_command("send_reminders", "--client", "ACME", "--now", "2026-11-23T14:00:00+00:00", stdout=out)

    assert out.getvalue().strip() == (
        "ACME: 2 created, 1 sent, 1 skipped, 0 deferred to allowed hours, 0 retried, 0 failed"
    )
    assert len(mailoutbox) == 1


def test_the_command_reads_a_time_without_offset_as_utc(client_a, mailoutbox):
    customer = make_customer(client_a, email="maria@example.com")
    make_schedule(client_a, customer, due=TODAY + dt.timedelta(days=1), today=TODAY)
    out = io.StringIO()

    # 12:30 UTC is 07:30 in New York: before the customer's allowed hours.
    call_command("send_reminders", "--client", "ACME", "--now", "2026-11-23T12:30:00", stdout=out)

    assert "0 sent" in out.getvalue() and "1 deferred to allowed hours" in out.getvalue()
    assert Reminder.objects.get().next_attempt_at == dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)


def test_the_command_runs_every_active_client_and_sweeps_stale_claims(client_a, client_b, mailoutbox, settings):
    dormant = make_client("DORM", name="Dormant Ltd", is_active=False)
    for client in (client_a, client_b, dormant):
        make_schedule(client, make_customer(client, email=f"x@{client.code.lower()}.example"), due=TODAY, today=TODAY)
    settings.EMAIL_BACKEND = f"{MODULE}.DyingEmailBackend"
    DyingEmailBackend.die_after, DyingEmailBackend.delivered = 0, 0
    with pytest.raises(WorkerDied):
        reminders_send(client=client_a, now=NOW)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # The dead sender's claim, as it looks a while later.
    Reminder.objects.filter(status="sending").update(claimed_at=timezone.now() - claim_timeout() * 2)
    out = io.StringIO()

    call_command("send_reminders", "--now", "2026-11-23T14:00:00Z", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "Reminders of stopped senders: 0 never tried, queued again; 0 in flight, retried under the same "
        "idempotency key; 1 in flight, marked failed (outcome unknown: check the provider's log)"
    )
    assert [line.split(":")[0] for line in lines[1:]] == ["ACME", "GLOBEX"]
    assert [m.to for m in mailoutbox] == [["x@globex.example"]]
    assert Reminder.objects.get(client=client_a).status == "failed"


def test_the_command_refuses_an_unknown_client(acme):
    with pytest.raises(CommandError, match="NOPE"):
        call_command("send_reminders", "--client", "NOPE")


def test_the_command_refuses_a_time_it_cannot_read(acme):
    with pytest.raises(CommandError, match=r"not a date and time; use an ISO 8601 .*2026-11-23T14:00:00\+00:00"):
        call_command("send_reminders", "--client", "ACME", "--now", "23/11/2026 14:00")
    assert not Reminder.objects.exists()
