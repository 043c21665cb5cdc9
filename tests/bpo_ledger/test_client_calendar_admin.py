"""The client's calendar in the admin: its subdivision, checked against the holiday package, and
its bank closure days, edited inline and put on the client's log."""

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from bpo_ledger.models import AuditEvent, BankClosureDay, Client
from tests.conftest import make_client


class _FormFields(HTMLParser):
    """The values a browser would post from the page's form, as the admin rendered them."""

    def __init__(self):
        super().__init__()
        self.data, self._select, self._textarea = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") == "checkbox":
                if "checked" in attrs:
                    self.data[name] = "on"
            else:
                self.data[name] = attrs.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.lstrip("\n")


def change_form(client, obj) -> tuple[str, dict]:
    url = reverse("admin:bpo_ledger_client_change", args=[obj.pk])
    parser = _FormFields()
    parser.feed(client.get(url).content.decode())
    return url, parser.data


def post_closure_days(client, obj, *rows: tuple[str, str]):
    """Post the client's change form with `rows` (date, name) added to its closure days."""
    url, data = change_form(client, obj)
    prefix = "bank_closure_days"
    first = int(data[f"{prefix}-TOTAL_FORMS"])
    for n, (day, name) in enumerate(rows, first):
        data |= {f"{prefix}-{n}-date": day, f"{prefix}-{n}-name": name}
    data[f"{prefix}-TOTAL_FORMS"] = str(first + len(rows))
    return client.post(url, data)


@pytest.fixture
def initech(db):
    return make_client("INITECH", country="GB", timezone="Europe/London", currency="GBP")


def test_an_unknown_subdivision_is_a_clear_error_in_the_admin(client, admin_user, initech):
    client.force_login(admin_user)
    url, data = change_form(client, initech)
    response = client.post(url, {**data, "subdivision": "XYZ"})
    assert response.status_code == 200
    assert "XYZ is not a subdivision of GB; use one of ENG, NIR, SCT, WLS." in response.content.decode()
    initech.refresh_from_db()
    assert initech.subdivision == ""


def test_a_subdivision_by_name_is_stored_as_its_code(client, admin_user, initech):
    client.force_login(admin_user)
    url, data = change_form(client, initech)
    response = client.post(url, {**data, "subdivision": "england"})
    assert response.status_code == 302
    initech.refresh_from_db()
    assert initech.subdivision == "ENG"


@pytest.mark.parametrize(
    ("country", "subdivision", "message"),
    [
        ("AU", "ENG", "ENG is not a subdivision of AU; use one of ACT, NSW, NT, QLD, SA, TAS, VIC, WA"),
        ("IS", "1", "IS has no subdivisions in the holiday calendar: leave this empty."),
    ],
)
def test_the_subdivision_must_belong_to_the_country(db, country, subdivision, message):
    client = Client(code="ACME", name="Acme", country=country, subdivision=subdivision)
    with pytest.raises(ValidationError) as excinfo:
        client.full_clean()
    assert message in excinfo.value.message_dict["subdivision"][0]


def test_bank_closure_days_are_added_inline_and_logged(client, admin_user, initech):
    client.force_login(admin_user)
    response = post_closure_days(client, initech, ("2027-01-13", "Bank staff day"))
    assert response.status_code == 302
    assert list(BankClosureDay.objects.filter(client=initech).values_list("date", "name")) == [
        (dt.date(2027, 1, 13), "Bank staff day")
    ]
    event = AuditEvent.objects.filter(client=initech, verb="client.policy_changed").latest("seq")
    assert event.details["changes"] == {"bank closure day 2027-01-13": {"before": None, "after": "Bank staff day"}}


def test_the_same_closure_day_twice_is_a_form_error(client, admin_user, initech):
    BankClosureDay.objects.create(client=initech, date=dt.date(2027, 1, 13), name="Bank staff day")
    client.force_login(admin_user)
    response = post_closure_days(client, initech, ("2027-01-13", "Again"))
    assert response.status_code == 200
    assert "Please correct the duplicate data for date" in response.content.decode()
    assert BankClosureDay.objects.filter(client=initech).count() == 1


def test_a_renamed_and_a_removed_closure_day_are_logged(client, admin_user, initech):
    BankClosureDay.objects.create(client=initech, date=dt.date(2027, 1, 13), name="Bank staff day")
    BankClosureDay.objects.create(client=initech, date=dt.date(2027, 2, 3), name="Strike")
    client.force_login(admin_user)
    url, data = change_form(client, initech)
    response = client.post(url, {**data, "bank_closure_days-0-name": "Staff training", "bank_closure_days-1-DELETE": "on"})
    assert response.status_code == 302
    assert list(BankClosureDay.objects.filter(client=initech).values_list("date", "name")) == [
        (dt.date(2027, 1, 13), "Staff training")
    ]
    event = AuditEvent.objects.filter(client=initech, verb="client.policy_changed").latest("seq")
    assert event.details["changes"] == {
        "bank closure day 2027-01-13": {"before": "Bank staff day", "after": "Staff training"},
        "bank closure day 2027-02-03": {"before": "Strike", "after": None},
    }


def test_the_audit_trail_reads_the_admins_changes_to_the_calendar(client, admin_user, client_a, auditor):
    client.force_login(admin_user)
    url, data = change_form(client, client_a)
    client.post(url, {**data, "country": "GB", "subdivision": "ENG"})
    post_closure_days(client, client_a, ("2027-01-13", "Bank staff day"))
    client.force_login(auditor)
    page = client.get(f"/clients/{client_a.code}/audit/").content.decode()
    assert "subdivision from none to ENG" in page
    assert "country from US to GB" in page
    assert "bank closure day 2027-01-13 from none to Bank staff day" in page


def test_a_clients_creation_reads_as_the_values_set(client, admin_user, auditor, client_a):
    from bpo_ledger import services

    # As the admin and the demo seed write it: the value set, no value before.
    services.client_policy_record(client=client_a, actor=admin_user, created=True, changes={"subdivision": "ENG"})
    client.force_login(auditor)
    assert "subdivision set to ENG" in client.get(f"/clients/{client_a.code}/audit/").content.decode()
