"""Defer: only the next payment, or this and all later ones keeping their day of month, with the
new dates previewed before anything is saved."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from bpo_ledger import events
from bpo_ledger.errors import DomainError
from bpo_ledger.models import AuditEvent
from schedules import services
from schedules.duedates import add_months
from schedules.models import PaymentSchedule, ScheduledPayment
from schedules.services import ScheduleSpec

TODAY = dt.date(2026, 11, 23)  # a Monday


def create(client, customer, **fields):
    spec = ScheduleSpec(customer=customer, amount=Decimal("100.00"), **fields)
    return services.schedule_create(client=client, actor="system:test", spec=spec, today=TODAY)


def due_dates(schedule):
    return list(schedule.payments.order_by("sequence").values_list("due_date", flat=True))


def defer(schedule, actor, until, scope, **kw):
    return services.schedule_defer(
        schedule=schedule, actor=actor, version=None, until=until, scope=scope, reason_code="hardship",
        reason="Customer between jobs", today=TODAY, **kw,
    )


def last_event(schedule):
    return AuditEvent.objects.filter(client=schedule.client, subject_id=str(schedule.pk)).order_by("-seq").first()


@pytest.fixture
def plan(client_a, customer_a):
    """Three monthly installments: Thu 10 Dec 2026, Mon 11 Jan 2027 (the 10th is a Sunday), Wed 10 Feb 2027."""
    plan = create(client_a, customer_a, kind="installment", start_date=dt.date(2026, 12, 10), frequency="monthly", installment_count=3)
    assert due_dates(plan) == [dt.date(2026, 12, 10), dt.date(2027, 1, 11), dt.date(2027, 2, 10)]
    return plan


def test_only_the_next_payment_moves_and_the_later_ones_keep_their_dates(plan, agent):
    defer(plan, agent, dt.date(2026, 12, 22), "next")

    assert due_dates(plan) == [dt.date(2026, 12, 22), dt.date(2027, 1, 11), dt.date(2027, 2, 10)]
    assert list(plan.payments.order_by("sequence").values_list("original_due_date", flat=True)) == [
        dt.date(2026, 12, 10), dt.date(2027, 1, 11), dt.date(2027, 2, 10)
    ]
    event = last_event(plan)
    assert event.verb == "schedule.deferred"
    assert event.details["scope"] == "next"
    assert event.details["moved"] == {"ACME-000001-01": {"before": "2026-12-10", "after": "2026-12-22"}}
    assert events.sentence(event) == (
        "Deferred by Alice Agent: only the next payment: ACME-000001-01 from 10 Dec 2026 to 22 Dec 2026; "
        "grounds: hardship. Reason: Customer between jobs"
    )


def test_only_the_next_payment_cannot_pass_the_following_one(plan, agent):
    with pytest.raises(DomainError, match="must stay before the following payment, ACME-000001-02 due 2027-01-11"):
        defer(plan, agent, dt.date(2027, 1, 11), "next")
    assert due_dates(plan)[0] == dt.date(2026, 12, 10)


def test_this_and_all_later_payments_move_keeping_their_day_of_month(plan, agent):
    defer(plan, agent, dt.date(2027, 1, 14), "all_later")

    # Jan 14, then the 10th of each following month: Feb 10, Mar 10.
    assert due_dates(plan) == [dt.date(2027, 1, 14), dt.date(2027, 2, 10), dt.date(2027, 3, 10)]
    event = last_event(plan)
    assert event.details["scope"] == "all_later"
    assert event.details["moved"] == {
        "ACME-000001-01": {"before": "2026-12-10", "after": "2027-01-14"},
        "ACME-000001-02": {"before": "2027-01-11", "after": "2027-02-10"},
        "ACME-000001-03": {"before": "2027-02-10", "after": "2027-03-10"},
    }
    assert events.sentence(event).startswith(
        "Deferred by Alice Agent: this and all later payments, keeping the day of month: "
        "ACME-000001-01 from 10 Dec 2026 to 14 Jan 2027, ACME-000001-02 from 11 Jan 2027 to 10 Feb 2027, "
        "ACME-000001-03 from 10 Feb 2027 to 10 Mar 2027; grounds: hardship"
    )


def test_a_month_end_schedule_deferred_a_month_stays_at_month_end(client_a, customer_a, agent):
    client_a.business_day_rule = "none"
    client_a.save()
    plan = create(client_a, customer_a, kind="recurring", start_date=dt.date(2027, 1, 31), frequency="monthly")
    assert due_dates(plan)[:3] == [dt.date(2027, 1, 31), dt.date(2027, 2, 28), dt.date(2027, 3, 31)]

    defer(plan, agent, dt.date(2027, 2, 28), "all_later")
    services.schedules_extend_horizon(client=client_a, today=dt.date(2027, 6, 1))

    dates = due_dates(plan)
    assert dates[:6] == [
        dt.date(2027, 2, 28), dt.date(2027, 3, 31), dt.date(2027, 4, 30),
        dt.date(2027, 5, 31), dt.date(2027, 6, 30), dt.date(2027, 7, 31),
    ]
    # The nightly extension goes on at month end too, never drifting to the 28th.
    assert len(dates) > 8
    assert all((d + dt.timedelta(days=1)).day == 1 for d in dates)
    plan.refresh_from_db()
    assert plan.anchor_day == 31


def test_business_day_rolling_still_applies_to_the_moved_dates(client_a, customer_a, agent):
    client_a.business_day_rule = "modified_following"
    client_a.save()
    plan = create(client_a, customer_a, kind="installment", start_date=dt.date(2027, 3, 31), frequency="monthly", installment_count=4)

    defer(plan, agent, dt.date(2027, 4, 30), "all_later")

    # Mon 31 May 2027 is Memorial Day and Sat 31 Jul is a weekend: the following business day is
    # in the next month, so both roll back to Friday.
    assert due_dates(plan) == [dt.date(2027, 4, 30), dt.date(2027, 5, 28), dt.date(2027, 6, 30), dt.date(2027, 7, 30)]


def test_a_weekly_schedule_moves_its_later_payments_one_week_apart(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="installment", start_date=dt.date(2026, 12, 1), frequency="weekly", installment_count=3)
    defer(plan, agent, dt.date(2026, 12, 16), "all_later")
    assert due_dates(plan) == [dt.date(2026, 12, 16), dt.date(2026, 12, 23), dt.date(2026, 12, 30)]


def test_the_preview_gives_the_dates_the_deferral_saves(plan, agent):
    preview = services.schedule_defer_preview(schedule=plan, actor=agent, until=dt.date(2027, 1, 14), scope="all_later", today=TODAY)
    assert [(m.reference, m.before, m.after) for m in preview] == [
        ("ACME-000001-01", dt.date(2026, 12, 10), dt.date(2027, 1, 14)),
        ("ACME-000001-02", dt.date(2027, 1, 11), dt.date(2027, 2, 10)),
        ("ACME-000001-03", dt.date(2027, 2, 10), dt.date(2027, 3, 10)),
    ]
    assert due_dates(plan)[0] == dt.date(2026, 12, 10)
    defer(plan, agent, dt.date(2027, 1, 14), "all_later")
    assert due_dates(plan) == [m.after for m in preview]


def test_the_preview_of_an_open_ended_schedule_lists_the_payments_it_adds(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="recurring", start_date=dt.date(2026, 12, 1), frequency="monthly")
    count = plan.payments.count()
    preview = services.schedule_defer_preview(schedule=plan, actor=agent, until=dt.date(2026, 12, 15), scope="all_later", today=TODAY)
    assert len(preview) >= count
    assert [m.after for m in preview] == sorted(m.after for m in preview)
    defer(plan, agent, dt.date(2026, 12, 15), "all_later")
    assert due_dates(plan) == [m.after for m in preview]


def test_the_preview_needs_a_role_that_may_write(plan, auditor, outsider):
    from django.core.exceptions import PermissionDenied

    for who in (auditor, outsider):
        with pytest.raises(PermissionDenied):
            services.schedule_defer_preview(schedule=plan, actor=who, until=dt.date(2027, 1, 14), scope="next", today=TODAY)


# The page: preview, then save.


def snapshot(plan):
    return (
        PaymentSchedule.objects.values().get(pk=plan.pk),
        list(ScheduledPayment.objects.filter(schedule=plan).order_by("pk").values()),
        AuditEvent.objects.filter(client=plan.client).count(),
    )


@pytest.fixture
def page_plan(client_a, customer_a):
    """An installment plan of three monthly payments on the 10th, well in the future."""
    start = dt.date.today().replace(day=10) + dt.timedelta(days=62)
    start = start.replace(day=10)
    spec = ScheduleSpec(
        customer=customer_a, kind="installment", amount=Decimal("300.00"), start_date=start, frequency="monthly", installment_count=3,
    )
    client_a.business_day_rule = "none"
    client_a.save()
    return services.schedule_create(client=client_a, actor="system:test", spec=spec)


def _form(plan, until, scope, **extra):
    return {"until": until.isoformat(), "scope": scope, "reason_code": "agreement", "reason": "Payday moved", "version": plan.version, **extra}


def test_the_page_previews_the_new_dates_without_saving_anything(client, agent, page_plan):
    url = reverse("schedule_action", args=[page_plan.client.code, page_plan.pk, "defer"])
    first, second, third = due_dates(page_plan)
    until = first + dt.timedelta(days=33)  # in the month of the second payment, after it
    client.force_login(agent)
    before = snapshot(page_plan)

    response = client.post(url, _form(page_plan, until, "all_later", preview="1"))

    assert response.status_code == 200
    assert snapshot(page_plan) == before
    rows = [(m.before, m.after) for m in response.context["preview"]]
    # The later payments move a month each and stay on the 10th.
    assert rows == [(first, until), (second, add_months(second, 1, anchor_day=10)), (third, add_months(third, 1, anchor_day=10))]
    body = response.content.decode()
    assert f"{until:%Y-%m-%d}" in body and "Nothing is saved until you press" in body

    response = client.post(url, _form(page_plan, until, "all_later", save="1"))

    assert response.status_code == 302
    assert due_dates(page_plan) == [after for _, after in rows]


def test_the_page_defers_only_the_next_payment_when_asked(client, agent, page_plan):
    url = reverse("schedule_action", args=[page_plan.client.code, page_plan.pk, "defer"])
    first, second, third = due_dates(page_plan)
    client.force_login(agent)
    body = client.get(url).content.decode()
    assert "Only the next payment" in body and "This and all later payments, keeping the day of month" in body

    response = client.post(url, _form(page_plan, first + dt.timedelta(days=3), "next", save="1"), follow=True)

    assert "Deferred: the next payment moved; the later ones keep their dates." in response.content.decode()
    assert due_dates(page_plan) == [first + dt.timedelta(days=3), second, third]


def test_a_stale_preview_then_save_is_refused_with_409(client, agent, supervisor, page_plan):
    url = reverse("schedule_action", args=[page_plan.client.code, page_plan.pk, "defer"])
    first = due_dates(page_plan)[0]
    client.force_login(agent)
    data = _form(page_plan, first + dt.timedelta(days=3), "all_later")
    assert client.post(url, {**data, "preview": "1"}).status_code == 200
    services.schedule_change_method(schedule=page_plan, actor=supervisor, version=page_plan.version, method="check", reason="Customer asked")
    before = snapshot(page_plan)

    response = client.post(url, {**data, "save": "1"})

    assert response.status_code == 409
    assert "was changed by someone else" in response.content.decode()
    assert snapshot(page_plan) == before


@pytest.mark.parametrize(
    "role, expected", [("agent", 302), ("supervisor", 302), ("admin", 302), ("auditor", 403), ("outsider", 404)]
)
def test_preview_and_save_as_each_role(client, roles, page_plan, role, expected):
    url = reverse("schedule_action", args=[page_plan.client.code, page_plan.pk, "defer"])
    first = due_dates(page_plan)[0]
    client.force_login(roles[role])
    data = _form(page_plan, first + dt.timedelta(days=3), "all_later")
    before = snapshot(page_plan)

    preview = client.post(url, {**data, "preview": "1"})
    assert preview.status_code == (200 if expected == 302 else expected)
    assert snapshot(page_plan) == before

    response = client.post(url, {**data, "save": "1"})
    assert response.status_code == expected
    assert (due_dates(page_plan)[0] == first + dt.timedelta(days=3)) == (expected == 302)


def test_a_date_at_the_calendars_end_is_a_clear_error_not_a_crash(client, agent, page_plan):
    url = reverse("schedule_action", args=[page_plan.client.code, page_plan.pk, "defer"])
    client.force_login(agent)
    before = snapshot(page_plan)
    for button in ("preview", "save"):
        response = client.post(url, _form(page_plan, dt.date(9999, 12, 15), "all_later", **{button: "1"}))
        assert response.status_code == 200
        assert "9999-12-15 is out of range: schedule dates lie between 1990-01-01 and 2100-12-31." in response.content.decode()
    assert snapshot(page_plan) == before


def test_a_one_time_payment_has_only_itself_to_move(client, agent, client_a, customer_a):
    due = dt.date.today() + dt.timedelta(days=30)
    client_a.business_day_rule = "none"
    client_a.save()
    plan = services.schedule_create(
        client=client_a, actor="system:test", spec=ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("50.00"), start_date=due)
    )
    url = reverse("schedule_action", args=[client_a.code, plan.pk, "defer"])
    client.force_login(agent)
    assert "This and all later payments" not in client.get(url).content.decode()
    data = {"until": (due + dt.timedelta(days=7)).isoformat(), "reason_code": "other", "reason": "Asked for a week", "version": 1}
    preview = client.post(url, {**data, "preview": "1"}).context["preview"]
    assert [(m.before, m.after) for m in preview] == [(due, due + dt.timedelta(days=7))]
    assert client.post(url, {**data, "save": "1"}).status_code == 302
    assert due_dates(plan) == [due + dt.timedelta(days=7)]
    assert last_event(plan).details["scope"] == "next"
