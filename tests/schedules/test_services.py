"""The schedule log: every change is a service that writes before/after, actor and reason."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from bpo_ledger.audit import audit_verify
from bpo_ledger.errors import DomainError, StaleError
from bpo_ledger.models import AuditEvent
from bpo_ledger.selectors import audit_timeline
from schedules import services
from schedules.models import PaymentSchedule, ScheduledPayment, payment_reference
from schedules.services import ScheduleSpec, planning

TODAY = dt.date(2026, 11, 23)  # a Monday


def create(client, customer, actor="system:test", today=TODAY, **fields):
    return services.schedule_create(client=client, actor=actor, spec=ScheduleSpec(customer=customer, **fields), today=today)


def log(schedule):
    return list(audit_timeline(client=schedule.client, subject_type="paymentschedule", subject_id=schedule.pk))


def dues(schedule):
    return list(schedule.payments.order_by("sequence").values_list("due_date", "amount_due", "status"))


def test_installment_plan_amounts_sum_to_the_total_and_roll_off_weekends(client_a, customer_a, agent):
    plan = create(
        client_a, customer_a, agent, kind="installment", amount=Decimal("1000.00"),
        start_date=dt.date(2027, 1, 31), frequency="monthly", installment_count=3,
    )
    assert dues(plan) == [
        (dt.date(2027, 2, 1), Decimal("333.33"), "upcoming"),  # Sun Jan 31 rolls to Monday
        (dt.date(2027, 3, 1), Decimal("333.33"), "upcoming"),  # Sun Feb 28 rolls to Monday
        (dt.date(2027, 3, 31), Decimal("333.34"), "upcoming"),
    ]
    assert plan.reference == "ACME-000001"
    assert [p.reference for p in plan.payments.order_by("sequence")] == ["ACME-000001-01", "ACME-000001-02", "ACME-000001-03"]
    (event,) = log(plan)
    assert event.verb == "schedule.created" and event.actor == agent
    assert event.details["scheduled_payments"] == 3


def test_business_day_rolling_follows_the_client_rule(client_a, customer_a):
    client_a.business_day_rule = "none"
    client_a.save()
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("10.00"), start_date=dt.date(2027, 1, 31))
    assert dues(plan)[0][0] == dt.date(2027, 1, 31)


def test_recurring_schedules_are_generated_to_a_horizon_and_extended_nightly(client_a, customer_a):
    plan = create(client_a, customer_a, kind="recurring", amount=Decimal("49.99"), start_date=dt.date(2026, 12, 31), frequency="monthly")
    count = plan.payments.count()
    # Six months from the start: Dec 31 ... Jun 29, 2027.
    assert plan.horizon_until == dt.date(2027, 6, 29)
    assert count == 6
    # On March 23 the horizon reaches Sep 19: Jun 30, Jul 31 (rolled to Aug 2), Aug 31 are added.
    added = services.schedules_extend_horizon(client=client_a, today=dt.date(2027, 3, 23))
    assert added == 3
    plan.refresh_from_db()
    assert plan.horizon_until == dt.date(2027, 9, 19)
    assert [d for d, _, _ in dues(plan)][-3:] == [dt.date(2027, 6, 30), dt.date(2027, 8, 2), dt.date(2027, 8, 31)]
    # Extending again the same day adds nothing.
    assert services.schedules_extend_horizon(client=client_a, today=dt.date(2027, 3, 23)) == 0
    seqs = list(plan.payments.order_by("sequence").values_list("sequence", flat=True))
    assert seqs == list(range(1, count + 4))


def test_recurring_with_a_number_of_cycles_stops(client_a, customer_a):
    plan = create(client_a, customer_a, kind="recurring", amount=Decimal("15.00"), start_date=dt.date(2026, 12, 1), frequency="weekly", cycles=4)
    assert plan.payments.count() == 4
    assert services.schedules_extend_horizon(client=client_a, today=TODAY + dt.timedelta(days=400)) == 0


def test_each_kind_requires_its_fields(client_a, customer_a):
    with pytest.raises(ValidationError, match="need a frequency"):
        create(client_a, customer_a, kind="recurring", amount=Decimal("1"), start_date=TODAY)
    with pytest.raises(ValidationError, match="needs a number of installments"):
        create(client_a, customer_a, kind="installment", amount=Decimal("100"), start_date=TODAY, frequency="monthly")
    with pytest.raises(ValidationError, match="deferred-until date and a reason"):
        create(client_a, customer_a, kind="deferred", amount=Decimal("100"), start_date=TODAY)
    with pytest.raises(ValidationError, match="mandate reference"):
        create(client_a, customer_a, kind="autopay", amount=Decimal("100"), start_date=TODAY, frequency="monthly")
    with pytest.raises(ValidationError, match="down payment must be less"):
        create(client_a, customer_a, kind="installment", amount=Decimal("100"), start_date=TODAY, frequency="monthly", installment_count=2, down_payment=Decimal("100"))
    assert not PaymentSchedule.objects.exists()


def test_a_customer_of_another_client_is_refused(client_a, customer_b):
    with pytest.raises(ValidationError, match="belongs to another client"):
        create(client_a, customer_b, kind="one_time", amount=Decimal("5"), start_date=TODAY)


def test_the_database_refuses_a_payment_of_another_client_than_its_schedule(client_a, client_b, customer_a):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("10.00"), start_date=dt.date(2027, 1, 4))
    first = plan.payments.get()
    with pytest.raises(IntegrityError, match="scheduled_payment_schedule_same_client"), transaction.atomic():
        ScheduledPayment.objects.create(
            client=client_b, schedule=plan, sequence=2, reference="BETA-000001-02",
            due_date=first.due_date, original_due_date=first.due_date, amount_due=Decimal("10.00"),
        )
        with connection.cursor() as cursor:  # the foreign key is deferred to commit: check now
            cursor.execute("SET CONSTRAINTS scheduled_payment_schedule_same_client IMMEDIATE")


def test_autopay_keeps_the_account_encrypted_and_masked(client_a, customer_a):
    plan = create(
        client_a, customer_a, kind="autopay", amount=Decimal("64.00"), start_date=dt.date(2026, 12, 5), frequency="monthly",
        autopay_method="card", autopay_account="4111 1111 1111 1111", mandate_reference="MND-1",
        mandate_consented_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    )
    assert plan.autopay_account_masked == "•••• 1111"
    assert plan.method == "card"
    assert "4111111111111111" not in str(log(plan)[0].details)


def test_defer_moves_the_remaining_dates_and_keeps_the_old_ones(client_a, customer_a, agent, supervisor):
    plan = create(client_a, customer_a, kind="installment", amount=Decimal("300.00"), start_date=dt.date(2026, 12, 10), frequency="monthly", installment_count=3)
    before = [d for d, _, _ in dues(plan)]
    services.schedule_defer(
        schedule=plan, actor=agent, version=None, until=dt.date(2027, 2, 10), scope="all_later", reason_code="hardship",
        reason="Customer lost their job", approved_by=supervisor, today=TODAY,
    )
    payments = list(plan.payments.order_by("sequence"))
    assert [p.due_date for p in payments] == [dt.date(2027, 2, 10), dt.date(2027, 3, 10), dt.date(2027, 4, 12)]
    assert [p.original_due_date for p in payments] == before
    event = log(plan)[0]
    assert event.verb == "schedule.deferred"
    assert event.details["reason"] == "Customer lost their job"
    assert event.details["approved_by"] == "supervisor"
    assert event.details["moved"]["ACME-000001-01"] == {"before": "2026-12-10", "after": "2027-02-10"}


def test_defer_refuses_a_date_before_the_next_due_date(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("50"), start_date=dt.date(2026, 12, 10))
    with pytest.raises(DomainError, match="after the next due date, 2026-12-10"):
        services.schedule_defer(schedule=plan, actor=agent, version=None, until=dt.date(2026, 12, 1), scope="next", reason_code="other", reason="x", today=TODAY)


def test_defer_of_a_recurring_schedule_keeps_the_day_of_month_after_the_new_date(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="recurring", amount=Decimal("20.00"), start_date=dt.date(2026, 12, 1), frequency="monthly")
    services.schedule_defer(schedule=plan, actor=agent, version=None, until=dt.date(2027, 1, 15), scope="all_later", reason_code="agreement", reason="Payday moved", today=TODAY)
    services.schedules_extend_horizon(client=client_a, today=dt.date(2027, 3, 1))
    dates = [d for d, _, _ in dues(plan)]
    # The next payment moves to the 15th; the later ones stay on the 1st, one month apart, and
    # so do those the nightly extension adds.
    assert dates[:3] == [dt.date(2027, 1, 15), dt.date(2027, 2, 1), dt.date(2027, 3, 1)]
    assert len(dates) > 7
    assert all(d.day in (1, 2, 3) for d in dates[1:])  # the 1st, or the next business day


def test_pause_resume_cancel_are_logged_with_before_and_after(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="recurring", amount=Decimal("20.00"), start_date=dt.date(2026, 12, 1), frequency="monthly")
    services.schedule_pause(schedule=plan, actor=agent, version=None, reason="Dispute open")
    with pytest.raises(DomainError, match="is paused; it cannot be paused"):
        services.schedule_pause(schedule=plan, actor=agent, version=None, reason="again")
    services.schedule_resume(schedule=plan, actor=agent, version=None, reason="Dispute closed")
    services.schedule_cancel(schedule=plan, actor=agent, version=None, reason="Customer moved away")
    verbs = [(e.verb, e.details["changes"]["status"]["after"]) for e in log(plan)[:3]]
    assert verbs == [("schedule.cancelled", "cancelled"), ("schedule.resumed", "active"), ("schedule.paused", "paused")]
    assert set(plan.payments.values_list("status", flat=True)) == {"cancelled"}
    with pytest.raises(DomainError, match="can no longer change"):
        services.schedule_change_amount(schedule=plan, actor=agent, version=None, amount=Decimal("5"), reason="x", today=TODAY)


def test_a_reason_is_required(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("5"), start_date=dt.date(2026, 12, 1))
    with pytest.raises(DomainError, match="Give a reason"):
        services.schedule_pause(schedule=plan, actor=agent, version=None, reason="  ")


def test_amount_change_touches_future_unpaid_payments_only(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="recurring", amount=Decimal("20.00"), start_date=dt.date(2026, 10, 1), frequency="monthly", cycles=5)
    # Oct and Nov are past; Nov 2 was paid in part.
    nov = plan.payments.get(sequence=2)
    services.scheduled_payment_record(scheduled_payment=nov, actor=agent, amount=Decimal("5.00"), paid_on=TODAY, method="cash", note="receipt 1")
    services.schedule_change_amount(schedule=plan, actor=agent, version=None, amount=Decimal("25.00"), reason="Tariff change", today=TODAY)
    assert [a for _, a, _ in dues(plan)] == [Decimal("20.00"), Decimal("20.00"), Decimal("25.00"), Decimal("25.00"), Decimal("25.00")]
    event = log(plan)[0]
    assert event.details["changes"]["amount"] == {"before": "20.00", "after": "25.00"}
    assert set(event.details["payments"]) == {"ACME-000001-03", "ACME-000001-04", "ACME-000001-05"}


def test_amount_change_of_an_installment_plan_respreads_the_new_total(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="installment", amount=Decimal("300.00"), start_date=dt.date(2026, 11, 1), frequency="monthly", installment_count=3)
    services.schedule_change_amount(schedule=plan, actor=agent, version=None, amount=Decimal("400.00"), reason="Added a service", today=TODAY)
    amounts = [a for _, a, _ in dues(plan)]
    assert amounts == [Decimal("100.00"), Decimal("150.00"), Decimal("150.00")]
    assert sum(amounts) == Decimal("400.00")


def test_recording_payments_moves_statuses_and_refuses_overpayment(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("100.00"), start_date=dt.date(2026, 12, 1))
    payment = plan.payments.get()
    services.scheduled_payment_record(scheduled_payment=payment, actor=agent, amount=Decimal("40.00"), paid_on=TODAY, method="card", note="by phone")
    payment.refresh_from_db()
    assert payment.status == "partially_paid" and payment.amount_paid == Decimal("40.00")
    with pytest.raises(DomainError, match="more than the 60.00 outstanding"):
        services.scheduled_payment_record(scheduled_payment=payment, actor=agent, amount=Decimal("70.00"), paid_on=TODAY, method="card", note="by phone")
    services.scheduled_payment_record(scheduled_payment=payment, actor=agent, amount=Decimal("60.00"), paid_on=TODAY, method="card", note="by phone")
    payment.refresh_from_db()
    plan.refresh_from_db()
    assert payment.status == "paid" and payment.paid_at is not None
    assert plan.status == "completed" and plan.next_due_date is None
    assert [e.verb for e in log(plan)[:2]] == ["payment.recorded", "payment.recorded"]


def test_failed_payment_and_inquiry_go_on_the_log(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("100.00"), start_date=dt.date(2026, 11, 20))
    services.scheduled_payment_fail(scheduled_payment=plan.payments.get(), actor=agent, version=None, reason="R01 insufficient funds", today=TODAY)
    services.schedule_log_inquiry(schedule=plan, actor=agent, version=None, channel="phone", summary="Asked for a payment date", outcome="Will pay Friday")
    inquiry, failed = log(plan)[:2]
    assert failed.verb == "payment.failed" and failed.details["reason"] == "R01 insufficient funds"
    assert inquiry.verb == "inquiry.logged" and inquiry.details["outcome"] == "Will pay Friday"
    with pytest.raises(DomainError, match="Unknown inquiry channel"):
        services.schedule_log_inquiry(schedule=plan, actor=agent, version=None, channel="pigeon", summary="x", outcome="")


def test_nightly_moves_upcoming_to_due_and_due_to_overdue_after_grace(client_a, customer_a):
    plan = create(client_a, customer_a, kind="installment", amount=Decimal("200.00"), start_date=dt.date(2026, 12, 1), frequency="monthly", installment_count=2)
    assert [s for _, _, s in dues(plan)] == ["upcoming", "upcoming"]
    moved = services.scheduled_payments_advance(client=client_a, today=dt.date(2026, 12, 1))
    assert moved["due"] == 1 and moved["overdue"] == 0
    # Grace is 3 days: Dec 4 is still due, Dec 5 is overdue.
    assert services.scheduled_payments_advance(client=client_a, today=dt.date(2026, 12, 4))["overdue"] == 0
    moved = services.scheduled_payments_advance(client=client_a, today=dt.date(2026, 12, 5))
    assert moved["overdue"] == 1
    plan.refresh_from_db()
    assert plan.is_overdue and [s for _, _, s in dues(plan)] == ["overdue", "upcoming"]
    assert log(plan)[0].verb == "payment.overdue"
    # Running again changes nothing and logs nothing more.
    assert services.scheduled_payments_advance(client=client_a, today=dt.date(2026, 12, 5)) == {"due": 0, "overdue": 0, "schedules": 0}
    assert log(plan)[0].verb == "payment.overdue" and len(log(plan)) == 2
    assert audit_verify(client=client_a).ok


def test_paused_schedules_do_not_fall_overdue(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("50"), start_date=dt.date(2026, 12, 1))
    services.schedule_pause(schedule=plan, actor=agent, version=None, reason="Dispute")
    services.scheduled_payments_advance(client=client_a, today=dt.date(2026, 12, 20))
    assert ScheduledPayment.objects.get(schedule=plan).status == "upcoming"


# Every change through the lifecycle and payment services: by a role that may write, to the
# version of the schedule the user saw.


def _first(plan):
    return plan.payments.order_by("sequence").first()


CHANGES = {
    "defer": lambda plan, **who: services.schedule_defer(
        schedule=plan, until=dt.date(2027, 2, 10), scope="all_later", reason_code="other", reason="Asked for time", today=TODAY, **who
    ),
    "pause": lambda plan, **who: services.schedule_pause(schedule=plan, reason="Dispute open", **who),
    "resume": lambda plan, **who: services.schedule_resume(schedule=plan, reason="Dispute closed", **who),
    "cancel": lambda plan, **who: services.schedule_cancel(schedule=plan, reason="Contract ended", **who),
    "method": lambda plan, **who: services.schedule_change_method(schedule=plan, method="card", reason="Pays by card now", **who),
    "amount": lambda plan, **who: services.schedule_change_amount(
        schedule=plan, amount=Decimal("400.00"), reason="Added a service", today=TODAY, **who
    ),
    "payment": lambda plan, **who: services.scheduled_payment_record(
        scheduled_payment=_first(plan), amount=Decimal("10.00"), paid_on=TODAY, method="cash", note="Receipt 7", **who
    ),
    "fail": lambda plan, **who: services.scheduled_payment_fail(scheduled_payment=_first(plan), reason="R01", today=TODAY, **who),
    "write-off": lambda plan, **who: services.scheduled_payment_waive(
        scheduled_payment=_first(plan), amount=Decimal("10.00"), reason="Goodwill", **who
    ),
    "correction": lambda plan, **who: services.scheduled_payment_correct_amount(
        scheduled_payment=_first(plan), amount_due=Decimal("90.00"), reason="Priced wrong", **who
    ),
}


@pytest.fixture(params=sorted(CHANGES))
def step(request, client_a, customer_a):
    """(name, a schedule it applies to, the change): an installment plan of 3 x 100.00 from Dec 10."""
    plan = create(client_a, customer_a, kind="installment", amount=Decimal("300.00"), start_date=dt.date(2026, 12, 10), frequency="monthly", installment_count=3)
    if request.param == "resume":
        services.schedule_pause(schedule=plan, actor="system:test", version=None, reason="Dispute")
        plan.refresh_from_db()
    return request.param, plan, CHANGES[request.param]


def state(plan):
    """What a change would touch: the schedule, its payments, the client's log."""
    return (
        PaymentSchedule.objects.values().get(pk=plan.pk),
        list(ScheduledPayment.objects.filter(schedule=plan).order_by("pk").values()),
        AuditEvent.objects.filter(client=plan.client).count(),
    )


