"""Telling the customer about an underpayment or a missing payment, by email, on the item's log."""

from decimal import Decimal

from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string

from bpo_ledger.access import require_role
from bpo_ledger.audit import audit_record
from bpo_ledger.errors import DomainError, StaleError
from bpo_ledger.money import format_money

from ..models import Discrepancy, DiscrepancyKind

NOTIFIABLE_KINDS = (DiscrepancyKind.UNDERPAYMENT, DiscrepancyKind.MISSING)


def notify_refusal(item: Discrepancy) -> str:
    """Why the customer of this item cannot be emailed now ("" when they can)."""
    if item.kind not in NOTIFIABLE_KINDS:
        return "Only underpayments and missing payments are notified to the customer."
    if not item.is_active:
        return f"{item.reference} is {item.get_status_display().lower()}: reopen it before writing to the customer."
    customer = item.customer
    if customer is None:
        return "No customer is linked to this item."
    if not (customer.email_consent and customer.email):
        return f"{customer.name} has not agreed to email, or has no address: call them instead."
    return ""


def _email_context(item: Discrepancy, message: str) -> dict:
    scheduled_payment = item.scheduled_payment
    return {
        "customer_name": item.customer.name,
        "client_name": item.client.name,
        "expected": format_money(item.amount_expected, item.currency),
        "received": format_money(item.amount_actual or Decimal("0.00"), item.currency),
        "outstanding": format_money(abs(item.amount_difference), item.currency),
        "reference": scheduled_payment.reference if scheduled_payment else item.reference,
        "due_date": scheduled_payment.due_date if scheduled_payment else None,
        "how_to_pay": item.client.payment_instructions,
        "message": message,
    }


@transaction.atomic
def discrepancy_notify_customer(
    *, discrepancy: Discrepancy, actor, message: str = "", version: int | None = None
) -> str:
    """Email the customer about an underpayment or a missing payment; returns the Message-ID.

    Given the version the sender saw, a changed item is refused: the email quotes its amounts.
    """
    item = Discrepancy.objects.select_related("client", "customer", "scheduled_payment").get(pk=discrepancy.pk)
    require_role(actor, item.client)
    if version is not None and version != item.version:
        raise StaleError(f"{item.reference} was changed by someone else: reload the page and try again. Nothing was sent.")
    if refusal := notify_refusal(item):
        raise DomainError(refusal)
    message = message.strip()
    context = _email_context(item, message)
    subject = render_to_string(f"discrepancies/notify/{item.kind}_subject.txt", context).strip()
    body = render_to_string(f"discrepancies/notify/{item.kind}_email.txt", context).strip()
    to = item.customer.email
    email = EmailMessage(subject, body, to=[to])
    message_id = email.message()["Message-ID"]
    email.extra_headers["Message-ID"] = message_id
    # Sent only once the log entry is committed: a rolled-back change notifies nobody.
    transaction.on_commit(lambda: email.send())
    audit_record(
        client=item.client, actor=actor, verb="discrepancy.customer_notified", subject=item,
        details={"channel": "email", "to": to, "subject": subject, "provider_id": message_id, "reason": message},
    )
    return message_id
