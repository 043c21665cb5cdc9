"""Priority and SLA rules of a client's policy: pure functions, no Django."""

import datetime as dt
from dataclasses import dataclass
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



# --- The SLA record: every due time an item was given, and whether it was met -------------------
#
# A list of periods, oldest first, one per due time: {"level": escalation level, "due_at": ISO,
# "met_at": ISO or None, "missed_at": ISO or None}. The last one is the item's current due time
# while it is active. A period ends met (the item was resolved, or a supervisor handed an
# escalation back, by its due time) or missed (the due time passed first: missed at the due time).
# An ended period is never rewritten: an escalation adds the next level's due time beside it.


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def _at(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _ended(period: dict) -> bool:
    return bool(period["met_at"] or period["missed_at"])


def sla_started(history: list[dict], *, due_at: dt.datetime, level: int) -> list[dict]:
    """The record with a new due time added (the current one must have ended)."""
    return [*history, {"level": level, "due_at": _iso(due_at), "met_at": None, "missed_at": None}]


def sla_ended(history: list[dict], *, now: dt.datetime) -> list[dict]:
    """The record with its current due time ended now: met if not yet past, else missed at it."""
    if not history or _ended(history[-1]):
        return history
    current = dict(history[-1])
    due = _at(current["due_at"])
    if now <= due:
        current["met_at"] = _iso(now)
    else:
        current["missed_at"] = current["due_at"]
    return [*history[:-1], current]


def sla_moved(history: list[dict], *, due_at: dt.datetime, now: dt.datetime) -> list[dict]:
    """The current due time moved (a supervisor changed the priority). One not yet past is
    replaced; one already missed stays missed, and the new due time is added after it."""
    if history and not _ended(history[-1]) and now <= _at(history[-1]["due_at"]):
        return [*history[:-1], {**history[-1], "due_at": _iso(due_at)}]
    level = history[-1]["level"] if history else 0
    return sla_started(sla_ended(history, now=now), due_at=due_at, level=level)


def sla_breaches(history: list[dict]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(when the first due time was missed, when any due time was first missed), or None."""
    missed = [_at(p["missed_at"]) for p in history if p["missed_at"]]
    first = _at(history[0]["missed_at"]) if history else None
    return first, min(missed) if missed else None


@dataclass(frozen=True)
class SlaPeriod:
    level: int
    due_at: dt.datetime
    state: str  # "met", "missed" or "pending"
    at: dt.datetime | None  # when met or missed


def sla_periods(history: list[dict], *, now: dt.datetime, active: bool) -> list[SlaPeriod]:
    """The record as shown: a current due time already past on an active item is missed, even
    before the sweep has escalated it."""
    periods = []
    for period in history:
        due = _at(period["due_at"])
        if period["met_at"]:
            periods.append(SlaPeriod(period["level"], due, "met", _at(period["met_at"])))
        elif period["missed_at"] or (active and due < now):
            periods.append(SlaPeriod(period["level"], due, "missed", due))
        else:
            periods.append(SlaPeriod(period["level"], due, "pending", None))
    return periods