def test_each_change_moves_the_schedule_version_on(step, agent):
    name, plan, change = step
    seen = plan.version

    change(plan, actor=agent, version=seen)

    plan.refresh_from_db()
    assert plan.version == seen + 1, name


def test_a_change_to_a_version_someone_else_moved_on_is_refused_and_changes_nothing(step, agent, supervisor):
    name, plan, change = step
    seen = plan.version
    services.schedule_change_method(schedule=plan, actor=supervisor, version=seen, method="check", reason="Customer asked")
    before = state(plan)

    with pytest.raises(StaleError, match=f"Schedule {plan.reference} was changed by someone else .* Nothing was overwritten"):
        change(plan, actor=agent, version=seen)

    assert state(plan) == before, name


def test_jobs_and_services_acting_on_the_row_as_it_is_now_pass_no_version(step):
    name, plan, change = step
    seen = plan.version

    change(plan, actor="system:test", version=None)

    plan.refresh_from_db()
    assert plan.version == seen + 1, name


@pytest.mark.parametrize("who", ["auditor", "outsider"])
def test_auditors_and_outsiders_are_refused_by_the_service_itself(step, request, who):
    name, plan, change = step
    before = state(plan)

    with pytest.raises(PermissionDenied):
        change(plan, actor=request.getfixturevalue(who), version=plan.version)

    assert state(plan) == before, name


