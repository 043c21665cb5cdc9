"""What a reconciliation run reads: the engine's inputs, streamed set-based from the ledger.

Open scheduled payments (and the settled ones a duplicate, a reversal or an open item may be
about), money received with an unallocated rest, reversals not yet acted on, the customers' keys,
the allocations involved, the open items and how far each account's statements are in; in
integer cents and date ordinals, through a server-side cursor on PostgreSQL. No query per row.

Every identifier in this module's SQL is a constant or a model's table or column name; every
value travels as a parameter.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import connection

from bpo_ledger.models import Client, Customer, Payment, PaymentImport, PaymentKind
from discrepancies.models import ACTIVE_STATUSES, Discrepancy
from schedules.models import (
    OPEN_PAYMENT_STATUSES,
    Allocation,
    PaymentSchedule,
    PaymentStatus,
    ScheduledPayment,
    ScheduleKind,
)

from .. import matching
from ..models import BankAccount, CreditRefund, ImportedStatement, UndoneAllocation

FETCH = 10_000  # rows per round trip of a streamed read
CHUNK = 5_000  # values per IN (...) list
# Money taken back that a run acts on: reversals and chargebacks, and any other debit with a
# return code, except the client's own movements (fees, other debits, refunds: nothing to match).
REVERSING_KINDS = (PaymentKind.REVERSAL, PaymentKind.CHARGEBACK)
OWN_MOVEMENTS = (PaymentKind.FEE, PaymentKind.DEBIT, PaymentKind.REFUND)


def _chunks(values: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _cents(column: str) -> str:
    return f"CAST(ROUND({column} * 100) AS BIGINT)"


def _ordinal(column: str) -> str:
    """The date column as date.toordinal() gives it."""
    if connection.vendor == "postgresql":
        return f"({column} - DATE '0001-01-01' + 1)"
    return f"CAST(julianday({column}) - 1721424.5 AS INTEGER)"


def _day(value) -> dt.date | None:
    """A date from an aggregate (SQLite gives text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _streamed(sql: str, params: list) -> Iterator[tuple]:
    """The rows of a query, fetched in batches through a server-side cursor on PostgreSQL."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH):
            yield from rows


def _start_of_day(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def _policy(client: Client, as_of: dt.date) -> matching.Policy:
    return matching.Policy(
        as_of=as_of.toordinal(),
        tolerance_cents=int((client.match_tolerance_amount * 100).to_integral_value()),
        tolerance_bp=int((client.match_tolerance_percent * 100).to_integral_value()),
        window_before=client.payment_window_days_before,
        window_after=client.payment_window_days_after,
        grace_days=client.grace_days,
        duplicate_window=client.duplicate_window_days,
    )


def _expected_where(client: Client, as_of: dt.date) -> tuple[str, list]:
    """The scheduled payments a run looks at (alias sp): open ones due by the end of the window,
    settled ones paid recently enough that a second payment for them is a duplicate, those whose
    money a reversal not yet acted on takes back, however old, and those an open item is about (a
    duplicate of an old payment is told again as a duplicate, not taken for new money)."""
    open_marks = ", ".join(["%s"] * len(OPEN_PAYMENT_STATUSES))
    active_marks = ", ".join(["%s"] * len(ACTIVE_STATUSES))
    recent = as_of - dt.timedelta(days=client.duplicate_window_days + client.payment_window_days_after)
    taken_back, taken_back_params = _money_back_where(client, as_of, alias="rv")
    sql = (
        f"sp.client_id = %s AND ((sp.status IN ({open_marks}) AND sp.due_date <= %s) "  # noqa: S608
        "OR (sp.status = %s AND sp.paid_at >= %s) "
        f"OR sp.id IN (SELECT ra.scheduled_payment_id FROM {_table(Allocation)} ra "
        f"JOIN {_table(Payment)} rv ON rv.reverses_id = ra.payment_id WHERE ra.client_id = %s AND {taken_back}) "
        f"OR sp.id IN (SELECT od.scheduled_payment_id FROM {_table(Discrepancy)} od WHERE od.client_id = %s "
        f"AND od.status IN ({active_marks}) AND od.scheduled_payment_id IS NOT NULL))"
    )
    params = [client.pk, *OPEN_PAYMENT_STATUSES, as_of + dt.timedelta(days=client.payment_window_days_before),
              PaymentStatus.PAID, _start_of_day(recent, client.zone), client.pk, *taken_back_params,
              client.pk, *ACTIVE_STATUSES]
    return sql, params


def _read_expected(client: Client, as_of: dt.date) -> list[matching.Expected]:
    where, params = _expected_where(client, as_of)
    sql = (
        f"SELECT sp.id, s.customer_id, sp.schedule_id, sp.reference, s.external_ref, {_ordinal('sp.due_date')}, "  # noqa: S608
        f"s.currency, {_cents('sp.amount_due')}, {_cents('sp.amount_paid')}, "
        "CASE WHEN sp.status = %s THEN 1 ELSE 0 END, CASE WHEN s.kind = %s THEN 1 ELSE 0 END "
        f"FROM {_table(ScheduledPayment)} sp JOIN {_table(PaymentSchedule)} s ON s.id = sp.schedule_id "
        f"WHERE {where}"
    )
    return [
        matching.Expected(row[0], row[1], row[2], row[3], row[4] or "", row[5], row[6], row[7], row[8], bool(row[9]), bool(row[10]))
        for row in _streamed(sql, [PaymentStatus.PAID, ScheduleKind.AUTOPAY, *params])
    ]


_RECEIVED_COLUMNS = (
    "p.id, {value_date}, {amount}, {rest}, p.currency, p.kind, p.customer_id, p.payer_name, p.payer_account_hash, "
    "p.reference, p.remittance, p.reverses_id, p.return_code, {allocated}"
)


def _money_in_sql(client: Client, as_of: dt.date, columns: str) -> tuple[str, list]:
    """Positive payments up to the run's date with an unallocated rest: their amount less what
    is allocated, what reversals took back and what was refunded of it as credit."""
    # SUM of bigints is numeric on PostgreSQL: the rest is cast back to whole cents.
    rest = f"CAST({_cents('p.amount')} - COALESCE(a.total, 0) - COALESCE(r.total, 0) - COALESCE(cr.total, 0) AS BIGINT)"
    allocated = "CASE WHEN a.total IS NULL THEN 0 ELSE 1 END"
    sql = (
        f"SELECT * FROM (SELECT {columns.format(value_date=_ordinal('p.value_date'), amount=_cents('p.amount'), rest=rest, allocated=allocated)} "  # noqa: S608
        f"FROM {_table(Payment)} p "
        f"LEFT JOIN (SELECT payment_id, SUM({_cents('amount')}) AS total FROM {_table(Allocation)} "
        "WHERE client_id = %s GROUP BY payment_id) a ON a.payment_id = p.id "
        f"LEFT JOIN (SELECT reverses_id, -SUM({_cents('amount')}) AS total FROM {_table(Payment)} "
        "WHERE client_id = %s AND reverses_id IS NOT NULL AND amount < 0 GROUP BY reverses_id) r ON r.reverses_id = p.id "
        f"LEFT JOIN (SELECT payment_id, SUM({_cents('amount')}) AS total FROM {_table(CreditRefund)} "
        "WHERE client_id = %s GROUP BY payment_id) cr ON cr.payment_id = p.id "
        "WHERE p.client_id = %s AND p.amount > 0 AND p.value_date <= %s) q WHERE q.rest > 0"
    )
    return sql, [client.pk, client.pk, client.pk, client.pk, as_of]


def _money_back_where(client: Client, as_of: dt.date, alias: str = "p") -> tuple[str, list]:
    """Reversals, returns and chargebacks (table alias `alias`) up to the run's date not yet acted
    on: no allocation taken back for them and no chargeback item logged for them."""
    through = Discrepancy.payments.through
    p = alias
    sql = (
        f"{p}.client_id = %s AND {p}.amount < 0 AND {p}.value_date <= %s "  # noqa: S608
        f"AND ({p}.kind IN (%s, %s) OR ({p}.return_code <> '' AND {p}.kind NOT IN (%s, %s, %s))) "
        f"AND NOT EXISTS (SELECT 1 FROM {_table(UndoneAllocation)} u WHERE u.client_id = %s AND u.reversal_id = {p}.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {_table(through)} dp JOIN {_table(Discrepancy)} d ON d.id = dp.discrepancy_id "
        f"WHERE dp.payment_id = {p}.id AND d.client_id = %s AND d.kind = %s)"
    )
    return sql, [client.pk, as_of, *REVERSING_KINDS, *OWN_MOVEMENTS, client.pk, client.pk, matching.CHARGEBACK]


def _received_of(row) -> matching.Received:
    (pk, value_date, amount, rest, currency, kind, customer_id, payer_name, payer_hash, reference, remittance,
     reverses, return_code, _) = row
    text = " ".join(part for part in (reference, remittance) if part)
    return matching.Received(
        pk, value_date, amount, max(rest, 0), currency, kind, customer_id, payer_name or "", payer_hash or "", text,
        reverses, return_code or "",
    )


def _read_received(client: Client, as_of: dt.date) -> tuple[list[matching.Received], set[int]]:
    """The money to act on, and the payments whose allocations the engine needs beside those of
    the expected payments: money with a rest that is partly allocated, and what reversals take back."""
    received, involved = [], set()
    sql, params = _money_in_sql(client, as_of, _RECEIVED_COLUMNS.replace("{rest}", "{rest} AS rest"))
    for row in _streamed(sql, params):
        received.append(_received_of(row))
        if row[-1]:
            involved.add(row[0])
    where, back_params = _money_back_where(client, as_of)
    columns = _RECEIVED_COLUMNS.format(value_date=_ordinal("p.value_date"), amount=_cents("p.amount"), rest="0", allocated="0")
    back = f"SELECT {columns} FROM {_table(Payment)} p WHERE {where}"  # noqa: S608
    for row in _streamed(back, back_params):
        received.append(_received_of(row))
        if row[11] is not None:
            involved.add(row[11])
    return received, involved


def _read_settled(client: Client, as_of: dt.date, involved: set[int]) -> list[matching.Settled]:
    """The allocations of the expected payments read, and of the payments involved."""
    expected_where, expected_params = _expected_where(client, as_of)
    select = (
        f"SELECT a.id, a.payment_id, a.scheduled_payment_id, {_cents('a.amount')}, {_ordinal('pay.value_date')}, "  # noqa: S608
        f"pay.payer_account_hash, pay.customer_id FROM {_table(Allocation)} a "
        f"JOIN {_table(Payment)} pay ON pay.id = a.payment_id WHERE a.client_id = %s AND "
    )
    rows = {}
    sql = f"{select}a.scheduled_payment_id IN (SELECT sp.id FROM {_table(ScheduledPayment)} sp WHERE {expected_where})"  # noqa: S608
    for row in _streamed(sql, [client.pk, *expected_params]):
        rows[row[0]] = row
    for chunk in _chunks(sorted(involved)):
        marks = ", ".join(["%s"] * len(chunk))
        for row in _streamed(f"{select}a.payment_id IN ({marks})", [client.pk, *chunk]):
            rows[row[0]] = row
    return [
        matching.Settled(row[1], row[2], row[3], row[4], row[5] or "", row[6])
        for _, row in sorted(rows.items())
    ]


def _read_customers(client: Client) -> list[matching.CustomerKey]:
    rows = Customer.objects.filter(client=client).values_list("pk", "name", "bank_account_hash", "external_ref")
    return [matching.CustomerKey(*row) for row in rows.iterator(chunk_size=FETCH)]


def _open_items_filter(client: Client) -> tuple[str, list]:
    """Items a run must know of (alias d): its own not yet resolved or closed, and any active item
    on a scheduled payment (a manual one counts for the one-open-item rule too)."""
    marks = ", ".join(["%s"] * len(ACTIVE_STATUSES))
    return (
        f"d.client_id = %s AND d.status IN ({marks}) AND (d.detected_by LIKE %s OR d.scheduled_payment_id IS NOT NULL)",
        [client.pk, *ACTIVE_STATUSES, "run:%"],
    )


def _read_open_items(client: Client) -> list[matching.OpenItem]:
    where, params = _open_items_filter(client)
    through = Discrepancy.payments.through
    payments: dict[int, list[int]] = defaultdict(list)
    sql = (
        f"SELECT dp.discrepancy_id, dp.payment_id FROM {_table(through)} dp "  # noqa: S608
        f"JOIN {_table(Discrepancy)} d ON d.id = dp.discrepancy_id WHERE {where}"
    )
    for discrepancy_id, payment_id in _streamed(sql, params):
        payments[discrepancy_id].append(payment_id)
    sql = f"SELECT d.id, d.fingerprint, d.kind, d.scheduled_payment_id FROM {_table(Discrepancy)} d WHERE {where}"  # noqa: S608
    return [
        matching.OpenItem(fingerprint, kind, expected_id, tuple(sorted(payments.get(pk, ()))))
        for pk, fingerprint, kind, expected_id in _streamed(sql, params)
    ]


def _read_coverage(client: Client) -> list[matching.Coverage]:
    """How far each listed account's statements are in: through its latest statement's end, or,
    with a gap in the running numbers, through the day before the first gap's statement."""
    # A statement that states no period (a CSV export) runs to its latest entry's value date.
    last_entry = (
        f"(SELECT MAX(p.value_date) FROM {_table(Payment)} p WHERE p.payment_import_id = s.payment_import_id "  # noqa: S608
        "AND p.source_account = s.account)"
    )
    sql = (
        "SELECT b.account, MAX(st.period_end), "  # noqa: S608
        "MIN(CASE WHEN st.sequence_gap THEN COALESCE(st.period_start, st.period_end) END) "
        f"FROM {_table(BankAccount)} b LEFT JOIN (SELECT s.account, s.period_start, "
        f"COALESCE(s.period_end, {last_entry}) AS period_end, s.sequence_gap "
        f"FROM {_table(ImportedStatement)} s JOIN {_table(PaymentImport)} i ON i.id = s.payment_import_id "
        "WHERE s.client_id = %s AND i.status = %s) st ON st.account = b.account "
        "WHERE b.client_id = %s GROUP BY b.account"
    )
    coverage = []
    with connection.cursor() as cursor:
        cursor.execute(sql, [client.pk, "stored", client.pk])
        for account, last_end, first_gap in cursor.fetchall():
            last_end, first_gap = _day(last_end), _day(first_gap)
            through = first_gap - dt.timedelta(days=1) if first_gap else last_end
            coverage.append(matching.Coverage(account, through.toordinal() if through else 0))
    return coverage


@dataclass
class RunInputs:
    policy: matching.Policy
    expected: list[matching.Expected]
    received: list[matching.Received]
    customers: list[matching.CustomerKey]
    settled: list[matching.Settled]
    open_items: list[matching.OpenItem]
    coverage: list[matching.Coverage]

    def engine_kwargs(self) -> dict:
        return {
            "policy": self.policy, "expected": self.expected, "received": self.received, "customers": self.customers,
            "settled": self.settled, "open_items": self.open_items, "coverage": self.coverage,
        }


def run_inputs_read(client: Client, as_of: dt.date) -> RunInputs:
    received, involved = _read_received(client, as_of)
    return RunInputs(
        policy=_policy(client, as_of),
        expected=_read_expected(client, as_of),
        received=received,
        customers=_read_customers(client),
        settled=_read_settled(client, as_of, involved),
        open_items=_read_open_items(client),
        coverage=_read_coverage(client),
    )
