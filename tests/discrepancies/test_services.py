"""The discrepancy log's services: the workflow, who may do what, stale pages, claiming, four eyes,
customer notices and evidence. Every change is on the item's log."""

import datetime as dt
import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.audit import audit_verify
from bpo_ledger.errors import DomainError, StaleError
from bpo_ledger.models import AuditEvent
from discrepancies import services
from discrepancies.models import (
    RESOLUTION_CODES,
    Approval,
    Attachment,
    Discrepancy,
    DiscrepancyKind,
    Priority,
    Status,
)
from discrepancies.services import TRANSITIONS, workflow
from schedules.models import ScheduledPayment
from tests.conftest import held, make_user

from .conftest import events_of, log_item, on_postgresql, put, schedule_events

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def step(item, actor, action, **fields):
    """Take a step from the item as it is now (its current version)."""
    fields.setdefault("reason", "For the test")
    if action == "resolve":
        fields.setdefault("resolution_code", RESOLUTION_CODES[item.kind][0][0])
        fields.setdefault("resolution_text", "Done for the test")
    return services.discrepancy_transition(discrepancy=item, actor=actor, action=action, version=item.version, **fields)


def unchanged(item):
    """The row is exactly as `item` shows it, and nothing was added to its log."""
    fresh = Discrepancy.objects.get(pk=item.pk)
    return (fresh.status, fresh.version, fresh.assignee_id) == (item.status, item.version, item.assignee_id)


# --- The workflow -----------------------------------------------------------------------

ALLOWED = [(action, source) for action, (sources, _, _) in TRANSITIONS.items() for source in sorted(sources)]
REFUSED = [
    (action, status)
    for action, (sources, _, _) in TRANSITIONS.items()
    for status in Status.values
    if status not in sources
]


def test_the_map_has_the_workflow_of_the_issue():
    assert {action: (sorted(sources), target) for action, (sources, target, _) in TRANSITIONS.items()} == {
        "start": (["assigned"], "in_progress"),
        "await_customer": (["in_progress"], "awaiting_customer"),
        "customer_replied": (["awaiting_customer"], "in_progress"),
        "escalate": (["assigned", "awaiting_customer", "in_progress", "open"], "escalated"),
        "return_to_agent": (["escalated"], "in_progress"),
        "resolve": (["awaiting_customer", "escalated", "in_progress"], "resolved"),
        "close": (["resolved"], "closed"),
        "reopen": (["closed", "resolved"], "in_progress"),
    }
    assert set(services.ACTION_LABELS) == set(TRANSITIONS)


@pytest.mark.parametrize(("action", "source"), ALLOWED)
def test_each_step_leads_from_each_status_it_allows_and_is_logged_once(open_item, agent, supervisor, action, source):
    item = put(open_item, source, assignee=agent)
    before_events = len(events_of(item))
    moved = step(item, supervisor, action)
    assert moved.status == TRANSITIONS[action][1]
    assert moved.version == item.version + 1
    events = events_of(item)
    assert len(events) == before_events + 1
    event = events[-1]
    assert event.verb == f"discrepancy.{action}"
    assert event.actor == supervisor
    assert event.details["changes"]["status"] == {"before": source, "after": moved.status}


@pytest.mark.parametrize(("action", "status"), REFUSED)
def test_each_step_is_refused_from_every_other_status_and_nothing_changes(open_item, agent, supervisor, action, status):
    item = put(open_item, status, assignee=agent)
    events = len(events_of(item))
    with pytest.raises(DomainError, match=f"is {Status(status).label.lower()}: .* applies only to items that are"):
        step(item, supervisor, action)
    assert unchanged(item)
    assert len(events_of(item)) == events


def test_the_log_records_the_status_that_was_changed_not_the_callers_copy(open_item, agent, supervisor):
    copy = Discrepancy.objects.get(pk=open_item.pk)  # still shows "open"
    item = services.discrepancy_assign(discrepancy=open_item, actor=supervisor, assignee=agent, version=open_item.version)
    services.discrepancy_transition(discrepancy=copy, actor=agent, action="start", version=item.version)
    assert events_of(item)[-1].details["changes"]["status"] == {"before": "assigned", "after": "in_progress"}


def test_an_unknown_step_is_refused(open_item, supervisor):
    with pytest.raises(DomainError, match="Unknown step 'delete'"):
        services.discrepancy_transition(discrepancy=open_item, actor=supervisor, action="delete", version=1)


def test_a_whole_life_from_open_to_closed_and_reopened_is_on_the_log(open_item, agent, supervisor):
    item = services.discrepancy_claim_next(user=agent, clients=[open_item.client])
    for actor, action in [(agent, "start"), (agent, "await_customer"), (agent, "customer_replied"), (agent, "escalate"),
                          (supervisor, "return_to_agent"), (agent, "resolve"), (supervisor, "close"), (agent, "reopen")]:
        item = step(item, actor, action)
    assert item.status == Status.IN_PROGRESS and item.assignee == agent
    assert [e.verb for e in events_of(item)] == [
        "discrepancy.logged", "discrepancy.claimed", "discrepancy.start", "discrepancy.await_customer",
        "discrepancy.customer_replied", "discrepancy.escalate", "discrepancy.return_to_agent", "discrepancy.resolve",
        "discrepancy.close", "discrepancy.reopen",
    ]
    assert audit_verify(client=item.client).ok


# --- Who may take which step ------------------------------------------------------------


def test_an_agent_works_their_own_items(open_item, agent):
    item = put(open_item, Status.ASSIGNED, assignee=agent)
    assert step(item, agent, "start").status == Status.IN_PROGRESS


def test_an_agent_who_works_an_unassigned_item_takes_it(open_item, agent):
    item = put(open_item, Status.AWAITING_CUSTOMER)
    moved = step(item, agent, "customer_replied")
    assert (moved.status, moved.assignee) == (Status.IN_PROGRESS, agent)
    assert events_of(item)[-1].details["changes"]["assignee"] == {"before": None, "after": "agent"}


def test_an_agent_may_not_work_someone_elses_item(open_item, agent, other_agent):
    item = put(open_item, Status.IN_PROGRESS, assignee=other_agent)
    for action in ("await_customer", "resolve"):
        with pytest.raises(PermissionDenied, match="assigned to someone else"):
            step(item, agent, action)
    assert unchanged(item)


def test_an_agent_may_escalate_anyones_item(open_item, agent, other_agent):
    item = put(open_item, Status.IN_PROGRESS, assignee=other_agent)
    moved = step(item, agent, "escalate", reason="Customer threatens to go to the regulator")
    assert (moved.status, moved.assignee, moved.escalation_level) == (Status.ESCALATED, other_agent, 1)
    event = events_of(item)[-1]
    assert event.actor == agent and event.details["reason"] == "Customer threatens to go to the regulator"


def test_an_escalation_needs_a_reason(open_item, agent):
    with pytest.raises(DomainError, match="Say why you escalate"):
        step(open_item, agent, "escalate", reason="  ")
    assert unchanged(open_item)