@pytest.mark.parametrize("who", ["auditor", "outsider"])
def test_an_inquiry_is_refused_to_auditors_and_outsiders(client_a, customer_a, request, who):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("100.00"), start_date=dt.date(2026, 12, 1))
    with pytest.raises(PermissionDenied):
        services.schedule_log_inquiry(
            schedule=plan, actor=request.getfixturevalue(who), version=1, channel="phone", summary="Asked", outcome=""
        )
    assert len(log(plan)) == 1  # only its creation


def test_an_inquiry_changes_nothing_so_keeps_the_version_but_a_stale_one_is_refused(client_a, customer_a, agent, supervisor):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("100.00"), start_date=dt.date(2026, 12, 1))
    services.schedule_log_inquiry(schedule=plan, actor=agent, version=1, channel="phone", summary="Asked", outcome="Pays Friday")
    plan.refresh_from_db()
    assert plan.version == 1
    services.schedule_pause(schedule=plan, actor=supervisor, version=1, reason="Dispute")
    # The agent's page still shows the schedule active: what they agreed may no longer hold.
    with pytest.raises(StaleError):
        services.schedule_log_inquiry(schedule=plan, actor=agent, version=1, channel="phone", summary="Asked again", outcome="Pays Monday")
    assert [e.verb for e in log(plan)] == ["schedule.paused", "inquiry.logged", "schedule.created"]


