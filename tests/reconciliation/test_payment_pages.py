"""The received payments' pages: unmatched payments with a manual match, a payment's page, undoing
a match and refunding a customer's credit; every role against every view; the services."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from bpo_ledger.errors import DomainError
from bpo_ledger.models import AuditEvent
from reconciliation import selectors, services
from reconciliation.models import CreditRefund
from schedules.models import Allocation, PaymentStatus, ScheduleStatus
from tests.conftest import held

from .pages_data import matched, one_time_schedule, received

pytestmark = pytest.mark.django_db

READERS = ("agent", "supervisor", "auditor", "admin")


@pytest.fixture
def due(client_a, customer_a):
    return one_time_schedule(client_a, customer_a)


@pytest.fixture
def settled(client_a, customer_a, due):
    """A payment of 250.00 the run matched by reference to the scheduled payment, settling it."""
    payment = received(client_a, customer_a, reference=due.reference, payer_account="GB29 NWBK 6016 1331 9268 19")
    return matched(payment, due)


@pytest.fixture
def unmatched(client_a):
    """A payment of 80.00 from a payer nobody knows."""
    return received(client_a, amount="80.00", payer="J. Doe", reference="invoice 7?", value_date=dt.date(2026, 11, 28))


@pytest.fixture
def credit(client_a, customer_a):
    """A payment of 60.00 of customer A with nothing due: held as their credit."""
    return received(client_a, customer_a, amount="60.00", value_date=dt.date(2026, 11, 30), reference="prepayment")


def as_role(client, roles, role):
    client.force_login(roles[role])
    return client


def events(subject_type, subject_id, verb):
    return list(AuditEvent.objects.filter(subject_type=subject_type, subject_id=str(subject_id), verb=verb))


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_every_member_reads_the_unmatched_list_and_a_payments_page(client, roles, role, settled, unmatched):
    as_role(client, roles, role)
    assert client.get(reverse("payments_unmatched", args=["ACME"])).status_code == 200
    assert client.get(reverse("payment_detail", args=["ACME", settled.payment_id])).status_code == 200
    assert client.get(reverse("payment_detail", args=["ACME", unmatched.pk])).status_code == 200


def test_an_outsider_finds_neither_the_pages_nor_the_payments(client, roles, settled, customer_b, client_b):
    as_role(client, roles, "outsider")
    assert client.get(reverse("payments_unmatched", args=["ACME"])).status_code == 404
    assert client.get(reverse("payment_detail", args=["ACME", settled.payment_id])).status_code == 404
    # Nor through their own client's address.
    assert client.get(reverse("payment_detail", args=["GLOBEX", settled.payment_id])).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, settled):
    for url in (reverse("payments_unmatched", args=["ACME"]), reverse("payment_detail", args=["ACME", settled.payment_id])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for url in (
        reverse("allocation_undo", args=["ACME", settled.payment_id, settled.pk]),
        reverse("credit_refund", args=["ACME", settled.payment_id]),
    ):
        response = client.post(url, {"reason": "x", "amount": "1.00"})
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Allocation.objects.filter(pk=settled.pk).exists()


@pytest.mark.parametrize("role,status", [("agent", 403), ("auditor", 403), ("outsider", 404)])
def test_only_supervisors_undo_a_match_or_refund_credit(client, roles, role, status, settled, credit):
    as_role(client, roles, role)
    undo = client.post(reverse("allocation_undo", args=["ACME", settled.payment_id, settled.pk]), {"reason": "wrong"})
    refund = client.post(reverse("credit_refund", args=["ACME", credit.pk]), {"amount": "10.00", "reason": "asked"})
    assert (undo.status_code, refund.status_code) == (status, status)
    assert Allocation.objects.filter(pk=settled.pk).exists()
    assert not CreditRefund.objects.exists()


@pytest.mark.parametrize("role", ["agent", "supervisor", "auditor", "outsider"])
def test_the_actions_take_posts_only(client, roles, role, settled):
    as_role(client, roles, role)
    response = client.get(reverse("allocation_undo", args=["ACME", settled.payment_id, settled.pk]))
    assert response.status_code == 405


# --- Unmatched payments -------------------------------------------------------------------------


def test_the_unmatched_list_shows_payments_with_a_rest_and_not_the_settled_ones(client, agent, settled, unmatched, credit,
                                                                               client_a, customer_a):
    partly = received(client_a, customer_a, amount="300.00", reference="two things")
    matched(partly, one_time_schedule(client_a, customer_a, amount="100.00", due=dt.date(2027, 1, 5)), amount="100.00")
    client.force_login(agent)
    page = client.get(reverse("payments_unmatched", args=["ACME"])).content.decode()
    assert unmatched.bank_transaction_id in page
    assert credit.bank_transaction_id in page
    assert partly.bank_transaction_id in page and "200.00" in page  # the rest not applied
    assert settled.payment.bank_transaction_id not in page


def test_a_refunded_or_reversed_rest_is_no_longer_unmatched(client_a, customer_a, supervisor, credit, unmatched):
    services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("60.00"), reason="Customer asked")
    received(client_a, amount="-80.00", kind="reversal", reverses=unmatched, payer="J. Doe")
    assert list(selectors.payments_unmatched(client=client_a)) == []


def test_the_unmatched_list_filters_by_payer_amount_and_date(client, agent, unmatched, credit):
    client.force_login(agent)
    url = reverse("payments_unmatched", args=["ACME"])

    def listed(**query):
        page = client.get(url, query).content.decode()
        return {p.bank_transaction_id for p in (unmatched, credit) if p.bank_transaction_id in page}

    assert listed(payer="doe") == {unmatched.bank_transaction_id}
    assert listed(amount_min="70", amount_max="90") == {unmatched.bank_transaction_id}
    assert listed(value_date_after="2026-11-29") == {credit.bank_transaction_id}
    assert listed() == {unmatched.bank_transaction_id, credit.bank_transaction_id}


def test_match_opens_the_manual_match_adjustment_filled_in_for_agents_not_auditors(client, agent, auditor, unmatched):
    client.force_login(agent)
    page = client.get(reverse("payments_unmatched", args=["ACME"])).content.decode()
    link = (f'{reverse("adjustment_create", args=["ACME"])}?adjustment_type=manual_match&amp;'
            f"bank_transaction_id={unmatched.bank_transaction_id}")
    assert link in page
    form = client.get(link.replace("&amp;", "&")).context["form"]
    assert form["adjustment_type"].value() == "manual_match"
    assert form["bank_transaction_id"].value() == unmatched.bank_transaction_id

    client.force_login(auditor)
    assert link not in client.get(reverse("payments_unmatched", args=["ACME"])).content.decode()


def test_a_manual_match_from_the_filled_in_form_takes_the_unmatched_payment_off_the_list(client, agent, client_a,
                                                                                        customer_a, credit):
    client_a.adjustment_approval_threshold = Decimal("500.00")
    client_a.save()
    due = one_time_schedule(client_a, customer_a, amount="60.00")
    client.force_login(agent)
    response = client.post(reverse("adjustment_create", args=["ACME"]), {
        "adjustment_type": "manual_match", "scheduled_payment_ref": due.reference,
        "bank_transaction_id": credit.bank_transaction_id, "reason": "Paid in advance, reference missing",
    })
    assert response.status_code == 302
    due.refresh_from_db()
    assert due.status == PaymentStatus.PAID
    assert list(selectors.payments_unmatched(client=client_a)) == []
    # The match, on the schedule's log, is in the payment's history too.
    page = client.get(reverse("payment_detail", args=["ACME", credit.pk])).content.decode()
    assert "Payment recorded by Alice Agent" in page and f"from received payment {credit.bank_transaction_id}" in page


# --- A payment's page ---------------------------------------------------------------------------


def test_a_payments_page_shows_its_fields_its_match_and_where_it_came_from(client, agent, settled, client_a):
    from bpo_ledger.models import PaymentImport

    payment = settled.payment
    payment.payment_import = PaymentImport.objects.create(client=client_a, file_name="dec-01.xml", sha256="a" * 64,
                                                          format="camt053")
    payment.save()
    client.force_login(agent)
    page = client.get(reverse("payment_detail", args=["ACME", payment.pk])).content.decode()
    assert payment.bank_transaction_id in page
    assert '<dd class="masked">•••• 6819</dd>' in page  # the payer account, masked
    assert "GB29 NWBK" not in page and "GB29NWBK" not in page
    assert reverse("import_detail", args=["ACME", payment.payment_import_id]) in page
    assert "<td>Matched by reference</td>" in page
    assert "<td>matched by reference ACME-000001-01 in the remittance text</td>" in page
    assert reverse("schedule_detail", args=["ACME", settled.scheduled_payment.schedule_id]) in page
    assert "ACME-000001-01" in page and "the reconciliation run" in page
    assert "Fully applied" in page
    assert "Undo this match" not in page  # agents do not undo


def test_a_payments_page_shows_its_reversal_its_discrepancies_and_its_credit(client, supervisor, client_a, customer_a,
                                                                            credit):
    from discrepancies import services as discrepancy_services

    reversal = received(client_a, customer_a, amount="-20.00", kind="chargeback", reverses=credit, return_code="MD06")
    item, _ = discrepancy_services.discrepancy_log(
        client=client_a, actor="system:test", kind="chargeback", summary="Chargeback of a prepayment",
        payments=[credit, reversal], customer=customer_a,
    )
    client.force_login(supervisor)
    page = client.get(reverse("payment_detail", args=["ACME", credit.pk])).content.decode()
    assert reverse("payment_detail", args=["ACME", reversal.pk]) in page and "MD06" in page
    assert reverse("discrepancy_detail", args=["ACME", item.pk]) in page and "Chargeback of a prepayment" in page
    assert "Credit held" in page and "USD 40.00" in page  # 60 received, 20 charged back
    assert 'action="' + reverse("credit_refund", args=["ACME", credit.pk]) + '"' in page

    back = client.get(reverse("payment_detail", args=["ACME", reversal.pk])).content.decode()
    assert "takes back" in back and reverse("payment_detail", args=["ACME", credit.pk]) in back


def test_the_payments_list_and_the_schedule_page_link_to_the_payments_page(client, agent, settled):
    client.force_login(agent)
    url = reverse("payment_detail", args=["ACME", settled.payment_id])
    assert url in client.get(reverse("payment_list", args=["ACME"])).content.decode()
    schedule_page = client.get(reverse("schedule_detail", args=["ACME", settled.scheduled_payment.schedule_id]))
    text = schedule_page.content.decode()
    assert url in text
    assert settled.payment.bank_transaction_id in text  # the bank reference
    assert "Matched by reference" in text and "2026-12-01" in text


# --- Undoing a match ----------------------------------------------------------------------------


def test_undo_takes_the_amount_off_and_reopens_the_scheduled_payment(supervisor, settled, client_a):
    due = settled.scheduled_payment
    reopened = services.allocation_undo(allocation=settled, actor=supervisor, reason="Another customer's payment")
    due.refresh_from_db()
    assert (due.amount_paid, due.status, due.paid_at) == (Decimal("0.00"), reopened.status, None)
    # Due Dec 1; the client's today decides between due and overdue, never paid.
    assert due.status in (PaymentStatus.UPCOMING, PaymentStatus.DUE, PaymentStatus.OVERDUE)
    assert not Allocation.objects.filter(pk=settled.pk).exists()
    assert selectors.payment_get(client=client_a, pk=settled.payment_id).rest == Decimal("250.00")


def test_undo_of_one_of_two_allocations_leaves_the_payment_partly_paid(supervisor, client_a, customer_a, due):
    first = matched(received(client_a, customer_a, amount="100.00"), due)
    second = matched(received(client_a, customer_a, amount="150.00"), due)
    due.refresh_from_db()
    assert due.status == PaymentStatus.PAID
    services.allocation_undo(allocation=second, actor=supervisor, reason="Wrong match")
    due.refresh_from_db()
    assert (due.amount_paid, due.status) == (Decimal("100.00"), PaymentStatus.PARTIALLY_PAID)
    assert Allocation.objects.filter(pk=first.pk).exists()


def test_undo_reopens_a_completed_schedule(supervisor, settled):
    schedule = settled.scheduled_payment.schedule
    type(schedule).objects.filter(pk=schedule.pk).update(status=ScheduleStatus.COMPLETED)
    services.allocation_undo(allocation=settled, actor=supervisor, reason="Wrong match")
    schedule.refresh_from_db()
    assert schedule.status == ScheduleStatus.ACTIVE
    assert schedule.next_due_date == settled.scheduled_payment.due_date
    from bpo_ledger.events import sentence

    (event,) = events("paymentschedule", schedule.pk, "allocation.undone")
    assert "the schedule from completed to active" in sentence(event)


def test_undo_is_on_the_schedules_and_the_payments_log_in_words(supervisor, settled):
    services.allocation_undo(allocation=settled, actor=supervisor, reason="Another customer's payment")
    on_schedule = events("paymentschedule", settled.scheduled_payment.schedule_id, "allocation.undone")
    on_payment = events("payment", settled.payment_id, "allocation.undone")
    assert len(on_schedule) == len(on_payment) == 1
    from bpo_ledger.events import sentence

    text = sentence(on_payment[0])
    assert text.startswith("Match undone by Sam Supervisor: USD 250.00 of received payment BANK-")
    assert "taken back off ACME-000001-01 (matched by reference)" in text
    assert "amount paid from 250.00 to 0.00" in text
    assert text.endswith("Reason: Another customer's payment")


def test_undo_needs_a_reason_and_a_supervisor_and_happens_once(agent, supervisor, settled):
    with pytest.raises(DomainError, match="Say why"):
        services.allocation_undo(allocation=settled, actor=supervisor, reason="  ")
    with pytest.raises(PermissionDenied):
        services.allocation_undo(allocation=settled, actor=agent, reason="Wrong")
    services.allocation_undo(allocation=settled, actor=supervisor, reason="Wrong")
    with pytest.raises(DomainError, match="already undone"):
        services.allocation_undo(allocation=settled, actor=supervisor, reason="Wrong again")
    assert len(events("payment", settled.payment_id, "allocation.undone")) == 1


def test_a_supervisor_undoes_a_match_from_the_payments_page(client, supervisor, settled):
    client.force_login(supervisor)
    url = reverse("payment_detail", args=["ACME", settled.payment_id])
    assert "Undo this match" in client.get(url).content.decode()
    response = client.post(reverse("allocation_undo", args=["ACME", settled.payment_id, settled.pk]), {"reason": "Wrong"},
                           follow=True)
    page = response.content.decode()
    assert "Match undone: ACME-000001-01 is" in page
    assert "Match undone by Sam Supervisor" in page  # in the payment's history
    assert "Not applied to any scheduled payment." in page
    assert not Allocation.objects.filter(pk=settled.pk).exists()


def test_an_undo_without_a_reason_changes_nothing(client, supervisor, settled):
    client.force_login(supervisor)
    response = client.post(reverse("allocation_undo", args=["ACME", settled.payment_id, settled.pk]), {"reason": ""},
                           follow=True)
    assert "Say why the match is undone" in response.content.decode()
    assert Allocation.objects.filter(pk=settled.pk).exists()


# --- Customer credit and refunds -----------------------------------------------------------------


def test_a_refund_reduces_the_customers_credit(supervisor, customer_a, credit, client_a):
    other = received(client_a, customer_a, amount="15.00", value_date=dt.date(2026, 11, 29))
    assert selectors.customer_credit(customer=customer_a)[1] == {"USD": Decimal("75.00")}
    services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("25.00"), reason="Customer asked")
    payments, totals = selectors.customer_credit(customer=customer_a)
    assert totals == {"USD": Decimal("50.00")}
    assert [(p.pk, p.rest) for p in payments] == [(credit.pk, Decimal("35.00")), (other.pk, Decimal("15.00"))]
    refund = CreditRefund.objects.get()
    assert (refund.customer, refund.payment, refund.refunded_by) == (customer_a, credit, supervisor)


def test_a_refund_beyond_the_credit_is_refused_with_a_clear_message(supervisor, credit):
    services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("50.00"), reason="Customer asked")
    with pytest.raises(DomainError) as refused:
        services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("10.01"), reason="Again")
    assert str(refused.value) == (
        f"Only USD 10.00 of payment {credit.bank_transaction_id} is held as credit: USD 10.01 cannot be refunded."
    )
    assert CreditRefund.objects.count() == 1


def test_a_refund_needs_a_known_customer_a_reason_a_positive_amount_and_a_supervisor(agent, supervisor, credit, unmatched):
    with pytest.raises(DomainError, match="no known customer"):
        services.credit_refund(payment=unmatched, actor=supervisor, amount=Decimal("1.00"), reason="x")
    with pytest.raises(DomainError, match="Say why"):
        services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("1.00"), reason="")
    with pytest.raises(DomainError, match="more than zero"):
        services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("0.00"), reason="x")
    with pytest.raises(PermissionDenied):
        services.credit_refund(payment=credit, actor=agent, amount=Decimal("1.00"), reason="x")
    assert not CreditRefund.objects.exists()


def test_a_refund_is_on_the_payments_and_the_customers_log(supervisor, customer_a, credit):
    from bpo_ledger.events import sentence

    services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("60.00"), reason="Customer asked")
    on_payment = events("payment", credit.pk, "credit.refunded")
    on_customer = events("customer", customer_a.pk, "credit.refunded")
    assert len(on_payment) == len(on_customer) == 1
    assert sentence(on_customer[0]) == (
        f"Credit refunded by Sam Supervisor: USD 60.00 of received payment {credit.bank_transaction_id} paid back, "
        "USD 0.00 of its credit left. Reason: Customer asked"
    )


def test_the_customer_page_shows_the_credit_and_refund_for_supervisors_only(client, agent, supervisor, customer_a, credit):
    url = reverse("customer_detail", args=["ACME", customer_a.pk])
    refund_link = reverse("payment_detail", args=["ACME", credit.pk]) + "#refund"
    client.force_login(supervisor)
    page = client.get(url).content.decode()
    assert "Held as credit: <strong>USD 60.00</strong>" in page
    assert refund_link in page
    client.force_login(agent)
    page = client.get(url).content.decode()
    assert "Held as credit: <strong>USD 60.00</strong>" in page
    assert refund_link not in page


def test_a_supervisor_refunds_from_the_payments_page_and_an_excess_is_shown_not_applied(client, supervisor, credit):
    client.force_login(supervisor)
    url = reverse("credit_refund", args=["ACME", credit.pk])
    page = client.post(url, {"amount": "70.00", "reason": "Customer asked"}, follow=True).content.decode()
    assert "Only USD 60.00 of payment" in page and "USD 70.00 cannot be refunded" in page
    assert not CreditRefund.objects.exists()
    page = client.post(url, {"amount": "60.00", "reason": "Customer asked"}, follow=True).content.decode()
    assert "USD 60.00 of credit refunded." in page
    assert "Credit refunded by Sam Supervisor" in page
    assert CreditRefund.objects.get().amount == Decimal("60.00")


# --- At once ------------------------------------------------------------------------------------


def _at_once(first, second):
    """`first` made and not yet committed when `second` comes in: whether `second` waited, and
    what each returned or raised."""
    from django.db import connection

    done = {}

    def run(name, call):
        try:
            done[name] = call()
        except DomainError as exc:
            done[name] = exc
        finally:
            if name == "second":
                connection.close()

    with held(lambda: run("first", first)):
        other = threading.Thread(target=run, args=("second", second))
        other.start()
        other.join(timeout=2)
        waited = other.is_alive()
    other.join()
    return waited, done


@pytest.mark.django_db(transaction=True)
def test_two_refunds_of_the_same_credit_at_once_do_not_both_pay_it_back(client_a, customer_a, supervisor):
    credit = received(client_a, customer_a, amount="60.00")

    def refund():
        return services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("60.00"), reason="Asked")

    waited, done = _at_once(refund, refund)
    assert waited, "the second refund read the credit without waiting for the first"
    assert isinstance(done["first"], CreditRefund)
    assert str(done["second"]).startswith("Only USD 0.00 of payment")
    assert CreditRefund.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_undos_of_one_match_at_once_take_the_amount_off_once(client_a, customer_a, supervisor):
    due = one_time_schedule(client_a, customer_a)
    first = matched(received(client_a, customer_a, amount="100.00"), due)
    matched(received(client_a, customer_a, amount="150.00"), due)

    def undo():
        return services.allocation_undo(allocation=first, actor=supervisor, reason="Wrong")

    waited, done = _at_once(undo, undo)
    assert waited, "the second undo read the scheduled payment without waiting for the first"
    assert str(done["second"]) == "This match was already undone."
    due.refresh_from_db()
    assert (due.amount_paid, due.status) == (Decimal("150.00"), PaymentStatus.PARTIALLY_PAID)


def test_credit_refunded_cannot_then_be_applied_by_hand_to_a_payment_due(supervisor, credit, due):
    from schedules.services import scheduled_payment_record

    services.credit_refund(payment=credit, actor=supervisor, amount=Decimal("50.00"), reason="Customer asked")
    with pytest.raises(DomainError) as refused:
        scheduled_payment_record(
            scheduled_payment=due, actor=supervisor, amount=Decimal("20.00"), paid_on=credit.value_date,
            method="bank_transfer", note="from the credit", received=credit,
        )
    assert str(refused.value) == f"Only 10.00 of payment {credit.bank_transaction_id} is not yet applied to a scheduled payment."
    scheduled_payment_record(
        scheduled_payment=due, actor=supervisor, amount=Decimal("10.00"), paid_on=credit.value_date,
        method="bank_transfer", note="from the credit", received=credit,
    )
    assert selectors.payment_unallocated_rest(payment=credit) == Decimal("0.00")
