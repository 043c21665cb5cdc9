"""Specification of schedules.duedates: cycles, business-day rolling, installments, horizons."""

import calendar
import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schedules.duedates import (
    BusinessDayRule,
    Due,
    Frequency,
    add_months,
    cycle_dates,
    holiday_calendar,
    installment_plan,
    is_business_day,
    recurring_plan,
    roll,
    split_installments,
)

D = Decimal
NO_HOLIDAYS: frozenset[date] = frozenset()
MONTH_STEPS = {
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.SEMIANNUAL: 6,
    Frequency.ANNUAL: 12,
}
# Modest example counts keep the file at a few seconds; no deadline so a slow CI box never flakes.
PROPERTY = settings(max_examples=200, deadline=None)


def take(dates, n):
    return list(itertools.islice(dates, n))


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


@pytest.fixture(scope="module")
def us_2026():
    return holiday_calendar("US", years=[2026])


@pytest.fixture(scope="module")
def uk_2026():
    return holiday_calendar("GB", years=[2026])


# add_months


def test_add_months_clamps_the_anchor_to_the_month_length():
    assert add_months(date(2027, 1, 31), 1, anchor_day=31) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1, anchor_day=31) == date(2028, 2, 29)


def test_add_months_uses_the_anchor_not_the_day_of_the_input():
    assert add_months(date(2027, 2, 28), 1, anchor_day=31) == date(2027, 3, 31)


def test_add_months_goes_backwards_across_a_year_boundary():
    assert add_months(date(2026, 1, 31), -2, anchor_day=31) == date(2025, 11, 30)
    assert add_months(date(2026, 3, 15), -15, anchor_day=15) == date(2024, 12, 15)


@pytest.mark.parametrize("anchor_day", [0, 32, -1])
def test_add_months_rejects_an_anchor_outside_1_to_31(anchor_day):
    with pytest.raises(ValueError, match="anchor_day"):
        add_months(date(2026, 1, 1), 1, anchor_day=anchor_day)


# cycle_dates: month-based


def test_month_end_anchor_realigns_after_february():
    dates = cycle_dates(start=date(2027, 1, 31), frequency=Frequency.MONTHLY, count=5)
    assert list(dates) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]


def test_month_end_anchor_lands_on_february_29_in_a_leap_year():
    dates = cycle_dates(start=date(2028, 1, 31), frequency=Frequency.MONTHLY, count=5)
    assert list(dates) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
        date(2028, 5, 31),
    ]


def test_quarterly_from_leap_day_keeps_the_29th_and_clamps_only_short_februaries():
    dates = cycle_dates(start=date(2028, 2, 29), frequency=Frequency.QUARTERLY, count=6)
    assert list(dates) == [
        date(2028, 2, 29),
        date(2028, 5, 29),
        date(2028, 8, 29),
        date(2028, 11, 29),
        date(2029, 2, 28),
        date(2029, 5, 29),
    ]


def test_annual_from_leap_day_returns_to_february_29_in_the_next_leap_year():
    dates = cycle_dates(start=date(2028, 2, 29), frequency=Frequency.ANNUAL, count=5)
    assert list(dates) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_semiannual_steps_six_months():
    dates = cycle_dates(start=date(2026, 8, 31), frequency=Frequency.SEMIANNUAL, count=4)
    assert list(dates) == [
        date(2026, 8, 31),
        date(2027, 2, 28),
        date(2027, 8, 31),
        date(2028, 2, 29),
    ]


def test_monthly_interval_multiplies_the_step():
    dates = cycle_dates(start=date(2026, 11, 30), frequency=Frequency.MONTHLY, interval=2, count=4)
    assert list(dates) == [
        date(2026, 11, 30),
        date(2027, 1, 30),
        date(2027, 3, 30),
        date(2027, 5, 30),
    ]


def test_quarterly_interval_two_is_every_six_months():
    dates = cycle_dates(start=date(2026, 1, 10), frequency=Frequency.QUARTERLY, interval=2, count=3)
    assert list(dates) == [date(2026, 1, 10), date(2026, 7, 10), date(2027, 1, 10)]


def test_anchor_defaults_to_the_start_day():
    dates = cycle_dates(start=date(2026, 1, 15), frequency=Frequency.MONTHLY, count=3)
    assert list(dates) == [date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)]


