"""Aggregates of one client's discrepancies for the dashboard.

Each selector groups in the database (one or two queries) and only zero-fills the few groups in
Python; none reads item rows. Amounts are totalled per currency, never across currencies.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, TruncDate
from django.utils import timezone

from bpo_ledger.models import Client, Payment
from schedules.models import Allocation

from .models import ACTIVE_STATUSES, Discrepancy, DiscrepancyKind, Priority, sla_breached_q

ZERO = Decimal("0.00")
# Age in full days since the item was logged: the last day of each bucket, then "over 90".
AGING_BUCKETS = (("0-30", 30), ("31-60", 60), ("61-90", 90), ("90+", None))
AMOUNT = DecimalField(max_digits=18, decimal_places=2)


def _active(client: Client):
    # Uses discrepancy_queue_idx (client, status, ...).
    return Discrepancy.objects.filter(client=client, status__in=ACTIVE_STATUSES).order_by()


@dataclass(frozen=True)
class KindRow:
    kind: str
    label: str
    counts: list[int]  # one per active status, in OpenItems.statuses order
    total: int


@dataclass(frozen=True)
class OpenItems:
    statuses: list[tuple[str, str]]  # (value, label) of the active statuses, in workflow order
    rows: list[KindRow]  # every kind, zero-filled
    status_totals: list[int]
    total: int


def open_items_by_kind_and_status(*, client: Client) -> OpenItems:
    """Active items counted by kind and status: one grouped query."""
    groups = _active(client).values("kind", "status").annotate(n=Count("id"))
    counts = {(g["kind"], g["status"]): g["n"] for g in groups}
    statuses = [(s.value, s.label) for s in ACTIVE_STATUSES]
    rows = []
    for kind in DiscrepancyKind:
        row = [counts.get((kind.value, status), 0) for status, _ in statuses]
        rows.append(KindRow(kind.value, kind.label, row, sum(row)))
    status_totals = [sum(r.counts[i] for r in rows) for i in range(len(statuses))]
    return OpenItems(statuses, rows, status_totals, sum(status_totals))


@dataclass(frozen=True)
class AgingBucket:
    label: str
    count: int
    amount: Decimal  # total of |amount_difference|, in the currency of its CurrencyAging


@dataclass(frozen=True)
class CurrencyAging:
    currency: str
    buckets: list[AgingBucket]  # always the four buckets, in AGING_BUCKETS order
    count: int
    amount: Decimal


def aging_by_currency(*, client: Client, now: dt.datetime | None = None) -> list[CurrencyAging]:
    """Active items by age bucket and currency: count and absolute amount. One grouped query."""
    now = now or timezone.now()
    # Age <= N full days  <=>  created_at > now - (N + 1) days.
    bucket = Case(
        *(
            When(created_at__gt=now - dt.timedelta(days=last + 1), then=Value(i))
            for i, (_, last) in enumerate(AGING_BUCKETS)
            if last is not None
        ),
        default=Value(len(AGING_BUCKETS) - 1),
        output_field=IntegerField(),
    )
    groups = (
        _active(client)
        .annotate(bucket=bucket)
        .values("currency", "bucket")
        .annotate(n=Count("id"), amount=Sum(Abs("amount_difference"), output_field=AMOUNT))
    )
    found: dict[str, dict[int, tuple[int, Decimal]]] = {}
    for g in groups:
        found.setdefault(g["currency"], {})[g["bucket"]] = (g["n"], _money(g["amount"]))
    result = []
    for currency in sorted(found):
        cells = found[currency]
        buckets = [
            AgingBucket(label, *cells.get(i, (0, ZERO))) for i, (label, _) in enumerate(AGING_BUCKETS)
        ]
        result.append(
            CurrencyAging(
                currency,
                buckets,
                sum(b.count for b in buckets),
                sum((b.amount for b in buckets), ZERO),
            )
        )
    return result


@dataclass(frozen=True)
class SlaBreaches:
    rows: list[tuple[str, str, int]]  # (priority, label, count), most urgent first, zero-filled
    total: int


def sla_breaches_by_priority(*, client: Client, now: dt.datetime | None = None) -> SlaBreaches:
    """Active items that have missed any of their SLA due times (escalated ones included),
    counted by priority: one grouped query."""
    now = now or timezone.now()
    groups = _active(client).filter(sla_breached_q(now)).values("priority").annotate(n=Count("id"))
    counts = {g["priority"]: g["n"] for g in groups}
    rows = [(p.value, p.label, counts.get(p.value, 0)) for p in reversed(Priority)]
    return SlaBreaches(rows, sum(n for _, _, n in rows))


@dataclass(frozen=True)
class SlaPerformance:
    days: int
    resolved: int  # items resolved in the last `days` days (and not reopened since)
    missed: int  # ... of which missed their first SLA due time, escalated or not

    @property
    def met(self) -> int:
        return self.resolved - self.missed

    @property
    def met_percent(self) -> int | None:
        return round(100 * self.met / self.resolved) if self.resolved else None


def sla_performance(*, client: Client, now: dt.datetime | None = None, days: int = 30) -> SlaPerformance:
    """Items resolved in the last `days` days, and how many of them missed their first SLA due
    time (kept on the item for good: an escalation or the resolution does not erase it). One query."""
    now = now or timezone.now()
    # Uses discrepancy_resolved_idx (client, resolved_at).
    counts = Discrepancy.objects.filter(
        client=client, resolved_at__gt=now - dt.timedelta(days=days), resolved_at__lte=now
    ).aggregate(resolved=Count("id"), missed=Count("id", filter=Q(first_sla_breached_at__isnull=False)))
    return SlaPerformance(days, counts["resolved"], counts["missed"])


@dataclass(frozen=True)
class DayFlow:
    day: dt.date  # in the client's time zone
    opened: int
    resolved: int


def opened_resolved_per_day(
    *, client: Client, now: dt.datetime | None = None, days: int = 30
) -> list[DayFlow]:
    """Items logged and items resolved per day of the client's calendar, the last `days` days
    up to today, zero-filled: two grouped queries."""
    now = now or timezone.now()
    zone = client.zone
    today = now.astimezone(zone).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min, tzinfo=zone)

    def per_day(field: str) -> dict[dt.date, int]:
        # Uses discrepancy_created_idx / discrepancy_resolved_idx (client, <field>).
        groups = (
            Discrepancy.objects.filter(client=client, **{f"{field}__gte": start, f"{field}__lt": end})
            .order_by()
            .annotate(day=TruncDate(field, tzinfo=zone))
            .values("day")
            .annotate(n=Count("id"))
        )
        return {g["day"]: g["n"] for g in groups}

    opened, resolved = per_day("created_at"), per_day("resolved_at")
    calendar = (first + dt.timedelta(days=i) for i in range(days))
    return [DayFlow(day, opened.get(day, 0), resolved.get(day, 0)) for day in calendar]


@dataclass(frozen=True)
class DayMatchRate:
    day: dt.date  # a value date
    received: int  # payments received (money in) with that value date
    allocated: int  # of them, those applied in full to scheduled payments

    @property
    def percent(self) -> int | None:
        return round(100 * self.allocated / self.received) if self.received else None


def match_rate_per_day(*, client: Client, now: dt.datetime | None = None, days: int = 30) -> list[DayMatchRate]:
    """Per value date over the last `days` days of the client's calendar, zero-filled: the money
    received and how much of it is fully allocated. One grouped query (payment_client_date_idx,
    and allocation_payment_idx for each payment's allocated total)."""
    now = now or timezone.now()
    today = now.astimezone(client.zone).date()
    first = today - dt.timedelta(days=days - 1)
    allocated = (
        Allocation.objects.filter(client=OuterRef("client"), payment=OuterRef("pk"))
        .order_by().values("payment").annotate(total=Sum("amount")).values("total")
    )
    groups = (
        Payment.objects.filter(client=client, amount__gt=0, value_date__gte=first, value_date__lte=today)
        .annotate(applied=Coalesce(Subquery(allocated, output_field=AMOUNT), Value(ZERO, output_field=AMOUNT)))
        .order_by()
        .values("value_date")
        .annotate(received=Count("id"), allocated=Count("id", filter=Q(applied__gte=F("amount"))))
    )
    found = {g["value_date"]: (g["received"], g["allocated"]) for g in groups}
    calendar = (first + dt.timedelta(days=i) for i in range(days))
    return [DayMatchRate(day, *found.get(day, (0, 0))) for day in calendar]


@dataclass(frozen=True)
class DashboardReport:
    client: Client
    now: dt.datetime
    open_items: OpenItems
    aging: list[CurrencyAging]
    breaches: SlaBreaches
    sla: SlaPerformance
    flow: list[DayFlow]
    match_rate: list[DayMatchRate] = field(default_factory=list)

    @property
    def received_total(self) -> int:
        return sum(d.received for d in self.match_rate)

    @property
    def allocated_total(self) -> int:
        return sum(d.allocated for d in self.match_rate)

    @property
    def match_percent(self) -> int | None:
        return round(100 * self.allocated_total / self.received_total) if self.received_total else None

    @property
    def opened_total(self) -> int:
        return sum(d.opened for d in self.flow)

    @property
    def resolved_total(self) -> int:
        return sum(d.resolved for d in self.flow)


def discrepancy_dashboard(*, client: Client, now: dt.datetime | None = None) -> DashboardReport:
    """Everything the dashboard shows, as of `now`: seven grouped queries in all."""
    now = now or timezone.now()
    return DashboardReport(
        client=client,
        now=now,
        open_items=open_items_by_kind_and_status(client=client),
        aging=aging_by_currency(client=client, now=now),
        breaches=sla_breaches_by_priority(client=client, now=now),
        sla=sla_performance(client=client, now=now),
        flow=opened_resolved_per_day(client=client, now=now),
        match_rate=match_rate_per_day(client=client, now=now),
    )


def _money(value) -> Decimal:
    return (value or ZERO).quantize(ZERO)
