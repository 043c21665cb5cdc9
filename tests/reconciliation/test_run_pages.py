"""The reconciliation runs' pages, the queue's run filter and the dashboard's match rate: every
role against every view, and the numbers a person reads there."""

import datetime as dt
import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from discrepancies import reports

from .pages_data import logged_by, matched, one_time_schedule, received, run_of

pytestmark = pytest.mark.django_db

READERS = ("agent", "supervisor", "auditor", "admin")

COUNTS = {
    "payments_in": 1200, "expected_in": 1100, "matched_reference": 900, "matched_customer_amount": 150,
    "matched_customer_variance": 12, "settled": 1050, "findings_missing": 7, "findings_overpayment": 3,
    "findings_duplicate": 2, "logged": 12, "unallocated": 38,
}


@pytest.fixture
def run(client_a):
    return run_of(client_a, counts=COUNTS, phase_seconds={"read": 1.25, "match": 3.5, "write": 2.0},
                  waiting_for=[{"account": "US-CHK-001", "through": "2026-12-01"}], seconds=42)


@pytest.fixture
def failed(client_a):
    return run_of(client_a, status="failed", minutes_ago=10, error="Statement of US-CHK-001 could not be read: bad row 7")


def as_role(client, roles, role):
    client.force_login(roles[role])
    return client


def cells(html: str) -> list[str]:
    """The text of each cell of the page's tables, tags taken out."""
    return [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, re.S)]


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_every_member_reads_the_runs_and_a_runs_page(client, roles, role, run):
    as_role(client, roles, role)
    assert client.get(reverse("run_list", args=["ACME"])).status_code == 200
    assert client.get(reverse("run_detail", args=["ACME", run.pk])).status_code == 200


