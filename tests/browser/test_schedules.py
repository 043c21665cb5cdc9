import datetime as dt

import pytest
from playwright.sync_api import expect

from schedules.models import ScheduledPayment
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
    log = page.get_by_role("region", name="Log")
    expect(log.get_by_text("Schedule created by Alice Agent: installment, USD 900.00, 3 payments")).to_be_visible()
    first_due = ScheduledPayment.objects.filter(schedule__customer=customer_a, sequence=1).get().due_date

    page.get_by_role("link", name="Defer").click()
    new_date = start + dt.timedelta(days=45)
    page.get_by_label("Move the next payment to").fill(new_date.isoformat())
    page.get_by_label("Why").select_option("hardship")
    page.get_by_label("Reason").fill("Customer between jobs until next month")
    page.get_by_role("button", name="Defer").click()
    expect(page.get_by_text("Deferred: the remaining due dates moved.")).to_be_visible()
    deferred = log.get_by_text("Deferred by Alice Agent: next payment moved from")
    expect(deferred).to_be_visible()
    expect(deferred).to_contain_text("Reason: Customer between jobs until next month")
    expect(log.get_by_text("Schedule created by Alice Agent")).to_be_visible()
    # The first payment moved; its original date stays beside the new one.
    moved = ScheduledPayment.objects.filter(schedule__customer=customer_a, sequence=1).get()
    assert moved.due_date >= new_date and moved.original_due_date == first_due
    first_row = page.get_by_role("region", name="Scheduled payments").get_by_role("row").nth(1)
    expect(first_row).to_contain_text(moved.due_date.strftime("%Y-%m-%d"))
    expect(first_row).to_contain_text(first_due.strftime("%Y-%m-%d"))