def test_a_supervisor_works_every_item(open_item, other_agent, supervisor):
    item = put(open_item, Status.IN_PROGRESS, assignee=other_agent)
    item = step(item, supervisor, "resolve")
    assert step(item, supervisor, "close").status == Status.CLOSED


@pytest.mark.parametrize("action", ["return_to_agent", "close"])
def test_only_supervisors_return_escalations_and_close(open_item, agent, action):
    item = put(open_item, Status.ESCALATED if action == "return_to_agent" else Status.RESOLVED, assignee=agent)
    with pytest.raises(PermissionDenied, match="may not do this"):
        step(item, agent, action)
    assert unchanged(item)


@pytest.mark.parametrize("who", ["auditor", "outsider"])
@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_auditors_and_outsiders_take_no_step(open_item, roles, who, action):
    item = put(open_item, sorted(TRANSITIONS[action][0])[0], assignee=roles["agent"])
    with pytest.raises(PermissionDenied):
        step(item, roles[who], action)
    assert unchanged(item)
    assert len(events_of(item)) == 1


@pytest.mark.parametrize("who", ["auditor", "outsider"])
def test_auditors_and_outsiders_change_nothing_else_either(open_item, roles, who, agent, payment_due):
    user = roles[who]
    calls = [
        lambda: services.discrepancy_log(client=open_item.client, actor=user, kind="missing", summary="x"),
        lambda: services.discrepancy_note_add(discrepancy=open_item, actor=user, text="x"),
        lambda: services.discrepancy_assign(discrepancy=open_item, actor=user, assignee=agent, version=1),
        lambda: services.discrepancy_set_priority(discrepancy=open_item, actor=user, priority="high", version=1, reason="x"),
        lambda: services.discrepancy_notify_customer(discrepancy=open_item, actor=user),
        lambda: services.adjustment_request(client=open_item.client, actor=user, adjustment_type="write_off",
                                           scheduled_payment=payment_due, amount=Decimal("1.00"), reason="x"),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert services.discrepancy_claim_next(user=user, clients=[open_item.client]) is None
    assert unchanged(open_item)


def test_the_steps_offered_are_the_steps_allowed(open_item, agent, other_agent, supervisor, auditor):
    item = put(open_item, Status.IN_PROGRESS, assignee=agent)
    assert services.actions_for(discrepancy=item, user=agent) == ["await_customer", "escalate", "resolve"]
    assert services.actions_for(discrepancy=item, user=other_agent) == ["escalate"]
    assert services.actions_for(discrepancy=item, user=supervisor) == ["await_customer", "escalate", "resolve"]
    assert services.actions_for(discrepancy=item, user=auditor) == []


# --- Resolving and reopening --------------------------------------------------------------


def test_resolving_records_the_code_the_text_and_the_root_cause(open_item, agent):
    item = put(open_item, Status.IN_PROGRESS, assignee=agent)
    resolved = step(item, agent, "resolve", resolution_code="customer_notified",
                    resolution_text="Emailed; customer pays the rest Friday.", root_cause="customer_misunderstanding")
    assert (resolved.status, resolved.resolution_code, resolved.root_cause) == ("resolved", "customer_notified", "customer_misunderstanding")
    assert resolved.resolution_label == "Customer notified"
    assert resolved.resolved_at is not None
    event = events_of(item)[-1]
    assert event.details["resolution_code"] == "customer_notified"
    assert event.details["resolution"] == "Emailed; customer pays the rest Friday."


@pytest.mark.parametrize("kind", DiscrepancyKind.values)
def test_each_kind_is_resolved_only_with_its_own_codes(client_a, agent, kind):
    item = put(log_item(client_a, kind=kind, mismatch_field="reference" if kind == "mismatch" else ""), Status.IN_PROGRESS, assignee=agent)
    others = {code for k, codes in RESOLUTION_CODES.items() if k != kind for code, _ in codes} - {c for c, _ in RESOLUTION_CODES[kind]}
    for code in sorted(others) + ["", "made_up"]:
        with pytest.raises(ValidationError, match="Choose a resolution for a"):
            step(item, agent, "resolve", resolution_code=code)
    assert unchanged(item)
    for code, _ in RESOLUTION_CODES[kind]:
        assert step(item, agent, "resolve", resolution_code=code).resolution_code == code
        item = put(item, Status.IN_PROGRESS, assignee=agent)


def test_resolving_needs_text_and_a_known_root_cause(open_item, agent):
    item = put(open_item, Status.IN_PROGRESS, assignee=agent)
    with pytest.raises(ValidationError, match="Say what was done"):
        step(item, agent, "resolve", resolution_text="  ")
    with pytest.raises(ValidationError, match="Unknown root cause"):
        step(item, agent, "resolve", root_cause="gremlins")
    assert unchanged(item)


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED])
def test_reopening_puts_the_item_back_to_work_with_a_fresh_sla(open_item, agent, status):
    old_due = timezone.now() - dt.timedelta(days=20)
    item = put(open_item, status, assignee=agent, resolution_code="customer_notified", resolved_at=old_due,
               closed_at=old_due if status == Status.CLOSED else None, sla_due_at=old_due)
    with pytest.raises(DomainError, match="Say why it is reopened"):
        step(item, agent, "reopen", reason="")
    before = timezone.now()
    reopened = step(item, agent, "reopen", reason="Customer's cheque bounced")
    assert (reopened.status, reopened.assignee) == (Status.IN_PROGRESS, agent)
    assert (reopened.resolution_code, reopened.resolved_at, reopened.closed_at) == ("", None, None)
    # A fresh SLA period: otherwise the next sweep would escalate it at once.
    hours = item.client.sla_hours(item.priority)
    assert before + dt.timedelta(hours=hours) <= reopened.sla_due_at <= timezone.now() + dt.timedelta(hours=hours)
    event = events_of(item)[-1]
    assert event.details["changes"]["status"] == {"before": status, "after": "in_progress"}
    assert event.details["reason"] == "Customer's cheque bounced"


def test_an_unassigned_item_reopened_by_a_supervisor_goes_back_to_the_pool(open_item, supervisor):
    item = put(open_item, Status.RESOLVED)
    assert step(item, supervisor, "reopen").status == Status.OPEN


def test_an_escalation_returned_without_an_assignee_goes_back_to_the_pool(open_item, supervisor):
    item = step(open_item, supervisor, "escalate")
    returned = step(item, supervisor, "return_to_agent")
    assert (returned.status, returned.assignee) == (Status.OPEN, None)
    assert services.discrepancy_claim_next(user=make_user("agent_c", item.client, "agent"), clients=[item.client]).pk == item.pk


# --- Stale pages ------------------------------------------------------------------------


def test_a_change_from_a_stale_page_is_refused_naming_the_current_status(open_item, agent, supervisor):
    item = put(open_item, Status.IN_PROGRESS, assignee=agent)
    seen_by_agent = Discrepancy.objects.get(pk=item.pk)
    seen_by_supervisor = Discrepancy.objects.get(pk=item.pk)
    step(seen_by_supervisor, supervisor, "await_customer")
    # Resolving is allowed from "awaiting customer" too: only the version tells the page is stale.
    with pytest.raises(StaleError, match=r"changed by someone else \(it is now awaiting customer\).*Nothing was overwritten"):
        step(seen_by_agent, agent, "resolve", resolution_text="From the old page")
    fresh = Discrepancy.objects.get(pk=item.pk)
    assert (fresh.status, fresh.resolution_text, fresh.version) == (Status.AWAITING_CUSTOMER, "", item.version + 1)
    assert [e.actor for e in events_of(item)][-1] == supervisor


