"""Business days of every country: schedules.duedates' calendar against the `holidays` package's
own data and against the definitions of the rolling rules, over many countries and years.

The reference is the package itself, asked day by day (`is_working_day`, `is_weekend`,
`get_list`) with the year and its neighbours loaded, in the categories on which banks close;
the rules are checked by their definitions (the first open day on or after, the last on or
before, modified following) rather than by remembered results.
"""

import calendar
import functools
import re
from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.duedates import BusinessDayRule, holiday_calendar, recurring_plan, roll

ROLLING_RULES = [rule for rule in BusinessDayRule if rule is not BusinessDayRule.NONE]
COUNTRIES = sorted(code for code in holidays.list_supported_countries() if len(code) == 2)
CALENDARS = [(country, None) for country in COUNTRIES] + [
    (country, subdivision)
    for country in COUNTRIES
    for subdivision in holidays.country_holidays(country).subdivisions
]
# Half-day holidays, as the package names them in English: "Day before Christmas Eve (from 2pm)".
AFTERNOON_ONLY = re.compile(r"\(from \d{1,2}(:\d\d)?\s?[ap]m\)$")
PROPERTY = settings(max_examples=300, deadline=None)


@functools.cache
def ours(country: str, subdivision: str | None):
    return holiday_calendar(country, subdivision=subdivision)


@functools.lru_cache(maxsize=512)
def package(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    """The package's calendar of `year` and the years beside it, public and bank holidays."""
    supported = holidays.country_holidays(country).supported_categories
    return holidays.country_holidays(
        country,
        subdiv=subdivision,
        years=range(year - 1, year + 2),
        categories=[c for c in (holidays.PUBLIC, holidays.BANK) if c in supported],
        language="en_US",
    )


def bank_open(country: str, subdivision: str | None, day: date) -> bool:
    """The package's working day; or a weekday whose every holiday begins in the afternoon."""
    reference = package(country, subdivision, day.year)
    if reference.is_working_day(day):
        return True
    if reference.is_weekend(day):
        return False
    return all(AFTERNOON_ONLY.search(name) for name in reference.get_list(day))


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range(366 if calendar.isleap(year) else 365)]


def assert_rolled_by_definition(country, subdivision, day, rule, rolled):
    def is_open(candidate):
        return bank_open(country, subdivision, candidate)

    def closed_between(first, last):  # both ends included
        return all(not is_open(first + timedelta(days=n)) for n in range((last - first).days + 1))

    where = f"{country}-{subdivision or ''} {day} {rule}: rolled to {rolled}"
    assert is_open(rolled), where
    following = day
    while not is_open(following):
        following += timedelta(days=1)
    if rule is BusinessDayRule.FOLLOWING or (
        rule is BusinessDayRule.MODIFIED_FOLLOWING and (following.year, following.month) == (day.year, day.month)
    ):
        # The first open day on or after the date: nothing open was skipped on the way.
        assert rolled >= day and (rolled == day or closed_between(day, rolled - timedelta(days=1))), where
    else:
        # PRECEDING, and MODIFIED_FOLLOWING when the following day is in a later month.
        assert rolled <= day and (rolled == day or closed_between(rolled + timedelta(days=1), day)), where
        if rule is BusinessDayRule.MODIFIED_FOLLOWING:
            assert following > rolled and following.month != day.month, where


# Every country, one year: each day open or closed as the package says.


@pytest.mark.parametrize("country", COUNTRIES)
def test_every_countrys_business_days_are_the_packages_working_days(country):
    calendar_ = ours(country, None)
    wrong = [day for day in days_of(2026) if calendar_.is_working_day(day) != bank_open(country, None, day)]
    assert wrong == []


# A sample of calendars chosen for what they exercise, every day of a year, every rule.