def test_first_date_is_later_in_the_start_month_when_the_anchor_is_after_the_start_day():
    dates = cycle_dates(
        start=date(2026, 1, 15), frequency=Frequency.MONTHLY, anchor_day=31, count=3
    )
    assert list(dates) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]


def test_first_date_is_in_the_next_month_when_the_anchor_is_before_the_start_day():
    dates = cycle_dates(
        start=date(2026, 1, 15), frequency=Frequency.MONTHLY, anchor_day=10, count=3
    )
    assert list(dates) == [date(2026, 2, 10), date(2026, 3, 10), date(2026, 4, 10)]


def test_a_start_on_a_clamped_month_end_is_itself_the_first_date():
    dates = cycle_dates(
        start=date(2027, 2, 28), frequency=Frequency.MONTHLY, anchor_day=31, count=3
    )
    assert list(dates) == [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]


# cycle_dates: week-based


def test_weekly_steps_seven_days_times_the_interval():
    start = date(2026, 12, 24)
    assert take(cycle_dates(start=start, frequency=Frequency.WEEKLY), 3) == [
        date(2026, 12, 24),
        date(2026, 12, 31),
        date(2027, 1, 7),
    ]
    assert take(cycle_dates(start=start, frequency=Frequency.WEEKLY, interval=3), 3) == [
        date(2026, 12, 24),
        date(2027, 1, 14),
        date(2027, 2, 4),
    ]


def test_biweekly_steps_fourteen_days_times_the_interval():
    start = date(2026, 2, 20)
    assert take(cycle_dates(start=start, frequency=Frequency.BIWEEKLY), 3) == [
        date(2026, 2, 20),
        date(2026, 3, 6),
        date(2026, 3, 20),
    ]
    assert take(cycle_dates(start=start, frequency=Frequency.BIWEEKLY, interval=2), 3) == [
        date(2026, 2, 20),
        date(2026, 3, 20),
        date(2026, 4, 17),
    ]


# cycle_dates: stop rules and validation


def test_count_stops_after_that_many_dates():
    dates = list(cycle_dates(start=date(2026, 1, 1), frequency=Frequency.WEEKLY, count=4))
    assert len(dates) == 4
    assert dates[-1] == date(2026, 1, 22)


def test_until_is_inclusive_and_stops_after_the_last_date_on_or_before_it():
    kwargs = {"start": date(2026, 1, 1), "frequency": Frequency.WEEKLY}
    assert list(cycle_dates(**kwargs, until=date(2026, 1, 15)))[-1] == date(2026, 1, 15)
    assert list(cycle_dates(**kwargs, until=date(2026, 1, 21)))[-1] == date(2026, 1, 15)


def test_whichever_of_count_and_until_comes_first_stops_the_cycle():
    kwargs = {"start": date(2026, 1, 31), "frequency": Frequency.MONTHLY}
    assert list(cycle_dates(**kwargs, count=2, until=date(2026, 12, 31))) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
    ]
    assert list(cycle_dates(**kwargs, count=12, until=date(2026, 3, 30))) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
    ]


def test_a_count_of_zero_yields_nothing():
    assert list(cycle_dates(start=date(2026, 1, 1), frequency=Frequency.MONTHLY, count=0)) == []


def test_until_before_the_first_date_yields_nothing():
    dates = cycle_dates(
        start=date(2026, 1, 15), frequency=Frequency.MONTHLY, anchor_day=10, until=date(2026, 2, 9)
    )
    assert list(dates) == []


def test_without_count_or_until_the_cycle_is_an_endless_generator():
    dates = cycle_dates(start=date(2026, 1, 31), frequency=Frequency.MONTHLY)
    first_thousand = take(dates, 1000)
    assert len(first_thousand) == 1000
    assert first_thousand[-1] == date(2109, 4, 30)
    assert next(dates) == date(2109, 5, 31)


def test_anchor_day_is_ignored_by_week_based_cycles():
    start = date(2026, 1, 15)
    assert take(cycle_dates(start=start, frequency=Frequency.WEEKLY, anchor_day=31), 2) == [
        date(2026, 1, 15),
        date(2026, 1, 22),
    ]
    assert take(cycle_dates(start=start, frequency=Frequency.BIWEEKLY, anchor_day=1), 2) == [
        date(2026, 1, 15),
        date(2026, 1, 29),
    ]


