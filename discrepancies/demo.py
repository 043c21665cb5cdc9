"""Demo discrepancies of every kind and status across the demo clients, linked to the demo
schedules (DEMO-...): some breached, some escalated, some adjustments awaiting approval.

Each item has a fingerprint, so running it again changes nothing.
"""

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from bpo_ledger.models import Client
from schedules.models import OPEN_PAYMENT_STATUSES, PaymentSchedule, PaymentStatus, ScheduledPayment

from . import services
from .models import Discrepancy

ACTOR = "system:seed_demo"
D = Decimal

# Who works each client's queue: (agent, supervisor). INITECH has no supervisor in the demo, so
# the seeder itself hands out its work.
TEAMS = {"ACME": ("agent", "supervisor"), "GLOBEX": ("agent", "supervisor"), "INITECH": ("agent2", None)}

# Where an item ends up, as the steps that take it there.
PATHS = {
    "open": [],
    "assigned": ["assign"],
    "in_progress": ["assign", "start"],
    "awaiting_customer": ["assign", "start", "await_customer"],
    "escalated": ["assign", "start", "escalate"],
    "resolved": ["assign", "start", "resolve"],
    "closed": ["assign", "start", "resolve", "close"],
}

# key, client, kind, schedule, which payment ("paid" = latest paid, "open" = first open,
# "open+1" = second open), expected, actual ("due" = the payment's amount due), days since it
# was logged, status, details
ITEMS = [
    ("A01", "ACME", "underpayment", "DEMO-A1", "open", "due", D("45.00"), 5, "in_progress",
     {"summary": "Paid half of the monthly electricity bill", "root_cause": "customer_misunderstanding",
      "note": "Customer says the second half follows on payday (the 28th)."}),
    ("A02", "ACME", "missing", "DEMO-A2", "open", "due", None, 25, "awaiting_customer",
     {"summary": "Installment not received", "note": "Left a voicemail; email sent asking how they paid."}),
    ("A03", "ACME", "overpayment", "DEMO-A5", "paid", "due", D("128.00"), 40, "closed",
     {"summary": "Autopay collected twice the amount", "root_cause": "system_integration",
      "resolution": ("refund_issued", "Refunded USD 64.00 to the card on file.")}),
    ("A04", "ACME", "duplicate", "DEMO-A6", "paid", None, D("15.00"), 2, "open",
     {"summary": "Same rental payment received twice the same day"}),
    ("A05", "ACME", "mismatch", "DEMO-A1", "paid", "due", "due", 70, "resolved",
     {"summary": "Reference on the transfer does not match any payment", "mismatch_field": "reference",
      "root_cause": "data_entry", "resolution": ("data_corrected", "Matched by amount and payer; reference corrected.")}),
    ("A06", "ACME", "chargeback", "DEMO-A5", "paid", None, "-due", 10, "escalated",
     {"summary": "Card payment charged back: 'not recognised'",
      "escalate": "Customer disputes the card charge; billing must supply the signed mandate."}),
    ("A07", "ACME", "overpayment", "DEMO-A2", "open", "due", D("5366.66"), 0, "open",
     {"summary": "Received 5,366.66 against a 166.66 installment (typing error?)"}),
    ("A08", "ACME", "underpayment", "DEMO-A5", "open", "due", D("44.00"), 1, "assigned",
     {"summary": "Autopay collected less than the bill"}),
    ("G01", "GLOBEX", "underpayment", "DEMO-G1", "open", "due", D("19.99"), 12, "open",
     {"summary": "Mobile plan paid in part"}),
    ("G02", "GLOBEX", "missing", "DEMO-G4", "open", "due", None, 35, "escalated",
     {"summary": "Roaming charges never paid", "escalate": "Three reminders unanswered; propose collection."}),
    ("G03", "GLOBEX", "overpayment", "DEMO-G2", "paid", "due", D("74.90"), 20, "resolved",
     {"summary": "Handset installment paid twice over", "root_cause": "customer_misunderstanding",
      "resolution": ("credit_applied", "Credited EUR 37.45 to the next installment.")}),
    ("G04", "GLOBEX", "duplicate", "DEMO-G1", "paid", None, "due", 95, "closed",
     {"summary": "Direct debit collected twice", "root_cause": "bank_error",
      "resolution": ("reversed", "The bank reversed the second collection.")}),
    ("G05", "GLOBEX", "chargeback", "DEMO-G3", "paid", None, "-due", 3, "assigned",
     {"summary": "SEPA return: account closed"}),
    ("G06", "GLOBEX", "mismatch", "DEMO-G2", "open", "due", "due", 8, "in_progress",
     {"summary": "Paid from an account that is not the customer's", "mismatch_field": "account_number",
      "note": "Payer is the customer's employer; asking the customer to confirm."}),
    ("I01", "INITECH", "missing", "DEMO-I1", "open", "due", None, 6, "in_progress",
     {"summary": "Loan installment not received"}),
    ("I02", "INITECH", "mismatch", "DEMO-I3", "paid", "due", "due", 15, "awaiting_customer",
     {"summary": "Payer name differs from the customer", "mismatch_field": "payer"}),
    ("I03", "INITECH", "chargeback", "DEMO-I1", "paid", None, "-due", 50, "escalated",
     {"summary": "Card issuer reversed the installment", "root_cause": "fraud",
      "escalate": "Possible fraud: the card was reported stolen."}),
    ("I04", "INITECH", "underpayment", "DEMO-I3", "open", "due", D("50.00"), 30, "resolved",
     {"summary": "Top-up paid short", "resolution": ("balance_rebilled", "The GBP 25.00 left is added to the next top-up.")}),
    ("I05", "INITECH", "overpayment", "DEMO-I1", "paid", "due", D("500.00"), 120, "resolved",
     {"summary": "Installment overpaid", "resolution": ("refund_issued", "Refunded GBP 83.34 by bank transfer.")}),
    ("I06", "INITECH", "duplicate", "DEMO-I3", "paid", None, "due", 0, "open",
     {"summary": "Top-up received twice"}),
    ("I07", "INITECH", "mismatch", "DEMO-I1", "open", "due", D("5200.00"), 1, "open",
     {"summary": "5,200.00 received quoting this installment's reference", "mismatch_field": "amount"}),
]