def test_recording_a_payment_by_hand_needs_a_note(client_a, customer_a, agent):
    plan = create(client_a, customer_a, kind="one_time", amount=Decimal("100.00"), start_date=dt.date(2026, 12, 1))
    with pytest.raises(DomainError, match="Give a reason"):
        services.scheduled_payment_record(scheduled_payment=_first(plan), actor=agent, version=1, amount=Decimal("5.00"), paid_on=TODAY, method="cash", note=" ")
    assert _first(plan).amount_paid == 0


def test_the_nightly_command_refuses_a_date_it_cannot_read(client_a):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"--date '2026-11-31' is not a date; use a date such as 2026-11-23"):
        call_command("schedules_nightly", "--date", "2026-11-31")

# Who may create schedules


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin_user"])
def test_it_lets_writing_roles_create_schedules(request, client_a, customer_a, role):
    plan = create(client_a, customer_a, request.getfixturevalue(role), kind="one_time", amount=Decimal("5"), start_date=TODAY)
    assert log(plan)[0].actor == request.getfixturevalue(role)


@pytest.mark.parametrize("role", ["auditor", "outsider"])
def test_it_refuses_auditors_and_outsiders(request, client_a, customer_a, role):
    actor = request.getfixturevalue(role)
    spec = ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("5"), start_date=TODAY)
    with pytest.raises(PermissionDenied):
        services.schedule_create(client=client_a, actor=actor, spec=spec, today=TODAY)
    with pytest.raises(PermissionDenied):
        services.schedules_create_many(client=client_a, actor=actor, specs=[spec], source="import", today=TODAY)
    assert not PaymentSchedule.objects.exists()


