"""Schedule pages tried by every role: outsiders get 404, auditors read but cannot act."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from bpo_ledger.models import AuditEvent
from schedules import services
from schedules.models import PaymentSchedule
from schedules.services import ScheduleSpec

ROLES = ["agent", "supervisor", "auditor", "outsider", "admin"]
READ = {"agent": 200, "supervisor": 200, "auditor": 200, "outsider": 404, "admin": 200}
WRITE = {"agent": 200, "supervisor": 200, "auditor": 403, "outsider": 404, "admin": 200}
ACTIONS = ["defer", "pause", "method", "amount", "inquiry", "payment", "fail", "cancel"]


@pytest.fixture
def plan(client_a, customer_a):
    spec = ScheduleSpec(
        customer=customer_a, kind="installment", amount=Decimal("600.00"),
        start_date=dt.date.today() + dt.timedelta(days=10), frequency="monthly", installment_count=3,
    )
    return services.schedule_create(client=client_a, actor="system:test", spec=spec)


def pages(plan):
    code = plan.client.code
    yield "detail", reverse("schedule_detail", args=[code, plan.pk]), READ
    yield "create", reverse("schedule_create", args=[code]), WRITE
    yield "create-kind", reverse("schedule_create", args=[code]) + "?kind=autopay", WRITE
    for action in ACTIONS:
        yield action, reverse("schedule_action", args=[code, plan.pk, action]), WRITE
    yield "customer", plan.customer.get_absolute_url(), READ


@pytest.mark.parametrize("role", ROLES)
def test_every_schedule_page_answers_each_role_as_its_role_allows(client, roles, plan, role):
    client.force_login(roles[role])
    for name, url, expected in pages(plan):
        assert client.get(url).status_code == expected[role], (name, url)


@pytest.mark.parametrize("role", ROLES)
def test_posting_an_action_as_each_role(client, roles, plan, role):
    client.force_login(roles[role])
    url = reverse("schedule_action", args=[plan.client.code, plan.pk, "pause"])
    response = client.post(url, {"reason": "Customer disputes the bill", "version": plan.version})
    expected = {"agent": 302, "supervisor": 302, "admin": 302, "auditor": 403, "outsider": 404}[role]
    assert response.status_code == expected
    plan.refresh_from_db()
    assert plan.status == ("paused" if expected == 302 else "active")
    assert AuditEvent.objects.filter(verb="schedule.paused").exists() == (expected == 302)


def test_another_clients_schedule_is_not_found_through_my_client(client, outsider, plan, client_b):
    client.force_login(outsider)
    assert client.get(reverse("schedule_detail", args=[client_b.code, plan.pk])).status_code == 404


def test_the_list_shows_only_my_clients_schedules(client, agent, outsider, plan):
    client.force_login(outsider)
    response = client.get(reverse("schedule_list"))
    assert response.status_code == 200
    assert plan.reference not in response.content.decode()
    assert client.get(reverse("schedule_list") + "?client=ACME").status_code == 404
    client.force_login(agent)
    body = client.get(reverse("schedule_list") + "?client=ACME").content.decode()
    assert plan.reference in body


def test_the_list_filters_overdue_and_kind(client, agent, client_a, customer_a, plan):
    old = services.schedule_create(
        client=client_a, actor="system:test",
        spec=ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("10"), start_date=dt.date.today() - dt.timedelta(days=30)),
    )
    client.force_login(agent)
    response = client.get(reverse("schedule_list"), {"overdue": "true"})
    refs = [row.record.reference for row in response.context["table"].page.object_list]
    assert refs == [old.reference]
    response = client.get(reverse("schedule_list"), {"kind": "installment"})
    assert [row.record.reference for row in response.context["table"].page.object_list] == [plan.reference]


def test_auditor_sees_the_schedule_but_no_actions(client, auditor, plan):
    client.force_login(auditor)
    body = client.get(plan.get_absolute_url()).content.decode()
    assert plan.reference in body
    assert "Schedule actions" not in body
    assert "Defer" not in body


def test_create_shows_only_the_fields_of_the_kind_and_previews_before_saving(client, agent, client_a, customer_a):
    client.force_login(agent)
    url = reverse("schedule_create", args=[client_a.code]) + "?kind=installment"
    form = client.get(url).context["form"]
    assert "installment_count" in form.fields and "down_payment" in form.fields
    assert "mandate_reference" not in form.fields and "deferred_until" not in form.fields
    data = {
        "kind": "installment", "customer": customer_a.pk, "amount": "1000.00", "start_date": "2027-01-31",
        "method": "bank_transfer", "frequency": "monthly", "interval": "1", "installment_count": "3", "preview": "1",
    }
    response = client.post(url, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "2027-02-01" in body and "333.34" in body
    assert not PaymentSchedule.objects.exists()
    data.pop("preview")
    response = client.post(url, {**data, "save": "1"})
    plan = PaymentSchedule.objects.get()
    assert response.status_code == 302 and response.url == plan.get_absolute_url()
    assert plan.payments.count() == 3


def test_create_reports_field_errors_and_saves_nothing(client, agent, client_a, customer_a):
    client.force_login(agent)
    url = reverse("schedule_create", args=[client_a.code])
    response = client.post(url, {
        "kind": "installment", "customer": customer_a.pk, "amount": "100.00", "start_date": "2027-01-31",
        "method": "bank_transfer", "frequency": "monthly", "interval": "1", "installment_count": "2",
        "down_payment": "150.00", "save": "1",
    })
    assert response.status_code == 200
    assert "down payment must be less than the total" in response.content.decode()
    assert not PaymentSchedule.objects.exists()


def test_an_illegal_action_shows_the_reason(client, agent, plan):
    client.force_login(agent)
    url = reverse("schedule_action", args=[plan.client.code, plan.pk, "defer"])
    first_due = plan.payments.order_by("sequence").first().due_date
    response = client.post(url, {"until": (first_due - dt.timedelta(days=1)).isoformat(), "scope": "next", "reason_code": "other", "reason": "x", "version": 1})
    assert response.status_code == 200
    assert f"Defer to a date after the next due date, {first_due:%Y-%m-%d}" in response.content.decode()


def test_customer_page_lists_the_customers_schedules(client, agent, plan):
    client.force_login(agent)
    body = client.get(plan.customer.get_absolute_url()).content.decode()
    assert plan.reference in body
    assert "•••• 6819" in body


def test_the_page_offers_only_the_steps_the_status_allows(client, agent, plan):
    client.force_login(agent)
    pause = reverse("schedule_action", args=[plan.client.code, plan.pk, "pause"])
    resume = reverse("schedule_action", args=[plan.client.code, plan.pk, "resume"])
    body = client.get(plan.get_absolute_url()).content.decode()
    assert pause in body and resume not in body
    client.post(pause, {"reason": "Dispute", "version": 1})
    body = client.get(plan.get_absolute_url()).content.decode()
    assert resume in body and pause not in body
    # A step the status does not allow is refused, not run.
    response = client.post(pause, {"reason": "again", "version": 2}, follow=True)
    assert "Pause is not possible: the schedule is paused." in response.content.decode()


def action_data(plan, action) -> dict:
    """A valid form of each action as the agent fills it in; the version is the page's."""
    first = plan.payments.order_by("sequence").first()
    return {
        "defer": {
            "until": (first.due_date + dt.timedelta(days=20)).isoformat(), "scope": "next", "reason_code": "other",
            "reason": "Asked for time", "save": "1",
        },
        "pause": {"reason": "Dispute open"},
        "resume": {"reason": "Dispute closed"},
        "method": {"method": "card", "reason": "Pays by card now"},
        "amount": {"amount": "700.00", "reason": "Added a service"},
        "inquiry": {"channel": "phone", "summary": "Asked when the next payment is due", "outcome": ""},
        "payment": {"scheduled_payment": first.pk, "amount": "10.00", "paid_on": dt.date.today().isoformat(), "method": "cash", "note": "Receipt 7"},
        "fail": {"scheduled_payment": first.pk, "reason": "R01 insufficient funds"},
        "cancel": {"reason": "Contract ended"},
    }[action]


