"""Due-date math for payment schedules: recurring cycles, business-day rolling and installments.

Pure Python on purpose (no Django), so the rules are unit-tested on their own.
"""

import calendar
import itertools
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

# Aliased because the functions below take a parameter named `holidays` (a set of dates).
import holidays as holidays_lib


class Frequency(StrEnum):
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    ANNUAL = "annual"


class BusinessDayRule(StrEnum):
    NONE = "none"
    FOLLOWING = "following"
    PRECEDING = "preceding"
    MODIFIED_FOLLOWING = "modified_following"


_WEEK_DAYS = {Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}
_MONTHS = {
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.SEMIANNUAL: 6,
    Frequency.ANNUAL: 12,
}
_CENT = Decimal("0.01")
# A guard, not a business rule: a holiday container that swallows every day would otherwise
# make roll() loop forever.
_MAX_ROLL_DAYS = 366


@dataclass(frozen=True)
class Due:
    """One payment due: its 1-based position in the schedule, rolled and nominal dates, amount."""

    sequence: int
    due_date: date
    nominal_date: date
    amount: Decimal


def _require_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    # bool is an int subclass; True as a count or interval is always a caller bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = (
            f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        )
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


def _to_cents(name: str, value: object) -> int:
    # Floats are refused outright: binary fractions are how cents go missing.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"{name} must be a Decimal, got {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"{name} must be a finite amount, got {amount}")
    cents = amount.scaleb(2)
    if cents != cents.to_integral_value():
        raise ValueError(f"{name} must have at most 2 decimal places, got {amount}")
    return int(cents)


def _from_cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def add_months(day: date, months: int, *, anchor_day: int) -> date:
    """The date `months` months after `day`'s month, on anchor_day clamped to that month's length."""
    _require_int("anchor_day", anchor_day, minimum=1, maximum=31)
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    last_day = calendar.monthrange(year, month_index + 1)[1]
    return date(year, month_index + 1, min(anchor_day, last_day))


def cycle_dates(
    *,
    start: date,
    frequency: Frequency,
    interval: int = 1,
    anchor_day: int | None = None,
    count: int | None = None,
    until: date | None = None,
) -> Iterator[date]:
    """The due dates of a recurring cycle in order; infinite unless `count` or `until` bounds it."""
    frequency = Frequency(frequency)
    _require_int("interval", interval, minimum=1)
    if count is not None:
        # Zero is allowed: a caller subtracting already-used cycles may legitimately reach it.
        _require_int("count", count, minimum=0)
    if anchor_day is not None:
        _require_int("anchor_day", anchor_day, minimum=1, maximum=31)
    if frequency in _WEEK_DAYS:
        # anchor_day is a day of the month, meaningless for weekly cycles; callers pass it
        # regardless of frequency (a deferral re-anchors on the new date), so it is ignored.
        dates = _weekly_dates(start, step_days=_WEEK_DAYS[frequency] * interval)
    else:
        anchor = start.day if anchor_day is None else anchor_day
        dates = _monthly_dates(start, step_months=_MONTHS[frequency] * interval, anchor_day=anchor)
    # Validation above runs at call time; only the iteration itself is lazy.
    if until is not None:
        dates = itertools.takewhile(lambda day: day <= until, dates)
    if count is not None:
        dates = itertools.islice(dates, count)
    return dates


def _weekly_dates(start: date, *, step_days: int) -> Iterator[date]:
    for k in itertools.count():
        yield start + timedelta(days=step_days * k)


def _monthly_dates(start: date, *, step_months: int, anchor_day: int) -> Iterator[date]:
    first = add_months(start, 0, anchor_day=anchor_day)
    if first < start:
        first = add_months(start, 1, anchor_day=anchor_day)
    # Each date is derived from `first`, never from its predecessor: a clamped Feb 28 must not
    # turn the anchor-31 cycle into the 28th for the rest of the schedule.
    for k in itertools.count():
        yield add_months(first, k * step_months, anchor_day=anchor_day)


def is_business_day(day: date, *, holidays: Container[date]) -> bool:
    """True for Monday to Friday when the day is not a holiday."""
    return day.weekday() < 5 and day not in holidays


def _step_to_business_day(day: date, *, step: int, holidays: Container[date]) -> date:
    candidate = day
    for _ in range(_MAX_ROLL_DAYS):
        if is_business_day(candidate, holidays=holidays):
            return candidate
        candidate += timedelta(days=step)
    raise ValueError(f"no business day within {_MAX_ROLL_DAYS} days of {day.isoformat()}")