# Creating many at once: the same rows, validation, rollups and audit as one at a time


def mixed_specs(customer, approver):
    """One spec of each kind, with values full_clean converts and dues already past."""
    return [
        ScheduleSpec(customer=customer, kind="recurring", amount=Decimal("49.99"), start_date=dt.date(2026, 12, 31), frequency="monthly"),
        # Two dues already past the grace days: overdue; the rest upcoming.
        ScheduleSpec(customer=customer, kind="recurring", amount=Decimal("20"), start_date=dt.date(2026, 10, 1), frequency="monthly", cycles=5),
        ScheduleSpec(
            customer=customer, kind="installment", amount=Decimal("1000.00"), start_date=dt.date(2027, 1, 31),
            frequency="monthly", installment_count=3, down_payment=Decimal("100.00"), external_ref=" CRM-77 ",
        ),
        ScheduleSpec(
            customer=customer, kind="deferred", amount=Decimal("75.00"), start_date=TODAY, deferred_until=dt.date(2026, 12, 21),
            deferral_reason="hardship", deferral_approved_by=approver, description=" Lost job ",
        ),
        # Due yesterday, within the grace days: due. The whole-number amount becomes 50.00.
        ScheduleSpec(customer=customer, kind="one_time", amount=50, start_date=dt.date(2026, 11, 20)),
        ScheduleSpec(
            customer=customer, kind="autopay", amount=Decimal("64.00"), start_date=dt.date(2026, 12, 5), frequency="monthly",
            autopay_method="bank_account", autopay_account="GB29 NWBK 6016 1331 9268 19", mandate_reference="MND-1",
            mandate_consented_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        ),
    ]


