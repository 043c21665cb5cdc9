"""Every page, export and download walked as a user: times are shown in the client's zone with
the zone's name, never as unlabelled UTC; nothing a signed-in user is sent may be kept in a
browser's or proxy's cache."""

import csv
import datetime as dt
import html
import io
import re
from decimal import Decimal
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLResolver, get_resolver, reverse

from tests.conftest import make_client, make_user

# One moment for everything the pages show: 00:47 UTC is 09:47 in Tokyo, on the same day.
MOMENT = dt.datetime(2026, 12, 3, 0, 47, tzinfo=dt.UTC)
TOKYO = "2026-12-03 09:47 JST"
UTC_CLOCK = "00:47"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def frozen():
    """The clock stopped at MOMENT, for what is created and for the pages that show now."""
    with mock.patch("django.utils.timezone.now", return_value=MOMENT):
        yield


@pytest.fixture
def world(frozen, db):
    """A client in Tokyo with one of everything a page shows a time of, all made at MOMENT."""
    from bpo_ledger import services as ledger
    from bpo_ledger.models import Payment
    from discrepancies import services
    from discrepancies.models import Discrepancy, Status
    from schedules.services import ScheduleSpec, schedule_create

    client = make_client("NIPPON", name="Nippon Freight", timezone="Asia/Tokyo", country="JP")
    boss = make_user("boss", client, "supervisor", first_name="Bo")
    second = make_user("boss2", client, "supervisor")
    agent = make_user("aki", client, "agent")
    customer = ledger.customer_create(
        client=client, actor="system:test", external_ref="JP-1", name="Haruto Sato",
        email="haruto@example.com", email_consent=True, phone="+81312345678", sms_consent=True,
    )
    spec = ScheduleSpec(customer=customer, kind="one_time", amount=Decimal("500.00"), start_date=dt.date(2026, 12, 15))
    schedule = schedule_create(client=client, actor="system:test", spec=spec, today=dt.date(2026, 12, 3))
    scheduled = schedule.payments.get()
    Payment.objects.create(
        client=client, customer=customer, amount=Decimal("200.00"), currency="USD", value_date=dt.date(2026, 12, 2),
        source_account="NIPPON-OPS", bank_transaction_id="TX-JP-1", payer_name="Haruto Sato", reference=scheduled.reference,
    )
    item, _ = services.discrepancy_log(
        client=client, actor="system:test", kind="underpayment", summary="Paid less than due", customer=customer,
        amount_expected=Decimal("100.00"), amount_actual=Decimal("60.00"),
    )
    services.discrepancy_note_add(discrepancy=item, actor=boss, text="Called the customer")
    upload = SimpleUploadedFile("letter.pdf", b"%PDF-1.4 evidence", content_type="application/pdf")
    attachment = services.discrepancy_attach(discrepancy=item, actor=boss, upload=upload)
    Discrepancy.objects.filter(pk=item.pk).update(
        status=Status.ESCALATED, escalation_level=1, escalated_at=MOMENT, sla_due_at=MOMENT
    )
    closed, _ = services.discrepancy_log(
        client=client, actor="system:test", kind="overpayment", summary="Paid twice", customer=customer,
        amount_expected=Decimal("100.00"), amount_actual=Decimal("200.00"),
    )
    Discrepancy.objects.filter(pk=closed.pk).update(status=Status.CLOSED, resolved_at=MOMENT, closed_at=MOMENT)
    # Escalated by the SLA sweep a day before MOMENT, with a new SLA period of 24 hours: due at MOMENT.
    swept, _ = services.discrepancy_log(
        client=client, actor="system:test", kind="missing", summary="Nothing arrived", customer=customer,
        amount_expected=Decimal("100.00"), amount_actual=None,
    )
    day_before = MOMENT - dt.timedelta(hours=24)
    Discrepancy.objects.filter(pk=swept.pk).update(priority="high", sla_due_at=day_before - dt.timedelta(minutes=1))
    assert services.discrepancies_escalate_overdue(now=day_before) == 1
    applied = services.adjustment_request(
        client=client, actor=agent, adjustment_type="write_off", scheduled_payment=scheduled,
        amount=Decimal("150.00"), reason="Goodwill",
    )
    applied = services.adjustment_decide(discrepancy=applied, actor=second, approve=True, comment="ok", version=applied.version)
    pending = services.adjustment_request(
        client=client, actor=agent, adjustment_type="write_off", scheduled_payment=scheduled,
        amount=Decimal("120.00"), reason="Goodwill again",
    )
    from reconciliation import services as imports
    from reconciliation.models import CsvMapping, ImportItem, ImportJob

    mapping = CsvMapping.objects.create(client=client, name="Bank export", account="JP-OPS", currency="JPY",
                                        value_date_column="Date", amount_column="Amount", reference_column="Reference")
    statement = imports.statement_import(
        client=client, actor=boss, file_name="statement.csv", format="csv", mapping=mapping,
        stream=io.BytesIO(b"Date,Amount,Reference\n2026-12-02,5000.00,R1\n"),
    )
    notice = ImportItem.objects.create(client=client, payment_import=statement, kind="notice", code="C01", message="New account")
    job = ImportJob.objects.create(client=client, file_name="big.csv", path="statements/NIPPON/x", created_by=boss)
    from reconciliation.models import ReconciliationRun
    from schedules.models import Allocation

    run = ReconciliationRun.objects.create(client=client, as_of=dt.date(2026, 12, 3), status="succeeded", started_at=MOMENT,
                                           finished_at=MOMENT + dt.timedelta(seconds=5), counts={"payments_in": 1})
    received = Payment.objects.get(client=client, bank_transaction_id="TX-JP-1")
    allocation = Allocation.objects.create(client=client, payment=received, scheduled_payment=scheduled,
                                           amount=Decimal("100.00"), rule="reference", explanation="matched by reference")
    return SimpleNamespace(
        client=client, user=boss, customer=customer, schedule=schedule, item=item, closed=closed, swept=swept,
        applied=applied, pending=pending, attachment=attachment, statement=statement, notice=notice, job=job,
        run=run, received=received, allocation=allocation,
    )