def test_an_outsider_finds_no_runs_of_the_client(client, roles, run, client_b):
    as_role(client, roles, "outsider")
    assert client.get(reverse("run_list", args=["ACME"])).status_code == 404
    assert client.get(reverse("run_detail", args=["ACME", run.pk])).status_code == 404
    # Nor the run under their own client's address.
    assert client.get(reverse("run_detail", args=["GLOBEX", run.pk])).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, run):
    for url in (reverse("run_list", args=["ACME"]), reverse("run_detail", args=["ACME", run.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", READERS)
def test_the_client_menu_has_runs(client, roles, role):
    as_role(client, roles, role)
    page = client.get(reverse("client_overview", args=["ACME"])).content.decode()
    assert f'<a href="{reverse("run_list", args=["ACME"])}">Runs</a>' in page


# --- The list and a run's page ----------------------------------------------------------------------


def test_the_runs_list_shows_newest_first_with_status_date_trigger_and_counts(client, agent, run, failed):
    client.force_login(agent)
    page = client.get(reverse("run_list", args=["ACME"])).content.decode()
    assert page.index(reverse("run_detail", args=["ACME", failed.pk])) < page.index(reverse("run_detail", args=["ACME", run.pk]))
    text = cells(page)
    row = text[text.index("Succeeded") - 1:text.index("Succeeded") + 7]
    # started, status, as of, trigger, payments in, matched (all rules), findings (all kinds), duration
    assert row[1:] == ["Succeeded", "Dec. 2, 2026", "Nightly", "1200", "1062", "12", "42.0 s"]


def test_the_runs_list_filters_by_status(client, agent, run, failed):
    client.force_login(agent)
    page = client.get(reverse("run_list", args=["ACME"]), {"status": "failed"}).content.decode()
    assert reverse("run_detail", args=["ACME", failed.pk]) in page
    assert reverse("run_detail", args=["ACME", run.pk]) not in page


def test_a_runs_page_shows_phases_rules_findings_and_waiting_accounts(client, agent, run):
    client.force_login(agent)
    page = client.get(reverse("run_detail", args=["ACME", run.pk])).content.decode()
    text = cells(page)
    for label, value in (("Read", "1.25"), ("Match", "3.50"), ("Write", "2.00"),
                         ("Matched by reference", "900"), ("Matched by customer and amount", "150"),
                         ("Matched by customer, with an amount variance", "12"), ("Applied from the customer's credit", "0"),
                         ("Missing payment", "7"), ("Overpayment", "3"), ("Duplicate payment", "2"), ("Mismatch", "0")):
        assert text[text.index(label) + 1] == value, label
    assert "US-CHK-001" in text and "2026-12-01" in text
    queue = reverse("queue")
    assert f'href="{queue}?client=ACME&amp;run={run.pk}&amp;kind=missing&amp;status=any">Missing payment</a>' in page
    assert f'href="{queue}?client=ACME&amp;run={run.pk}&amp;kind=duplicate&amp;status=any">Duplicate payment</a>' in page
    assert f"run={run.pk}&amp;kind=mismatch" not in page  # nothing to open
    assert "The run failed" not in page


def test_a_failed_runs_page_shows_its_error(client, auditor, failed):
    client.force_login(auditor)
    page = client.get(reverse("run_detail", args=["ACME", failed.pk])).content.decode()
    assert "The run failed" in page
    assert "Statement of US-CHK-001 could not be read: bad row 7" in page


# --- The queue filtered to a run -----------------------------------------------------------------------


def test_the_queue_filtered_to_a_run_lists_only_what_that_run_logged(client, supervisor, client_a, run, failed):
    mine = logged_by(run, client_a, kind="missing", summary="Missing ACME-1")
    also_mine = logged_by(run, client_a, kind="duplicate", summary="Duplicate ACME-2")
    other_run = logged_by(failed, client_a, kind="missing", summary="Missing by another run")
    by_hand = logged_by("agent", client_a, kind="missing", summary="Logged by a person")
    client.force_login(supervisor)

    def listed(**query):
        page = client.get(reverse("queue"), {"client": "ACME", "status": "any", **query}).content.decode()
        return {item.summary for item in (mine, also_mine, other_run, by_hand) if item.summary in page}

    assert listed(run=run.pk) == {"Missing ACME-1", "Duplicate ACME-2"}
    assert listed(run=run.pk, kind="missing") == {"Missing ACME-1"}
    assert listed(run=failed.pk) == {"Missing by another run"}
    assert listed() == {"Missing ACME-1", "Duplicate ACME-2", "Missing by another run", "Logged by a person"}


def test_a_run_filter_that_is_no_run_number_is_a_form_error_not_a_crash(client, supervisor, run):
    client.force_login(supervisor)
    response = client.get(reverse("queue"), {"client": "ACME", "run": "abc"})
    assert response.status_code == 200
    assert response.context["filter"].form.errors["run"]


# --- The dashboard's match rate -----------------------------------------------------------------


def test_the_match_rate_counts_per_value_date_payments_received_and_fully_allocated(client_a, customer_a):
    today = timezone.now().astimezone(client_a.zone).date()
    yesterday = today - dt.timedelta(days=1)
    due = one_time_schedule(client_a, customer_a, amount="1000.00")
    # Yesterday: three received, one fully allocated, one partly, one not at all.
    matched(received(client_a, customer_a, amount="100.00", value_date=yesterday), due)
    matched(received(client_a, customer_a, amount="100.00", value_date=yesterday), due, amount="40.00")
    received(client_a, amount="30.00", value_date=yesterday)
    # Today: one received, allocated in two parts that together cover it.
    split = received(client_a, customer_a, amount="50.00", value_date=today)
    matched(split, due, amount="20.00")
    matched(split, due, amount="30.00")
    # Not counted: a reversal, and a payment older than 30 days.
    received(client_a, amount="-10.00", kind="reversal", value_date=today)
    received(client_a, amount="70.00", value_date=today - dt.timedelta(days=30))

    rates = reports.match_rate_per_day(client=client_a)
    assert len(rates) == 30 and rates[0].day == today - dt.timedelta(days=29) and rates[-1].day == today
    by_day = {r.day: (r.received, r.allocated, r.percent) for r in rates}
    assert by_day[yesterday] == (3, 1, 33)
    assert by_day[today] == (1, 1, 100)
    assert sum(r.received for r in rates) == 4
    assert by_day[today - dt.timedelta(days=2)] == (0, 0, None)


def test_the_match_rate_is_one_query(client_a, customer_a, django_assert_num_queries):
    received(client_a, customer_a, amount="10.00", value_date=timezone.now().date() - dt.timedelta(days=3))
    with django_assert_num_queries(1):
        reports.match_rate_per_day(client=client_a)


def test_the_dashboard_shows_the_match_rate_table(client, auditor, client_a, customer_a):
    today = timezone.now().astimezone(client_a.zone).date()
    due = one_time_schedule(client_a, customer_a, amount="500.00")
    matched(received(client_a, customer_a, amount="100.00", value_date=today), due)
    received(client_a, amount="25.00", value_date=today)
    received(client_a, amount="25.00", value_date=today)
    client.force_login(auditor)
    page = client.get(reverse("discrepancy_dashboard", args=["ACME"])).content.decode()
    row = re.search(rf'<tr data-day="{today.isoformat()}">(.*?)</tr>', page, re.S).group(1)
    assert cells(row)[1:] == ["3", "1", "33%"]
    assert "Received (solid line) and fully allocated (dashed line)" in page
    # Days without payments have no rate.
    assert "—" in cells(re.search(r'<table class="table compact" id="match-rate">(.*?)</table>', page, re.S).group(1))
