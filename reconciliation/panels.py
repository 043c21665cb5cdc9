"""Sections this app adds to pages of the core app (see settings.CUSTOMER_PAGE_PANELS)."""

from . import selectors


def customer_credit(*, customer, access):
    payments, totals = selectors.customer_credit(customer=customer)
    return "reconciliation/_customer_credit.html", {"payments": payments[:50], "totals": totals, "count": len(payments)}