def test_frequency_may_be_given_as_its_stored_string_value():
    assert take(cycle_dates(start=date(2026, 1, 31), frequency="monthly"), 2) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frequency": Frequency.MONTHLY, "interval": 0}, "interval"),
        ({"frequency": Frequency.WEEKLY, "interval": -1}, "interval"),
        ({"frequency": Frequency.MONTHLY, "anchor_day": 0}, "anchor_day"),
        ({"frequency": Frequency.MONTHLY, "anchor_day": 32}, "anchor_day"),
        ({"frequency": Frequency.WEEKLY, "anchor_day": 32}, "anchor_day"),
        ({"frequency": Frequency.MONTHLY, "count": -1}, "count"),
        ({"frequency": "fortnightly"}, "fortnightly"),
    ],
)
def test_invalid_cycle_arguments_raise_at_call_time_not_on_first_iteration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cycle_dates(start=date(2026, 1, 1), **kwargs)


# business days and rolling


def test_weekends_are_not_business_days_even_without_holidays():
    assert is_business_day(date(2026, 5, 29), holidays=NO_HOLIDAYS)
    assert not is_business_day(date(2026, 5, 30), holidays=NO_HOLIDAYS)
    assert not is_business_day(date(2026, 5, 31), holidays=NO_HOLIDAYS)


def test_us_independence_day_2026_falls_on_saturday_and_is_observed_on_friday_july_3(us_2026):
    assert date(2026, 7, 4).weekday() == calendar.SATURDAY
    assert us_2026.country_calendar.get(date(2026, 7, 3)) == "Independence Day (observed)"
    assert not is_business_day(date(2026, 7, 3), holidays=us_2026)


def test_following_rolls_past_the_observed_independence_day_and_the_weekend(us_2026):
    for nominal in (date(2026, 7, 3), date(2026, 7, 4), date(2026, 7, 5)):
        assert roll(nominal, rule=BusinessDayRule.FOLLOWING, holidays=us_2026) == date(2026, 7, 6)


def test_preceding_rolls_back_before_the_observed_independence_day(us_2026):
    assert roll(date(2026, 7, 4), rule=BusinessDayRule.PRECEDING, holidays=us_2026) == date(
        2026, 7, 2
    )


def test_preceding_skips_a_monday_holiday_and_the_weekend_before_it(us_2026):
    assert roll(date(2026, 5, 25), rule=BusinessDayRule.PRECEDING, holidays=us_2026) == date(
        2026, 5, 22
    )


def test_uk_christmas_boxing_day_and_its_monday_substitute_are_skipped(uk_2026):
    assert date(2026, 12, 25).weekday() == calendar.FRIDAY
    assert date(2026, 12, 26).weekday() == calendar.SATURDAY
    assert uk_2026.country_calendar.get(date(2026, 12, 28)) == "Boxing Day (observed)"
    assert roll(date(2026, 12, 25), rule=BusinessDayRule.FOLLOWING, holidays=uk_2026) == date(
        2026, 12, 29
    )
    assert roll(date(2026, 12, 28), rule=BusinessDayRule.PRECEDING, holidays=uk_2026) == date(
        2026, 12, 24
    )
    assert roll(
        date(2026, 12, 25), rule=BusinessDayRule.MODIFIED_FOLLOWING, holidays=uk_2026
    ) == date(2026, 12, 29)


def test_modified_following_goes_back_when_a_month_end_weekend_would_cross_into_next_month():
    assert date(2026, 5, 31).weekday() == calendar.SUNDAY
    nominal = date(2026, 5, 31)
    assert roll(nominal, rule=BusinessDayRule.FOLLOWING, holidays=NO_HOLIDAYS) == date(2026, 6, 1)
    assert roll(nominal, rule=BusinessDayRule.MODIFIED_FOLLOWING, holidays=NO_HOLIDAYS) == date(
        2026, 5, 29
    )


def test_modified_following_goes_back_when_a_month_end_holiday_would_cross_into_next_month():
    scotland = holiday_calendar("GB", years=[2026], subdivision="SCT")
    st_andrews_day = date(2026, 11, 30)
    assert scotland.country_calendar.get(st_andrews_day) == "Saint Andrew's Day"
    assert roll(st_andrews_day, rule=BusinessDayRule.FOLLOWING, holidays=scotland) == date(
        2026, 12, 1
    )
    assert roll(st_andrews_day, rule=BusinessDayRule.MODIFIED_FOLLOWING, holidays=scotland) == date(
        2026, 11, 27
    )


