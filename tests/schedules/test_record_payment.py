"""Money recorded by hand: the date entered is kept, the form starts at the client's today, and
the money is a Payment (source manual) allocated to the scheduled payment it settles."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from bpo_ledger import events
from bpo_ledger.errors import DomainError
from bpo_ledger.models import AuditEvent, Payment
from schedules import services
from schedules.models import Allocation

from .conftest import first_payment, make_schedule

TODAY = dt.date(2026, 11, 23)  # a Monday


@pytest.fixture
def plan(client_a, customer_a):
    """A one-time payment of 250.00 due Tue 17 Nov 2026, so overdue-ish by TODAY."""
    return make_schedule(client_a, customer_a, due=dt.date(2026, 11, 17), today=TODAY)


def record(plan, actor, amount, paid_on, **kw):
    return services.scheduled_payment_record(
        scheduled_payment=first_payment(plan), actor=actor, amount=Decimal(amount), paid_on=paid_on,
        method=kw.pop("method", "cash"), note=kw.pop("note", "Receipt 41"), today=TODAY, **kw,
    )


def test_the_date_entered_is_the_payment_date(plan, agent):
    paid = record(plan, agent, "250.00", dt.date(2026, 11, 18))

    received = Payment.objects.get(client=plan.client)
    assert received.value_date == dt.date(2026, 11, 18)
    # paid_at is the start of that day where the client is (New York), not the moment of typing.
    assert paid.paid_at == dt.datetime(2026, 11, 18, tzinfo=ZoneInfo("America/New_York"))
    assert paid.paid_at.astimezone(ZoneInfo(plan.client.timezone)).date() == dt.date(2026, 11, 18)


def test_paid_at_is_the_latest_day_of_the_money_that_settled_it(plan, agent):
    record(plan, agent, "100.00", dt.date(2026, 11, 20))
    paid = record(plan, agent, "150.00", dt.date(2026, 11, 18), note="Receipt 40, entered late")
    assert paid.status == "paid"
    assert paid.paid_at == dt.datetime(2026, 11, 20, tzinfo=ZoneInfo("America/New_York"))


def test_every_payment_recorded_by_hand_is_a_manual_payment_allocated_to_what_it_settles(plan, agent):
    record(plan, agent, "100.00", dt.date(2026, 11, 18))
    record(plan, agent, "150.00", dt.date(2026, 11, 20), method="card", note="Card by phone")

    scheduled = first_payment(plan)
    assert scheduled.status == "paid" and scheduled.amount_paid == Decimal("250.00")
    payments = list(Payment.objects.filter(client=plan.client).order_by("value_date"))
    assert [(p.amount, p.value_date, p.source, p.source_account) for p in payments] == [
        (Decimal("100.00"), dt.date(2026, 11, 18), "manual", "manual"),
        (Decimal("150.00"), dt.date(2026, 11, 20), "manual", "manual"),
    ]
    assert all(p.entered_by == agent and p.customer == plan.customer and p.currency == "USD" for p in payments)
    ids = [p.bank_transaction_id for p in payments]
    assert all(i.startswith("manual-") for i in ids) and len(set(ids)) == 2
    allocations = list(Allocation.objects.filter(client=plan.client).order_by("id"))
    assert [(a.payment, a.scheduled_payment, a.amount, a.rule, a.created_by) for a in allocations] == [
        (payments[0], scheduled, Decimal("100.00"), "manual", agent),
        (payments[1], scheduled, Decimal("150.00"), "manual", agent),
    ]
    assert allocations[1].explanation == "Recorded by hand (card): Card by phone"
    # The amounts add up: what was received, what was allocated and what the schedule shows paid.
    assert Payment.objects.filter(client=plan.client).aggregate(s=Sum("amount"))["s"] == Decimal("250.00")
    assert scheduled.allocations.aggregate(s=Sum("amount"))["s"] == scheduled.amount_paid


def test_the_schedule_log_says_when_and_how_much(plan, agent):
    record(plan, agent, "100.00", dt.date(2026, 11, 18))

    event = AuditEvent.objects.filter(client=plan.client, verb="payment.recorded").get()
    received = Payment.objects.get(client=plan.client)
    assert event.details["paid_on"] == "2026-11-18"
    assert event.details["payment"] == received.bank_transaction_id
    assert event.details["source"] == "manual"
    assert event.details["allocation"] == Allocation.objects.get().pk
    assert events.sentence(event) == (
        "Payment recorded by Alice Agent: ACME-000001-01: USD 100.00; paid on 18 Nov 2026; by cash; "
        "status from overdue to partially paid, amount paid from 0.00 to 100.00. Reason: Receipt 41"
    )


@pytest.mark.parametrize(
    "paid_on, message",
    [
        (dt.date(2026, 11, 24), "The payment date 2026-11-24 is after today (2026-11-23 in America/New_York)."),
        (dt.date(1, 1, 1), "The payment date 0001-01-01 is before 1990-01-01: check the year."),
    ],
)
def test_a_date_that_cannot_be_a_payment_date_is_refused(plan, agent, paid_on, message):
    with pytest.raises(DomainError) as refused:
        record(plan, agent, "100.00", paid_on)
    assert str(refused.value) == message
    assert not Payment.objects.exists() and not Allocation.objects.exists()


def test_a_received_bank_payment_is_allocated_not_recorded_again(plan, agent, customer_a):
    bank = Payment.objects.create(
        client=plan.client, customer=customer_a, amount=Decimal("300.00"), currency="USD", value_date=dt.date(2026, 11, 20),
        source_account="ACME-OPERATING", bank_transaction_id="TX-1",
    )
    record(plan, agent, "250.00", dt.date(2026, 11, 20), received=bank, method="bank_transfer", note="Wrong reference")

    assert list(Payment.objects.all()) == [bank] and bank.source == "bank_file"
    allocation = Allocation.objects.get()
    assert (allocation.payment, allocation.amount, allocation.rule) == (bank, Decimal("250.00"), "manual_match")
    other = make_schedule(plan.client, customer_a, due=dt.date(2026, 11, 19), today=TODAY, amount="80.00")
    with pytest.raises(DomainError, match="Only 50.00 of payment TX-1 is not yet applied"):
        record(other, agent, "80.00", dt.date(2026, 11, 20), received=bank, method="bank_transfer", note="Rest")


def test_an_auditor_records_nothing(plan, auditor):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        record(plan, auditor, "100.00", dt.date(2026, 11, 18))
    assert not Payment.objects.exists()


# The pages.


def test_the_form_starts_at_the_clients_today_not_the_servers(client, agent, plan, client_a, monkeypatch):
    url = reverse("schedule_action", args=[client_a.code, plan.pk, "payment"])
    # 23:30 UTC on 30 June: already 1 July on Kiritimati (UTC+14), still 30 June in UTC.
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2031, 6, 30, 23, 30, tzinfo=dt.UTC))
    client_a.timezone = "Pacific/Kiritimati"
    client_a.save()
    client.force_login(agent)
    body = client.get(url).content.decode()
    assert 'name="paid_on" value="2031-07-01"' in body
    # 00:30 UTC on 1 July: still 30 June in Pago Pago (UTC-11).
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2031, 7, 1, 0, 30, tzinfo=dt.UTC))
    client_a.timezone = "Pacific/Pago_Pago"
    client_a.save()
    body = client.get(url).content.decode()
    assert 'name="paid_on" value="2031-06-30"' in body


def test_a_payment_recorded_on_the_page_shows_on_the_payments_page_and_the_schedule(client, agent, auditor, plan, client_a):
    client.force_login(agent)
    url = reverse("schedule_action", args=[client_a.code, plan.pk, "payment"])
    paid_on = timezone.localdate() - dt.timedelta(days=3)
    response = client.post(url, {
        "scheduled_payment": first_payment(plan).pk, "amount": "120.00", "paid_on": paid_on.isoformat(),
        "method": "cash", "note": "Receipt 77", "version": plan.version,
    })
    assert response.status_code == 302
    assert Payment.objects.get().value_date == paid_on

    client.force_login(auditor)  # what was recorded is there for every reader
    payments_page = client.get(reverse("payment_list", args=[client_a.code]))
    (row,) = payments_page.context["table"].page.object_list
    cells = dict(zip([c.name for c in payments_page.context["table"].columns], row, strict=True))
    assert cells["source"] == "Manual"
    payment = Payment.objects.get()  # the date links to the payment's page
    assert cells["value_date"] == (
        f'<a href="{reverse("payment_detail", args=[client_a.code, payment.pk])}">{date_format(paid_on, "SHORT_DATE_FORMAT")}</a>'
    )
    assert str(cells["amount"]) == "120.00"
    assert cells["entered_by"] == "Alice Agent"
    bank_only = client.get(reverse("payment_list", args=[client_a.code]), {"source": "bank_file"})
    assert not list(bank_only.context["table"].page.object_list)

    schedule_page = client.get(plan.get_absolute_url()).content.decode()
    received = schedule_page.split('id="received-h"')[1]
    assert paid_on.isoformat() in received
    assert "USD 120.00" in received and "Manual" in received and "ACME-000001-01" in received
    assert "Recorded by hand (cash): Receipt 77" in received and "Alice Agent" in received


@pytest.mark.parametrize("paid_on", ["9999-12-31", "0001-01-01"])
def test_a_date_no_payment_can_have_is_a_form_error_on_the_page(client, agent, plan, client_a, paid_on):
    client.force_login(agent)
    url = reverse("schedule_action", args=[client_a.code, plan.pk, "payment"])
    response = client.post(url, {
        "scheduled_payment": first_payment(plan).pk, "amount": "120.00", "paid_on": paid_on,
        "method": "cash", "note": "Receipt 77", "version": plan.version,
    })
    assert response.status_code == 200
    assert f"The payment date {paid_on} is" in response.content.decode()
    assert not Payment.objects.exists()