def test_a_stale_page_gets_the_stale_message_even_when_the_step_no_longer_applies(open_item, agent, supervisor):
    item = put(open_item, Status.IN_PROGRESS, assignee=agent)
    seen = Discrepancy.objects.get(pk=item.pk)
    step(Discrepancy.objects.get(pk=item.pk), supervisor, "resolve")
    with pytest.raises(StaleError, match=r"it is now resolved"):
        step(seen, agent, "await_customer")
    assert Discrepancy.objects.get(pk=item.pk).status == Status.RESOLVED


def test_a_stale_version_loses_the_race_at_the_update_itself(open_item, agent, monkeypatch):
    # Someone commits between the read and the conditional UPDATE: the UPDATE matches no row.
    item = put(open_item, Status.IN_PROGRESS, assignee=agent)
    real_update = workflow.conditional_update

    def someone_first(target, **kwargs):
        Discrepancy.objects.filter(pk=target.pk).update(status=Status.ESCALATED, version=target.version + 1)
        return real_update(target, **kwargs)

    monkeypatch.setattr(workflow, "conditional_update", someone_first)
    with pytest.raises(StaleError, match="it is now escalated"):
        step(item, agent, "resolve")
    assert len(events_of(item)) == 1


def test_stale_assignments_priorities_and_decisions_are_refused_too(open_item, agent, other_agent, supervisor):
    old_version = open_item.version
    services.discrepancy_assign(discrepancy=open_item, actor=supervisor, assignee=agent, version=old_version)
    with pytest.raises(StaleError, match="it is now assigned"):
        services.discrepancy_assign(discrepancy=open_item, actor=supervisor, assignee=other_agent, version=old_version)
    with pytest.raises(StaleError):
        services.discrepancy_set_priority(discrepancy=open_item, actor=supervisor, priority="high", version=old_version, reason="x")
    fresh = Discrepancy.objects.get(pk=open_item.pk)
    assert (fresh.assignee, fresh.priority) == (agent, open_item.priority)


# --- Assigning --------------------------------------------------------------------------


def test_a_supervisor_assigns_and_takes_back_to_the_pool(open_item, agent, supervisor):
    item = services.discrepancy_assign(discrepancy=open_item, actor=supervisor, assignee=agent, version=open_item.version)
    assert (item.status, item.assignee) == (Status.ASSIGNED, agent)
    item = step(item, agent, "start")
    item = services.discrepancy_assign(discrepancy=item, actor=supervisor, assignee=None, version=item.version, reason="Agent on leave")
    assert (item.status, item.assignee) == (Status.OPEN, None)
    event = events_of(item)[-1]
    assert event.details["changes"] == {
        "assignee": {"before": "agent", "after": None},
        "status": {"before": "in_progress", "after": "open"},
    }


def test_work_goes_only_to_those_who_may_write(open_item, supervisor, auditor, outsider, agent):
    for user in (auditor, outsider):
        with pytest.raises(DomainError, match="cannot work on ACME items"):
            services.discrepancy_assign(discrepancy=open_item, actor=supervisor, assignee=user, version=open_item.version)
    with pytest.raises(PermissionDenied):
        services.discrepancy_assign(discrepancy=open_item, actor=agent, assignee=agent, version=open_item.version)
    assert unchanged(open_item)


def test_bulk_assign_gives_active_items_and_leaves_finished_ones(client_a, agent, supervisor, client_b, outsider):
    items = [log_item(client_a) for _ in range(3)]
    put(items[1], Status.IN_PROGRESS, assignee=supervisor)
    put(items[2], Status.RESOLVED)
    foreign = log_item(client_b)
    assigned = services.discrepancies_bulk_assign(
        client=client_a, actor=supervisor, ids=[i.pk for i in items] + [foreign.pk], assignee=agent, reason="Rebalancing"
    )
    assert assigned == 2
    rows = {d.pk: (d.status, d.assignee_id) for d in Discrepancy.objects.all()}
    assert rows[items[0].pk] == (Status.ASSIGNED, agent.pk)
    assert rows[items[1].pk] == (Status.IN_PROGRESS, agent.pk)
    assert rows[items[2].pk] == (Status.RESOLVED, None)
    assert rows[foreign.pk] == (Status.OPEN, None)
    event = events_of(items[1], "discrepancy.assigned")[0]
    assert event.details["bulk"] is True
    assert event.details["changes"]["assignee"] == {"before": "supervisor", "after": "agent"}
    assert audit_verify(client=client_a).ok


def test_bulk_assign_back_to_the_pool_of_items_already_there_changes_nothing(client_a, supervisor):
    pool = [log_item(client_a) for _ in range(2)]
    escalated = put(log_item(client_a), Status.ESCALATED)
    assigned = services.discrepancies_bulk_assign(
        client=client_a, actor=supervisor, ids=[i.pk for i in [*pool, escalated]], assignee=None, reason="Back to the pool"
    )
    assert assigned == 0
    for item in [*pool, escalated]:
        assert unchanged(item) and Discrepancy.objects.get(pk=item.pk).version == item.version
        assert events_of(item, "discrepancy.assigned") == []


def test_bulk_assign_to_the_same_person_changes_only_the_others(client_a, agent, supervisor):
    theirs = put(log_item(client_a), Status.IN_PROGRESS, assignee=agent)
    pooled = log_item(client_a)
    assigned = services.discrepancies_bulk_assign(
        client=client_a, actor=supervisor, ids=[theirs.pk, pooled.pk], assignee=agent, reason="Rebalancing"
    )
    assert assigned == 1
    assert unchanged(theirs) and Discrepancy.objects.get(pk=theirs.pk).version == theirs.version
    assert events_of(theirs, "discrepancy.assigned") == []
    assert Discrepancy.objects.get(pk=pooled.pk).version == pooled.version + 1
    assert len(events_of(pooled, "discrepancy.assigned")) == 1
    assert audit_verify(client=client_a).ok


# --- Claim next -------------------------------------------------------------------------


def test_claim_next_gives_the_highest_priority_then_the_oldest(client_a, agent):
    def logged(difference, days_ago):
        return log_item(client_a, expected="0.00", actual=difference, now=timezone.now() - dt.timedelta(days=days_ago))

    low_oldest = logged("10.00", days_ago=20)
    high_newer = logged("600.00", days_ago=1)
    high_older = logged("700.00", days_ago=2)
    critical = logged("6000.00", days_ago=0)
    claimed = [services.discrepancy_claim_next(user=agent, clients=[client_a]) for _ in range(5)]
    assert [c.pk if c else None for c in claimed] == [critical.pk, high_older.pk, high_newer.pk, low_oldest.pk, None]
    assert all(c.status == Status.ASSIGNED and c.assignee == agent for c in claimed[:4])
    event = events_of(critical, "discrepancy.claimed")[0]
    assert event.actor == agent
    assert event.details["changes"]["status"] == {"before": "open", "after": "assigned"}