def test_modified_following_rolls_forward_like_following_inside_the_month(us_2026):
    assert roll(
        date(2026, 7, 4), rule=BusinessDayRule.MODIFIED_FOLLOWING, holidays=us_2026
    ) == date(2026, 7, 6)


def test_rule_none_leaves_a_weekend_date_unchanged(us_2026):
    assert roll(date(2026, 7, 4), rule=BusinessDayRule.NONE, holidays=us_2026) == date(2026, 7, 4)


@pytest.mark.parametrize("rule", list(BusinessDayRule))
def test_a_business_day_never_moves(rule, us_2026):
    assert roll(date(2026, 7, 2), rule=rule, holidays=us_2026) == date(2026, 7, 2)


def test_rolling_past_year_end_sees_the_next_years_holidays(uk_2026):
    # The package fills in years on demand, so a 2026 calendar still knows New Year 2027.
    assert roll(date(2027, 1, 1), rule=BusinessDayRule.FOLLOWING, holidays=uk_2026) == date(
        2027, 1, 4
    )


def test_roll_gives_up_instead_of_looping_forever_when_every_day_is_a_holiday():
    class EveryDay:
        def __contains__(self, item):
            return True

    with pytest.raises(ValueError, match="no business day"):
        roll(date(2026, 1, 1), rule=BusinessDayRule.FOLLOWING, holidays=EveryDay())


# holiday_calendar


def test_holiday_calendar_covers_the_requested_years():
    calendar_ = holiday_calendar("US", years=range(2026, 2028))
    assert not calendar_.is_working_day(date(2026, 12, 25))
    # Christmas 2027 is a Saturday, observed Friday
    assert not calendar_.is_working_day(date(2027, 12, 24))


def test_holiday_calendar_subdivision_adds_regional_holidays(uk_2026):
    scotland = holiday_calendar("GB", years=[2026], subdivision="SCT")
    assert not scotland.is_working_day(date(2026, 11, 30))
    assert uk_2026.is_working_day(date(2026, 11, 30))


def test_holiday_calendar_rejects_an_unknown_country_by_name():
    with pytest.raises(ValueError, match="'XX'"):
        holiday_calendar("XX", years=[2026])


def test_holiday_calendar_rejects_an_unknown_subdivision_by_name():
    with pytest.raises(ValueError, match="'ZZ'"):
        holiday_calendar("US", years=[2026], subdivision="ZZ")


# split_installments


@pytest.mark.parametrize(
    ("total", "count", "expected"),
    [
        (D("100.00"), 3, [D("33.33"), D("33.33"), D("33.34")]),
        (D("0.05"), 5, [D("0.01")] * 5),
        (D("1000"), 7, [D("142.85")] * 6 + [D("142.90")]),
        (D("10"), 1, [D("10.00")]),
        (D("0.07"), 3, [D("0.02"), D("0.02"), D("0.03")]),
    ],
)
def test_split_rounds_down_to_the_cent_and_the_last_takes_the_remainder(total, count, expected):
    amounts = split_installments(total, count)
    assert amounts == expected
    assert sum(amounts) == total
    assert all(amount.as_tuple().exponent == -2 for amount in amounts)


def test_split_accepts_trailing_zeros_beyond_the_cent():
    assert split_installments(D("1.000"), 2) == [D("0.50"), D("0.50")]


@pytest.mark.parametrize(
    ("total", "count", "message"),
    [
        (D("100"), 0, "count"),
        (D("100"), -2, "count"),
        (D("0"), 1, "positive"),
        (D("-10.00"), 2, "positive"),
        (D("1.005"), 2, "2 decimal places"),
        (D("0.05"), 6, "at least 0.01"),
        (D("NaN"), 2, "finite"),
        (100.0, 2, "Decimal"),
    ],
)
def test_split_rejects_impossible_requests(total, count, message):
    with pytest.raises(ValueError, match=message):
        split_installments(total, count)


# installment_plan


def test_installment_plan_without_down_payment_starts_on_the_first_cycle_date():
    plan = installment_plan(
        total=D("1000.00"), count=4, start=date(2027, 1, 31), frequency=Frequency.MONTHLY
    )
    assert plan == [
        Due(1, date(2027, 1, 31), date(2027, 1, 31), D("250.00")),
        Due(2, date(2027, 2, 28), date(2027, 2, 28), D("250.00")),
        Due(3, date(2027, 3, 31), date(2027, 3, 31), D("250.00")),
        Due(4, date(2027, 4, 30), date(2027, 4, 30), D("250.00")),
    ]


