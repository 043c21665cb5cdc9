from django import template
from django.urls import reverse

from ..access import SUPERVISE_ROLES
from ..models import Role

register = template.Library()


@register.inclusion_tag("bpo_ledger/_client_menu.html", takes_context=True)
def client_menu(context, access):
    """The menu of one client for the user's role there."""
    code = access.client.code
    items = [
        ("Overview", reverse("client_overview", args=[code])),
        ("Customers", reverse("customer_list", args=[code])),
        ("Payments", reverse("payment_list", args=[code])),
    ]
    if access.role in SUPERVISE_ROLES or access.role == Role.AUDITOR:
        items.append(("Audit trail", reverse("audit_trail", args=[code])))
    current = context["request"].path
    return {
        "items": [(label, url, current == url or (url != items[0][1] and current.startswith(url))) for label, url in items],
        "access": access,
    }


@register.filter
def money(amount, currency=""):
    if amount is None:
        return ""
    return f"{currency} {amount:,.2f}".strip()


@register.filter
def in_minutes(delta):
    return round(delta.total_seconds() / 60)