SCHEDULE_FIELDS = [
    "kind", "status", "currency", "amount", "method", "start_date", "end_date", "cycles", "frequency", "interval",
    "anchor_day", "cycle_start", "cycle_start_sequence", "installment_count", "down_payment", "deferred_until",
    "deferral_reason", "deferral_approved_by_id", "autopay_method", "autopay_account", "autopay_account_last4",
    "mandate_reference", "mandate_consented_at", "external_ref", "description",
]


def test_many_are_stored_as_each_is_validated_and_planned_alone(client_a, customer_a, agent, supervisor):
    specs = mixed_specs(customer_a, supervisor)
    created = list(services.schedules_create_many(client=client_a, actor=agent, specs=specs, source="import", today=TODAY))
    assert [s.number for s in created] == [1, 2, 3, 4, 5, 6]
    for schedule, spec in zip(created, specs, strict=True):
        alone = planning._build_schedule(client=client_a, spec=spec)
        assert [getattr(schedule, f) for f in SCHEDULE_FIELDS] == [getattr(alone, f) for f in SCHEDULE_FIELDS]
        assert schedule.created_by == agent
        plan = planning._plan(schedule, through=planning._horizon(schedule, TODAY))
        assert [(p.sequence, p.due_date, p.original_due_date, p.amount_due, p.amount_paid, p.reference) for p in schedule.payments.order_by("sequence")] == [
            (d.sequence, d.due_date, d.due_date, d.amount, Decimal("0.00"), payment_reference("ACME", schedule.number, d.sequence)) for d in plan
        ]
    assert created[4].amount == Decimal("50.00")
    assert [s for _, _, s in dues(created[1])] == ["overdue", "overdue", "upcoming", "upcoming", "upcoming"]
    assert dues(created[4])[0][2] == "due"