def every_url(world):
    """(route name, URL) of every route, each with the world's objects."""
    from discrepancies.views.item import ACTIONS as ITEM_ACTIONS
    from schedules.views import ACTIONS as SCHEDULE_ACTIONS

    code = world.client.code
    yield "home", reverse("home")
    yield "healthz", reverse("healthz")
    yield "login", reverse("login")
    yield "logout", reverse("logout")  # POST only: a GET is refused, and that answer counts too
    yield "client_overview", reverse("client_overview", args=[code])
    yield "customer_list", reverse("customer_list", args=[code])
    yield "customer_create", reverse("customer_create", args=[code])
    yield "customer_detail", reverse("customer_detail", args=[code, world.customer.pk])
    yield "customer_edit", reverse("customer_edit", args=[code, world.customer.pk])
    yield "payment_list", reverse("payment_list", args=[code])
    yield "audit_trail", reverse("audit_trail", args=[code])
    yield "schedule_list", reverse("schedule_list")
    yield "schedule_create", reverse("schedule_create", args=[code])
    yield "schedule_create", reverse("schedule_create", args=[code]) + "?kind=one_time"
    yield "schedule_detail", reverse("schedule_detail", args=[code, world.schedule.pk])
    for action in SCHEDULE_ACTIONS:
        yield "schedule_action", reverse("schedule_action", args=[code, world.schedule.pk, action])
    yield "queue", reverse("queue")
    yield "queue", reverse("queue") + f"?client={code}"
    yield "claim_next", reverse("claim_next")
    yield "queue_export", reverse("queue_export")
    for item in (world.item, world.closed, world.swept, world.applied, world.pending):
        yield "discrepancy_detail", reverse("discrepancy_detail", args=[code, item.pk])
    yield "discrepancy_action", reverse("discrepancy_action", args=[code, world.item.pk, next(iter(ITEM_ACTIONS))])
    yield "discrepancy_create", reverse("discrepancy_create", args=[code])
    yield "adjustment_create", reverse("adjustment_create", args=[code])
    yield "attachment_download", reverse("attachment_download", args=[code, world.attachment.pk])
    yield "discrepancy_dashboard", reverse("discrepancy_dashboard", args=[code])
    yield "escalations", reverse("escalations")
    yield "approvals", reverse("approvals")
    yield "team", reverse("team")
    yield "bulk_assign", reverse("bulk_assign")
    yield "import_list", reverse("import_list", args=[code])
    yield "import_upload", reverse("import_upload", args=[code])
    yield "import_detail", reverse("import_detail", args=[code, world.statement.pk])
    yield "import_void", reverse("import_void", args=[code, world.statement.pk])  # POST only
    yield "import_job", reverse("import_job", args=[code, world.job.pk])
    yield "notice_done", reverse("notice_done", args=[code, world.notice.pk])  # POST only
    yield "run_list", reverse("run_list", args=[code])
    yield "run_request", reverse("run_request", args=[code])  # POST only
    yield "run_detail", reverse("run_detail", args=[code, world.run.pk])
    yield "payments_unmatched", reverse("payments_unmatched", args=[code])
    yield "payment_detail", reverse("payment_detail", args=[code, world.received.pk])
    yield "allocation_undo", reverse("allocation_undo", args=[code, world.received.pk, world.allocation.pk])  # POST only
    yield "credit_refund", reverse("credit_refund", args=[code, world.received.pk])  # POST only
    yield "admin:index", reverse("admin:index")


