"""Schedules at scale: due dates for 100,000 schedules, the reminder job over 100,000 payments."""

import datetime as dt
import time
from decimal import Decimal

from django.test.utils import override_settings
from django.utils import timezone

from bench.mail import CountingEmailBackend
from bpo_ledger.models import Client, Customer
from schedules import duedates, services
from schedules.models import PaymentSchedule, Reminder, ScheduledPayment
from schedules.services import ScheduleSpec
from schedules.services.planning import NewPayment

TODAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York: inside reminder hours
CHUNK = 5000


def timed(label, fn):
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    return result, seconds


def report(title, rows, seconds, baseline_label, baseline_seconds, unit="rows"):
    ratio = seconds / baseline_seconds if baseline_seconds else float("nan")
    print(
        f"  {title}: {seconds:.2f} s for {rows:,} {unit} ({rows / seconds:,.0f} {unit}/s); "
        f"baseline {baseline_label}: {baseline_seconds:.2f} s; ratio {ratio:.2f}x"
    )


def make_client(code):
    client = Client(code=code, name=f"Bench {code}", currency="USD", timezone="America/New_York", country="US",
                    reminder_lead_days=[7, 1], reminder_channels=["email"])
    client.full_clean()
    client.save()
    return client


def make_customers(client, n):
    now = timezone.now()
    Customer.objects.bulk_create(
        [
            Customer(client=client, external_ref=f"B{i}", name=f"Customer {i}", email=f"c{i}@example.com",
                     email_consent=True, email_consent_at=now, timezone="America/New_York")
            for i in range(n)
        ],
        batch_size=5000,
    )
    return list(Customer.objects.filter(client=client).order_by("pk"))


def bench_due_dates(scale):
    n = int(100_000 * scale)
    client = make_client("BENCHDD")
    customers = make_customers(client, min(n, 20_000))
    specs = [
        ScheduleSpec(customer=customers[i % len(customers)], kind="recurring", amount=Decimal("49.99"),
                     start_date=TODAY + dt.timedelta(days=i % 28), frequency="monthly", anchor_day=31 - i % 5)
        for i in range(n)
    ]

    def pure():
        holidays = duedates.holiday_calendar("US", years=[2026, 2027])
        total = 0
        for spec in specs:
            total += len(duedates.recurring_plan(
                amount=spec.amount, start=spec.start_date, frequency="monthly", anchor_day=spec.anchor_day,
                through=spec.start_date + dt.timedelta(days=services.HORIZON_DAYS),
                rule="following", holidays=holidays))
        return total

    def create():
        for i in range(0, n, CHUNK):
            services.schedules_create_many(client=client, actor="system:bench", specs=specs[i:i + CHUNK], source="bench", today=TODAY)

    dues, pure_seconds = timed("pure", pure)
    _, seconds = timed("create", create)
    rows = ScheduledPayment.objects.filter(client=client).count()
    print(f"Due dates for {n:,} monthly schedules (6-month horizon, business-day rolling), PostgreSQL:")
    report("schedules_create_many (COPY, audit chain, rollups)", rows, seconds, "the same due dates computed in memory only", pure_seconds)
    print(f"  {n / seconds:,.0f} schedules/s; {PaymentSchedule.objects.filter(client=client).count():,} schedules, {rows:,} scheduled payments")
    check_same_due_dates(client, specs, dues)

    # The insert path alone: COPY against Django's bulk_create, same rows.
    sample = list(ScheduledPayment.objects.filter(client=client).order_by("pk")[:min(rows, 100_000)])
    ScheduledPayment.objects.filter(pk__in=[p.pk for p in sample]).delete()
    new_rows = [
        NewPayment(p.client_id, p.schedule_id, p.sequence, p.reference, p.due_date, p.original_due_date,
                            p.amount_due, p.amount_paid, p.status, p.updated_at.isoformat())
        for p in sample
    ]
    _, copy_seconds = timed("copy", lambda: services.scheduled_payments_insert(new_rows))
    ScheduledPayment.objects.filter(client=client, schedule_id__in={p.schedule_id for p in sample}).delete()
    for p in sample:
        p.pk = None
    _, bulk_seconds = timed("bulk", lambda: ScheduledPayment.objects.bulk_create(sample, batch_size=1000))
    report("insert via COPY", len(sample), copy_seconds, "Django bulk_create of the same rows", bulk_seconds)


def check_same_due_dates(client, specs, count):
    """The baseline is only fair if the service stored the very dues it computes: compare them all."""
    holidays = duedates.holiday_calendar("US", years=[2026, 2027])
    expected = {
        (number, due.sequence, due.due_date)
        for number, spec in enumerate(specs, 1)
        for due in duedates.recurring_plan(
            amount=spec.amount, start=spec.start_date, frequency="monthly", anchor_day=spec.anchor_day,
            through=spec.start_date + dt.timedelta(days=services.HORIZON_DAYS), rule="following", holidays=holidays)
    }
    stored = set(ScheduledPayment.objects.filter(client=client).values_list("schedule__number", "sequence", "due_date"))
    assert len(expected) == count and stored == expected, "the service stored other due dates than the baseline computes"


def bench_reminders(scale):
    n = int(100_000 * scale)
    client = make_client("BENCHRM")
    customers = make_customers(client, n)
    due = TODAY + dt.timedelta(days=7)
    specs = [ScheduleSpec(customer=c, kind="one_time", amount=Decimal("120.00"), start_date=due) for c in customers]
    for i in range(0, n, CHUNK):
        services.schedules_create_many(client=client, actor="system:bench", specs=specs[i:i + CHUNK], source="bench", today=TODAY)

    with override_settings(EMAIL_BACKEND="bench.mail.CountingEmailBackend"):
        CountingEmailBackend.sent, CountingEmailBackend.recipients = 0, set()
        run, seconds = timed("send", lambda: services.reminders_send(client=client, now=NOW))
        sent, recipients = CountingEmailBackend.sent, len(CountingEmailBackend.recipients)
        again, again_seconds = timed("again", lambda: services.reminders_send(client=client, now=NOW))

        # Baseline: building and handing the same number of messages to the same backend,
        # without the database (queueing, claiming, outcomes, audit log).
        payment = ScheduledPayment.objects.filter(client=client).first()
        from django.core.mail import EmailMessage, get_connection
        from django.template.loader import get_template

        template = get_template("schedules/reminders/upcoming_email.txt")

        def baseline():
            with get_connection() as conn:
                for i in range(n):
                    body = template.render({"customer_name": "x", "amount": "120.00", "currency": "USD", "due_date": due,
                                            "reference": payment.reference, "days": 7, "client_name": client.name, "how_to_pay": ""})
                    EmailMessage("Reminder", body, to=[f"c{i}@example.com"], connection=conn).send()

        _, base_seconds = timed("baseline", baseline)
    print(f"Reminder job over {n:,} payments due in 7 days (email, each message built as for SMTP), PostgreSQL:")
    report("reminders_send (queue, claim, send, outcomes, audit log)", run.sent, seconds, "rendering and sending the same messages without the database", base_seconds, unit="reminders")
    print(f"  sent {run.sent:,}, emails built {sent:,} to {recipients:,} customers, reminder rows {Reminder.objects.filter(client=client).count():,}; "
          f"a second run: {again.sent} sent, {again.created} created in {again_seconds:.2f} s")
    assert sent == run.sent == recipients == n, "every payment gets exactly one reminder"