def test_many_get_the_rollups_the_sql_refresh_computes(client_a, customer_a, agent, supervisor):
    created = services.schedules_create_many(
        client=client_a, actor=agent, specs=mixed_specs(customer_a, supervisor), source="import", today=TODAY
    )
    rollups = ("pk", "next_due_date", "is_overdue", "status", "horizon_until")
    stored = list(created.values_list(*rollups))
    assert stored[1][1:4] == (dt.date(2026, 10, 1), True, "active")
    planning.schedules_refresh_rollups(schedule_ids=[pk for pk, *_ in stored])
    assert list(created.values_list(*rollups)) == stored


def test_many_write_one_event_each_on_a_chain_that_verifies(client_a, customer_a, agent, supervisor):
    created = list(services.schedules_create_many(
        client=client_a, actor=agent, specs=mixed_specs(customer_a, supervisor), source="import", today=TODAY
    ))
    events = {int(e.subject_id): e for e in AuditEvent.objects.filter(client=client_a, verb="schedule.created")}
    assert sorted(events) == sorted(s.pk for s in created)
    assert audit_verify(client=client_a).ok
    recurring, _, installment, deferred, one_time, autopay = (events[s.pk].details for s in created)
    assert recurring == {
        "kind": "recurring", "amount": "49.99", "currency": "USD", "method": "bank_transfer", "start_date": "2026-12-31",
        "scheduled_payments": 6, "first_due": "2026-12-31", "last_due": "2027-06-01", "source": "import",
        "frequency": "monthly", "interval": 1,
    }
    assert installment["down_payment"] == "100.00" and installment["installment_count"] == 3
    assert deferred["deferral_approved_by"] == "supervisor" and deferred["deferred_until"] == "2026-12-21"
    assert one_time["amount"] == "50"
    assert autopay["autopay_account"] == "•••• 6819" and autopay["method"] == "direct_debit"
    assert autopay["mandate_consented_at"] == "2026-11-01T00:00:00Z"
    assert all(events[s.pk].actor == agent for s in created)


def test_many_keep_the_autopay_account_encrypted_at_rest(client_a, customer_a, agent, supervisor):
    created = services.schedules_create_many(
        client=client_a, actor=agent, specs=mixed_specs(customer_a, supervisor), source="import", today=TODAY
    )
    autopay = created.get(kind="autopay")
    with connection.cursor() as cursor:
        cursor.execute("SELECT autopay_account FROM schedules_paymentschedule WHERE id = %s", [autopay.pk])
        (stored,) = cursor.fetchone()
    assert "6819" not in stored
    assert autopay.autopay_account == "GB29NWBK60161331926819"