def test_claim_next_skips_assigned_and_unopen_items_and_other_clients(client_a, client_b, agent, other_agent):
    put(log_item(client_a, expected="0", actual="9000"), Status.ASSIGNED, assignee=other_agent)
    for status in (Status.IN_PROGRESS, Status.ESCALATED, Status.AWAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED):
        put(log_item(client_a, expected="0", actual="9000"), status)
    log_item(client_b, expected="0", actual="9000")
    wanted = log_item(client_a, expected="0", actual="1")
    assert services.discrepancy_claim_next(user=agent, clients=[client_a, client_b]).pk == wanted.pk
    assert services.discrepancy_claim_next(user=agent, clients=[client_a, client_b]) is None


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_ten_agents_claiming_at_once_never_get_the_same_item(client_a):
    agents = [make_user(f"claimer{n}", client_a, "agent") for n in range(10)]
    items = [log_item(client_a) for _ in range(30)]
    start = threading.Barrier(10)
    claimed, errors = {}, []

    def claimer(agent):
        try:
            start.wait()
            claimed[agent.username] = services.discrepancy_claim_next(user=agent, clients=[client_a])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    pks = [item.pk for item in claimed.values()]
    assert len(pks) == 10 and len(set(pks)) == 10
    assigned = dict(Discrepancy.objects.filter(status=Status.ASSIGNED).values_list("pk", "assignee__username"))
    assert assigned == {item.pk: name for name, item in claimed.items()}
    claims = list(AuditEvent.objects.filter(verb="discrepancy.claimed").values_list("subject_id", flat=True))
    assert sorted(claims) == sorted(str(pk) for pk in pks)
    assert Discrepancy.objects.filter(status=Status.OPEN).count() == len(items) - 10
    assert audit_verify(client=client_a).ok


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_an_item_another_claimer_holds_instead_of_waiting(client_a, agent):
    top = log_item(client_a, expected="0", actual="9000")
    second = log_item(client_a)
    holding, release, claimed = threading.Event(), threading.Event(), {}

    def holder():
        try:
            with transaction.atomic():
                locks.locked(Discrepancy.objects.filter(pk=top.pk)).get()
                holding.set()
                release.wait(20)
        finally:
            connection.close()

    def claimer():
        try:
            claimed["item"] = services.discrepancy_claim_next(user=agent, clients=[client_a])
        finally:
            connection.close()

    held = threading.Thread(target=holder)
    held.start()
    assert holding.wait(10)
    claiming = threading.Thread(target=claimer)
    claiming.start()
    claiming.join(timeout=5)
    waited = claiming.is_alive()
    release.set()
    claiming.join()
    held.join()
    assert not waited, "the claim waited for the locked item instead of skipping it"
    assert claimed["item"].pk == second.pk


# --- Logging ----------------------------------------------------------------------------


def test_the_same_fingerprint_is_logged_once(client_a, client_b, agent):
    first = log_item(client_a, fingerprint="run:7:missing:ACME-000001-01")
    again, created = services.discrepancy_log(
        client=client_a, actor="system:reconciliation", kind="missing", summary="Seen again tonight",
        fingerprint="run:7:missing:ACME-000001-01",
    )
    assert (again.pk, created) == (first.pk, False)
    assert again.summary == first.summary
    assert Discrepancy.objects.filter(client=client_a).count() == 1
    assert len(events_of(first)) == 1
    # The same fingerprint in another client is another problem.
    other, created = services.discrepancy_log(
        client=client_b, actor="system:reconciliation", kind="missing", summary="x", fingerprint="run:7:missing:ACME-000001-01"
    )
    assert created and other.pk != first.pk


def test_a_manual_log_without_fingerprint_always_creates(client_a, agent, customer_a):
    first, made_first = services.discrepancy_log(client=client_a, actor=agent, kind="missing", summary="Caller says they paid", customer=customer_a)
    second, made_second = services.discrepancy_log(client=client_a, actor=agent, kind="missing", summary="Caller says they paid", customer=customer_a)
    assert made_first and made_second and first.pk != second.pk
    assert first.fingerprint != second.fingerprint
    assert (first.number, second.number) == (1, 2)
    assert second.reference == "ACME-D000002"
    assert (second.reported_by, second.detected_by) == (agent, "user:agent")


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_runs_logging_the_same_problem_at_once_make_one_item(client_a):
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(services.discrepancy_log(
                client=client_a, actor="system:reconciliation", kind="missing", summary="x", fingerprint="same-problem"
            ))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert len({item.pk for item, _ in results}) == 1
    assert Discrepancy.objects.count() == 1


def test_a_log_names_what_is_wrong_with_it(client_a, client_b, agent, customer_b):
    with pytest.raises(ValidationError) as caught:
        services.discrepancy_log(client=client_a, actor=agent, kind="mismatch", summary=" ", customer=customer_b, root_cause="x")
    assert set(caught.value.message_dict) == {"mismatch_field", "summary", "customer", "root_cause"}
    with pytest.raises(ValidationError, match="Only a mismatch names a mismatched field"):
        services.discrepancy_log(client=client_a, actor=agent, kind="missing", summary="x", mismatch_field="amount")
    assert not Discrepancy.objects.exists()


@pytest.mark.parametrize("currency", ["XXQ", "usd1", "usd"])
def test_a_currency_that_is_not_iso_4217_is_refused_and_nothing_is_stored(client_a, agent, currency):
    with pytest.raises(ValidationError) as caught:
        services.discrepancy_log(client=client_a, actor=agent, kind="missing", summary="x", currency=currency)
    assert caught.value.message_dict["currency"] == [f"{currency} is not an ISO 4217 currency code (three capital letters, e.g. USD)."]
    assert not Discrepancy.objects.exists()
    assert not AuditEvent.objects.filter(verb="discrepancy.logged").exists()


def test_a_scheduled_payment_brings_its_customer(client_a, agent, payment_due, customer_a):
    item, _ = services.discrepancy_log(client=client_a, actor=agent, kind="missing", summary="x", scheduled_payment=payment_due,
                                       amount_expected=payment_due.amount_due)
    assert item.customer == customer_a
    assert item.amount_difference == Decimal("-250.00")
    assert events_of(item)[0].details["scheduled_payment"] == payment_due.reference


# --- Priority and SLA -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("difference", "priority", "hours"),
    [("-49.99", "low", 168), ("50.00", "medium", 72), ("-500.00", "high", 24), ("5000.00", "critical", 4)],
)
def test_priority_and_sla_come_from_the_amount_by_the_clients_policy(client_a, difference, priority, hours):
    item = log_item(client_a, expected="0.00", actual=difference, now=NOW)
    assert (item.priority, item.priority_rank) == (priority, Priority.values.index(priority))
    assert item.sla_due_at == NOW + dt.timedelta(hours=hours)
    assert item.created_at == NOW