def snapshot(plan):
    return (
        PaymentSchedule.objects.values().get(pk=plan.pk),
        list(plan.payments.order_by("pk").values()),
        AuditEvent.objects.filter(client=plan.client).count(),
    )


@pytest.mark.parametrize("action", [*ACTIONS, "resume"])
def test_a_stale_post_of_each_action_is_refused_with_409_and_changes_nothing(client, agent, supervisor, plan, action):
    if action == "resume":
        services.schedule_pause(schedule=plan, actor="system:test", version=None, reason="Dispute")
        plan.refresh_from_db()
    url = reverse("schedule_action", args=[plan.client.code, plan.pk, action])
    client.force_login(agent)
    page_version = client.get(url).context["form"].initial["version"]
    # Meanwhile a supervisor changes the schedule.
    services.schedule_change_method(schedule=plan, actor=supervisor, version=page_version, method="check", reason="Customer asked")
    before = snapshot(plan)

    response = client.post(url, {**action_data(plan, action), "version": page_version})

    assert response.status_code == 409
    assert f"Schedule {plan.reference} was changed by someone else since you opened the page" in response.content.decode()
    assert snapshot(plan) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_page_carries_the_version_and_a_fresh_post_goes_through(client, agent, plan, action):
    url = reverse("schedule_action", args=[plan.client.code, plan.pk, action])
    client.force_login(agent)
    body = client.get(url).content.decode()
    assert '<input type="hidden" name="version" value="1"' in body
    assert 'for="id_version"' not in body  # no label for a field nobody sees

    response = client.post(url, {**action_data(plan, action), "version": 1})

    assert response.status_code == 302, response.context["form"].errors
    plan.refresh_from_db()
    assert plan.version == (1 if action == "inquiry" else 2)
