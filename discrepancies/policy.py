"""Priority and SLA rules of a client's policy: pure functions, no Django."""

import datetime as dt
from decimal import Decimal

PRIORITIES = ("low", "medium", "high", "critical")  # by rank 0..3


def base_priority_rank(amount: Decimal, *, medium: Decimal, high: Decimal, critical: Decimal) -> int:
    """Rank by the amount at stake (its absolute value): low 0, medium 1, high 2, critical 3."""
    amount = abs(amount)
    if amount >= critical:
        return 3
    if amount >= high:
        return 2
    if amount >= medium:
        return 1
    return 0


def priority_rank(
    amount: Decimal, *, opened_at: dt.datetime, now: dt.datetime, medium: Decimal, high: Decimal,
    critical: Decimal, age_step_days: int,
) -> int:
    """The amount's rank, raised one level per `age_step_days` the item has been open, at most critical."""
    base = base_priority_rank(amount, medium=medium, high=high, critical=critical)
    steps = max((now - opened_at).days, 0) // age_step_days
    return min(base + steps, 3)


def sla_due_at(opened_at: dt.datetime, hours: int) -> dt.datetime:
    return opened_at + dt.timedelta(hours=hours)