SAMPLE = [
    pytest.param("AE", None, 2021, id="AE-2021-friday-saturday-weekend"),
    pytest.param("AE", None, 2022, id="AE-2022-saturday-sunday-weekend"),
    pytest.param("SA", None, 2013, id="SA-2013-thursday-friday-until-june-28"),
    pytest.param("SA", None, 2026, id="SA-2026"),
    pytest.param("IL", None, 2026, id="IL-friday-saturday"),
    pytest.param("IR", None, 2026, id="IR-friday-only"),
    pytest.param("BN", None, 2026, id="BN-friday-sunday"),
    pytest.param("MY", "01", 2024, id="MY-Johor-2024-friday-saturday"),
    pytest.param("MY", "01", 2025, id="MY-Johor-2025-saturday-sunday"),
    pytest.param("RU", None, 2024, id="RU-working-saturdays"),
    pytest.param("BY", None, 2025, id="BY-working-saturdays"),
    pytest.param("CN", None, 2026, id="CN-working-weekends"),
    pytest.param("UA", None, 2021, id="UA-working-saturdays"),
    pytest.param("KZ", None, 2022, id="KZ"),
    pytest.param("UZ", None, 2024, id="UZ"),
    pytest.param("VN", None, 2025, id="VN"),
    pytest.param("TW", None, 2023, id="TW"),
    pytest.param("HU", None, 2024, id="HU"),
    pytest.param("GB", "ENG", 2026, id="GB-ENG"),
    pytest.param("GB", "SCT", 2026, id="GB-SCT"),
    pytest.param("AU", "VIC", 2026, id="AU-VIC"),
    pytest.param("AU", "NSW", 2026, id="AU-NSW-bank-holiday"),
    pytest.param("DE", "BY", 2026, id="DE-BY"),
    pytest.param("US", None, 2027, id="US"),
    pytest.param("JP", None, 2026, id="JP-bank-holidays"),
    pytest.param("SE", None, 2026, id="SE-bank-holidays-and-afternoons"),
    pytest.param("AT", None, 2026, id="AT-bank-holidays"),
    pytest.param("TH", None, 2026, id="TH"),
    pytest.param("IN", None, 2026, id="IN"),
    pytest.param("AE", None, 2077, id="AE-2077-last-islamic-table-year"),
    pytest.param("AE", None, 2090, id="AE-2090-beyond-the-islamic-tables"),
    pytest.param("US", None, 2100, id="US-2100-last-year-of-the-package"),
    pytest.param("GB", "ENG", 2150, id="GB-ENG-2150-beyond-the-package"),
]


@pytest.mark.parametrize(("country", "subdivision", "year"), SAMPLE)
def test_business_days_are_the_packages_working_days_all_year(country, subdivision, year):
    calendar_ = ours(country, subdivision)
    wrong = [
        day for day in days_of(year) if calendar_.is_working_day(day) != bank_open(country, subdivision, day)
    ]
    assert wrong == []


@pytest.mark.parametrize("rule", ROLLING_RULES)
@pytest.mark.parametrize(("country", "subdivision", "year"), SAMPLE)
def test_every_day_of_the_year_rolls_by_the_rules_definition(country, subdivision, year, rule):
    calendar_ = ours(country, subdivision)
    for day in days_of(year):
        assert_rolled_by_definition(country, subdivision, day, rule, roll(day, rule=rule, holidays=calendar_))


@PROPERTY
@given(
    where=st.sampled_from(CALENDARS),
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
    rule=st.sampled_from(ROLLING_RULES),
)
def test_any_calendar_any_day_rolls_onto_an_open_day_without_skipping_one(where, day, rule):
    country, subdivision = where
    calendar_ = ours(country, subdivision)
    assert calendar_.is_working_day(day) == bank_open(country, subdivision, day)
    assert_rolled_by_definition(country, subdivision, day, rule, roll(day, rule=rule, holidays=calendar_))


# Facts from the countries' own rules, written down rather than read from the package.


def open_days(calendar_, first: date, last: date) -> list[bool]:
    return [calendar_.is_working_day(first + timedelta(days=n)) for n in range((last - first).days + 1)]


def test_the_emirates_moved_their_weekend_from_friday_saturday_to_saturday_sunday_in_2022():
    emirates = holiday_calendar("AE")
    # Thursday 2021-01-07 to Monday 2021-01-11, then Thursday 2022-01-06 to Monday 2022-01-10.
    assert open_days(emirates, date(2021, 1, 7), date(2021, 1, 11)) == [True, False, False, True, True]
    assert open_days(emirates, date(2022, 1, 6), date(2022, 1, 10)) == [True, True, False, False, True]
    assert roll(date(2021, 1, 8), rule=BusinessDayRule.FOLLOWING, holidays=emirates) == date(2021, 1, 10)
    assert roll(date(2022, 1, 8), rule=BusinessDayRule.FOLLOWING, holidays=emirates) == date(2022, 1, 10)


def test_saudi_arabia_rested_thursday_friday_until_june_2013_and_friday_saturday_since():
    saudi = holiday_calendar("SA")
    # Wed 2013-06-19 .. Sun 06-23, then Wed 2013-07-03 .. Sun 07-07.
    assert open_days(saudi, date(2013, 6, 19), date(2013, 6, 23)) == [True, False, False, True, True]
    assert open_days(saudi, date(2013, 7, 3), date(2013, 7, 7)) == [True, True, False, False, True]
    assert roll(date(2026, 3, 6), rule=BusinessDayRule.PRECEDING, holidays=saudi) == date(2026, 3, 5)


def test_israel_rests_friday_and_saturday_and_iran_friday_only():
    israel, iran = holiday_calendar("IL"), holiday_calendar("IR")
    # Thursday 2026-02-05 .. Monday 02-09; Thursday 2026-05-14 .. Sunday 05-17.
    assert open_days(israel, date(2026, 2, 5), date(2026, 2, 9)) == [True, False, False, True, True]
    assert open_days(iran, date(2026, 5, 14), date(2026, 5, 17)) == [True, False, True, True]
    assert roll(date(2026, 2, 6), rule=BusinessDayRule.FOLLOWING, holidays=israel) == date(2026, 2, 8)
    assert roll(date(2026, 5, 15), rule=BusinessDayRule.FOLLOWING, holidays=iran) == date(2026, 5, 16)


