"""The discrepancy dashboard: each aggregate against hand-made data, the page for every role, and
a number of queries that does not grow with the number of items."""

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from discrepancies import reports, services
from discrepancies.models import Discrepancy
from discrepancies.reports import AgingBucket, CurrencyAging, DayFlow, KindRow

# A Sunday afternoon in New York (client A's zone, on summer time since March 8): 11:00 local.
NOW = dt.datetime(2026, 3, 15, 15, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def item(client, *, kind="overpayment", expected="100.00", actual="110.00", currency="USD", created=NOW - HOUR, **changes):
    """Log an item through the service, then move it (setup only) to the state a test needs."""
    logged, _ = services.discrepancy_log(
        client=client, actor="system:test", kind=kind, summary=f"{kind} test",
        amount_expected=Decimal(expected), amount_actual=Decimal(actual), currency=currency, now=created,
    )
    Discrepancy.objects.filter(pk=logged.pk).update(created_at=created, **changes)
    return logged


def url(client):
    return reverse("discrepancy_dashboard", args=[client.code])


# --- open items by kind and status -------------------------------------------------------------


def test_open_items_are_counted_by_kind_and_status_for_one_client(client_a, client_b, django_assert_num_queries):
    item(client_a, kind="overpayment")
    item(client_a, kind="overpayment")
    item(client_a, kind="overpayment", status="escalated")
    item(client_a, kind="duplicate", status="assigned")
    item(client_a, kind="chargeback", status="in_progress")
    item(client_a, kind="missing", status="awaiting_customer")
    item(client_a, kind="underpayment", status="resolved", resolved_at=NOW)  # not active
    item(client_a, kind="underpayment", status="closed", resolved_at=NOW)  # not active
    item(client_b, kind="overpayment", currency="EUR")  # another client
    with django_assert_num_queries(1):
        report = reports.open_items_by_kind_and_status(client=client_a)
    assert report.statuses == [
        ("open", "Open"), ("assigned", "Assigned"), ("in_progress", "In progress"),
        ("awaiting_customer", "Awaiting customer"), ("escalated", "Escalated"),
    ]
    assert report.rows == [
        KindRow("overpayment", "Overpayment", [2, 0, 0, 0, 1], 3),
        KindRow("underpayment", "Underpayment", [0, 0, 0, 0, 0], 0),
        KindRow("duplicate", "Duplicate payment", [0, 1, 0, 0, 0], 1),
        KindRow("missing", "Missing payment", [0, 0, 0, 1, 0], 1),
        KindRow("mismatch", "Mismatch", [0, 0, 0, 0, 0], 0),
        KindRow("adjustment", "Adjustment", [0, 0, 0, 0, 0], 0),
        KindRow("chargeback", "Chargeback", [0, 0, 1, 0, 0], 1),
    ]
    assert report.status_totals == [2, 1, 1, 1, 1]
    assert report.total == 6


def test_a_client_without_items_has_zero_rows(client_a):
    report = reports.open_items_by_kind_and_status(client=client_a)
    assert report.total == 0 and len(report.rows) == 7
    assert all(row.counts == [0] * 5 for row in report.rows)


# --- aging ---------------------------------------------------------------------------------------


def test_aging_buckets_count_and_total_absolute_amounts_per_currency(client_a, client_b, django_assert_num_queries):
    # USD: 0-30 holds 5 days and 30 days 23 hours; the boundaries are full days of age.
    item(client_a, expected="150.00", actual="100.00", created=NOW - 5 * DAY)  # |-50.00|
    item(client_a, expected="100.00", actual="110.00", created=NOW - 30 * DAY - 23 * HOUR)  # 10.00
    item(client_a, expected="100.00", actual="120.25", created=NOW - 31 * DAY)  # 31-60: 20.25
    item(client_a, expected="1.00", actual="0.50", created=NOW - 61 * DAY)  # 61-90: 0.50
    item(client_a, expected="10.00", actual="12.00", created=NOW - 90 * DAY - 12 * HOUR)  # 61-90: 2.00
    item(client_a, expected="0.00", actual="1000.00", created=NOW - 91 * DAY)  # 90+
    item(client_a, expected="5.00", actual="4.00", created=NOW - 400 * DAY, status="escalated")  # 90+: 1.00
    # EUR is never added to USD.
    item(client_a, expected="100.00", actual="30.00", currency="EUR", created=NOW - 10 * DAY)  # 70.00
    # Not active, or not this client's.
    item(client_a, expected="0.00", actual="999.00", created=NOW - 10 * DAY, status="resolved", resolved_at=NOW)
    item(client_a, expected="0.00", actual="999.00", created=NOW - 100 * DAY, status="closed", resolved_at=NOW)
    item(client_b, expected="0.00", actual="999.00", created=NOW - 10 * DAY)

    with django_assert_num_queries(1):
        aging = reports.aging_by_currency(client=client_a, now=NOW)

    zero = Decimal("0.00")
    assert aging == [
        CurrencyAging("EUR", [
            AgingBucket("0-30", 1, Decimal("70.00")),
            AgingBucket("31-60", 0, zero),
            AgingBucket("61-90", 0, zero),
            AgingBucket("90+", 0, zero),
        ], 1, Decimal("70.00")),
        CurrencyAging("USD", [
            AgingBucket("0-30", 2, Decimal("60.00")),
            AgingBucket("31-60", 1, Decimal("20.25")),
            AgingBucket("61-90", 2, Decimal("2.50")),
            AgingBucket("90+", 2, Decimal("1001.00")),
        ], 7, Decimal("1083.75")),
    ]
    # Money stays Decimal with two places, on every database.
    amounts = [b.amount for a in aging for b in a.buckets] + [a.amount for a in aging]
    assert all(isinstance(a, Decimal) and a.as_tuple().exponent == -2 for a in amounts)


def test_aging_without_active_items_is_empty(client_a):
    item(client_a, status="closed", resolved_at=NOW)
    assert reports.aging_by_currency(client=client_a, now=NOW) == []


# --- SLA breaches -------------------------------------------------------------------------------


def test_sla_breaches_are_active_items_past_due_by_priority(client_a, client_b, django_assert_num_queries):
    past = NOW - HOUR
    item(client_a, priority="critical", sla_due_at=past)
    item(client_a, priority="critical", sla_due_at=NOW - 30 * DAY, status="escalated")
    item(client_a, priority="medium", sla_due_at=past, status="awaiting_customer")
    item(client_a, priority="low", sla_due_at=past, status="in_progress")
    item(client_a, priority="high", sla_due_at=NOW)  # due this very moment: not yet breached
    item(client_a, priority="high", sla_due_at=NOW + HOUR)
    item(client_a, priority="high", sla_due_at=past, status="resolved", resolved_at=NOW)
    item(client_b, priority="high", sla_due_at=past)

    with django_assert_num_queries(1):
        breaches = reports.sla_breaches_by_priority(client=client_a, now=NOW)

    assert breaches.rows == [("critical", "Critical", 2), ("high", "High", 0), ("medium", "Medium", 1), ("low", "Low", 1)]
    assert breaches.total == 4


# --- opened vs resolved per day -----------------------------------------------------------------


def test_opened_and_resolved_per_day_in_the_clients_time_zone(client_a, client_b, django_assert_num_queries):
    # Mar 15 08:00 New York.
    item(client_a, created=dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC))
    # Mar 14 23:00 New York, though Mar 15 in UTC; resolved Mar 15 10:00 New York.
    item(
        client_a, created=dt.datetime(2026, 3, 15, 3, 0, tzinfo=dt.UTC),
        status="resolved", resolved_at=dt.datetime(2026, 3, 15, 14, 0, tzinfo=dt.UTC),
    )
    # Opened Mar 10; resolved Mar 10 23:30 New York (Mar 11 in UTC).
    item(
        client_a, created=dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC),
        status="closed", resolved_at=dt.datetime(2026, 3, 11, 3, 30, tzinfo=dt.UTC),
    )
    # Opened before the window; resolved at the first instant of it (Feb 14 00:00 EST).
    item(
        client_a, created=dt.datetime(2026, 2, 13, 12, 0, tzinfo=dt.UTC),
        status="resolved", resolved_at=dt.datetime(2026, 2, 14, 5, 0, tzinfo=dt.UTC),
    )
    # One minute before the window: Feb 13 23:59 New York.
    item(client_a, created=dt.datetime(2026, 2, 14, 4, 59, tzinfo=dt.UTC))
    # Reopened: its resolution was undone, so it counts as opened only.
    item(client_a, created=dt.datetime(2026, 3, 12, 15, 0, tzinfo=dt.UTC), status="in_progress", resolved_at=None)
    item(client_b, created=dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC), status="resolved", resolved_at=NOW)

    with django_assert_num_queries(2):
        flow = reports.opened_resolved_per_day(client=client_a, now=NOW)

    assert len(flow) == 30
    assert flow[0] == DayFlow(dt.date(2026, 2, 14), 0, 1)
    assert flow[-1] == DayFlow(dt.date(2026, 3, 15), 1, 1)
    assert [d.day for d in flow] == [dt.date(2026, 2, 14) + i * DAY for i in range(30)]
    busy = {d.day: (d.opened, d.resolved) for d in flow if d.opened or d.resolved}
    assert busy == {
        dt.date(2026, 2, 14): (0, 1),
        dt.date(2026, 3, 10): (1, 1),
        dt.date(2026, 3, 12): (1, 0),
        dt.date(2026, 3, 14): (1, 0),
        dt.date(2026, 3, 15): (1, 1),
    }
    # Days without items are there, with zeros.
    assert DayFlow(dt.date(2026, 3, 11), 0, 0) in flow


