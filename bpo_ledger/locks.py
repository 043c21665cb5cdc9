"""Every locking queryset of the project: the one module that calls select_for_update.

Two transactions that lock the same rows in the same order cannot deadlock, so every writer
takes its row locks in this order, and within one kind of row by ascending primary key:

    0. the client's reconciliation lock (a PostgreSQL advisory lock, no row): a reconciliation
       run holds it for its whole work; a manual match, the undo of a match, a refund of credit
       and the voiding of an import for their transaction; each takes it before any row lock,
       so that a run and a person never allocate the same money twice, nor take it away from
       under the other
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

import contextlib
from collections.abc import Iterator

from django.db import connection
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


# The first key of the two-key advisory lock space, so that a client id never collides with an
# advisory lock other code takes on a bare number ("RECO" in ASCII).
RECONCILIATION_LOCK_SPACE = 0x5245434F


def reconciliation_lock(*, client_id: int) -> None:
    """Wait for the client's reconciliation lock (rank 0) and hold it to the end of the
    transaction: a manual match takes it, so it waits while a run of the client works.

    No-op on SQLite, which runs one writing transaction at a time anyway.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [RECONCILIATION_LOCK_SPACE, client_id])


@contextlib.contextmanager
def reconciliation_lock_tried(*, client_id: int) -> Iterator[bool]:
    """Try the client's reconciliation lock (rank 0) without waiting, for a run: yields whether
    it was had, and holds it (on the session, across the run's transactions) until the block ends.

    Always had on SQLite.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RECONCILIATION_LOCK_SPACE, client_id])
        (had,) = cursor.fetchone()
    try:
        yield had
    finally:
        if had:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RECONCILIATION_LOCK_SPACE, client_id])
