"""Due-date math for payment schedules: recurring cycles, business-day rolling and installments.

Pure Python on purpose (no Django), so the rules are unit-tested on their own.

The first due date. A one-time payment is due on its date, a deferred one on its deferred-until
date. A weekly or fortnightly cycle is due on the start date, then every 7 or 14 days (times the
interval); the anchor day does not apply. A monthly, quarterly, half-yearly or yearly cycle is
due on the anchor day (the start date's day when none is given; a shorter month's last day when
the month has no such day): in the start date's month if that day is on or after the start
date, otherwise in the next month; then every 1, 3, 6 or 12 months (times the interval) counted
from that first date, each on the anchor day again (anchor 31: Jan 31, Feb 28, Mar 31). An
installment plan with a down payment has the down payment due on the start date and its first
installment on the first cycle date after it. Each of these nominal dates then rolls by the
client's rule; both dates are kept.

Business days. A client's BusinessCalendar is the `holidays` package's calendar of its country
and subdivision, in the public and (where the country has it) bank categories, with the working
week the package gives for each date (Friday and Saturday off in Saudi Arabia; Thursday and
Friday there before 28 June 2013; a Saturday worked in place of a bridge day in Russia), plus
the client's own bank closure days. A weekday whose only holidays start in the afternoon stays a
business day.

Beyond the holiday data. The package computes most holidays from rules (fixed dates, Easter, the
n-th weekday of a month), so they exist for any year up to the country's last (2100 for most;
2026 for Sri Lanka, whose holidays are announced yearly). Holidays it reads from tables exist
only as far as those go: Islamic dates to the late 2070s, a government's yearly decrees (days off
moved onto weekends in China or Russia) for the years published. Past that nothing is guessed:
due dates still roll off the country's weekend, the holidays the rules give and the client's
closure days. A newer package fills in later years; due dates already stored keep their dates.
"""

import calendar
import itertools
import threading
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

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


class WorkingDays(Protocol):
    """A calendar that knows its own working week: a BusinessCalendar, or a `holidays` package
    calendar (HolidayBase) used directly."""

    def is_working_day(self, day: date) -> bool: ...


# Where the functions below take `holidays`, it is a WorkingDays calendar, or a plain set of
# holiday dates on a Monday-to-Friday week (how tests and callers without a country say it).
Holidays = WorkingDays | Container[date]


def _working_day_test(holidays: Holidays) -> Callable[[date], bool]:
    is_working_day = getattr(holidays, "is_working_day", None)
    if is_working_day is not None:
        return is_working_day
    return lambda day: day.weekday() < 5 and day not in holidays


def is_business_day(day: date, *, holidays: Holidays) -> bool:
    """True when banks work on `day` by the calendar given (see `Holidays`)."""
    return _working_day_test(holidays)(day)


def _step_to_business_day(day: date, *, step: int, is_open: Callable[[date], bool]) -> date:
    candidate = day
    try:
        for _ in range(_MAX_ROLL_DAYS):
            if is_open(candidate):
                return candidate
            candidate += timedelta(days=step)
    except OverflowError:
        pass  # stepped beyond year 9999 or before year 1
    raise ValueError(f"no business day within {_MAX_ROLL_DAYS} days of {day.isoformat()}")


def roll(day: date, *, rule: BusinessDayRule, holidays: Holidays) -> date:
    """Move `day` onto a business day according to `rule` (NONE leaves it unchanged).

    FOLLOWING: the first business day on or after `day`; PRECEDING: the last one on or before
    it; MODIFIED_FOLLOWING: the following one, unless that is in a later month: then the
    preceding one.
    """
    rule = BusinessDayRule(rule)
    if rule is BusinessDayRule.NONE:
        return day
    is_open = _working_day_test(holidays)
    if rule is BusinessDayRule.PRECEDING:
        return _step_to_business_day(day, step=-1, is_open=is_open)
    following = _step_to_business_day(day, step=1, is_open=is_open)
    if rule is BusinessDayRule.MODIFIED_FOLLOWING and (following.year, following.month) != (
        day.year,
        day.month,
    ):
        return _step_to_business_day(day, step=-1, is_open=is_open)
    return following