def test_many_refuse_a_value_full_clean_refuses_after_an_equal_one_passed(client_a, customer_a):
    # 49.990 == 49.99, but has three places: the checks remembered for 49.99 must not apply.
    specs = [
        ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("49.99"), start_date=TODAY),
        ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("49.990"), start_date=TODAY),
    ]
    with pytest.raises(ValidationError) as many:
        services.schedules_create_many(client=client_a, actor="system:test", specs=specs, source="import", today=TODAY)
    with pytest.raises(ValidationError) as alone:
        planning._build_schedule(client=client_a, spec=specs[1])
    assert many.value.message_dict == alone.value.message_dict
    assert "decimal places" in str(many.value)
    assert not PaymentSchedule.objects.exists()


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        # The first faulty spec raises, whatever its fault and whatever comes after.
        ([{"frequency": ""}, {"customer": "other"}], "need a frequency"),
        ([{"customer": "other"}, {"frequency": ""}], "belongs to another client"),
        ([{"interval": 0}, {"frequency": ""}], "greater than or equal to 1"),
    ],
)
def test_many_raise_the_first_faulty_specs_errors(client_a, customer_a, customer_b, faults, message):
    def spec(fault):
        fields = {"customer": customer_a, "kind": "recurring", "amount": Decimal("10"), "start_date": TODAY, "frequency": "monthly"}
        fields.update(fault)
        if fields["customer"] == "other":
            fields["customer"] = customer_b
        return ScheduleSpec(**fields)

    specs = [spec({}), *(spec(fault) for fault in faults)]
    with pytest.raises(ValidationError, match=message):
        services.schedules_create_many(client=client_a, actor="system:test", specs=specs, source="import", today=TODAY)


def test_many_store_nothing_when_a_late_spec_cannot_be_planned(client_a, customer_a):
    specs = [
        ScheduleSpec(customer=customer_a, kind="recurring", amount=Decimal("10"), start_date=TODAY, frequency="monthly"),
        # Valid fields, but 0.05 cannot be split into ten installments of at least 0.01.
        ScheduleSpec(customer=customer_a, kind="installment", amount=Decimal("0.05"), start_date=TODAY, frequency="monthly", installment_count=10),
    ]
    with pytest.raises(ValidationError, match="cannot split"):
        services.schedules_create_many(client=client_a, actor="system:test", specs=specs, source="import", today=TODAY)
    assert not PaymentSchedule.objects.exists()
    assert not ScheduledPayment.objects.exists()
    assert not AuditEvent.objects.filter(verb="schedule.created").exists()


def test_many_refuse_crm_references_taken_or_repeated(client_a, customer_a):
    create(client_a, customer_a, kind="one_time", amount=Decimal("5"), start_date=TODAY, external_ref="CRM-1")
    specs = [
        ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("5"), start_date=TODAY, external_ref=ref)
        for ref in (" CRM-1", "CRM-2", "CRM-2 ")
    ]
    with pytest.raises(ValidationError) as exc:
        services.schedules_create_many(client=client_a, actor="system:test", specs=specs, source="import", today=TODAY)
    assert exc.value.message_dict["external_ref"] == [
        "A schedule with this CRM reference already exists: CRM-1.",
        "CRM reference CRM-2 appears twice in this batch.",
    ]
    assert PaymentSchedule.objects.count() == 1


def test_many_return_the_new_schedules_in_the_order_of_the_specs(client_a, customer_a):
    create(client_a, customer_a, kind="one_time", amount=Decimal("5"), start_date=TODAY)
    specs = [
        ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal(n), start_date=TODAY, external_ref=f"R{n}")
        for n in (3, 1, 2)
    ]
    created = services.schedules_create_many(client=client_a, actor="system:test", specs=specs, source="import", today=TODAY)
    assert [(s.number, s.external_ref, s.amount) for s in created] == [
        (2, "R3", Decimal("3.00")), (3, "R1", Decimal("1.00")), (4, "R2", Decimal("2.00")),
    ]


def test_many_with_no_specs_create_nothing(client_a):
    created = services.schedules_create_many(client=client_a, actor="system:test", specs=[], source="import", today=TODAY)
    assert list(created) == []
    assert not AuditEvent.objects.filter(verb="schedule.created").exists()
