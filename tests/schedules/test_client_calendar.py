"""Due dates through the services roll by the client's own calendar: its country's working week,
its subdivision's holidays and its bank closure days, read once per batch of schedules."""

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from bpo_ledger.models import BankClosureDay
from schedules import services
from schedules.services import ScheduleSpec
from tests.conftest import make_client
from tests.schedules.conftest import make_customer

TODAY = dt.date(2026, 11, 23)


def first_due(client, start_date, **fields):
    fields = {"kind": "one_time", "amount": Decimal("10.00"), **fields}
    customer = make_customer(client)
    schedule = services.schedule_create(
        client=client, actor="system:test", spec=ScheduleSpec(customer=customer, start_date=start_date, **fields), today=TODAY
    )
    return list(schedule.payments.order_by("sequence").values_list("due_date", flat=True))


def test_an_english_clients_easter_monday_rolls_and_a_scottish_ones_does_not(db):
    easter_monday = dt.date(2027, 3, 29)
    england = make_client("INITECH", country="GB", subdivision="ENG", timezone="Europe/London", currency="GBP")
    scotland = make_client("HOOLI", country="GB", subdivision="SCT", timezone="Europe/London", currency="GBP")
    assert first_due(england, easter_monday) == [dt.date(2027, 3, 30)]
    assert first_due(scotland, easter_monday) == [easter_monday]


def test_a_victorian_clients_melbourne_cup_day_rolls(db):
    victoria = make_client("VICPAY", country="AU", subdivision="VIC", timezone="Australia/Melbourne", currency="AUD")
    assert first_due(victoria, dt.date(2027, 11, 2)) == [dt.date(2027, 11, 3)]


def test_a_saudi_client_is_due_on_sunday_not_on_friday(db):
    riyadh = make_client("RIYADH", country="SA", timezone="Asia/Riyadh", currency="SAR")
    # Monthly on the 8th: Friday 8 January 2027 rolls to Sunday the 10th; Sunday 8 August stays.
    dues = first_due(riyadh, dt.date(2027, 1, 8), kind="installment", frequency="monthly", installment_count=8,
                     amount=Decimal("800.00"))
    assert dues[0] == dt.date(2027, 1, 10)
    assert dues[7] == dt.date(2027, 8, 8)


def test_a_bank_closure_day_rolls_from_the_moment_it_is_added(client_a):
    closed = dt.date(2027, 1, 13)  # a Wednesday, no US holiday
    assert first_due(client_a, closed) == [closed]
    BankClosureDay.objects.create(client=client_a, date=closed, name="Bank staff day")
    assert first_due(client_a, closed) == [dt.date(2027, 1, 14)]
    BankClosureDay.objects.filter(client=client_a).delete()
    assert first_due(client_a, closed) == [closed]


def test_the_nightly_extension_rolls_off_a_bank_closure_day(client_a, customer_a):
    schedule = services.schedule_create(
        client=client_a, actor="system:test", today=TODAY,
        spec=ScheduleSpec(customer=customer_a, kind="recurring", amount=Decimal("49.99"), start_date=dt.date(2026, 12, 15),
                          frequency="monthly"),
    )
    BankClosureDay.objects.create(client=client_a, date=dt.date(2027, 7, 15), name="Bank migration")
    services.schedules_extend_horizon(client=client_a, today=dt.date(2027, 3, 23))
    assert dt.date(2027, 7, 16) in set(schedule.payments.values_list("due_date", flat=True))
    assert not schedule.payments.filter(due_date=dt.date(2027, 7, 15)).exists()


def test_many_schedules_read_the_clients_closure_days_once(client_a):
    BankClosureDay.objects.create(client=client_a, date=dt.date(2027, 1, 13), name="Bank staff day")
    customer = make_customer(client_a)
    specs = [
        ScheduleSpec(customer=customer, kind="recurring", amount=Decimal("5.00"), start_date=dt.date(2026, 12, 13 + n % 5),
                     frequency="monthly", external_ref=f"R{n}")
        for n in range(40)
    ]
    with CaptureQueriesContext(connection) as queries:
        services.schedules_create_many(client=client_a, actor="system:test", specs=specs, source="test", today=TODAY)
    assert sum("bpo_ledger_bankclosureday" in query["sql"] for query in queries.captured_queries) == 1
