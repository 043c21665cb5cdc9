"""Discrepancy pages tried by every role: outsiders get 404, auditors read but cannot act,
supervisor pages are for supervisors; stale forms never overwrite; the CSV is formula-safe."""

import copy
import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bpo_ledger.models import AuditEvent, Payment
from discrepancies import services
from discrepancies.models import Approval, Attachment, Discrepancy, Status
from discrepancies.tables import csv_text
from schedules.models import ScheduledPayment
from tests.conftest import make_user

ROLES = ["agent", "supervisor", "auditor", "outsider", "admin"]
READ = {"agent": 200, "supervisor": 200, "auditor": 200, "outsider": 404, "admin": 200}
WRITE = {"agent": 200, "supervisor": 200, "auditor": 403, "outsider": 404, "admin": 200}
SUPERVISE = {"agent": 403, "supervisor": 200, "auditor": 403, "outsider": 403, "admin": 200}


def log(client, kind="underpayment", summary="Paid less than due", expected="100.00", actual="60.00", **fields):
    item, created = services.discrepancy_log(
        client=client, actor="system:test", kind=kind, summary=summary,
        amount_expected=Decimal(expected) if expected is not None else None,
        amount_actual=Decimal(actual) if actual is not None else None, **fields,
    )
    assert created
    return item


def fresh(item):
    return Discrepancy.objects.get(pk=item.pk)


def action_url(item, action):
    return reverse("discrepancy_action", args=[item.client.code, item.pk, action])


def rows(response):
    return [row.record.reference for row in response.context["table"].paginated_rows]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def item(client_a, customer_a):
    return log(client_a, customer=customer_a)


@pytest.fixture
def scheduled_payment(client_a, customer_a):
    from schedules.services import ScheduleSpec, schedule_create

    spec = ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("250.00"), start_date=dt.date.today() + dt.timedelta(days=10))
    schedule = schedule_create(client=client_a, actor="system:test", spec=spec)
    return schedule.payments.get()


@pytest.fixture
def attachment(item, agent):
    upload = SimpleUploadedFile("bank letter.pdf", b"%PDF-1.4 evidence", content_type="application/pdf")
    return services.discrepancy_attach(discrepancy=item, actor=agent, upload=upload)


# --- Every URL, every role ---------------------------------------------------------------------


def pages(item, attachment):
    code = item.client.code
    yield "queue", reverse("queue"), {role: 200 for role in ROLES}
    yield "queue of ACME", reverse("queue") + "?client=ACME", READ
    yield "export", reverse("queue_export"), {role: 200 for role in ROLES}
    yield "export of ACME", reverse("queue_export") + "?client=ACME", READ
    yield "detail", reverse("discrepancy_detail", args=[code, item.pk]), READ
    yield "create", reverse("discrepancy_create", args=[code]), WRITE
    yield "adjustment", reverse("adjustment_create", args=[code]), WRITE
    yield "action (GET goes to the item)", action_url(item, "note"), {**WRITE, "agent": 302, "supervisor": 302, "admin": 302}
    yield "attachment", reverse("attachment_download", args=[code, attachment.pk]), READ
    yield "escalations", reverse("escalations"), SUPERVISE
    yield "approvals", reverse("approvals"), SUPERVISE
    yield "team", reverse("team"), SUPERVISE


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_as_its_role_allows(client, roles, item, attachment, role):
    client.force_login(roles[role])
    for name, url, expected in pages(item, attachment):
        assert client.get(url).status_code == expected[role], (name, url)


@pytest.mark.parametrize("role", ROLES)
def test_posting_a_step_as_each_role(client, roles, item, role):
    client.force_login(roles[role])
    response = client.post(action_url(item, "escalate"), {"version": item.version, "reason": "Customer disputes it"})
    expected = {"agent": 302, "supervisor": 302, "admin": 302, "auditor": 403, "outsider": 404}[role]
    assert response.status_code == expected
    assert fresh(item).status == (Status.ESCALATED if expected == 302 else Status.OPEN)
    assert AuditEvent.objects.filter(verb="discrepancy.escalate").exists() == (expected == 302)


@pytest.mark.parametrize("role", ["supervisor", "auditor", "outsider"])
def test_the_write_pages_refuse_posts_by_those_who_may_not_write(client, roles, item, role):
    client.force_login(roles[role])
    code = item.client.code
    expected = {"supervisor": None, "auditor": 403, "outsider": 404}[role]
    posts = {
        reverse("discrepancy_create", args=[code]): {"kind": "missing", "summary": "Customer says they paid"},
        reverse("adjustment_create", args=[code]): {"adjustment_type": "write_off", "scheduled_payment_ref": "X", "amount": "1", "reason": "x"},
        reverse("claim_next"): {"client": code},
        **{action_url(item, action): {"version": item.version, "reason": "x", "text": "x", "comment": "x", "priority": "high"}
           for action in ("note", "attach", "assign", "priority", "notify", "approve", "reject", *services.TRANSITIONS)},
    }
    for url, data in posts.items():
        status = client.post(url, data).status_code
        if expected:
            assert status == expected, url
        else:
            assert status in (200, 302, 409), url
    if expected:
        assert fresh(item).version == item.version
        assert not item.notes.exists()