def roll(day: date, *, rule: BusinessDayRule, holidays: Container[date]) -> date:
    """Move `day` onto a business day according to `rule` (NONE leaves it unchanged)."""
    rule = BusinessDayRule(rule)
    if rule is BusinessDayRule.NONE:
        return day
    if rule is BusinessDayRule.PRECEDING:
        return _step_to_business_day(day, step=-1, holidays=holidays)
    following = _step_to_business_day(day, step=1, holidays=holidays)
    if rule is BusinessDayRule.MODIFIED_FOLLOWING and following.month != day.month:
        return _step_to_business_day(day, step=-1, holidays=holidays)
    return following


def holiday_calendar(
    country: str, *, years: Iterable[int], subdivision: str | None = None
) -> holidays_lib.HolidayBase:
    """Public holidays of `country` (and optional subdivision) from the `holidays` package."""
    try:
        return holidays_lib.country_holidays(country, subdiv=subdivision, years=list(years))
    except NotImplementedError as exc:
        # The package signals unknown countries and subdivisions alike with NotImplementedError.
        where = f"country {country!r}"
        if subdivision is not None:
            where += f" subdivision {subdivision!r}"
        raise ValueError(f"no holiday calendar for {where}: {exc}") from exc


def split_installments(total: Decimal, count: int) -> list[Decimal]:
    """Split `total` into `count` amounts rounded down to the cent; the last takes the remainder."""
    _require_int("count", count, minimum=1)
    cents = _to_cents("total", total)
    if cents <= 0:
        raise ValueError(f"total must be positive, got {total}")
    base = cents // count
    if base == 0:
        raise ValueError(f"cannot split {total} into {count} installments of at least 0.01")
    return [_from_cents(base)] * (count - 1) + [_from_cents(cents - base * (count - 1))]


def installment_plan(
    *,
    total: Decimal,
    count: int,
    start: date,
    frequency: Frequency,
    interval: int = 1,
    anchor_day: int | None = None,
    down_payment: Decimal = Decimal("0"),
    rule: BusinessDayRule = BusinessDayRule.NONE,
    holidays: Container[date] = frozenset(),
) -> list[Due]:
    """`total` as an optional down payment due on `start` plus `count` installments on the cycle."""
    rule = BusinessDayRule(rule)
    total_cents = _to_cents("total", total)
    if total_cents <= 0:
        raise ValueError(f"total must be positive, got {total}")
    down_cents = _to_cents("down_payment", down_payment)
    if down_cents < 0:
        raise ValueError(f"down_payment must not be negative, got {down_payment}")
    if down_cents >= total_cents:
        raise ValueError(f"down_payment {down_payment} must be less than total {total}")
    amounts = split_installments(_from_cents(total_cents - down_cents), count)
    dates = cycle_dates(start=start, frequency=frequency, interval=interval, anchor_day=anchor_day)
    nominal_dates: list[date] = []
    if down_cents:
        # The down payment occupies `start`, so a cycle date on `start` would double-book it.
        dates = (day for day in dates if day > start)
        nominal_dates.append(start)
        amounts.insert(0, _from_cents(down_cents))
    nominal_dates.extend(itertools.islice(dates, count))
    return [
        Due(
            sequence=sequence,
            due_date=roll(nominal, rule=rule, holidays=holidays),
            nominal_date=nominal,
            amount=amount,
        )
        for sequence, (nominal, amount) in enumerate(zip(nominal_dates, amounts, strict=True), 1)
    ]


def recurring_plan(
    *,
    amount: Decimal,
    start: date,
    frequency: Frequency,
    interval: int = 1,
    anchor_day: int | None = None,
    count: int | None = None,
    end: date | None = None,
    through: date,
    rule: BusinessDayRule = BusinessDayRule.NONE,
    holidays: Container[date] = frozenset(),
    first_sequence: int = 1,
) -> list[Due]:
    """Recurring dues up to min(end, through), from `first_sequence` on, so a horizon can be extended."""
    rule = BusinessDayRule(rule)
    cents = _to_cents("amount", amount)
    if cents <= 0:
        raise ValueError(f"amount must be positive, got {amount}")
    due_amount = _from_cents(cents)
    _require_int("first_sequence", first_sequence, minimum=1)
    horizon = through if end is None else min(end, through)
    dates = cycle_dates(
        start=start,
        frequency=frequency,
        interval=interval,
        anchor_day=anchor_day,
        count=count,
        until=horizon,
    )
    # Numbering always counts from the cycle's first date, so an extension never renumbers.
    return [
        Due(
            sequence=sequence,
            due_date=roll(nominal, rule=rule, holidays=holidays),
            nominal_date=nominal,
            amount=due_amount,
        )
        for sequence, nominal in enumerate(dates, 1)
        if sequence >= first_sequence
    ]

