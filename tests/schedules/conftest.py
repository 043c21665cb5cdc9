"""Fixtures for schedules tests: customers, schedules made through the services, the SMS outbox."""

import datetime as dt
from decimal import Decimal
from itertools import count

import pytest

_refs = count(1)


@pytest.fixture(autouse=True)
def sms_outbox():
    """LocmemSMSBackend.outbox, empty at the start of every test."""
    from schedules.sms import LocmemSMSBackend

    LocmemSMSBackend.outbox.clear()
    yield LocmemSMSBackend.outbox
    LocmemSMSBackend.outbox.clear()


def make_customer(client, *, email="", phone="", email_consent=None, sms_consent=None, timezone_name="", name=""):
    """A customer of `client`; consent defaults to "yes" for each contact given."""
    from bpo_ledger import services

    n = next(_refs)
    return services.customer_create(
        client=client,
        actor="system:test",
        external_ref=f"CRM-T{n}",
        name=name or f"Customer {n}",
        email=email,
        phone=phone,
        timezone_name=timezone_name,
        email_consent=bool(email) if email_consent is None else email_consent,
        sms_consent=bool(phone) if sms_consent is None else sms_consent,
    )


def make_schedule(client, customer, *, due: dt.date, today: dt.date, amount="250.00", kind="one_time"):
    """A one-time (or recurring/autopay, monthly from `due`) schedule whose first payment is due on `due`.

    Due dates roll to business days: keep `due` off weekends and holidays.
    """
    from schedules.services import ScheduleSpec, schedule_create

    extra = {}
    if kind == "recurring":
        extra = {"frequency": "monthly"}
    if kind == "autopay":
        extra = {
            "frequency": "monthly",
            "autopay_method": "bank_account",
            "autopay_account": "GB29 NWBK 6016 1331 9268 19",
            "mandate_reference": f"MNDT-{customer.external_ref}",
            "mandate_consented_at": dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC),
        }
    spec = ScheduleSpec(customer=customer, kind=kind, amount=Decimal(amount), start_date=due, **extra)
    schedule = schedule_create(client=client, actor="system:test", spec=spec, today=today)
    assert first_payment(schedule).due_date == due, "the due date rolled: pick a business day"
    return schedule


def first_payment(schedule):
    return schedule.payments.order_by("sequence").first()
