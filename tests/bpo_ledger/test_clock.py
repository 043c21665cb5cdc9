"""The client's calendar day of a moment, and the moments and days the command line takes."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bpo_ledger.clock import local_date, parse_day, parse_now


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_same_instant_falls_on_different_dates_across_the_date_line():
    moment = utc("2026-03-08T11:30")
    assert local_date(moment, "America/New_York") == date(2026, 3, 8)
    assert local_date(moment, "Pacific/Auckland") == date(2026, 3, 9)


def test_an_early_utc_morning_is_the_same_day_in_new_york_and_auckland():
    moment = utc("2026-03-08T06:30")
    assert local_date(moment, "America/New_York") == date(2026, 3, 8)  # 01:30 EST
    assert local_date(moment, "Pacific/Auckland") == date(2026, 3, 8)  # 19:30 NZDT


def test_new_york_daylight_saving_start_moves_the_local_midnight():
    # 04:30 UTC is 23:30 EST on 7 March, but 00:30 EDT on 9 March once clocks sprang forward.
    assert local_date(utc("2026-03-08T04:30"), "America/New_York") == date(2026, 3, 7)
    assert local_date(utc("2026-03-09T04:30"), "America/New_York") == date(2026, 3, 9)


def test_auckland_daylight_saving_end_moves_the_local_midnight():
    # 11:30 UTC is 00:30 NZDT on 5 April, and 23:30 NZST on 5 April after clocks fell back.
    assert local_date(utc("2026-04-04T11:30"), "Pacific/Auckland") == date(2026, 4, 5)
    assert local_date(utc("2026-04-05T11:30"), "Pacific/Auckland") == date(2026, 4, 5)


def test_local_date_converts_from_any_aware_offset():
    moment = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=9)))
    assert local_date(moment, "Europe/London") == date(2025, 12, 31)


def test_local_date_rejects_a_naive_datetime():
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 3, 8, 6, 30), "America/New_York")


def test_local_date_rejects_an_unknown_time_zone():
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        local_date(utc("2026-03-08T06:30"), "Mars/Olympus_Mons")



def test_a_moment_without_an_offset_is_utc():
    assert parse_now("2026-11-23T14:00") == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def test_bad_moments_and_days_say_the_format_expected():
    with pytest.raises(ValueError, match="2026-11-23T14:00:00"):
        parse_now("tomorrow")
    with pytest.raises(ValueError, match="a date such as 2026-11-23"):
        parse_day("2026-02-30")
