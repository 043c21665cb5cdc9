"""Priority and SLA rules of a client's policy: pure functions, no database."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from discrepancies import policy

THRESHOLDS = {"medium": Decimal("50.00"), "high": Decimal("500.00"), "critical": Decimal("5000.00")}
OPENED = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def rank(amount, days=0, step=30, **thresholds):
    return policy.priority_rank(
        Decimal(amount), opened_at=OPENED, now=OPENED + dt.timedelta(days=days), age_step_days=step,
        **{**THRESHOLDS, **thresholds},
    )


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.00", "low"), ("49.99", "low"),
        ("50.00", "medium"), ("499.99", "medium"),
        ("500.00", "high"), ("4999.99", "high"),
        ("5000.00", "critical"), ("1000000.00", "critical"),
    ],
)
def test_the_amount_at_stake_sets_the_priority_from_each_threshold_up(amount, expected):
    assert policy.PRIORITIES[rank(amount)] == expected


def test_money_missing_counts_as_much_as_money_too_much():
    assert rank("-500.00") == rank("500.00") == 2
    assert rank("-49.99") == 0


def test_thresholds_are_the_clients_own():
    assert rank("100.00", medium=Decimal("150.00"), high=Decimal("200.00"), critical=Decimal("300.00")) == 0
    assert rank("100.00", medium=Decimal("10.00"), high=Decimal("20.00"), critical=Decimal("100.00")) == 3


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, "low"), (29, "low"), (30, "medium"), (59, "medium"), (60, "high"), (90, "critical"), (400, "critical")],
)
def test_each_full_age_step_raises_the_priority_one_level_up_to_critical(days, expected):
    assert policy.PRIORITIES[rank("10.00", days=days)] == expected


def test_the_age_step_is_the_clients_own():
    assert rank("10.00", days=7, step=7) == 1
    assert rank("10.00", days=6, step=7) == 0


def test_a_clock_behind_the_opening_time_does_not_lower_the_priority():
    assert rank("600.00", days=-3) == 2


def test_the_sla_is_due_the_clients_hours_after_opening():
    assert policy.sla_due_at(OPENED, 4) == dt.datetime(2026, 11, 1, 13, 0, tzinfo=dt.UTC)
    assert policy.sla_due_at(OPENED, 168) == dt.datetime(2026, 11, 8, 9, 0, tzinfo=dt.UTC)


amounts = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2, allow_nan=False)
ages = st.integers(min_value=0, max_value=2000)


@given(amount=amounts, days=ages, more_days=ages, step=st.integers(min_value=1, max_value=365))
def test_priority_never_falls_as_an_item_ages(amount, days, more_days, step):
    younger = rank(amount, days=days, step=step)
    older = rank(amount, days=days + more_days, step=step)
    assert 0 <= younger <= older <= 3


@given(amount=amounts, extra=st.decimals(min_value=0, max_value=Decimal("100000"), places=2), days=ages)
def test_more_money_at_stake_is_never_a_lower_priority(amount, extra, days):
    assert rank(abs(amount), days=days) <= rank(abs(amount) + extra, days=days)


# --- The SLA record ------------------------------------------------------------------------------

DUE = OPENED + dt.timedelta(hours=72)


def test_a_due_time_is_met_up_to_its_very_moment_and_missed_after_it():
    started = policy.sla_started([], due_at=DUE, level=0)
    assert policy.sla_ended(started, now=DUE)[0]["met_at"] == DUE.isoformat()
    late = policy.sla_ended(started, now=DUE + dt.timedelta(seconds=1))[0]
    assert (late["met_at"], late["missed_at"]) == (None, DUE.isoformat())  # missed at the due time itself
    assert policy.sla_ended(policy.sla_ended(started, now=DUE), now=DUE + dt.timedelta(days=9)) == policy.sla_ended(started, now=DUE)


def test_an_ended_due_time_is_never_rewritten_and_breaches_are_the_missed_ones():
    history = policy.sla_ended(policy.sla_started([], due_at=DUE, level=0), now=DUE + dt.timedelta(hours=1))
    history = policy.sla_started(history, due_at=DUE + dt.timedelta(hours=73), level=1)
    history = policy.sla_ended(history, now=DUE + dt.timedelta(hours=2))  # met
    history = policy.sla_moved(history, due_at=DUE + dt.timedelta(days=30), now=DUE + dt.timedelta(hours=3))
    assert [(p["level"], bool(p["met_at"]), bool(p["missed_at"])) for p in history] == [(0, False, True), (1, True, False), (1, False, False)]
    assert policy.sla_breaches(history) == (DUE, DUE)
    assert policy.sla_breaches(policy.sla_started([], due_at=DUE, level=0)) == (None, None)


def test_the_record_as_shown_calls_a_passed_due_time_of_an_active_item_missed():
    history = policy.sla_started([], due_at=DUE, level=0)
    after = DUE + dt.timedelta(minutes=5)
    assert policy.sla_periods(history, now=DUE, active=True) == [policy.SlaPeriod(0, DUE, "pending", None)]
    assert policy.sla_periods(history, now=after, active=True) == [policy.SlaPeriod(0, DUE, "missed", DUE)]
    met = policy.sla_ended(history, now=DUE - dt.timedelta(hours=1))
    assert policy.sla_periods(met, now=after, active=False) == [policy.SlaPeriod(0, DUE, "met", DUE - dt.timedelta(hours=1))]