def test_a_russian_saturday_worked_in_place_of_a_holiday_is_a_business_day():
    russia = holiday_calendar("RU")
    # Saturday 2024-04-27 was worked so that Monday 29 and Tuesday 30 April were off.
    assert russia.is_working_day(date(2024, 4, 27))
    assert roll(date(2024, 4, 27), rule=BusinessDayRule.FOLLOWING, holidays=russia) == date(2024, 4, 27)
    assert roll(date(2024, 4, 28), rule=BusinessDayRule.FOLLOWING, holidays=russia) == date(2024, 5, 2)
    assert roll(date(2024, 4, 30), rule=BusinessDayRule.PRECEDING, holidays=russia) == date(2024, 4, 27)


def test_easter_monday_rolls_in_england_but_not_in_scotland():
    easter_monday = date(2026, 4, 6)
    england = holiday_calendar("GB", subdivision="ENG")
    assert roll(easter_monday, rule=BusinessDayRule.FOLLOWING, holidays=england) == date(2026, 4, 7)
    assert roll(easter_monday, rule=BusinessDayRule.PRECEDING, holidays=england) == date(2026, 4, 2)
    assert holiday_calendar("GB", subdivision="SCT").is_working_day(easter_monday)


def test_melbourne_cup_day_rolls_in_victoria_only():
    cup_day = date(2026, 11, 3)  # the first Tuesday of November
    assert roll(cup_day, rule=BusinessDayRule.FOLLOWING, holidays=holiday_calendar("AU", subdivision="VIC")) == date(
        2026, 11, 4
    )
    assert holiday_calendar("AU", subdivision="NSW").is_working_day(cup_day)


def test_bank_holidays_of_the_packages_bank_category_roll():
    # New South Wales' August Bank Holiday closes banks, not the rest of the state.
    assert not holiday_calendar("AU", subdivision="NSW").is_working_day(date(2026, 8, 3))
    assert holiday_calendar("AU", subdivision="VIC").is_working_day(date(2026, 8, 3))
    # Austrian banks close on Christmas Eve, a Thursday in 2026; then Christmas and the weekend.
    austria = holiday_calendar("AT")
    assert roll(date(2026, 12, 24), rule=BusinessDayRule.FOLLOWING, holidays=austria) == date(2026, 12, 28)


def test_a_swedish_afternoon_closure_leaves_a_business_day_but_christmas_eve_does_not():
    sweden = holiday_calendar("SE")
    assert sweden.is_working_day(date(2026, 12, 23))  # "Day before Christmas Eve (from 2pm)"
    assert not sweden.is_working_day(date(2026, 12, 24))  # Christmas Eve, banks closed
    assert roll(date(2026, 12, 24), rule=BusinessDayRule.PRECEDING, holidays=sweden) == date(2026, 12, 23)


def test_a_bank_closure_day_rolls_like_a_holiday():
    closed = date(2026, 6, 15)  # a Monday, no US holiday
    calendar_ = holiday_calendar("US", closures=[closed])
    assert holiday_calendar("US").is_working_day(closed)
    assert not calendar_.is_working_day(closed)
    assert roll(closed, rule=BusinessDayRule.FOLLOWING, holidays=calendar_) == date(2026, 6, 16)
    assert roll(closed, rule=BusinessDayRule.PRECEDING, holidays=calendar_) == date(2026, 6, 12)


def test_beyond_the_packages_years_only_the_working_week_remains():
    # The package knows holidays up to 2100; in 2101 Christmas (a Sunday) rolls as a weekend day
    # only, and Boxing Day after it is a business day.
    england = holiday_calendar("GB", subdivision="ENG")
    assert not england.is_working_day(date(2100, 12, 27))  # Boxing Day 2100, observed Monday
    assert roll(date(2101, 12, 25), rule=BusinessDayRule.FOLLOWING, holidays=england) == date(2101, 12, 26)


def test_a_plan_on_a_country_calendar_rolls_each_due_date_by_that_calendar():
    # Monthly on the 8th in Saudi Arabia: Friday 8 May 2026 rolls to Sunday the 10th, a working
    # day there; Monday 8 June stays.
    dues = recurring_plan(
        amount=10,
        start=date(2026, 5, 8),
        frequency="monthly",
        through=date(2026, 6, 30),
        rule=BusinessDayRule.FOLLOWING,
        holidays=holiday_calendar("SA"),
    )
    assert [due.due_date for due in dues] == [date(2026, 5, 10), date(2026, 6, 8)]


def test_rolling_off_the_end_of_the_calendar_is_a_clear_error():
    with pytest.raises(ValueError, match="no business day"):
        roll(date(9999, 12, 31), rule=BusinessDayRule.FOLLOWING, holidays=holiday_calendar("US", closures=[date(9999, 12, 31)]))
