import datetime as dt
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from bpo_ledger import events
from schedules.duedates import add_months
from schedules.models import ScheduledPayment
from schedules.services import ScheduleSpec, schedule_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_agent_creates_an_installment_plan_defers_it_and_sees_both_on_the_log(login, page, agent, client_a, customer_a):
    start = dt.date.today() + dt.timedelta(days=14)
    login("agent", PASSWORD)
    page.get_by_role("link", name="ACME · Acme Utilities").click()
    page.get_by_role("navigation", name="ACME menu").get_by_role("link", name="Customers").click()
    page.get_by_role("link", name="Maria Gonzalez").click()
    page.get_by_role("link", name="New schedule").click()
    page.get_by_role("link", name="Installment plan").click()
    expect(page.get_by_label("Date of consent")).to_have_count(0)  # autopay fields are not offered
    page.get_by_label("Total amount").fill("900.00")
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_label("Frequency").select_option("monthly")
    page.get_by_label("Number of installments").fill("3")
    page.get_by_role("button", name="Preview due dates").click()
    preview = page.get_by_role("table").filter(has_text="Due")
    expect(preview.get_by_role("row")).to_have_count(4)  # header + 3 dues
    expect(preview.get_by_role("cell", name="300.00")).to_have_count(3)
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("created with 3 scheduled payments")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Schedule created by Alice Agent: installment, USD 900.00, 3 payments due from"))).to_be_visible()
    first_due = ScheduledPayment.objects.filter(schedule__customer=customer_a, sequence=1).get().due_date

    page.get_by_role("link", name="Defer").click()
    new_date = start + dt.timedelta(days=45)
    page.get_by_label("New due date of the next payment").fill(new_date.isoformat())
    page.get_by_label("This and all later payments, keeping the day of month").check()
    page.get_by_label("Why").select_option("hardship")
    page.get_by_label("Reason").fill("Customer between jobs until next month")
    page.get_by_role("button", name="Defer").click()
    expect(page.get_by_text("Deferred: the next payment and all later ones moved, keeping their day of month.")).to_be_visible()
    log = page.get_by_role("region", name="Log")
    moved = ScheduledPayment.objects.filter(schedule__customer=customer_a, sequence=1).get()
    expect(log.get_by_text(re.compile(
        f"^Deferred by Alice Agent: this and all later payments, keeping the day of month: "
        f"{moved.reference} from {events.day(first_due)} to {events.day(moved.due_date)}, "
    ))).to_be_visible()
    expect(log.get_by_text(re.compile("^Schedule created by Alice Agent"))).to_be_visible()
    # The first payment moved; its original date stays beside the new one.
    assert moved.due_date >= new_date and moved.original_due_date == first_due
    first_row = page.get_by_role("region", name="Scheduled payments").get_by_role("row").nth(1)
    expect(first_row).to_contain_text(moved.due_date.strftime("%Y-%m-%d"))
    expect(first_row).to_contain_text(first_due.strftime("%Y-%m-%d"))


def test_agent_previews_the_new_dates_of_a_deferral_then_saves_them(login, page, agent, client_a, customer_a):
    client_a.business_day_rule = "none"
    client_a.save()
    first = add_months(dt.date.today(), 2, anchor_day=31)  # a month end, two months ahead
    spec = ScheduleSpec(customer=customer_a, kind="installment", amount=Decimal("300.00"), start_date=first, frequency="monthly", anchor_day=31, installment_count=3)
    plan = schedule_create(client=client_a, actor="system:test", spec=spec)
    before = [p.due_date for p in plan.payments.order_by("sequence")]
    until = add_months(first, 1, anchor_day=31)
    expected = [until, add_months(first, 2, anchor_day=31), add_months(first, 3, anchor_day=31)]

    login("agent", PASSWORD)
    page.goto(plan.get_absolute_url())
    page.get_by_role("link", name="Defer").click()
    page.get_by_label("New due date of the next payment").fill(until.isoformat())
    page.get_by_label("This and all later payments, keeping the day of month").check()
    page.get_by_label("Why").select_option("agreement")
    page.get_by_label("Reason").fill("Paid at month end from now on")
    page.get_by_role("button", name="Preview new dates").click()

    preview = page.get_by_role("region", name="New due dates")
    rows = preview.get_by_role("row")
    expect(rows).to_have_count(4)  # header + 3 payments
    for n, (old, new) in enumerate(zip(before, expected, strict=True), 1):
        expect(rows.nth(n)).to_contain_text(old.strftime("%Y-%m-%d"))
        expect(rows.nth(n)).to_contain_text(new.strftime("%Y-%m-%d"))
    # Nothing is saved by the preview, and the form keeps what was typed.
    assert [p.due_date for p in plan.payments.order_by("sequence")] == before
    expect(page.get_by_label("Reason")).to_have_value("Paid at month end from now on")

    page.get_by_role("button", name="Defer").click()
    expect(page.get_by_text("Deferred: the next payment and all later ones moved, keeping their day of month.")).to_be_visible()
    assert [p.due_date for p in plan.payments.order_by("sequence")] == expected
    rows = page.get_by_role("region", name="Scheduled payments").get_by_role("row")
    for n, new in enumerate(expected, 1):
        expect(rows.nth(n)).to_contain_text(new.strftime("%Y-%m-%d"))