def test_a_clients_own_thresholds_and_hours_apply(client_a):
    client_a.priority_medium_amount = Decimal("10.00")
    client_a.priority_high_amount = Decimal("20.00")
    client_a.sla_hours_high = 8
    client_a.save()
    item = log_item(client_a, expected="0.00", actual="25.00", now=NOW)
    assert item.priority == "high"
    assert item.sla_due_at == NOW + dt.timedelta(hours=8)


def test_age_raises_priority_one_level_per_step_once_and_on_the_log(client_a):
    young = log_item(client_a, expected="0", actual="10.00", now=NOW - dt.timedelta(days=29))
    month = log_item(client_a, expected="0", actual="10.00", now=NOW - dt.timedelta(days=30))
    ancient = log_item(client_a, expected="0", actual="10.00", now=NOW - dt.timedelta(days=95))
    high = log_item(client_a, expected="0", actual="600.00", now=NOW - dt.timedelta(days=61))
    assert services.discrepancies_age_priorities(client=client_a, now=NOW) == 3
    priorities = dict(Discrepancy.objects.values_list("pk", "priority"))
    assert priorities == {young.pk: "low", month.pk: "medium", ancient.pk: "critical", high.pk: "critical"}
    (event,) = events_of(ancient, "discrepancy.priority_aged")
    assert event.details["changes"]["priority"] == {"before": "low", "after": "critical"}
    assert event.actor_label == "system:sla_sweep"
    assert Discrepancy.objects.get(pk=ancient.pk).version == ancient.version + 1
    # Again at the same moment: nothing more.
    assert services.discrepancies_age_priorities(client=client_a, now=NOW) == 0
    assert len(events_of(ancient, "discrepancy.priority_aged")) == 1
    assert audit_verify(client=client_a).ok


def test_ageing_never_lowers_a_priority(client_a):
    item = log_item(client_a, expected="0", actual="6000.00", now=NOW - dt.timedelta(days=31))
    assert item.priority == "critical"
    # The client raises its thresholds: by the policy this item would now be low, plus one step of age.
    client_a.priority_medium_amount = Decimal("7000.00")
    client_a.priority_high_amount = Decimal("8000.00")
    client_a.priority_critical_amount = Decimal("9000.00")
    client_a.save()
    assert services.discrepancies_age_priorities(client=client_a, now=NOW) == 0
    assert Discrepancy.objects.get(pk=item.pk).priority == "critical"


def test_finished_items_do_not_age(client_a):
    item = put(log_item(client_a, expected="0", actual="10.00", now=NOW - dt.timedelta(days=90)), Status.RESOLVED)
    assert services.discrepancies_age_priorities(client=client_a, now=NOW) == 0
    assert Discrepancy.objects.get(pk=item.pk).priority == "low"


def test_a_supervisors_priority_sticks_and_moves_the_sla(client_a, supervisor, agent):
    item = log_item(client_a, expected="0", actual="10.00", now=NOW - dt.timedelta(days=65))
    with pytest.raises(PermissionDenied):
        services.discrepancy_set_priority(discrepancy=item, actor=agent, priority="critical", version=item.version, reason="x")
    with pytest.raises(DomainError, match="Say why"):
        services.discrepancy_set_priority(discrepancy=item, actor=supervisor, priority="medium", version=item.version, reason="")
    changed = services.discrepancy_set_priority(
        discrepancy=item, actor=supervisor, priority="medium", version=item.version, reason="Customer is on a payment plan"
    )
    assert (changed.priority, changed.priority_rank, changed.priority_overridden) == ("medium", 1, True)
    assert changed.sla_due_at == item.created_at + dt.timedelta(hours=72)
    event = events_of(item)[-1]
    assert event.verb == "discrepancy.priority_changed"
    assert event.details["changes"]["priority"] == {"before": "low", "after": "medium"}
    # 65 days would make it high: the supervisor's word stands.
    assert services.discrepancies_age_priorities(client=client_a, now=NOW) == 0
    assert Discrepancy.objects.get(pk=item.pk).priority == "medium"


# --- Four eyes --------------------------------------------------------------------------


def request(actor, scheduled, amount, adjustment_type="write_off", **fields):
    return services.adjustment_request(
        client=scheduled.client, actor=actor, adjustment_type=adjustment_type, scheduled_payment=scheduled,
        amount=None if amount is None else Decimal(amount), reason=fields.pop("reason", "Goodwill after the outage"), **fields,
    )


def balance(payment):
    fresh = ScheduledPayment.objects.get(pk=payment.pk)
    return fresh.amount_due, fresh.amount_paid, fresh.status


def test_a_write_off_at_the_threshold_is_applied_at_once(agent, payment_due):
    assert payment_due.client.adjustment_approval_threshold == Decimal("100.00")
    item = request(agent, payment_due, "100.00")
    assert (item.kind, item.approval, item.status, item.resolution_code) == ("adjustment", "not_required", "resolved", "applied")
    assert item.applied_at is not None
    assert (item.amount_expected, item.amount_actual, item.amount_difference) == (Decimal("250.00"), Decimal("150.00"), Decimal("-100.00"))
    assert item.adjustment_before["amount_due"] == "250.00" and item.adjustment_after == {"amount_due": "150.00"}
    assert balance(payment_due) == (Decimal("150.00"), Decimal("0.00"), "upcoming")
    (written_off,) = schedule_events(payment_due, "payment.written_off")
    assert written_off.actor == agent
    assert written_off.details["amount"] == "100.00"
    assert item.reference in written_off.details["reason"]
    assert [e.verb for e in events_of(item)] == ["discrepancy.logged", "adjustment.requested", "adjustment.applied"]


def test_writing_off_everything_waives_the_payment(client_a, agent, payment_due):
    client_a.adjustment_approval_threshold = Decimal("1000.00")
    client_a.save()
    request(agent, payment_due, "250.00")
    assert balance(payment_due) == (Decimal("250.00"), Decimal("0.00"), "waived")


def test_an_amount_correction_is_judged_by_the_change_not_the_new_amount(agent, payment_due):
    down = request(agent, payment_due, "180.00", adjustment_type="amount_correction", reason="Price was entered wrongly")
    assert down.approval == "not_required"
    assert (down.amount_expected, down.amount_actual, down.amount_difference) == (Decimal("250.00"), Decimal("180.00"), Decimal("-70.00"))
    assert balance(payment_due) == (Decimal("180.00"), Decimal("0.00"), "upcoming")
    assert schedule_events(payment_due, "payment.amount_corrected")
    up = request(agent, payment_due, "300.00", adjustment_type="amount_correction", reason="Missed the installation fee")
    assert (up.approval, up.amount_difference) == ("pending", Decimal("120.00"))
    assert balance(payment_due) == (Decimal("180.00"), Decimal("0.00"), "upcoming")