def test_an_outsider_guessing_through_their_own_client_gets_404(client, outsider, item, attachment, client_b):
    client.force_login(outsider)
    assert client.get(reverse("discrepancy_detail", args=[client_b.code, item.pk])).status_code == 404
    assert client.get(reverse("attachment_download", args=[client_b.code, attachment.pk])).status_code == 404
    response = client.post(reverse("discrepancy_action", args=[client_b.code, item.pk, "note"]), {"version": 1, "text": "hi"})
    assert response.status_code == 404
    assert item.reference not in client.get(reverse("queue")).content.decode()
    assert item.reference not in b"".join(client.get(reverse("queue_export")).streaming_content).decode()


def test_an_unknown_action_is_not_found(client, agent, item):
    client.force_login(agent)
    assert client.post(action_url(item, "explode"), {"version": 1}).status_code == 404


@pytest.mark.parametrize("role", ["agent", "auditor", "outsider"])
def test_supervisor_posts_are_refused_to_others(client, roles, item, role):
    client.force_login(roles[role])
    response = client.post(reverse("bulk_assign"), {"ids": [item.pk], "assignee": ""})
    assert response.status_code == 403
    if role == "agent":
        # An agent may not use the supervisor's forms on an item either.
        assert client.post(action_url(item, "assign"), {"version": item.version, "assignee": roles[role].pk}).status_code == 403
        assert client.post(action_url(item, "priority"), {"version": item.version, "priority": "high", "reason": "x"}).status_code == 403
    assert fresh(item).assignee is None


# --- The queue ----------------------------------------------------------------------------------


def test_agents_see_their_items_and_the_pool_supervisors_and_auditors_see_all(client, client_a, agent, supervisor, auditor):
    colleague = make_user("colleague", client_a, "agent")
    mine, pool, theirs = log(client_a, summary="mine"), log(client_a, summary="pool"), log(client_a, summary="theirs")
    services.discrepancy_assign(discrepancy=mine, actor="system:test", assignee=agent, version=mine.version)
    services.discrepancy_assign(discrepancy=theirs, actor="system:test", assignee=colleague, version=theirs.version)
    client.force_login(agent)
    assert sorted(rows(client.get(reverse("queue")))) == sorted([mine.reference, pool.reference])
    for user in (supervisor, auditor):
        client.force_login(user)
        assert len(rows(client.get(reverse("queue")))) == 3


def test_the_queue_sorts_by_sla_due_time_and_shows_the_countdown(client, client_a, agent):
    later = log(client_a, expected="10.00", actual="9.00")  # low priority: the longest SLA
    sooner = log(client_a, expected="9000.00", actual="1.00")  # critical: the shortest SLA
    late = log(client_a)
    Discrepancy.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - dt.timedelta(hours=2, minutes=5))
    client.force_login(agent)
    response = client.get(reverse("queue"))
    assert rows(response) == [late.reference, sooner.reference, later.reference]
    body = response.content.decode()
    assert "breached 2 h ago" in body and "due in 3 h" in body
    assert body.count('data-breached="1"') == 2  # the row and its SLA cell
    response = client.get(reverse("queue"), {"sort": "-sla_due_at"})
    assert rows(response) == [later.reference, sooner.reference, late.reference]
    response = client.get(reverse("queue"), {"sort": "-priority"})
    assert rows(response)[0] == sooner.reference


