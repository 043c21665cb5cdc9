"""Sections this app adds to pages of the core app (see settings.CUSTOMER_PAGE_PANELS)."""

from . import selectors


def customer_schedules(*, customer, access):
    return "schedules/_customer_schedules.html", {
        "schedules": selectors.schedules_of_customer(customer=customer)[:50],
    }