def test_a_manual_match_records_the_received_payment(agent, supervisor, payment_due, received_payment):
    with pytest.raises(ValidationError, match="Choose the received payment"):
        request(agent, payment_due, None, adjustment_type="manual_match")
    item = request(agent, payment_due, None, adjustment_type="manual_match", payment=received_payment, reason="Paid with a wrong reference")
    # 200.00 is above the threshold of 100.00: it waits.
    assert (item.approval, item.adjustment_amount, item.amount_difference) == ("pending", Decimal("200.00"), Decimal("200.00"))
    assert list(item.payments.all()) == [received_payment]
    assert item.adjustment_after == {"amount_paid": "200.00", "payment": received_payment.bank_transaction_id}
    assert balance(payment_due) == (Decimal("250.00"), Decimal("0.00"), "upcoming")
    services.adjustment_decide(discrepancy=item, actor=supervisor, approve=True, comment="Same payer, same amount", version=item.version)
    assert balance(payment_due) == (Decimal("250.00"), Decimal("200.00"), "partially_paid")
    (recorded,) = schedule_events(payment_due, "payment.recorded")
    assert (recorded.actor, recorded.details["amount"], recorded.details["paid_on"]) == (supervisor, "200.00", "2026-11-20")


def test_above_the_threshold_it_waits_and_changes_no_balance(agent, payment_due):
    item = request(agent, payment_due, "100.01")
    assert (item.approval, item.status, item.applied_at) == ("pending", "open", None)
    assert item.reported_by == agent
    assert balance(payment_due) == (Decimal("250.00"), Decimal("0.00"), "upcoming")
    assert schedule_events(payment_due, "payment.written_off") == []
    assert events_of(item, "adjustment.requested")[0].details["needs_approval"] is True


def test_another_supervisor_approves_and_so_applies_it(agent, supervisor, payment_due):
    item = request(agent, payment_due, "120.00")
    approved = services.adjustment_decide(discrepancy=item, actor=supervisor, approve=True, comment="Checked the outage log", version=item.version)
    assert (approved.approval, approved.approved_by, approved.status, approved.resolution_code) == ("approved", supervisor, "resolved", "applied")
    assert approved.approval_comment == "Checked the outage log"
    assert balance(payment_due) == (Decimal("130.00"), Decimal("0.00"), "upcoming")
    (written_off,) = schedule_events(payment_due, "payment.written_off")
    assert written_off.actor == supervisor
    assert [e.verb for e in events_of(item)][-2:] == ["adjustment.approved", "adjustment.applied"]
    assert events_of(item, "adjustment.approved")[0].details["requested_by"] == "agent"


def test_nobody_approves_their_own_even_a_supervisor(supervisor, other_supervisor, payment_due):
    item = request(supervisor, payment_due, "150.00")
    for approve in (True, False):
        with pytest.raises(PermissionDenied, match="Nobody approves their own"):
            services.adjustment_decide(discrepancy=item, actor=supervisor, approve=approve, comment="Fine by me", version=item.version)
    assert Discrepancy.objects.get(pk=item.pk).approval == "pending"
    assert balance(payment_due)[0] == Decimal("250.00")
    services.adjustment_decide(discrepancy=item, actor=other_supervisor, approve=True, comment="Agreed", version=item.version)
    assert balance(payment_due)[0] == Decimal("100.00")


def test_an_agent_may_not_approve(agent, other_agent, payment_due):
    item = request(other_agent, payment_due, "150.00")
    with pytest.raises(PermissionDenied):
        services.adjustment_decide(discrepancy=item, actor=agent, approve=True, comment="ok", version=item.version)
    assert Discrepancy.objects.get(pk=item.pk).approval == "pending"


def test_a_rejection_changes_nothing_and_closes_it_for_good(agent, supervisor, payment_due):
    item = request(agent, payment_due, "150.00")
    rejected = services.adjustment_decide(discrepancy=item, actor=supervisor, approve=False, comment="No outage that day", version=item.version)
    assert (rejected.approval, rejected.status, rejected.applied_at) == ("rejected", "closed", None)
    assert balance(payment_due) == (Decimal("250.00"), Decimal("0.00"), "upcoming")
    assert schedule_events(payment_due, "payment.written_off") == []
    event = events_of(item)[-1]
    assert (event.verb, event.details["reason"]) == ("adjustment.rejected", "No outage that day")
    with pytest.raises(DomainError, match="does not wait for approval"):
        services.adjustment_decide(discrepancy=rejected, actor=supervisor, approve=True, comment="Changed my mind", version=rejected.version)
    with pytest.raises(DomainError, match="rejected adjustment stays closed"):
        step(rejected, supervisor, "reopen")


def test_a_pending_adjustment_cannot_be_resolved_around_the_approval(agent, supervisor, payment_due):
    item = put(request(agent, payment_due, "150.00"), Status.IN_PROGRESS, assignee=agent)
    with pytest.raises(DomainError, match="waits for a supervisor's approval"):
        step(item, agent, "resolve", resolution_code="applied")
    assert "resolve" not in services.actions_for(discrepancy=item, user=agent)
    with pytest.raises(DomainError, match="Add a comment"):
        services.adjustment_decide(discrepancy=item, actor=supervisor, approve=True, comment=" ", version=item.version)
    with pytest.raises(StaleError):
        services.adjustment_decide(discrepancy=item, actor=supervisor, approve=True, comment="ok", version=item.version - 1)
    assert balance(payment_due)[0] == Decimal("250.00")


def test_an_adjustment_must_fit_the_payment(client_a, agent, payment_due, client_b, customer_b):
    client_a.adjustment_approval_threshold = Decimal("1000.00")
    client_a.save()
    with pytest.raises(ValidationError, match="Only USD 250.00 is outstanding"):
        request(agent, payment_due, "250.01")
    with pytest.raises(ValidationError, match="more than zero"):
        request(agent, payment_due, "0")
    with pytest.raises(ValidationError, match="Say why"):
        request(agent, payment_due, "10", reason=" ")
    with pytest.raises(ValidationError, match="already USD 250.00"):
        request(agent, payment_due, "250.00", adjustment_type="amount_correction")
    request(agent, payment_due, "100.00")
    request(agent, payment_due, "100.00")
    request(agent, payment_due, "50.00")  # now paid off by write-offs
    with pytest.raises(ValidationError, match="nothing is owed on it"):
        request(agent, payment_due, "1.00")
    assert Discrepancy.objects.count() == 3


# --- Four eyes over the sum: one adjustment split into several still needs approval ------


@pytest.fixture
def big_payment(client_a, customer_a):
    """A payment of USD 1,000.00, with an approval threshold of 250.00 over 30 days."""
    from schedules.services import ScheduleSpec, schedule_create

    client_a.adjustment_approval_threshold = Decimal("250.00")
    client_a.save()
    schedule = schedule_create(
        client=client_a, actor="system:test",
        spec=ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("1000.00"), start_date=dt.date(2026, 12, 1)),
        today=dt.date(2026, 11, 23),
    )
    return schedule.payments.get()


def why(payment, total):
    return (
        f"Needs a supervisor's approval: adjustments on {payment.reference} in the last 30 days "
        f"come to USD {total}, above the USD 250.00 threshold."
    )