def test_the_queue_filters(client, client_a, client_b, agent, supervisor, customer_a, admin_user):
    now = timezone.now()
    small = log(client_a, kind="overpayment", expected="100.00", actual="105.00")
    big = log(client_a, kind="underpayment", expected="1000.00", actual="100.00", customer=customer_a)
    old = log(client_a, kind="missing", expected="50.00", actual=None, now=now - dt.timedelta(days=45))
    Discrepancy.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=45))
    done = log(client_a, kind="duplicate")
    Discrepancy.objects.filter(pk=done.pk).update(status=Status.CLOSED)
    services.discrepancy_assign(discrepancy=big, actor="system:test", assignee=agent, version=big.version)
    other = log(client_b, kind="overpayment")
    client.force_login(supervisor)

    def refs(**params):
        return sorted(rows(client.get(reverse("queue"), params)))

    assert refs() == sorted([small.reference, big.reference, old.reference])  # active only
    assert refs(status="any") == sorted([small.reference, big.reference, old.reference, done.reference])
    assert refs(status="closed") == [done.reference]
    assert refs(kind="overpayment") == [small.reference]
    assert refs(priority=fresh(big).priority) == [big.reference]
    assert refs(age="31-60") == [old.reference]
    assert refs(age="0-30") == sorted([small.reference, big.reference])
    assert refs(sla_breached="true") == [old.reference]
    assert refs(sla_breached="false") == sorted([small.reference, big.reference])
    assert refs(amount_min="500") == [big.reference]
    assert refs(amount_min="40", amount_max="60") == [old.reference]
    assert refs(customer="gonzalez") == [big.reference]
    assert refs(customer="CRM-1") == [big.reference]
    assert refs(assignee=str(agent.pk)) == [big.reference]
    assert refs(assignee="none") == sorted([small.reference, old.reference])
    assert refs(assignee="me") == []
    client.force_login(admin_user)
    assert other.reference in refs()
    assert refs(client="GLOBEX") == [other.reference]


def test_a_queue_row_shows_the_item_with_its_text_escaped(client, client_a, agent, supervisor, customer_a, scheduled_payment):
    item = log(client_a, customer=customer_a, summary='<img src=x onerror=alert(1)> & "short"')
    services.discrepancy_assign(discrepancy=item, actor="system:test", assignee=agent, version=item.version)
    waiting = services.adjustment_request(
        client=client_a, actor=agent, adjustment_type="write_off", scheduled_payment=scheduled_payment,
        amount=Decimal("200.00"), reason="Goodwill",
    )
    client.force_login(supervisor)
    body = client.get(reverse("queue")).content.decode()
    row = body[body.index(f'<tr data-href="{item.get_absolute_url()}"'):]
    row = row[:row.index("</tr>")]
    assert f'<a href="{item.get_absolute_url()}">{item.reference}</a>' in row
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;short&quot;" in row and "<img" not in body
    assert "Maria Gonzalez" in row and "USD -40.00" in row and f"<td>{agent.username}</td>" in row
    assert '<td data-status="assigned">Assigned</td>' in row and "<td>Underpayment</td>" in row
    assert f'value="{item.pk}" form="bulk-assign"' in row  # supervisors pick rows for bulk assign
    assert 'Adjustment <span class="flag">awaiting approval</span>' in body and waiting.reference in body
    client.force_login(agent)
    assert 'form="bulk-assign"' not in client.get(reverse("queue")).content.decode()


def test_the_filter_bar_keeps_the_choices_and_names_a_bad_value(client, client_a, agent):
    log(client_a, kind="overpayment", expected="100.00", actual="105.00")
    client.force_login(agent)
    body = client.get(reverse("queue"), {"kind": "overpayment", "priority": "high"}).content.decode()
    assert '<option value="overpayment" selected>Overpayment</option>' in body
    assert '<option value="high" selected>High</option>' in body
    assert '<label for="id_kind">Kind</label>' in body
    response = client.get(reverse("queue"), {"amount_min": "lots"})
    body = response.content.decode()
    assert response.status_code == 200
    filters = body[body.index('class="filters"'):body.index("</form>", body.index('class="filters"'))]
    assert '<div class="error">' in filters and "Enter a number." in filters


def test_the_queue_page_costs_the_same_queries_for_10_or_40_items(client, client_a, customer_a, agent, supervisor):
    def queries(user):
        client.force_login(user)
        with CaptureQueriesContext(connection) as context:
            response = client.get(reverse("queue"))
        assert response.status_code == 200
        assert not any("COUNT(" in query["sql"].upper() for query in context.captured_queries)  # LazyPaginator
        return len(context), len(rows(response))

    for _ in range(10):
        log(client_a, customer=customer_a)
    assert queries(agent)[1] == 10
    ten_agent, ten_supervisor = queries(agent)[0], queries(supervisor)[0]
    for _ in range(30):
        item = log(client_a, customer=customer_a)
        services.discrepancy_assign(discrepancy=item, actor="system:test", assignee=agent, version=item.version)
    assert queries(agent) == (ten_agent, 40)
    assert queries(supervisor) == (ten_supervisor, 40)