def test_days_follow_another_clients_zone(client_b):
    # 23:30 UTC on Mar 14 is already Mar 15 in Berlin.
    item(client_b, currency="EUR", created=dt.datetime(2026, 3, 14, 23, 30, tzinfo=dt.UTC))
    flow = reports.opened_resolved_per_day(client=client_b, now=NOW, days=3)
    assert flow == [
        DayFlow(dt.date(2026, 3, 13), 0, 0),
        DayFlow(dt.date(2026, 3, 14), 0, 0),
        DayFlow(dt.date(2026, 3, 15), 1, 0),
    ]


def test_the_whole_report_takes_seven_queries(client_a, django_assert_num_queries):
    item(client_a)
    with django_assert_num_queries(7):
        report = reports.discrepancy_dashboard(client=client_a, now=NOW)
    assert report.open_items.total == 1 and report.opened_total == 1


# --- the page -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("agent", 200), ("supervisor", 200), ("auditor", 200), ("admin", 200), ("outsider", 404)],
)
def test_it_answers_each_role(client, roles, client_a, role, status):
    client.force_login(roles[role])
    response = client.get(url(client_a))
    assert response.status_code == status
    if status == 200:
        assert response.context["access"].client == client_a


def test_it_requires_login(client, client_a):
    response = client.get(url(client_a))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_an_unknown_client_is_not_found(client, agent):
    client.force_login(agent)
    assert client.get(reverse("discrepancy_dashboard", args=["NOPE"])).status_code == 404