def route_names(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":  # the admin's own pages: its index stands for them
                yield from route_names(pattern.url_patterns)
        elif pattern.name:
            yield pattern.name


def visible_text(page: str) -> str:
    """What a person reads: no tags or attributes (a <time datetime="..."> is for machines)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_walk_covers_every_route(world):
    assert set(route_names(get_resolver().url_patterns)) <= {name for name, _ in every_url(world)}


def test_every_response_to_a_signed_in_user_is_private_and_not_stored(client, world):
    client.force_login(world.user)
    admin = make_user("root", is_staff=True, is_superuser=True)
    for name, url in every_url(world):
        # The admin's pages as the admin; everything else as the client's supervisor.
        client.force_login(admin if name == "admin:index" else world.user)
        response = client.get(url)
        assert response.status_code in (200, 302, 405), (name, url, response.status_code)
        directives = {part.strip() for part in response.headers.get("Cache-Control", "").split(",")}
        assert {"private", "no-store"} <= directives, (name, url, response.headers.get("Cache-Control"))
    assert client.get(reverse("queue_export")).headers["Content-Type"].startswith("text/csv")
    assert client.get(reverse("attachment_download", args=[world.client.code, world.attachment.pk])).headers[
        "Content-Disposition"
    ].startswith("attachment")


def test_static_files_stay_cacheable(client, world):
    client.force_login(world.user)
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_every_time_shown_is_in_the_clients_zone_and_says_so(client, world):
    client.force_login(world.user)
    shown_on = set()
    for name, url in every_url(world):
        if name in ("attachment_download", "queue_export", "admin:index"):
            continue
        response = client.get(url)
        if response.status_code != 200 or not response.headers["Content-Type"].startswith("text/html"):
            continue
        text = visible_text(response.content.decode())
        assert UTC_CLOCK not in text, f"{url} shows a time in UTC"
        for clock in re.finditer(r"\b09:47(:00)?", text):
            assert text[clock.end():].startswith(" JST"), f"{url} shows {text[clock.start() - 11:clock.end() + 4]!r} without its zone"
        if TOKYO in text or "2026-12-03 09:47:00 JST" in text:
            shown_on.add(name)
    # The pages that show when something happened.
    assert shown_on >= {
        "customer_detail", "audit_trail", "schedule_detail", "discrepancy_detail", "discrepancy_dashboard",
        "escalations", "approvals", "run_list", "run_detail", "payment_detail",
    }


def test_the_log_gives_times_in_the_clients_zone(client, world):
    client.force_login(world.user)
    page = visible_text(client.get(reverse("discrepancy_detail", args=[world.client.code, world.swept.pk])).content.decode())
    assert f"new SLA due {TOKYO}" in page


def test_the_audit_trail_filters_by_the_clients_days(client, world):
    from bpo_ledger import services as ledger

    # 20:00 UTC on 2 Dec is 05:00 on 3 Dec in Tokyo.
    with mock.patch("django.utils.timezone.now", return_value=dt.datetime(2026, 12, 2, 20, 0, tzinfo=dt.UTC)):
        ledger.customer_create(client=world.client, actor="system:test", external_ref="JP-2", name="Early Bird")
    client.force_login(world.user)
    url = reverse("audit_trail", args=[world.client.code])
    on_the_3rd = visible_text(client.get(url, {"created_at_after": "2026-12-03", "created_at_before": "2026-12-03"}).content.decode())
    on_the_2nd = visible_text(client.get(url, {"created_at_after": "2026-12-02", "created_at_before": "2026-12-02"}).content.decode())
    assert "2026-12-03 05:00:00 JST" in on_the_3rd and "Early Bird" in on_the_3rd
    assert "Early Bird" not in on_the_2nd


def test_the_admin_says_its_times_are_utc(client, world):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    for model in ("bpo_ledger/auditevent", "discrepancies/discrepancy", "discrepancies/note", "discrepancies/attachment"):
        text = visible_text(client.get(f"/admin/{model}/").content.decode())
        assert "12:47 a.m. UTC" in text, model
        assert not re.search(r"12:47 a\.m\.(?! UTC)", text), model


def test_pages_across_clients_say_which_zone_their_times_are_in(client, world):
    client.force_login(world.user)
    for name in ("escalations", "approvals"):
        page = visible_text(client.get(reverse(name)).content.decode())
        assert "Times are in each client's time zone." in page
        assert TOKYO in page


def test_the_csv_export_gives_times_in_the_clients_zone_with_its_offset(client, world):
    client.force_login(world.user)
    response = client.get(reverse("queue_export"))
    rows = {row["reference"]: row for row in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))}
    assert response.headers["Content-Disposition"] == 'attachment; filename="discrepancies-20261203-0047Z.csv"'
    row = rows[world.item.reference]
    assert row["created_at"] == "2026-12-03T09:47:00+09:00"
    assert row["sla_due_at"] == "2026-12-03T09:47:00+09:00"
