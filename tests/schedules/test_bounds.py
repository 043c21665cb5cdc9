"""Bounds on the work one schedule can ask for: its dates lie in a sane range and its number of
payments is limited, on every way in (the form, the services, the CSV import)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from bpo_ledger.models import AuditEvent
from schedules import services
from schedules.models import PaymentSchedule, ScheduledPayment
from schedules.services import ScheduleSpec

TODAY = dt.date(2026, 12, 2)


def create_url(client_a, kind):
    return reverse("schedule_create", args=[client_a.code]) + f"?kind={kind}"


def recurring_form(customer, **fields):
    data = {
        "kind": "recurring", "customer": customer.pk, "amount": "25.00", "start_date": "2027-01-04",
        "method": "bank_transfer", "frequency": "weekly", "interval": "1", "save": "1",
    }
    data.update(fields)
    return data


def nothing_created(client):
    return not PaymentSchedule.objects.filter(client=client).exists() and not ScheduledPayment.objects.exists()


def test_a_weekly_schedule_from_year_1_is_refused_with_a_form_error(client, agent, client_a, customer_a):
    # Before the bounds it was created, with 105,733 scheduled payments.
    client.force_login(agent)
    response = client.post(create_url(client_a, "recurring"), recurring_form(customer_a, start_date="0001-01-01"))
    assert response.status_code == 200
    assert response.context["form"].errors["start_date"] == [
        "0001-01-01 is out of range: schedule dates lie between 1990-01-01 and 2100-12-31."
    ]
    assert nothing_created(client_a)


def test_a_weekly_schedule_from_1990_would_have_too_many_payments(client, agent, client_a, customer_a):
    client.force_login(agent)
    response = client.post(create_url(client_a, "recurring"), recurring_form(customer_a, start_date="1990-01-01"))
    assert response.status_code == 200
    (error,) = response.context["form"].errors["start_date"]
    assert "payments is more than a schedule may have (600 at most)" in error
    assert "Start later, or give an end date or a number of payments." in error
    assert nothing_created(client_a)


def test_a_schedule_within_the_bounds_is_still_created(client, agent, client_a, customer_a):
    client.force_login(agent)
    response = client.post(create_url(client_a, "recurring"), recurring_form(customer_a, cycles="600"))
    assert response.status_code == 302
    assert PaymentSchedule.objects.get(client=client_a).cycles == 600


@pytest.mark.parametrize(
    "kind,fields,field",
    [
        ("one_time", {"start_date": "9999-12-31"}, "start_date"),
        ("recurring", {"frequency": "monthly", "interval": "1", "end_date": "9999-12-31"}, "end_date"),
        ("recurring", {"frequency": "weekly", "interval": "1", "cycles": "100000"}, "cycles"),
        ("deferred", {"deferred_until": "9999-12-31", "deferral_reason": "hardship"}, "deferred_until"),
        (
            "autopay",
            {"frequency": "monthly", "interval": "1", "autopay_method": "card", "autopay_account": "4111111111111111",
             "mandate_reference": "M-1", "mandate_consented_at": "9999-12-31"},
            "mandate_consented_at",
        ),
    ],
)
@pytest.mark.parametrize("button", ["preview", "save"])
def test_each_date_and_count_of_the_form_is_bounded(client, agent, supervisor, client_a, customer_a, kind, fields, field, button):
    client.force_login(agent)
    data = {"kind": kind, "customer": customer_a.pk, "amount": "25.00", "start_date": "2027-01-04",
            "method": "bank_transfer", button: "1", **fields}
    if kind == "deferred":
        data["deferral_approved_by"] = supervisor.memberships.get().pk
    response = client.post(create_url(client_a, kind), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert "out of range" in errors[field][0] or "at most" in errors[field][0]
    assert nothing_created(client_a)


def test_the_date_picker_offers_the_range(client, agent, client_a):
    client.force_login(agent)
    body = client.get(create_url(client_a, "recurring")).content.decode()
    assert 'min="1990-01-01"' in body and 'max="2100-12-31"' in body


@override_settings(SCHEDULE_DATE_MIN=dt.date(2020, 1, 1), SCHEDULE_DATE_MAX=dt.date(2030, 12, 31), SCHEDULE_MAX_PAYMENTS=12)
def test_the_bounds_are_settings(client_a, customer_a):
    def preview(**fields):
        spec = ScheduleSpec(customer=customer_a, amount=Decimal("10.00"), **fields)
        return services.schedule_preview(client=client_a, spec=spec, today=TODAY)

    with pytest.raises(ValidationError) as exc:
        preview(kind="one_time", start_date=dt.date(2031, 1, 1))
    assert exc.value.message_dict["start_date"] == [
        "2031-01-01 is out of range: schedule dates lie between 2020-01-01 and 2030-12-31."
    ]
    with pytest.raises(ValidationError) as exc:
        preview(kind="installment", start_date=TODAY, frequency="monthly", installment_count=13)
    assert exc.value.message_dict["installment_count"] == ["13 payments is more than a schedule may have (12 at most)."]
    assert len(preview(kind="installment", start_date=TODAY, frequency="monthly", installment_count=12)) == 12


def test_bulk_creation_refuses_an_out_of_range_schedule_and_creates_none(client_a, customer_a):
    good = ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("10.00"), start_date=TODAY)
    bad = ScheduleSpec(customer=customer_a, kind="recurring", amount=Decimal("10.00"), start_date=dt.date(1995, 1, 2),
                       frequency="weekly")
    with pytest.raises(ValidationError, match="payments is more than a schedule may have"):
        services.schedules_create_many(client=client_a, actor="system:test", specs=[good, bad], source="import", today=TODAY)
    assert nothing_created(client_a)
    assert not AuditEvent.objects.filter(verb="schedule.created").exists()


@pytest.mark.parametrize("until", [dt.date(2101, 1, 3), dt.date(9999, 12, 31)])
@pytest.mark.parametrize("scope", ["next", "all_later"])
def test_a_deferral_out_of_the_date_range_is_refused(client_a, customer_a, until, scope):
    from bpo_ledger.errors import DomainError

    spec = ScheduleSpec(customer=customer_a, kind="recurring", amount=Decimal("10.00"), start_date=TODAY, frequency="monthly")
    schedule = services.schedule_create(client=client_a, actor="system:test", spec=spec, today=TODAY)
    message = f"{until.isoformat()} is out of range: schedule dates lie between 1990-01-01 and 2100-12-31."
    with pytest.raises(DomainError, match=message):
        services.schedule_defer_preview(schedule=schedule, actor="system:test", until=until, scope=scope, today=TODAY)
    with pytest.raises(DomainError, match=message):
        services.schedule_defer(
            schedule=schedule, actor="system:test", version=None, until=until, scope=scope,
            reason_code="hardship", reason="Customer asked", today=TODAY,
        )
    assert [p.due_date for p in schedule.payments.order_by("sequence")][:1] == [TODAY]