class BusinessCalendar:
    """The days a client's bank is open; built once per client, shared by all its schedules.

    A day is closed when the `holidays` package's country calendar says it is no working day
    (`HolidayBase.is_working_day`: a weekend day of the country's week in force on that date,
    such as Friday and Saturday in the United Arab Emirates before 2022, unless the package lists
    it among `weekend_workdays`; otherwise any holiday of the calendar's categories), or when it
    is one of the client's own bank closure days. A weekday whose only holidays close in the
    afternoon (the package names them with the country's `begin_time_label`, such as Sweden's
    "Day before Christmas Eve (from 2pm)") stays a business day: banks settle that morning.
    Each year's closed days are worked out once, on first use, and then answered from a set.
    """

    def __init__(self, country_calendar: holidays_lib.HolidayBase, *, closures: Iterable[date] = ()):
        self.country_calendar = country_calendar
        self.closures = frozenset(closures)
        # Names are compared in the calendar's own language, in which the label is written.
        label = getattr(country_calendar, "begin_time_label", None)
        self._part_day_suffix = label.split("%s")[-1] if label else None
        self._closed: set[date] = set()
        self._years: set[int] = set()
        # Web threads share a client's calendar; the package's calendar loads years as it goes.
        self._lock = threading.Lock()

    def is_working_day(self, day: date) -> bool:
        if day.year not in self._years:
            self._load_year(day.year)
        return day not in self._closed

    def _load_year(self, year: int) -> None:
        with self._lock:
            if year in self._years:
                return
            package = self.country_calendar
            # A neighbouring year can add to this one (a holiday observed on Dec 31 of the year
            # before, a Saturday made a working day by the next year's decree): load it first.
            for neighbour in (year - 1, year + 1):
                if MINYEAR <= neighbour <= MAXYEAR:
                    package.get(date(neighbour, 1, 1))
            first = date(year, 1, 1)
            days = (first + timedelta(days=n) for n in range(366 if calendar.isleap(year) else 365))
            self._closed.update(day for day in days if self._package_closes(day))
            self._closed.update(day for day in self.closures if day.year == year)
            self._years.add(year)

    def _package_closes(self, day: date) -> bool:
        package = self.country_calendar
        if package.is_working_day(day):
            return False
        if self._part_day_suffix is None or package.is_weekend(day):
            return True
        return not all(name.endswith(self._part_day_suffix) for name in package.get_list(day))


# The package's holiday categories on which banks close: public holidays everywhere, and bank
# holidays where the package lists them apart (Australia, Austria, Japan, Sweden, Thailand...).
BANK_CLOSING_CATEGORIES = (holidays_lib.PUBLIC, holidays_lib.BANK)


def holiday_calendar(
    country: str,
    *,
    years: Iterable[int] = (),
    subdivision: str | None = None,
    closures: Iterable[date] = (),
) -> BusinessCalendar:
    """The business days of `country` (and `subdivision`) by the `holidays` package, less the
    client's bank `closures`; `years` are worked out at once, others when first asked."""
    try:
        entity = holidays_lib.country_holidays(country)
        country_calendar = holidays_lib.country_holidays(
            country,
            subdiv=subdivision,
            categories=[c for c in BANK_CLOSING_CATEGORIES if c in entity.supported_categories],
            # The country's own language: names stay those the package's labels are written in.
            language=entity.default_language,
        )
    except NotImplementedError as exc:
        # The package signals unknown countries and subdivisions alike with NotImplementedError.
        where = f"country {country!r}"
        if subdivision is not None:
            where += f" subdivision {subdivision!r}"
        raise ValueError(f"no holiday calendar for {where}: {exc}") from exc
    business_calendar = BusinessCalendar(country_calendar, closures=closures)
    for year in years:
        business_calendar.is_working_day(date(year, 1, 1))
    return business_calendar


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
    holidays: Holidays = frozenset(),
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
    holidays: Holidays = frozenset(),
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

