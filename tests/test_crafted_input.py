"""Crafted input never gives a 500: every list view's filters, its page and its page size are
swept with values made to break a parser or a query (30 digits, 1e99999999, NaN, year 9999, NUL
bytes...). Each answer is a page (with the filter's form error where the value is refused) or a
404, and no page holds more than 200 rows however many are asked for."""

import datetime as dt
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse

from bpo_ledger.models import Customer, Payment

CRAFTED = [
    "999999999999999999999999999999",
    "1e99999999",
    "-1e99999999",
    "1e-99999999",
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "9" * 400,
    "0.0000000000000000000000000000001",
    "9999-12-31",
    "0001-01-01",
    "\x00",
    "ACME\x00",
    "x" * 5000,
]
PAGES = ["999999999999999999999999999999", "-1", "0", "abc", "1e3", "\x00", "10001"]
PER_PAGES = ["200000", "-5", "0", "1e9", "999999999999999999999999999999", "\x00"]
SORTS = ["\x00", "-", "no_such_column", "-" * 300, "amount,-amount"]
PER_PAGE_CAP = 200


@pytest.fixture
def world(client_a, customer_a, supervisor):
    """A little of everything the lists show, for a supervisor of client A."""
    from discrepancies import services as discrepancy_services
    from schedules.services import ScheduleSpec, schedule_create

    schedule = schedule_create(
        client=client_a, actor="system:test",
        spec=ScheduleSpec(customer=customer_a, kind="recurring", amount=Decimal("25.00"), start_date=dt.date(2026, 11, 2),
                          frequency="monthly"),
    )
    Payment.objects.create(
        client=client_a, customer=customer_a, amount=Decimal("25.00"), currency="USD", value_date=dt.date(2026, 11, 2),
        bank_transaction_id="TX-1", reference=schedule.payments.first().reference,
    )
    item, _ = discrepancy_services.discrepancy_log(
        client=client_a, actor="system:test", kind="underpayment", summary="Short by 5",
        amount_expected=Decimal("25.00"), amount_actual=Decimal("20.00"), customer=customer_a,
    )
    return {"schedule": schedule, "item": item}


def lists(world):
    """Every paginated or filtered list: (name, url)."""
    code = "ACME"
    return [
        ("customers", reverse("customer_list", args=[code])),
        ("payments", reverse("payment_list", args=[code])),
        ("audit", reverse("audit_trail", args=[code])),
        ("schedules", reverse("schedule_list")),
        ("schedule payments", reverse("schedule_detail", args=[code, world["schedule"].pk])),
        ("queue", reverse("queue")),
        ("queue export", reverse("queue_export")),
        ("escalations", reverse("escalations")),
        ("approvals", reverse("approvals")),
        ("team", reverse("team")),
    ]


LIST_NAMES = ["customers", "payments", "audit", "schedules", "schedule payments", "queue", "queue export",
              "escalations", "approvals", "team"]


def url_of(world, name):
    return dict(lists(world))[name]


def filter_parameters(client, url) -> list[str]:
    """The query parameters of the list's filter form, the two ends of each range included."""
    context = client.get(url).context
    filterset = context.get("filter") if context else None
    if filterset is None:
        return []
    names = []
    for bound in filterset.form:
        widget = bound.field.widget
        if hasattr(widget, "suffixes"):  # django-filter's ranges: amount_min, value_date_after
            names += [widget.suffixed(bound.html_name, suffix) for suffix in widget.suffixes]
        elif isinstance(widget, forms.MultiWidget):
            names += [bound.html_name + suffix for suffix in widget.widgets_names]
        else:
            names.append(bound.html_name)
    return names


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_every_list_is_swept(world, client, supervisor):
    # A list added later joins the sweep by being named here; its filters are found by themselves.
    client.force_login(supervisor)
    assert [name for name, _ in lists(world)] == LIST_NAMES
    assert "amount_min" in filter_parameters(client, url_of(world, "payments"))
    assert "value_date_after" in filter_parameters(client, url_of(world, "payments"))
    assert "amount_max" in filter_parameters(client, url_of(world, "queue"))


