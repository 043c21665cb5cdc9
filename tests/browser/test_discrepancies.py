import datetime as dt
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from discrepancies import services
from discrepancies.models import Approval, Discrepancy, Status
from schedules.models import ScheduledPayment
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def log(client, **fields):
    item, _ = services.discrepancy_log(
        client=client, actor="system:test", kind="underpayment", summary="Paid 60 of 100",
        amount_expected=Decimal("100.00"), amount_actual=Decimal("60.00"), **fields,
    )
    return item


@pytest.fixture
def scheduled_payment(client_a, customer_a):
    from schedules.services import ScheduleSpec, schedule_create

    spec = ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("250.00"), start_date=dt.date.today() + dt.timedelta(days=10))
    return schedule_create(client=client_a, actor="system:test", spec=spec).payments.get()


def test_agent_claims_the_next_item_notes_and_resolves_it(login, page, agent, client_a, customer_a):
    item = log(client_a, customer=customer_a)
    login("agent", PASSWORD)
    page.get_by_role("link", name="ACME · Acme Utilities").click()
    page.get_by_role("navigation", name="ACME menu").get_by_role("link", name="Queue").click()
    queue = page.locator("#queue-table")
    expect(queue.get_by_role("link", name=item.reference)).to_be_visible()
    expect(page.get_by_text("claim next", exact=False).first).to_be_visible()  # the key legend
    expect(queue).to_have_attribute("data-keys", "on")  # the deferred script is listening
    page.keyboard.press("j")
    expect(queue.locator("tbody tr.is-current")).to_contain_text(item.reference)
    page.keyboard.press("c")  # Claim next, from the keyboard

    expect(page.get_by_role("heading", name=item.reference)).to_be_visible()
    expect(page.get_by_text(f"You claimed {item.reference}")).to_be_visible()
    page.get_by_role("button", name="Start work").click()
    expect(page.locator(".badges .status")).to_have_text("In progress")

    page.get_by_label("Note", exact=True).fill("Customer will pay the remaining 40 on Friday")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Note added.")).to_be_visible()

    page.get_by_label("Resolution").select_option(label="Customer notified")
    page.get_by_label("What was done").fill("Called Maria; balance promised for Friday")
    page.get_by_label("Root cause").select_option(label="Customer misunderstanding")
    page.get_by_role("button", name="Resolve").click()

    expect(page.locator(".badges .status")).to_have_text("Resolved")
    notes = page.get_by_role("region", name="Notes")
    expect(notes.get_by_text("Customer will pay the remaining 40 on Friday")).to_be_visible()
    expect(page.get_by_role("region", name="Log").get_by_text(re.compile(r"^Resolved by Alice Agent: status from in progress to resolved; resolution: customer notified"))).to_be_visible()
    item.refresh_from_db()
    assert (item.status, item.assignee, item.resolution_code) == (Status.RESOLVED, agent, "customer_notified")


def test_supervisor_approves_an_agents_adjustment_and_sees_it_applied(login, page, agent, supervisor, client_a, scheduled_payment):
    item = services.adjustment_request(
        client=client_a, actor=agent, adjustment_type="write_off", scheduled_payment=scheduled_payment,
        amount=Decimal("200.00"), reason="Hardship: customer lost their job",
    )
    assert item.approval == Approval.PENDING  # above the client's threshold of 100
    login("supervisor", PASSWORD)
    page.goto("/supervisor/approvals/")
    row = page.get_by_role("listitem").filter(has_text=item.reference)
    expect(row.get_by_text("Hardship: customer lost their job")).to_be_visible()
    row.get_by_label("Comment").fill("Checked the letter; agreed")
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_text(f"{item.reference} approved and applied.")).to_be_visible()
    expect(page.get_by_text("No adjustment waits for approval.")).to_be_visible()

    page.goto(item.get_absolute_url())
    adjustment = page.get_by_role("region", name="Adjustment")
    expect(adjustment.get_by_text("Approved", exact=True)).to_be_visible()
    expect(adjustment.get_by_text("Applied 20")).to_be_visible()
    expect(page.locator(".badges .status")).to_have_text("Resolved")
    assert ScheduledPayment.objects.get(pk=scheduled_payment.pk).amount_due == Decimal("50.00")
    assert Discrepancy.objects.get(pk=item.pk).approved_by == supervisor


def test_an_outsiders_guess_of_a_discrepancy_gets_the_404_page(login, page, outsider, client_a, client_b):
    item = log(client_a)
    login("outsider", PASSWORD)
    for url in (item.get_absolute_url(), f"/clients/GLOBEX/discrepancies/{item.pk}/"):
        response = page.goto(url)
        assert response.status == 404
        expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
        expect(page.get_by_text(item.summary)).to_have_count(0)


def test_queue_keys_move_open_and_jump_to_the_filters(login, page, agent, client_a):
    first = log(client_a)
    second = log(client_a)
    login("agent", PASSWORD)
    page.goto("/queue/")
    expect(page.locator("#queue-table")).to_have_attribute("data-keys", "on")  # the deferred script is listening
    page.keyboard.press("/")
    expect(page.get_by_label("Client", exact=True)).to_be_focused()
    page.keyboard.press("j")  # typed into a field: not a shortcut
    expect(page.locator("#queue-table tbody tr.is-current")).to_have_count(0)
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    current = page.locator("#queue-table tbody tr.is-current")
    expect(current).to_have_count(1)
    expect(current).to_contain_text(first.reference)
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=second.reference)).to_be_visible()


def test_agent_narrows_the_queue_with_the_filter_bar_and_clears_it(login, page, agent, client_a, customer_a):
    short = log(client_a, customer=customer_a)
    over, _ = services.discrepancy_log(
        client=client_a, actor="system:test", kind="overpayment", summary="Paid 130 of 100",
        amount_expected=Decimal("100.00"), amount_actual=Decimal("130.00"),
    )
    login("agent", PASSWORD)
    page.goto("/queue/")
    queue = page.locator("#queue-table")
    expect(queue.get_by_role("link", name=short.reference)).to_be_visible()
    expect(queue.get_by_role("link", name=over.reference)).to_be_visible()

    page.get_by_label("Kind").select_option(label="Overpayment")
    page.get_by_label("Amount from").fill("25")
    page.get_by_role("button", name="Filter").click()
    expect(queue.get_by_role("link", name=over.reference)).to_be_visible()
    expect(queue.get_by_role("link", name=short.reference)).to_have_count(0)
    expect(page.get_by_label("Kind")).to_have_value("overpayment")  # the bar keeps what was chosen
    expect(page.get_by_label("Amount from")).to_have_value("25")

    page.get_by_label("Amount from").fill("50")  # more than the 30 over: nothing left
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Nothing in this queue.")).to_be_visible()

    page.get_by_role("link", name="Clear").click()
    expect(queue.get_by_role("link", name=short.reference)).to_be_visible()
    expect(queue.get_by_role("link", name=over.reference)).to_be_visible()
