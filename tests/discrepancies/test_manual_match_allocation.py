"""A manual match applies the bank payment that was received: it is allocated, never recorded
a second time as money received by hand."""

from decimal import Decimal

from bpo_ledger.models import Payment
from discrepancies import services
from schedules.models import Allocation


def test_a_manual_match_allocates_the_bank_payment_without_a_second_payment(agent, client_a, payment_due, received_payment):
    client_a.adjustment_approval_threshold = Decimal("500.00")
    client_a.save()

    services.adjustment_request(
        client=client_a, actor=agent, adjustment_type="manual_match", scheduled_payment=payment_due,
        payment=received_payment, reason="Paid with a wrong reference",
    )

    assert list(Payment.objects.filter(client=client_a)) == [received_payment]
    allocation = Allocation.objects.get(client=client_a)
    assert (allocation.payment, allocation.scheduled_payment, allocation.amount, allocation.rule) == (
        received_payment, payment_due, Decimal("200.00"), "manual_match"
    )
    payment_due.refresh_from_db()
    assert payment_due.amount_paid == allocation.amount