@pytest.mark.parametrize("value", CRAFTED, ids=repr)
@pytest.mark.parametrize("name", LIST_NAMES)
def test_crafted_filter_values_never_give_a_500(world, client, supervisor, name, value):
    client.force_login(supervisor)
    url = url_of(world, name)
    filter_url = url_of(world, "queue") if name == "queue export" else url
    parameters = filter_parameters(client, filter_url)
    response = client.get(url, {parameter: value for parameter in parameters})
    # No client is called ACME\x00 or 9999-12-31: a filter by client code answers 404 for those.
    expected = {200, 404} if "client" in parameters else {200}
    assert response.status_code in expected, (name, value, response.status_code)
    body_of(response)
    context = response.context
    filterset = context.get("filter") if context else None
    if response.status_code == 200 and filterset is not None:
        for field in ("amount", "value_date", "created_at", "next_due_date", "amount_min", "amount_max"):
            if field in filterset.form.fields and value in ("1e99999999", "NaN", "9999-12-31", "9" * 400):
                refused = field in filterset.form.errors
                fits = value == "9999-12-31" and "amount" in field
                assert refused or fits, (name, field, value, filterset.form.errors)


@pytest.mark.parametrize("name", LIST_NAMES)
def test_crafted_page_numbers_sizes_and_sorts_never_give_a_500(world, client, supervisor, name):
    client.force_login(supervisor)
    url = url_of(world, name)
    for page in PAGES:
        response = client.get(url, {"page": page})
        assert response.status_code in (200, 404), (page, response.status_code)
        body_of(response)
    for per_page in PER_PAGES:
        assert client.get(url, {"per_page": per_page}).status_code == 200, per_page
    for sort in SORTS:
        assert client.get(url, {"sort": sort}).status_code == 200, sort


@pytest.mark.parametrize("name", ["customers", "payments", "audit", "schedules", "schedule payments", "queue", "escalations"])
def test_a_page_number_of_30_digits_is_not_found(world, client, supervisor, name):
    client.force_login(supervisor)
    assert client.get(url_of(world, name), {"page": "9" * 30}).status_code == 404


def test_per_page_is_capped_at_200(client, agent, client_a):
    Customer.objects.bulk_create(
        Customer(client=client_a, external_ref=f"CRM-{n}", name=f"Customer {n:03}") for n in range(PER_PAGE_CAP + 5)
    )
    client.force_login(agent)
    url = reverse("customer_list", args=["ACME"])
    assert len(client.get(url, {"per_page": "200000"}).context["table"].page.object_list) == PER_PAGE_CAP
    assert len(client.get(url, {"per_page": "10"}).context["table"].page.object_list) == 10
    second = client.get(url, {"per_page": "200000", "page": "2"}).context["table"].page.object_list
    assert [row.record.name for row in second] == [f"Customer {n:03}" for n in range(200, 205)]


def test_an_amount_filter_of_1e99999999_is_the_forms_error(world, client, supervisor):
    client.force_login(supervisor)
    response = client.get(url_of(world, "payments"), {"amount_min": "1e99999999"})
    assert response.status_code == 200
    assert "amount" in response.context["filter"].form.errors
    assert "TX-1" in response.content.decode()  # the filter it refused is not applied
    response = client.get(url_of(world, "queue"), {"amount_max": "NaN"})
    assert response.status_code == 200
    assert response.context["filter"].form.errors["amount_max"] == ["Enter a number."]


# --- Forms ---------------------------------------------------------------------------------------

FORM_VALUES = ["9999-12-31", "0001-01-01", "\x00", "a\x00b", "1e99999999", "NaN", "9" * 40]


