"""Every locking queryset of the project: the one module that calls select_for_update.

Two transactions that lock the same rows in the same order cannot deadlock, so every writer
takes its row locks in this order, and within one kind of row by ascending primary key:

    1. customers
    2. payment schedules
    3. scheduled payments
    4. reminders
    5. discrepancies
    6. the client row: the head of the client's audit chain and its numbering, always last

A transaction never locks a row of a lower rank after one of a higher rank. Each lock is
``FOR UPDATE OF`` the queried table alone (``of=("self",)``): a ``select_related`` join reads
the schedule's client or customer without locking it, so locking a schedule never blocks an
audit append of the same client. Queue claims (``skip_locked=True``) take whichever free row
comes first in their own order; they wait for nothing, so their order cannot deadlock.
"""

from django.db.models import QuerySet

from .models import Client, Customer


def locked(queryset: QuerySet, *, skip_locked: bool = False, ordered: bool = True) -> QuerySet:
    """The rows of `queryset` locked FOR UPDATE OF their own table, by ascending primary key.

    ordered=False keeps the queryset's own ordering; only a claim with skip_locked may use it.
    """
    if not ordered and not skip_locked:
        raise ValueError("rows locked while waiting must be locked in primary key order")
    queryset = queryset.select_for_update(of=("self",), skip_locked=skip_locked)
    return queryset.order_by("pk") if ordered else queryset


def customer_locked(*, pk: int) -> Customer:
    """One customer, locked (rank 1)."""
    return locked(Customer.objects.select_related("client").filter(pk=pk)).get()


def client_chain_head(*, client_id: int) -> None:
    """Lock the client row (rank 6, last): serializes appends to its audit chain and the
    allocation of its schedule and discrepancy numbers.

    FOR NO KEY UPDATE leaves inserts of rows that reference the client unblocked.
    """
    list(
        Client.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk=client_id)
        .values_list("pk")
    )