def test_one_write_off_split_in_four_needs_approval_once_the_sum_is_above_the_threshold(agent, other_agent, big_payment):
    first = request(agent, big_payment, "240.00")
    assert (first.approval, first.status, first.approval_reason) == ("not_required", "resolved", "")
    assert balance(big_payment)[0] == Decimal("760.00")
    # By anyone: another agent's share counts the same; pending ones count too.
    rest = [request(other_agent, big_payment, "240.00"), request(agent, big_payment, "240.00"), request(agent, big_payment, "240.00")]
    assert [(r.approval, r.applied_at) for r in rest] == [("pending", None)] * 3
    assert [r.approval_reason for r in rest] == [why(big_payment, "480.00"), why(big_payment, "720.00"), why(big_payment, "960.00")]
    assert balance(big_payment)[0] == Decimal("760.00")
    requested = events_of(rest[-1], "adjustment.requested")[0]
    assert (requested.details["window_total"], requested.details["window_days"]) == ("960.00", 30)


def test_rejected_adjustments_do_not_count(agent, supervisor, big_payment):
    large = request(agent, big_payment, "300.00")
    assert large.approval == "pending"
    services.adjustment_decide(discrepancy=large, actor=supervisor, approve=False, comment="Not justified", version=large.version)
    assert request(agent, big_payment, "240.00").approval == "not_required"


def test_adjustments_older_than_the_window_do_not_count(client_a, agent, big_payment):
    old = request(agent, big_payment, "240.00")
    Discrepancy.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=30, minutes=1))
    assert request(agent, big_payment, "240.00").approval == "not_required"
    # The window is the client's: at 31 days the first one counts again.
    client_a.adjustment_approval_window_days = 31
    client_a.save()
    third = request(agent, ScheduledPayment.objects.get(pk=big_payment.pk), "10.00")
    assert (third.approval, third.approval_reason) == ("pending", why(big_payment, "490.00").replace("30 days", "31 days"))


def test_manual_matches_count_at_the_amount_they_move_and_corrections_at_their_change(agent, big_payment, received_payment):
    match = request(agent, big_payment, None, adjustment_type="manual_match", payment=received_payment, reason="Wrong reference")
    assert (match.approval, balance(big_payment)[1]) == ("not_required", Decimal("200.00"))
    correction = request(agent, big_payment, "1060.00", adjustment_type="amount_correction", reason="Installation fee")
    assert correction.approval_reason == why(big_payment, "260.00")  # 200.00 matched + 60.00 more due
    assert correction.approval == "pending"


def test_one_adjustment_above_the_threshold_says_why_too(agent, big_payment):
    item = request(agent, big_payment, "960.00")
    assert (item.approval, item.approval_reason) == ("pending", why(big_payment, "960.00"))


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_agents_submitting_at_once_do_not_both_slip_under_the_threshold(client_a, big_payment):
    scheduled = big_payment
    first_agent, second_agent = make_user("first", client_a, "agent"), make_user("second", client_a, "agent")
    done = {}

    def second():
        try:
            done["second"] = request(second_agent, scheduled, "240.00")
        finally:
            connection.close()

    # The first request is made and not yet committed when the second comes in.
    with held(lambda: done.setdefault("first", request(first_agent, scheduled, "240.00"))):
        two = threading.Thread(target=second)
        two.start()
        two.join(timeout=3)
        waited = two.is_alive()
    two.join()
    assert waited, "the second request summed the adjustments without waiting for the first"
    assert (done["first"].approval, done["second"].approval) == ("not_required", "pending")
    assert done["second"].approval_reason == why(scheduled, "480.00")
    assert ScheduledPayment.objects.get(pk=scheduled.pk).amount_due == Decimal("760.00")
    assert audit_verify(client=client_a).ok


# --- Customer notices -------------------------------------------------------------------


def test_an_underpayment_notice_is_emailed_after_commit_and_logged(client_a, agent, customer_a, payment_due, mailoutbox, django_capture_on_commit_callbacks):
    item = log_item(client_a, kind="underpayment", expected="250.00", actual="200.00", scheduled_payment=payment_due, customer=customer_a)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message_id = services.discrepancy_notify_customer(discrepancy=item, actor=agent, message="Call us on 555-0100.")
    assert mailoutbox == []  # nothing leaves before the log entry is committed
    for callback in callbacks:
        callback()
    (email,) = mailoutbox
    assert email.to == ["maria@example.com"]
    assert "USD 50.00 still to pay on ACME-000001-01" in email.subject
    assert "USD 200.00" in email.body and "USD 250.00" in email.body and "ACME-000001-01" in email.body
    assert "Call us on 555-0100." in email.body
    assert email.extra_headers["Message-ID"] == message_id
    event = events_of(item)[-1]
    assert (event.verb, event.actor) == ("discrepancy.customer_notified", agent)
    assert event.details["to"] == "maria@example.com" and event.details["provider_id"] == message_id


def test_a_missing_payment_notice_names_the_amount_and_reference(client_a, agent, customer_a, payment_due, mailoutbox, django_capture_on_commit_callbacks):
    item = log_item(client_a, kind="missing", expected="250.00", actual=None, scheduled_payment=payment_due)
    with django_capture_on_commit_callbacks(execute=True):
        services.discrepancy_notify_customer(discrepancy=item, actor=agent)
    (email,) = mailoutbox
    assert "have not received your payment ACME-000001-01" in email.subject
    assert "USD 250.00" in email.body and "1 December 2026" in email.body


def test_a_rolled_back_notice_sends_nothing(client_a, agent, customer_a, mailoutbox, django_capture_on_commit_callbacks):
    item = log_item(client_a, kind="missing", customer=customer_a)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.discrepancy_notify_customer(discrepancy=item, actor=agent)
            raise RuntimeError("the request failed after the service")
    assert callbacks == [] and mailoutbox == []
    assert events_of(item, "discrepancy.customer_notified") == []