def test_installment_plan_down_payment_is_sequence_1_on_start_and_installments_follow_a_cycle_later():
    plan = installment_plan(
        total=D("1000.00"),
        count=3,
        start=date(2026, 1, 15),
        frequency=Frequency.MONTHLY,
        down_payment=D("100.00"),
    )
    assert plan == [
        Due(1, date(2026, 1, 15), date(2026, 1, 15), D("100.00")),
        Due(2, date(2026, 2, 15), date(2026, 2, 15), D("300.00")),
        Due(3, date(2026, 3, 15), date(2026, 3, 15), D("300.00")),
        Due(4, date(2026, 4, 15), date(2026, 4, 15), D("300.00")),
    ]
    assert sum(due.amount for due in plan) == D("1000.00")


def test_installment_plan_with_down_payment_takes_the_cycle_dates_strictly_after_start():
    plan = installment_plan(
        total=D("100.00"),
        count=3,
        start=date(2026, 1, 15),
        frequency=Frequency.MONTHLY,
        anchor_day=31,
        down_payment=D("10.00"),
    )
    assert [(due.sequence, due.nominal_date, due.amount) for due in plan] == [
        (1, date(2026, 1, 15), D("10.00")),
        (2, date(2026, 1, 31), D("30.00")),
        (3, date(2026, 2, 28), D("30.00")),
        (4, date(2026, 3, 31), D("30.00")),
    ]


def test_installment_plan_rolls_due_dates_but_keeps_nominal_dates(us_2026):
    plan = installment_plan(
        total=D("100.00"),
        count=3,
        start=date(2026, 5, 31),
        frequency=Frequency.MONTHLY,
        rule=BusinessDayRule.MODIFIED_FOLLOWING,
        holidays=us_2026,
    )
    assert [(due.nominal_date, due.due_date) for due in plan] == [
        (date(2026, 5, 31), date(2026, 5, 29)),
        (date(2026, 6, 30), date(2026, 6, 30)),
        (date(2026, 7, 31), date(2026, 7, 31)),
    ]
    assert [due.amount for due in plan] == [D("33.33"), D("33.33"), D("33.34")]


def test_installment_plan_down_payment_on_a_holiday_rolls_too(us_2026):
    plan = installment_plan(
        total=D("500.00"),
        count=2,
        start=date(2026, 7, 3),
        frequency=Frequency.WEEKLY,
        down_payment=D("100.00"),
        rule=BusinessDayRule.FOLLOWING,
        holidays=us_2026,
    )
    assert [(due.sequence, due.nominal_date, due.due_date) for due in plan] == [
        (1, date(2026, 7, 3), date(2026, 7, 6)),
        (2, date(2026, 7, 10), date(2026, 7, 10)),
        (3, date(2026, 7, 17), date(2026, 7, 17)),
    ]


def test_two_nominal_dates_may_roll_onto_the_same_business_day():
    closed_week = frozenset(date(2026, 1, 5) + timedelta(days=n) for n in range(5))
    plan = installment_plan(
        total=D("20.00"),
        count=2,
        start=date(2026, 1, 2),
        frequency=Frequency.WEEKLY,
        rule=BusinessDayRule.PRECEDING,
        holidays=closed_week,
    )
    # Jan 9 rolls back over the closed week to Jan 2, so both dues land on the same day.
    assert [due.due_date for due in plan] == [date(2026, 1, 2), date(2026, 1, 2)]
    assert [due.nominal_date for due in plan] == [date(2026, 1, 2), date(2026, 1, 9)]


@pytest.mark.parametrize(
    ("down_payment", "message"),
    [
        (D("100.00"), "less than total"),
        (D("150.00"), "less than total"),
        (D("-1.00"), "negative"),
        (D("0.001"), "2 decimal places"),
        (D("99.99"), "at least 0.01"),
    ],
)
def test_installment_plan_rejects_a_down_payment_that_leaves_nothing_sensible(
    down_payment, message
):
    with pytest.raises(ValueError, match=message):
        installment_plan(
            total=D("100.00"),
            count=2,
            start=date(2026, 1, 1),
            frequency=Frequency.MONTHLY,
            down_payment=down_payment,
        )


# recurring_plan