def test_the_outsider_sees_only_their_own_clients_dashboard(client, outsider, client_a, client_b):
    item(client_a, created=timezone.now() - HOUR)
    item(client_b, currency="EUR", created=timezone.now() - HOUR)
    item(client_b, currency="EUR", created=timezone.now() - HOUR)
    client.force_login(outsider)
    response = client.get(url(client_b))
    assert response.status_code == 200
    assert response.context["report"].open_items.total == 2
    assert response.context["report"].aging[0].currency == "EUR" and len(response.context["report"].aging) == 1


def test_the_page_draws_each_chart_with_a_table_and_no_inline_style(client, supervisor, client_a):
    now = timezone.now()
    item(client_a, kind="duplicate", expected="200.00", actual="400.00", created=now - 40 * DAY, sla_due_at=now - DAY)
    item(client_a, kind="missing", expected="80.00", actual="0.00", currency="EUR", created=now - 2 * HOUR)
    client.force_login(supervisor)
    response = client.get(url(client_a))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'aria-label="ACME menu"' in body  # the client menu is there
    assert "style=" not in body and "<style" not in body
    svgs = ["<svg" + chunk.split("</svg>")[0] + "</svg>" for chunk in body.split("<svg")[1:]]
    # By kind, by status, aging counts, one amount chart per currency, breaches, per day, match rate.
    assert len(svgs) == 8
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.get("role") == "img" and root.get("aria-label")
    assert body.count("<table") == 6  # the SLA performance has a table of its own
    assert "USD 200.00" in body and "EUR 80.00" in body
    assert ">Duplicate payment<" in body
    assert response.context["report"].breaches.total == 1


def test_an_empty_client_shows_no_data_charts(client, agent, client_a):
    client.force_login(agent)
    response = client.get(url(client_a))
    body = response.content.decode()
    assert response.status_code == 200
    assert "No data" in body and "No open items." in body
    assert "No items in this period" in body


def test_the_number_of_queries_does_not_grow_with_the_items(client, agent, client_a, django_assert_max_num_queries):
    client.force_login(agent)
    now = timezone.now()
    item(client_a, created=now - HOUR)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(client_a)).status_code == 200
    kinds = ["overpayment", "underpayment", "duplicate", "missing", "adjustment", "chargeback"]
    for i in range(40):
        item(
            client_a, kind=kinds[i % len(kinds)], currency=["USD", "EUR", "GBP"][i % 3],
            created=now - i * 3 * DAY, sla_due_at=now - (i % 2) * DAY + HOUR,
            status=["open", "assigned", "in_progress", "escalated", "resolved"][i % 5],
            resolved_at=now - i * DAY if i % 5 == 4 else None,
        )
    with django_assert_max_num_queries(len(few)):
        assert client.get(url(client_a)).status_code == 200
    assert len(few) <= 10