def test_notices_only_with_consent_and_only_for_underpayment_and_missing(client_a, agent, customer_a, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for kind in ("overpayment", "duplicate", "chargeback", "adjustment"):
            with pytest.raises(DomainError, match="Only underpayments and missing payments"):
                services.discrepancy_notify_customer(discrepancy=log_item(client_a, kind=kind, customer=customer_a), actor=agent)
        with pytest.raises(DomainError, match="No customer is linked"):
            services.discrepancy_notify_customer(discrepancy=log_item(client_a, kind="missing"), actor=agent)
        customer_a.email_consent, customer_a.email_consent_at = False, None
        customer_a.save()
        with pytest.raises(DomainError, match="has not agreed to email"):
            services.discrepancy_notify_customer(discrepancy=log_item(client_a, kind="missing", customer=customer_a), actor=agent)
        resolved = put(log_item(client_a, kind="missing", customer=customer_a), Status.RESOLVED)
        with pytest.raises(DomainError, match="is resolved"):
            services.discrepancy_notify_customer(discrepancy=resolved, actor=agent)
    assert mailoutbox == []
    assert not AuditEvent.objects.filter(verb="discrepancy.customer_notified").exists()


# --- Notes and evidence -----------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(root):
    return sorted(p.relative_to(root).parts[:2] for p in root.rglob("*") if p.is_file())


def test_a_note_is_kept_and_logged(open_item, agent):
    note = services.discrepancy_note_add(discrepancy=open_item, actor=agent, text="  Customer will call back at 3pm. ")
    assert (note.text, note.author, note.client) == ("Customer will call back at 3pm.", agent, open_item.client)
    assert events_of(open_item)[-1].details == {"reason": "Customer will call back at 3pm.", "note": note.pk}
    with pytest.raises(DomainError, match="The note is empty"):
        services.discrepancy_note_add(discrepancy=open_item, actor=agent, text=" ")


def test_evidence_is_stored_under_the_clients_folder_with_its_checksum(open_item, agent, media):
    upload = SimpleUploadedFile("Bank letter.PDF", PDF, content_type="application/octet-stream")
    attachment = services.discrepancy_attach(discrepancy=open_item, actor=agent, upload=upload)
    assert attachment.file.name.startswith("attachments/ACME/")
    assert stored_files(media) == [("attachments", "ACME")]
    assert (attachment.original_name, attachment.content_type, attachment.size) == ("Bank letter.PDF", "application/pdf", len(PDF))
    assert attachment.file.read() == PDF
    event = events_of(open_item)[-1]
    assert (event.verb, event.details["file"], event.details["sha256"]) == (
        "discrepancy.attachment_added", "Bank letter.PDF", attachment.sha256,
    )
    assert len(attachment.sha256) == 64


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("statement.pdf", b"MZ\x90\x00 this is a program", "is not really a PDF file"),
        ("photo.png", b"GIF89a....", "is not really a PNG file"),
        ("invoice.exe", b"MZ\x90\x00", "only .csv, .eml, .jpeg, .jpg, .pdf, .png, .txt files"),
        ("README", b"plain words", "only .csv"),
        ("notes.txt", b"hello\x00\x01\x02binary", "is not a text file"),
    ],
)
def test_evidence_that_is_not_what_it_claims_is_refused(open_item, agent, media, name, content, message):
    with pytest.raises(DomainError, match=message):
        services.discrepancy_attach(discrepancy=open_item, actor=agent, upload=SimpleUploadedFile(name, content))
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


def test_evidence_above_the_size_limit_is_refused(open_item, agent, media, settings):
    settings.ATTACHMENT_MAX_BYTES = len(PDF) - 1
    with pytest.raises(DomainError, match="the limit is"):
        services.discrepancy_attach(discrepancy=open_item, actor=agent, upload=SimpleUploadedFile("a.pdf", PDF))
    settings.ATTACHMENT_MAX_BYTES = len(PDF)
    services.discrepancy_attach(discrepancy=open_item, actor=agent, upload=SimpleUploadedFile("a.pdf", PDF))
    assert Attachment.objects.count() == 1


def test_auditors_attach_nothing(open_item, auditor, media):
    with pytest.raises(PermissionDenied):
        services.discrepancy_attach(discrepancy=open_item, actor=auditor, upload=SimpleUploadedFile("a.pdf", PDF))
    assert stored_files(media) == []


# --- Demo data --------------------------------------------------------------------------


def seed():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_demo_has_every_kind_and_status_and_seeding_twice_changes_nothing(db):
    assert "rows created" in seed()
    counts = (Discrepancy.objects.count(), AuditEvent.objects.count(), ScheduledPayment.objects.filter(status="waived").count())
    assert "nothing changed" in seed()
    assert (Discrepancy.objects.count(), AuditEvent.objects.count(), ScheduledPayment.objects.filter(status="waived").count()) == counts
    call_command("verify_audit", stdout=StringIO())

    items = Discrepancy.objects.select_related("client", "reported_by")
    assert {d.kind for d in items} == set(DiscrepancyKind.values)
    assert {d.status for d in items} == set(Status.values)
    for code in ("ACME", "GLOBEX", "INITECH"):
        assert {d.kind for d in items if d.client.code == code} == set(DiscrepancyKind.values), code
    assert all(d.scheduled_payment_id or d.customer_id for d in items)
    now = timezone.now()
    assert any(d.status == Status.ESCALATED for d in items)
    assert any(d.is_active and d.status != Status.ESCALATED and d.sla_due_at < now for d in items), "some are breached"
    for d in items:
        if d.status in (Status.RESOLVED, Status.CLOSED) and d.approval != Approval.REJECTED:
            assert d.resolution_code in dict(RESOLUTION_CODES[d.kind]), d
    pending = [d for d in items if d.approval == Approval.PENDING]
    assert pending and all(d.reported_by.username == "agent" for d in pending)


def test_the_demo_supervisor_can_approve_the_demo_agents_adjustments(db):
    seed()
    from django.contrib.auth import get_user_model

    supervisor = get_user_model().objects.get(username="supervisor")
    for item in Discrepancy.objects.filter(approval=Approval.PENDING):
        decided = services.adjustment_decide(discrepancy=item, actor=supervisor, approve=True, comment="Demo approval", version=item.version)
        assert decided.status == Status.RESOLVED
    call_command("verify_audit", stdout=StringIO())


# --- The admin --------------------------------------------------------------------------


def test_the_admin_shows_items_notes_and_evidence_but_changes_nothing(client, admin_user, open_item, agent, media):
    note = services.discrepancy_note_add(discrepancy=open_item, actor=agent, text="Called the bank")
    attachment = services.discrepancy_attach(discrepancy=open_item, actor=agent, upload=SimpleUploadedFile("a.pdf", PDF))
    client.force_login(admin_user)
    for model, pk in (("discrepancy", open_item.pk), ("note", note.pk), ("attachment", attachment.pk)):
        assert client.get(f"/admin/discrepancies/{model}/").status_code == 200
        page = client.get(f"/admin/discrepancies/{model}/{pk}/change/")
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
        assert client.get(f"/admin/discrepancies/{model}/add/").status_code == 403
        assert client.post(f"/admin/discrepancies/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
    page = client.get(f"/admin/discrepancies/attachment/{attachment.pk}/change/")
    # The file is linked through the app (members only), never as public media.
    assert f"/clients/ACME/attachments/{attachment.pk}/".encode() in page.content
    assert attachment.file.name.encode() not in page.content
    assert Discrepancy.objects.get(pk=open_item.pk).version == open_item.version


def test_claim_next_does_not_hand_out_adjustments_waiting_for_approval(client_a, agent, customer_a):
    import datetime as dt
    from decimal import Decimal

    from discrepancies.models import Approval
    from discrepancies.services import adjustment_request, discrepancy_claim_next
    from schedules.services import ScheduleSpec, schedule_create

    plan = schedule_create(
        client=client_a, actor="system:test",
        spec=ScheduleSpec(customer=customer_a, kind="one_time", amount=Decimal("900.00"), start_date=dt.date(2026, 12, 1)),
        today=dt.date(2026, 11, 23),
    )
    pending = adjustment_request(
        client=client_a, actor=agent, adjustment_type="write_off",
        scheduled_payment=plan.payments.get(), amount=Decimal("900.00"), reason="Uncollectable",
    )
    assert pending.approval == Approval.PENDING
    assert discrepancy_claim_next(user=agent, clients=[client_a]) is None