def test_recurring_plan_stops_at_the_through_horizon_inclusive():
    plan = recurring_plan(
        amount=D("49.90"),
        start=date(2026, 1, 31),
        frequency=Frequency.MONTHLY,
        through=date(2026, 4, 30),
    )
    assert [(due.sequence, due.nominal_date) for due in plan] == [
        (1, date(2026, 1, 31)),
        (2, date(2026, 2, 28)),
        (3, date(2026, 3, 31)),
        (4, date(2026, 4, 30)),
    ]
    assert {due.amount for due in plan} == {D("49.90")}


def test_recurring_plan_end_caps_the_horizon_when_it_is_earlier():
    plan = recurring_plan(
        amount=D("10"),
        start=date(2026, 1, 1),
        frequency=Frequency.WEEKLY,
        end=date(2026, 1, 20),
        through=date(2026, 12, 31),
    )
    assert [due.nominal_date for due in plan] == [
        date(2026, 1, 1),
        date(2026, 1, 8),
        date(2026, 1, 15),
    ]
    assert plan[0].amount == D("10.00")


def test_recurring_plan_count_limits_the_whole_cycle_not_each_extension():
    kwargs = {
        "amount": D("10.00"),
        "start": date(2026, 1, 1),
        "frequency": Frequency.MONTHLY,
        "count": 3,
    }
    first = recurring_plan(**kwargs, through=date(2026, 2, 28))
    rest = recurring_plan(**kwargs, through=date(2026, 12, 31), first_sequence=3)
    assert [due.sequence for due in first] == [1, 2]
    assert [(due.sequence, due.nominal_date) for due in rest] == [(3, date(2026, 3, 1))]
    assert recurring_plan(**kwargs, through=date(2027, 12, 31), first_sequence=4) == []


def test_extending_the_horizon_equals_planning_through_the_later_date_directly(us_2026):
    kwargs = {
        "amount": D("250.00"),
        "start": date(2026, 1, 31),
        "frequency": Frequency.MONTHLY,
        "rule": BusinessDayRule.MODIFIED_FOLLOWING,
        "holidays": us_2026,
    }
    first = recurring_plan(**kwargs, through=date(2026, 6, 15))
    extension = recurring_plan(
        **kwargs, through=date(2026, 12, 31), first_sequence=first[-1].sequence + 1
    )
    assert [due.sequence for due in extension] == [6, 7, 8, 9, 10, 11, 12]
    assert first + extension == recurring_plan(**kwargs, through=date(2026, 12, 31))


def test_recurring_plan_with_no_cycles_left_is_empty():
    plan = recurring_plan(
        amount=D("1.00"),
        start=date(2026, 1, 1),
        frequency=Frequency.MONTHLY,
        count=0,
        through=date(2026, 12, 31),
    )
    assert plan == []


def test_recurring_plan_horizon_before_the_first_date_is_empty():
    plan = recurring_plan(
        amount=D("1.00"),
        start=date(2026, 3, 1),
        frequency=Frequency.WEEKLY,
        through=date(2026, 2, 1),
    )
    assert plan == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": D("0")}, "positive"),
        ({"amount": D("-5.00")}, "positive"),
        ({"amount": D("0.001")}, "2 decimal places"),
        ({"first_sequence": 0}, "first_sequence"),
        ({"count": -1}, "count"),
        ({"rule": "nearest"}, "nearest"),
    ],
)
def test_recurring_plan_rejects_invalid_arguments(overrides, message):
    kwargs = {
        "amount": D("10.00"),
        "start": date(2026, 1, 1),
        "frequency": Frequency.MONTHLY,
        "through": date(2026, 12, 31),
    } | overrides
    with pytest.raises(ValueError, match=message):
        recurring_plan(**kwargs)


# properties

dates_ = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
month_frequencies = st.sampled_from(list(MONTH_STEPS))
cents_totals = st.integers(min_value=1, max_value=10**11)


@PROPERTY
@given(cents=cents_totals, count=st.integers(min_value=1, max_value=500))
def test_split_always_sums_exactly_and_only_the_last_differs_by_the_remainder(cents, count):
    assume(cents >= count)
    total = D(cents).scaleb(-2)
    amounts = split_installments(total, count)
    assert len(amounts) == count
    assert sum(amounts) == total
    assert min(amounts) >= D("0.01")
    base, last = amounts[0], amounts[-1]
    assert all(amount == base for amount in amounts[:-1])
    remainder = last - base
    assert D("0") <= remainder < count * D("0.01")
    assert remainder == total - base * count