# key, client, requested by, adjustment type, schedule, which payment, amount (None: the
# whole outstanding amount), reason. Above the client's threshold they wait for a supervisor.
ADJUSTMENTS = [
    ("A-ADJ1", "ACME", "agent", "write_off", "DEMO-A4", "open", D("300.00"),
     "Hardship: the customer lost their job; write off the winter bill except the service fee."),
    ("A-ADJ2", "ACME", "agent", "write_off", "DEMO-A1", "open+1", D("9.90"), "Goodwill credit after the outage on the 3rd."),
    ("G-ADJ1", "GLOBEX", "agent", "write_off", "DEMO-G3", "open", None, "Business line was cancelled in July; quarter not owed."),
    ("G-ADJ2", "GLOBEX", "agent", "amount_correction", "DEMO-G2", "open+1", D("35.00"), "Installment price was entered wrongly."),
    ("I-ADJ1", "INITECH", "agent2", "amount_correction", "DEMO-I3", "open+1", D("70.00"), "Agreed discount for paying by direct debit."),
]


def _payment(client: Client, schedule_ref: str, which: str) -> ScheduledPayment | None:
    payments = ScheduledPayment.objects.filter(client=client, schedule__external_ref=schedule_ref).select_related("schedule__customer")
    if which == "paid":
        return payments.filter(status=PaymentStatus.PAID).order_by("-sequence").first()
    nth = int(which.partition("+")[2] or 0)
    return payments.filter(status__in=OPEN_PAYMENT_STATUSES).order_by("sequence")[nth : nth + 1].first()


def _amount(value, payment: ScheduledPayment | None):
    if isinstance(value, Decimal) or value is None:
        return value
    if payment is None:
        return None
    return -payment.amount_due if value == "-due" else payment.amount_due


def _work(item: Discrepancy, path: str, *, agent, supervisor, details: dict) -> Discrepancy:
    for step in PATHS[path]:
        if step == "assign":
            item = services.discrepancy_assign(discrepancy=item, actor=supervisor or ACTOR, assignee=agent, version=item.version)
        elif step == "close":
            item = services.discrepancy_transition(discrepancy=item, actor=supervisor or ACTOR, action="close", version=item.version)
        elif step == "resolve":
            code, text = details["resolution"]
            item = services.discrepancy_transition(
                discrepancy=item, actor=agent, action="resolve", version=item.version, resolution_code=code,
                resolution_text=text,
            )
        else:
            item = services.discrepancy_transition(
                discrepancy=item, actor=agent, action=step, version=item.version, reason=details.get(step, "")
            )
    return item


@transaction.atomic
def seed() -> int:
    """Create what is missing; returns the number of rows created (discrepancies and notes)."""
    created = 0
    now = timezone.now()
    User = get_user_model()
    clients = {c.code: c for c in Client.objects.filter(code__in=TEAMS)}
    users = {u.username: u for u in User.objects.filter(username__in={"agent", "agent2", "supervisor"})}
    for key, code, kind, schedule_ref, which, expected, actual, days, path, details in ITEMS:
        client = clients[code]
        payment = _payment(client, schedule_ref, which)
        agent_name, supervisor_name = TEAMS[code]
        agent, supervisor = users[agent_name], users.get(supervisor_name)
        item, made = services.discrepancy_log(
            client=client, actor=agent, kind=kind, summary=details["summary"],
            amount_expected=_amount(expected, payment), amount_actual=_amount(actual, payment),
            scheduled_payment=payment,
            customer=None if payment else PaymentSchedule.objects.get(client=client, external_ref=schedule_ref).customer,
            mismatch_field=details.get("mismatch_field", ""), root_cause=details.get("root_cause", ""),
            fingerprint=f"demo:{key}", now=now - dt.timedelta(days=days, hours=3),
        )
        if not made:
            continue
        created += 1
        if details.get("note"):
            services.discrepancy_note_add(discrepancy=item, actor=agent, text=details["note"])
            created += 1
        _work(item, path, agent=agent, supervisor=supervisor, details=details)

    for key, code, requester, adjustment_type, schedule_ref, which, amount, reason in ADJUSTMENTS:
        client = clients[code]
        if Discrepancy.objects.filter(client=client, fingerprint=f"demo:{key}").exists():
            continue
        payment = _payment(client, schedule_ref, which)
        if payment is None:  # the demo schedules move with the calendar: nothing left to adjust
            continue
        if adjustment_type == "write_off":
            amount = min(amount or payment.amount_outstanding, payment.amount_outstanding)
        services.adjustment_request(
            client=client, actor=users[requester], adjustment_type=adjustment_type, scheduled_payment=payment,
            amount=amount, reason=reason, fingerprint=f"demo:{key}",
        )
        created += 1
    return created