def form_pages(world, supervisor):
    """Every page with a form that writes: (name, url, where its form is in the context, good data)."""
    code, schedule, item, customer = "ACME", world["schedule"], world["item"], world["customer"]
    open_payment = schedule.payments.order_by("sequence").first()
    approver = supervisor.memberships.get().pk
    new_schedule = {
        "customer": customer.pk, "amount": "25.00", "start_date": "2027-01-04", "method": "bank_transfer",
        "frequency": "monthly", "interval": "1", "installment_count": "3", "deferred_until": "2027-02-01",
        "deferral_reason": "hardship", "deferral_approved_by": approver, "autopay_method": "card",
        "autopay_account": "4111111111111111", "mandate_reference": "M-1", "mandate_consented_at": "2026-11-02",
    }
    pages = [
        ("customer", reverse("customer_create", args=[code]), "form", {"external_ref": "C-9", "name": "Ann Lee"}),
        ("customer edit", reverse("customer_edit", args=[code, customer.pk]), "form",
         {"external_ref": customer.external_ref, "name": "Maria G", "reason": "Married"}),
        ("discrepancy", reverse("discrepancy_create", args=[code]), "form",
         {"kind": "underpayment", "summary": "Short", "amount_expected": "100.00", "amount_actual": "60.00"}),
        ("adjustment", reverse("adjustment_create", args=[code]), "form",
         {"adjustment_type": "write_off", "scheduled_payment_ref": open_payment.reference, "amount": "5.00", "reason": "Goodwill"}),
    ]
    pages += [
        (f"schedule {kind}", reverse("schedule_create", args=[code]) + f"?kind={kind}", "form", {**new_schedule, "kind": kind})
        for kind in ("recurring", "installment", "deferred", "one_time", "autopay")
    ]
    step = {"reason": "Customer asked", "scheduled_payment": open_payment.pk}
    pages += [
        (f"schedule {action}", reverse("schedule_action", args=[code, schedule.pk, action]), "form", {**step, **data})
        for action, data in [
            ("defer", {"until": "2027-03-15", "scope": "all_later", "reason_code": "hardship"}),
            ("method", {"method": "card"}),
            ("amount", {"amount": "30.00"}),
            ("inquiry", {"channel": "phone", "summary": "Asked about the date"}),
            ("payment", {"amount": "5.00", "paid_on": "2026-11-03", "method": "cash", "note": "Receipt 12"}),
            ("fail", {"reason": "R01"}),
        ]
    ]
    pages += [
        (f"discrepancy {action}", reverse("discrepancy_action", args=[code, item.pk, action]), ("forms", action), data)
        for action, data in [("note", {"text": "Called"}), ("assign", {"assignee": ""}), ("priority", {"priority": "high"})]
    ]
    return pages


FORM_PAGES = ["customer", "customer edit", "discrepancy", "adjustment", "schedule recurring", "schedule installment",
              "schedule deferred", "schedule one_time", "schedule autopay", "schedule defer", "schedule method",
              "schedule amount", "schedule inquiry", "schedule payment", "schedule fail", "discrepancy note",
              "discrepancy assign", "discrepancy priority"]


def form_of(client, url, where, item):
    if isinstance(where, tuple):  # the item page's forms, one per action
        return client.get(item.get_absolute_url()).context[where[0]][where[1]]
    return client.get(url).context[where]


@pytest.mark.parametrize("name", FORM_PAGES)
def test_crafted_values_in_every_form_field_never_give_a_500(world, customer_a, client, supervisor, name):
    """Each field of each form in turn takes each crafted value, the others good."""
    client.force_login(supervisor)
    pages = {page: rest for page, *rest in form_pages({**world, "customer": customer_a}, supervisor)}
    assert sorted(pages) == sorted(FORM_PAGES)
    url, where, good = pages[name]
    for field in list(form_of(client, url, where, world["item"]).fields):
        for value in FORM_VALUES:
            form = form_of(client, url, where, world["item"])  # the version and token as the page has them now
            sent = {key: value for key, value in good.items()}
            for own in ("version", "token", "action"):
                if own in form.fields:
                    sent[form.add_prefix(own)] = form[own].value()
            sent[form.add_prefix(field)] = value
            response = client.post(url, {**sent, "save": "1"})
            assert response.status_code in (200, 302, 409), (name, field, value, response.status_code)
