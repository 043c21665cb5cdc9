"""The demo's statements: imported by seed_demo, and the nightly run over them finds every kind of
discrepancy, each on the payment the demo made it for, besides clean matches."""

import pytest
from django.core.management import call_command

from bpo_ledger.clock import client_today
from bpo_ledger.models import Client, Payment, PaymentImport, PaymentKind
from discrepancies.models import Discrepancy
from schedules.models import Allocation, PaymentStatus, ScheduledPayment

pytestmark = pytest.mark.django_db


def _payment_of(client, schedule_ref):
    return ScheduledPayment.objects.get(client=client, schedule__external_ref=schedule_ref)


def test_seed_demo_imports_the_statements_once():
    call_command("seed_demo")
    acme = Client.objects.get(code="ACME")
    globex = Client.objects.get(code="GLOBEX")
    assert sorted(PaymentImport.objects.filter(client=acme).values_list("file_name", flat=True)) == [
        "acme-statement-1.xml", "acme-statement-2.xml"]
    assert list(PaymentImport.objects.filter(client=globex).values_list("file_name", flat=True)) == [
        "globex-export-1.csv"]
    bank_lines = Payment.objects.filter(client=acme, payment_import__isnull=False)
    assert bank_lines.count() == 11
    # The chargeback takes back the card payment, which an agent had matched by hand.
    chargeback = bank_lines.get(bank_transaction_id="ACME-D-0110")
    assert chargeback.kind == PaymentKind.REVERSAL and chargeback.amount < 0 and chargeback.return_code == "MD06"
    assert chargeback.reverses.bank_transaction_id == "ACME-D-0001"
    assert Allocation.objects.get(payment=chargeback.reverses).rule == "manual_match"
    assert bank_lines.get(bank_transaction_id="ACME-D-0107").currency == "EUR"

    call_command("seed_demo")
    assert PaymentImport.objects.filter(client__in=[acme, globex]).count() == 3


def test_the_nightly_run_over_the_demo_finds_every_kind():
    from reconciliation.services.runs import reconciliation_run

    call_command("seed_demo")
    acme = Client.objects.get(code="ACME")
    outcome = reconciliation_run(client=acme, as_of=client_today(acme), actor="system:reconciliation",
                                 trigger="nightly", dry_run=False)
    found = Discrepancy.objects.filter(client=acme, detected_by=outcome.run.detected_by)

    def kinds_on(schedule_ref):
        return set(found.filter(scheduled_payment=_payment_of(acme, schedule_ref)).values_list("kind", flat=True))

    assert set(found.values_list("kind", flat=True)) >= {
        "overpayment", "underpayment", "duplicate", "missing", "mismatch", "chargeback"}
    assert kinds_on("DEMO-R03") == {"overpayment"}
    assert kinds_on("DEMO-R04") == {"underpayment"}
    assert kinds_on("DEMO-R05") == {"duplicate"}
    assert kinds_on("DEMO-R06") == {"missing"}
    assert kinds_on("DEMO-R09") == {"chargeback"}
    # One mismatch of each field the run checks, each on the payment that shows it.
    for bank_transaction_id, field in (("ACME-D-0107", "currency"), ("ACME-D-0108", "account_number"),
                                       ("ACME-D-0109", "payer")):
        payment = Payment.objects.get(client=acme, bank_transaction_id=bank_transaction_id)
        assert found.get(payments=payment).mismatch_field == field
    assert found.get(mismatch_field="account_number").scheduled_payment == _payment_of(acme, "DEMO-R08")
    assert "Maria Gonzalez" in found.get(mismatch_field="payer").summary  # the suggested customer

    # Clean matches: by reference, and by the payer's account and the amount; nothing logged on them.
    for schedule_ref, rule in (("DEMO-R01", "reference"), ("DEMO-R02", "customer_amount")):
        paid = _payment_of(acme, schedule_ref)
        assert paid.status == PaymentStatus.PAID
        assert list(paid.allocations.values_list("rule", flat=True)) == [rule]
        assert kinds_on(schedule_ref) == set()
    assert _payment_of(acme, "DEMO-R08").status == PaymentStatus.PAID  # settled, the account for review
    assert _payment_of(acme, "DEMO-R07").status != PaymentStatus.PAID  # another currency settles nothing

    again = reconciliation_run(client=acme, as_of=client_today(acme), actor="system:reconciliation",
                               trigger="nightly", dry_run=False)
    assert again.logged == 0
    assert not Discrepancy.objects.filter(client=acme, detected_by=again.run.detected_by).exists()
