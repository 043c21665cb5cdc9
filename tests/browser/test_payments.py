"""A supervisor opens a payment from the unmatched list, undoes its match and refunds part of
the customer's credit."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from reconciliation.models import CreditRefund
from schedules.models import Allocation, PaymentStatus
from tests.conftest import PASSWORD
from tests.reconciliation.pages_data import matched, one_time_schedule, received

pytestmark = pytest.mark.django_db(transaction=True)


def test_supervisor_undoes_a_match_and_refunds_credit_from_an_unmatched_payment(login, page, supervisor, client_a,
                                                                                  customer_a):
    due = one_time_schedule(client_a, customer_a)
    payment = received(client_a, customer_a, amount="300.00", reference=due.reference)
    matched(payment, due, amount="250.00")  # 50.00 left: on the unmatched list

    login("supervisor", PASSWORD)
    page.goto("/clients/ACME/")
    page.get_by_role("navigation", name="ACME menu").get_by_role("link", name="Runs").click()
    page.get_by_role("link", name="Unmatched payments").click()
    row = page.get_by_role("row", name=payment.bank_transaction_id)
    expect(row).to_contain_text("50.00")
    row.get_by_role("link", name="2026-12-01").click()

    expect(page.get_by_role("heading", name="USD 300.00")).to_be_visible()
    expect(page.get_by_text("USD 50.00 not applied")).to_be_visible()
    applied = page.get_by_role("region", name="Applied to")
    expect(applied).to_contain_text("Matched by reference")
    applied.get_by_label("Why the match is undone").fill("The customer paid a different invoice")
    applied.get_by_role("button", name="Undo this match").click()

    expect(page.get_by_text(f"Match undone: {due.reference} is")).to_be_visible()
    expect(page.get_by_text("Not applied to any scheduled payment.")).to_be_visible()
    expect(page.get_by_role("region", name="History")).to_contain_text("Match undone by Sam Supervisor")
    assert not Allocation.objects.exists()
    due.refresh_from_db()
    assert due.status != PaymentStatus.PAID and due.amount_paid == 0

    page.get_by_label("Amount to refund").fill("50.00")
    page.get_by_label("Reason").fill("Customer asked for the extra back")
    page.get_by_role("button", name="Refund").click()
    expect(page.get_by_text("USD 50.00 of credit refunded.")).to_be_visible()
    expect(page.get_by_text("USD 250.00 not applied")).to_be_visible()
    assert CreditRefund.objects.get().amount == Decimal("50.00")