@PROPERTY
@given(
    start=dates_,
    frequency=month_frequencies,
    interval=st.integers(min_value=1, max_value=4),
    anchor_day=st.integers(min_value=1, max_value=31),
    count=st.integers(min_value=1, max_value=40),
)
def test_month_based_cycles_never_drift(start, frequency, interval, anchor_day, count):
    dates = list(
        cycle_dates(
            start=start, frequency=frequency, interval=interval, anchor_day=anchor_day, count=count
        )
    )
    assert len(dates) == count
    for day in dates:
        assert day.day == min(anchor_day, calendar.monthrange(day.year, day.month)[1])
    for earlier, later in itertools.pairwise(dates):
        assert earlier < later
        assert month_index(later) - month_index(earlier) == MONTH_STEPS[frequency] * interval
    # The first date is the earliest anchor date on or after start.
    assert dates[0] >= start
    assert add_months(dates[0], -1, anchor_day=anchor_day) < start


@PROPERTY
@given(
    day=dates_,
    rule=st.sampled_from(list(BusinessDayRule)),
    offsets=st.sets(st.integers(min_value=-20, max_value=20), max_size=15),
)
def test_roll_lands_on_a_business_day_and_modified_following_keeps_the_month(day, rule, offsets):
    # At most 15 holidays: every month keeps a business day, so the month property is sound.
    holidays = frozenset(day + timedelta(days=offset) for offset in offsets)
    rolled = roll(day, rule=rule, holidays=holidays)
    if rule is BusinessDayRule.NONE:
        assert rolled == day
        return
    assert is_business_day(rolled, holidays=holidays)
    if is_business_day(day, holidays=holidays):
        assert rolled == day
    if rule is BusinessDayRule.FOLLOWING:
        assert rolled >= day
    if rule is BusinessDayRule.PRECEDING:
        assert rolled <= day
    if rule is BusinessDayRule.MODIFIED_FOLLOWING:
        assert (rolled.year, rolled.month) == (day.year, day.month)


@st.composite
def plan_amounts(draw):
    count = draw(st.integers(min_value=1, max_value=60))
    total_cents = draw(st.integers(min_value=count, max_value=10**10))
    down_cents = draw(
        st.one_of(st.just(0), st.integers(min_value=0, max_value=total_cents - count))
    )
    return D(total_cents).scaleb(-2), count, D(down_cents).scaleb(-2)


@PROPERTY
@given(
    amounts=plan_amounts(),
    start=dates_,
    frequency=st.sampled_from(list(Frequency)),
    interval=st.integers(min_value=1, max_value=3),
)
def test_installment_plan_always_sums_to_the_total(amounts, start, frequency, interval):
    total, count, down_payment = amounts
    plan = installment_plan(
        total=total,
        count=count,
        start=start,
        frequency=frequency,
        interval=interval,
        down_payment=down_payment,
        rule=BusinessDayRule.FOLLOWING,
    )
    assert sum(due.amount for due in plan) == total
    assert [due.sequence for due in plan] == list(range(1, len(plan) + 1))
    assert len(plan) == count + (1 if down_payment else 0)
    nominal = [due.nominal_date for due in plan]
    assert nominal == sorted(set(nominal))
    if down_payment:
        assert (plan[0].nominal_date, plan[0].amount) == (start, down_payment)
        assert all(due.nominal_date > start for due in plan[1:])


@PROPERTY
@given(
    start=dates_,
    frequency=st.sampled_from(list(Frequency)),
    count=st.none() | st.integers(min_value=1, max_value=30),
    first_days=st.integers(min_value=0, max_value=400),
    more_days=st.integers(min_value=0, max_value=400),
)
def test_extending_a_horizon_never_renumbers_or_duplicates(
    start, frequency, count, first_days, more_days
):
    kwargs = {"amount": D("1.00"), "start": start, "frequency": frequency, "count": count}
    through_a = start + timedelta(days=first_days)
    through_b = through_a + timedelta(days=more_days)
    first = recurring_plan(**kwargs, through=through_a)
    next_sequence = first[-1].sequence + 1 if first else 1
    extension = recurring_plan(**kwargs, through=through_b, first_sequence=next_sequence)
    assert first + extension == recurring_plan(**kwargs, through=through_b)