def test_claim_next_assigns_the_most_urgent_item_and_opens_it(client, client_a, agent):
    low = log(client_a, expected="10.00", actual="9.00")
    high = log(client_a, expected="900.00", actual="100.00")
    client.force_login(agent)
    response = client.post(reverse("claim_next"))
    assert response.status_code == 302 and response.url == high.get_absolute_url()
    high.refresh_from_db()
    assert high.assignee == agent and high.status == Status.ASSIGNED
    assert client.post(reverse("claim_next"), {"client": "ACME"}).url == low.get_absolute_url()
    response = client.post(reverse("claim_next"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("queue")
    assert "Nothing to claim" in response.content.decode()


def test_claim_next_for_the_chosen_client_only(client, client_a, client_b, admin_user):
    in_a = log(client_a, expected="9000.00", actual="1.00")
    in_b = log(client_b, expected="10.00", actual="9.00")
    client.force_login(admin_user)
    assert client.post(reverse("claim_next"), {"client": "GLOBEX"}).url == in_b.get_absolute_url()
    assert fresh(in_a).assignee is None


def test_claim_next_offered_with_shortcuts_and_legend(client, agent, auditor, item):
    client.force_login(agent)
    body = client.get(reverse("queue")).content.decode()
    assert 'id="claim-next"' in body and "js/queue.js" in body and "<kbd>c</kbd> claim next" in body
    client.force_login(auditor)
    body = client.get(reverse("queue")).content.decode()
    assert 'id="claim-next"' not in body
    assert client.post(reverse("claim_next")).status_code == 403


def test_csv_export_follows_the_filters_and_defuses_formulas(client, client_a, supervisor, customer_a):
    evil = log(client_a, kind="overpayment", summary='=HYPERLINK("http://evil.example","click")', expected="10.00", actual="15.50")
    log(client_a, kind="missing", summary="+1 555 0100 called", expected="20.00", actual=None)
    log(client_a, kind="missing", summary="@SUM(A1)", expected="20.00", actual=None)
    log(client_a, kind="underpayment", summary="-2+3", expected="100.00", actual="40.00")
    client.force_login(supervisor)
    response = client.get(reverse("queue_export"), {"kind": "overpayment"})
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["reference"] for row in table] == [evil.reference]
    assert table[0]["summary"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert table[0]["amount_difference"] == "5.50" and table[0]["amount_expected"] == "10.00"
    table = list(csv.DictReader(io.StringIO(b"".join(client.get(reverse("queue_export")).streaming_content).decode())))
    summaries = {row["summary"] for row in table}
    assert {"'+1 555 0100 called", "'@SUM(A1)", "'-2+3"} <= summaries
    negative = next(row for row in table if row["summary"] == "'-2+3")
    assert negative["amount_difference"] == "-60.00"  # a number, not text: no quote
    assert [csv_text(v) for v in ("\tx", "\rx", "plain", None, "a=b")] == ["'\tx", "'\rx", "plain", "", "a=b"]


# --- One item ---------------------------------------------------------------------------------


def test_the_detail_page_shows_the_item_its_log_and_the_agents_actions(client, agent, client_a, customer_a, scheduled_payment):
    item = log(client_a, scheduled_payment=scheduled_payment)
    services.discrepancy_note_add(discrepancy=item, actor=agent, text="Called the customer")
    client.force_login(agent)
    body = client.get(item.get_absolute_url()).content.decode()
    assert item.reference in body and "Maria Gonzalez" in body
    assert scheduled_payment.reference in body and scheduled_payment.schedule.get_absolute_url() in body
    assert f"Discrepancy logged by system:test: underpayment of USD 40.00 on {scheduled_payment.reference}; low priority" in body
    assert "Note added by Alice Agent: Called the customer" in body
    assert f'name="version" value="{item.version}"' in body
    assert "Escalate" in body and "Add note" in body
    assert "Set priority" not in body  # supervisors only


def test_the_auditor_reads_the_item_without_any_form(client, auditor, item):
    client.force_login(auditor)
    body = client.get(item.get_absolute_url()).content.decode()
    assert item.reference in body and "read-only" in body
    assert 'name="version"' not in body


def test_the_supervisor_is_offered_assign_and_priority(client, supervisor, item, agent):
    client.force_login(supervisor)
    body = client.get(item.get_absolute_url()).content.decode()
    assert "Set priority" in body and "Nobody (back to the pool)" in body
    response = client.post(action_url(item, "assign"), {"version": item.version, "assignee": agent.pk})
    assert response.status_code == 302
    assert fresh(item).assignee == agent
    response = client.post(action_url(item, "priority"), {"version": fresh(item).version, "priority": "critical", "reason": "VIP customer"})
    assert response.status_code == 302
    assert fresh(item).priority == "critical" and fresh(item).priority_overridden


def test_a_stale_form_is_refused_and_changes_nothing(client, agent, supervisor, client_a):
    log(client_a)
    item = services.discrepancy_claim_next(user=agent, clients=[client_a])
    seen = item.version
    services.discrepancy_set_priority(discrepancy=item, actor=supervisor, priority="high", version=seen, reason="Big customer")
    before = fresh(item)
    client.force_login(agent)
    response = client.post(action_url(item, "start"), {"version": seen, "reason": ""})
    assert response.status_code == 409
    assert "changed by someone else" in response.content.decode()
    after = fresh(item)
    assert (after.status, after.version) == (before.status, before.version) == (Status.ASSIGNED, seen + 1)
    # The page shows the item as it is now, ready to try again.
    assert f'name="version" value="{after.version}"' in response.content.decode()


def test_a_stale_approval_is_refused(client, supervisor, admin_user, agent, client_a, scheduled_payment):
    item = services.adjustment_request(
        client=client_a, actor=agent, adjustment_type="write_off", scheduled_payment=scheduled_payment,
        amount=Decimal("200.00"), reason="Goodwill",
    )
    services.discrepancy_set_priority(discrepancy=item, actor=admin_user, priority="high", version=item.version, reason="Urgent")
    client.force_login(supervisor)
    response = client.post(action_url(item, "approve"), {"version": item.version, "comment": "ok"})
    assert response.status_code == 409 and "changed by someone else" in response.content.decode()
    assert fresh(item).approval == Approval.PENDING


def test_resolving_offers_only_the_codes_of_the_kind(client, agent, client_a):
    item = log(client_a, kind="chargeback", expected="100.00", actual="-100.00")
    item = services.discrepancy_claim_next(user=agent, clients=[client_a])
    item = services.discrepancy_transition(discrepancy=item, actor=agent, action="start", version=item.version)
    client.force_login(agent)
    form = client.get(item.get_absolute_url()).context["forms"]["resolve"]
    assert [code for code, _ in form.fields["resolution_code"].choices] == ["evidence_submitted", "won", "lost", "accepted"]
    response = client.post(action_url(item, "resolve"), {"version": item.version, "resolution_code": "refund_issued", "resolution_text": "x"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert fresh(item).status == Status.IN_PROGRESS
    response = client.post(action_url(item, "resolve"), {
        "version": item.version, "resolution_code": "won", "resolution_text": "Bank sided with us", "root_cause": "fraud",
    })
    assert response.status_code == 302
    item = fresh(item)
    assert (item.status, item.resolution_code, item.root_cause) == (Status.RESOLVED, "won", "fraud")


def test_money_is_written_one_way_on_the_page_in_the_email_and_plain_in_the_csv(
    client, agent, supervisor, client_a, customer_a, django_capture_on_commit_callbacks
):
    item = log(client_a, expected="1500.00", actual="250.00", customer=customer_a)
    client.force_login(supervisor)
    row = next(line for line in client.get(reverse("queue")).content.decode().splitlines() if item.reference in line)
    assert "USD -1,250.00" in row
    table = list(csv.DictReader(io.StringIO(b"".join(client.get(reverse("queue_export")).streaming_content).decode())))
    assert (table[0]["amount_expected"], table[0]["amount_difference"]) == ("1500.00", "-1250.00")
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(action_url(item, "notify"), {"version": item.version, "message": ""})
    assert "USD 1,250.00 still to pay" in mail.outbox[0].subject
    assert "USD 250.00" in mail.outbox[0].body and "USD 1,500.00" in mail.outbox[0].body


def test_the_evidence_form_offers_what_the_service_takes(client, agent, item, settings):
    settings.ATTACHMENT_MAX_BYTES = 2 * 1024 * 1024
    client.force_login(agent)
    form = client.get(item.get_absolute_url()).context["forms"]["attach"]
    assert form.fields["file"].help_text == "PDF, PNG, JPG, JPEG, CSV, TXT or EML; up to 2 MB."
    assert form.fields["file"].widget.attrs["accept"] == ".pdf,.png,.jpg,.jpeg,.csv,.txt,.eml"
    upload = SimpleUploadedFile("big.txt", b"x" * (2 * 1024 * 1024 + 1))
    response = client.post(action_url(item, "attach"), {"version": item.version, "file": upload})
    assert "the limit is 2 MB" in response.content.decode()


def test_the_steps_that_need_a_reason_ask_for_it_as_the_service_says(client, agent, item):
    client.force_login(agent)
    escalate = client.get(item.get_absolute_url()).context["forms"]["escalate"]
    assert escalate.fields["reason"].required
    assert escalate.fields["reason"].label == "Why escalate"
    assert escalate.fields["reason"].help_text == "Say why you escalate: the supervisor reads it first."
    response = client.post(action_url(item, "escalate"), {"version": item.version, "reason": " "})
    assert "This field is required" in response.content.decode() and fresh(item).status == Status.OPEN


def test_a_step_refused_by_the_workflow_shows_the_reason(client, agent, item):
    client.force_login(agent)
    response = client.post(action_url(item, "escalate"), {"version": item.version, "reason": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    response = client.post(action_url(item, "close"), {"version": item.version})
    assert response.status_code == 403  # supervisors close
    assert fresh(item).status == Status.OPEN


def test_notes_and_evidence_are_added_and_served_only_to_members(client, agent, auditor, outsider, item):
    client.force_login(agent)
    assert client.post(action_url(item, "note"), {"version": item.version, "text": "Customer sent a bank letter"}).status_code == 302
    upload = SimpleUploadedFile("letter.pdf", b"%PDF-1.7 the letter", content_type="application/pdf")
    assert client.post(action_url(item, "attach"), {"version": item.version, "file": upload}).status_code == 302
    fake = SimpleUploadedFile("virus.pdf", b"MZ not a pdf", content_type="application/pdf")
    response = client.post(action_url(item, "attach"), {"version": item.version, "file": fake})
    assert response.status_code == 200 and "is not really a PDF file" in response.content.decode()
    attachment = Attachment.objects.get()
    body = client.get(item.get_absolute_url()).content.decode()
    assert "Customer sent a bank letter" in body and "letter.pdf" in body
    for user in (agent, auditor):
        client.force_login(user)
        response = client.get(reverse("attachment_download", args=["ACME", attachment.pk]))
        assert response.status_code == 200
        assert response["Content-Disposition"] == 'attachment; filename="letter.pdf"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content) == b"%PDF-1.7 the letter"
    client.force_login(outsider)
    assert client.get(reverse("attachment_download", args=["ACME", attachment.pk])).status_code == 404


def test_notifying_the_customer_sends_the_email_once_on_record(client, agent, supervisor, item, django_capture_on_commit_callbacks):
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action_url(item, "notify"), {"version": item.version, "message": "Please pay the rest"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["maria@example.com"]
    assert AuditEvent.objects.filter(verb="discrepancy.customer_notified").count() == 1
    # A notice from a page that is out of date is refused.
    services.discrepancy_set_priority(discrepancy=item, actor=supervisor, priority="high", version=item.version, reason="Urgent")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action_url(item, "notify"), {"version": item.version, "message": ""})
    assert response.status_code == 409 and len(mail.outbox) == 1


def test_an_agent_logs_a_discrepancy_by_hand(client, agent, client_a, customer_a, customer_b, scheduled_payment):
    client.force_login(agent)
    url = reverse("discrepancy_create", args=["ACME"])
    response = client.post(url, {"kind": "mismatch", "summary": "Paid with the wrong reference"})
    assert response.status_code == 200 and "Say which field does not match." in response.content.decode()
    response = client.post(url, {"kind": "missing", "summary": "Says she paid", "customer_ref": customer_b.external_ref})
    assert response.status_code == 200 and "ACME has no customer with CRM reference GX-1" in response.content.decode()
    assert not Discrepancy.objects.exists()
    response = client.post(url, {
        "kind": "mismatch", "summary": "Paid with the wrong reference", "scheduled_payment_ref": scheduled_payment.reference.lower(),
        "amount_expected": "250.00", "amount_actual": "250.00", "mismatch_field": "reference", "root_cause": "customer_misunderstanding",
    })
    item = Discrepancy.objects.get()
    assert response.status_code == 302 and response.url == item.get_absolute_url()
    assert (item.customer, item.scheduled_payment, item.reported_by, item.mismatch_field) == (customer_a, scheduled_payment, agent, "reference")
    assert item.currency == "USD"


@pytest.mark.parametrize("currency", ["XXQ", "usd1"])
def test_a_currency_that_is_not_iso_4217_is_refused_on_the_form(client, agent, client_a, currency):
    client.force_login(agent)
    response = client.post(reverse("discrepancy_create", args=["ACME"]), {
        "kind": "missing", "summary": "Says she paid", "amount_expected": "10.00", "currency": currency,
    })
    body = response.content.decode()
    assert response.status_code == 200
    assert f"{currency.upper()} is not an ISO 4217 currency code" in body
    assert response.context["form"].errors["currency"]
    assert not Discrepancy.objects.exists()


def test_a_small_adjustment_is_applied_and_says_so(client, agent, client_a, scheduled_payment):
    client.force_login(agent)
    response = client.post(reverse("adjustment_create", args=["ACME"]), {
        "adjustment_type": "write_off", "scheduled_payment_ref": scheduled_payment.reference, "amount": "50.00", "reason": "Late fee waived",
    }, follow=True)
    item = Discrepancy.objects.get()
    assert response.redirect_chain[-1][0] == item.get_absolute_url()
    body = response.content.decode()
    assert "applied: the scheduled payment is updated" in body
    assert "write-off of USD 50.00" in body  # the item's log, in the schedule's currency
    assert "USD 250.00" in body and "USD 200.00" in body  # the amount due before and after
    assert ScheduledPayment.objects.get(pk=scheduled_payment.pk).amount_due == Decimal("200.00")


def test_a_manual_match_names_the_received_payment(client, agent, client_a, customer_a, scheduled_payment):
    Payment.objects.create(client=client_a, customer=customer_a, amount=Decimal("80.00"), currency="USD", value_date=dt.date.today(),
                           source_account="ACME-OPS", bank_transaction_id="TX-77")
    client.force_login(agent)
    url = reverse("adjustment_create", args=["ACME"])
    response = client.post(url, {"adjustment_type": "manual_match", "scheduled_payment_ref": scheduled_payment.reference, "reason": "Matched by phone"})
    assert response.status_code == 200 and "Give the bank transaction id" in response.content.decode()
    response = client.post(url, {"adjustment_type": "manual_match", "scheduled_payment_ref": scheduled_payment.reference,
                                 "bank_transaction_id": "TX-77", "reason": "Matched by phone"})
    assert response.status_code == 302
    assert ScheduledPayment.objects.get(pk=scheduled_payment.pk).amount_paid == Decimal("80.00")


def test_the_adjustment_form_says_when_approval_is_needed(client, agent, client_a):
    client.force_login(agent)
    body = client.get(reverse("adjustment_create", args=["ACME"])).content.decode()
    assert "adjustments on the same scheduled payment in the last 30 days" in body
    assert "come to more than USD 100.00, it waits for a supervisor" in body


def test_a_large_adjustment_waits_and_nobody_approves_their_own(client, agent, supervisor, admin_user, client_a, scheduled_payment):
    client.force_login(supervisor)
    response = client.post(reverse("adjustment_create", args=["ACME"]), {
        "adjustment_type": "write_off", "scheduled_payment_ref": scheduled_payment.reference, "amount": "200.00", "reason": "Hardship",
    }, follow=True)
    item = Discrepancy.objects.get()
    body = response.content.decode()
    why = (
        f"Needs a supervisor&#x27;s approval: adjustments on {scheduled_payment.reference} in the last 30 days "
        "come to USD 200.00, above the USD 100.00 threshold."
    )
    assert f"{item.reference} waits. {why} No balance changed yet." in body  # the message
    assert body.count(why) == 2 and "Not applied" in body  # ... and the item's page
    assert "with the others on the same payment in 30 days it comes to USD 200.00" in body  # ... and its log
    assert ScheduledPayment.objects.get(pk=scheduled_payment.pk).amount_due == Decimal("250.00")
    body = client.get(reverse("approvals")).content.decode()
    assert item.reference in body and "another supervisor must decide" in body and why in body
    assert client.post(action_url(item, "approve"), {"version": item.version, "comment": "mine"}).status_code == 403
    client.force_login(admin_user)
    body = client.get(reverse("approvals")).content.decode()
    assert "another supervisor must decide" not in body
    response = client.post(action_url(item, "approve"), {"version": item.version, "comment": "Agreed", "next": reverse("approvals")})
    assert response.status_code == 302 and response.url == reverse("approvals")
    item = fresh(item)
    assert (item.approval, item.approved_by, item.status) == (Approval.APPROVED, admin_user, Status.RESOLVED)
    assert ScheduledPayment.objects.get(pk=scheduled_payment.pk).amount_due == Decimal("50.00")


def test_a_rejected_adjustment_changes_nothing(client, agent, supervisor, client_a, scheduled_payment):
    item = services.adjustment_request(client=client_a, actor=agent, adjustment_type="write_off",
                                       scheduled_payment=scheduled_payment, amount=Decimal("200.00"), reason="Goodwill")
    client.force_login(supervisor)
    response = client.post(action_url(item, "reject"), {"version": item.version, "comment": "Not justified"})
    assert response.status_code == 302
    assert fresh(item).approval == Approval.REJECTED
    assert ScheduledPayment.objects.get(pk=scheduled_payment.pk).amount_due == Decimal("250.00")


# --- Supervisors ----------------------------------------------------------------------------------


def test_escalations_lists_escalated_items_longest_first(client, supervisor, client_a):
    first, second = log(client_a), log(client_a)
    log(client_a)  # not escalated: not listed
    for item, hours in ((second, 1), (first, 5)):
        services.discrepancy_transition(discrepancy=item, actor="system:test", action="escalate", version=item.version, reason="stuck")
        Discrepancy.objects.filter(pk=item.pk).update(escalated_at=timezone.now() - dt.timedelta(hours=hours))
    client.force_login(supervisor)
    response = client.get(reverse("escalations"))
    assert rows(response) == [first.reference, second.reference]
    assert 'form="bulk-assign"' in response.content.decode()


def test_bulk_assign_gives_the_picked_items_to_an_agent(client, supervisor, agent, client_a, client_b, auditor):
    one, two, untouched = log(client_a), log(client_a), log(client_a)
    elsewhere = log(client_b)
    client.force_login(supervisor)
    response = client.post(reverse("bulk_assign"), {"ids": [one.pk, elsewhere.pk], "assignee": agent.pk}, follow=True)
    assert "An item you picked is not in a client you supervise." in response.content.decode()
    assert fresh(one).assignee is None
    response = client.post(reverse("bulk_assign"), {
        "ids": [one.pk, two.pk], "assignee": agent.pk, "next": reverse("escalations"),
    }, follow=True)
    assert response.redirect_chain[0][0] == reverse("escalations")
    assert "ACME: 2 items given to agent." in response.content.decode()
    assert [fresh(i).assignee for i in (one, two, untouched, elsewhere)] == [agent, agent, None, None]
    response = client.post(reverse("bulk_assign"), {"ids": [one.pk, untouched.pk], "assignee": agent.pk}, follow=True)
    assert "ACME: 1 item given to agent. 1 left as it was." in response.content.decode()
    response = client.post(reverse("bulk_assign"), {"ids": [one.pk], "assignee": auditor.pk}, follow=True)
    assert "Choose who gets the items." in response.content.decode()  # auditors are not offered
    assert fresh(one).assignee == agent
    client.post(reverse("bulk_assign"), {"ids": [one.pk], "assignee": ""})
    assert fresh(one).assignee is None and fresh(one).status == Status.OPEN


def test_the_team_view_counts_per_agent_in_one_query(client, supervisor, agent, client_a, django_assert_num_queries):
    from discrepancies.selectors import team_workload

    mine = [log(client_a) for _ in range(3)]
    for item in mine:
        services.discrepancy_assign(discrepancy=item, actor="system:test", assignee=agent, version=item.version)
    services.discrepancy_transition(discrepancy=fresh(mine[0]), actor=agent, action="start", version=fresh(mine[0]).version)
    Discrepancy.objects.filter(pk=mine[1].pk).update(sla_due_at=timezone.now() - dt.timedelta(hours=1))
    log(client_a)
    with django_assert_num_queries(1):
        workload = team_workload(clients=[client_a])
    by_user = {row["assignee__username"]: row for row in workload}
    assert (by_user["agent"]["active"], by_user["agent"]["in_progress"], by_user["agent"]["assigned"], by_user["agent"]["breached"]) == (3, 1, 2, 1)
    assert by_user[None]["active"] == 1
    client.force_login(supervisor)
    body = client.get(reverse("team")).content.decode()
    assert "Alice" in body and "Unassigned pool" in body


def test_the_top_bar_links_follow_the_roles(client, settings, roles):
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["context_processors"] = [
        *templates[0]["OPTIONS"]["context_processors"], "bpo_ledger.context_processors.work_navigation",
    ]
    settings.TEMPLATES = templates
    expected = {
        "agent": {"Queue"},
        "supervisor": {"Queue", "Escalations", "Approvals", "Team"},
        "auditor": {"Discrepancies"},
        "outsider": {"Queue"},
        "admin": {"Queue", "Escalations", "Approvals", "Team"},
    }
    for role, links in expected.items():
        client.force_login(roles[role])
        response = client.get(reverse("home"))
        assert {label for label, _, _ in response.context["nav_work_links"]} == links, role
        assert 'aria-label="Work"' in response.content.decode()


def test_a_double_submitted_form_logs_one_item(client, agent, client_a, scheduled_payment):
    client.force_login(agent)
    token = client.get(reverse("discrepancy_create", args=["ACME"])).context["form"]["token"].value()
    data = {"kind": "missing", "summary": "Customer says she paid", "token": token}
    first = client.post(reverse("discrepancy_create", args=["ACME"]), data)
    second = client.post(reverse("discrepancy_create", args=["ACME"]), data, follow=True)
    assert first.url == second.redirect_chain[-1][0]
    assert "already logged" in second.content.decode()
    token = client.get(reverse("adjustment_create", args=["ACME"])).context["form"]["token"].value()
    data = {"adjustment_type": "write_off", "scheduled_payment_ref": scheduled_payment.reference, "amount": "20.00", "reason": "Fee", "token": token}
    client.post(reverse("adjustment_create", args=["ACME"]), data)
    client.post(reverse("adjustment_create", args=["ACME"]), data)
    assert Discrepancy.objects.filter(kind="adjustment").count() == 1
    assert ScheduledPayment.objects.get(pk=scheduled_payment.pk).amount_due == Decimal("230.00")


def test_bulk_assign_across_clients_reports_each_client(client, admin_user, agent, client_a, client_b):
    in_a, in_b = log(client_a), log(client_b)
    client.force_login(admin_user)
    body = client.post(reverse("bulk_assign"), {"ids": [in_a.pk, in_b.pk], "assignee": agent.pk}, follow=True).content.decode()
    assert "ACME: 1 item given to agent." in body and "agent cannot work on GLOBEX items." in body
    assert (fresh(in_a).assignee, fresh(in_b).assignee) == (agent, None)
