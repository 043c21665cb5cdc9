"""The workflow of an item: its transitions, who works it (assign, bulk assign, claim next) and
its priority when a supervisor overrides the policy's."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.access import SUPERVISE_ROLES, WRITE_ROLES, require_role, role_of
from bpo_ledger.audit import Actor, PendingEvent, audit_record, audit_record_many
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client, Role

from .. import policy
from ..models import (
    ACTIVE_STATUSES,
    PRIORITY_RANK,
    RESOLUTION_CODES,
    Approval,
    Discrepancy,
    Priority,
    RootCause,
    Status,
)
from ._common import conditional_update, sla_record, stale_error

# action -> (statuses it may start from, status it leads to, roles that may do it)
TRANSITIONS = {
    "start": ({Status.ASSIGNED}, Status.IN_PROGRESS, WRITE_ROLES),
    "await_customer": ({Status.IN_PROGRESS}, Status.AWAITING_CUSTOMER, WRITE_ROLES),
    "customer_replied": ({Status.AWAITING_CUSTOMER}, Status.IN_PROGRESS, WRITE_ROLES),
    "escalate": (
        {Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS, Status.AWAITING_CUSTOMER},
        Status.ESCALATED,
        WRITE_ROLES,
    ),
    "return_to_agent": ({Status.ESCALATED}, Status.IN_PROGRESS, SUPERVISE_ROLES),
    "resolve": ({Status.IN_PROGRESS, Status.AWAITING_CUSTOMER, Status.ESCALATED}, Status.RESOLVED, WRITE_ROLES),
    "close": ({Status.RESOLVED}, Status.CLOSED, SUPERVISE_ROLES),
    "reopen": ({Status.RESOLVED, Status.CLOSED}, Status.IN_PROGRESS, WRITE_ROLES),
}
ACTION_LABELS = {
    "start": "Start work",
    "await_customer": "Wait for customer",
    "customer_replied": "Customer replied",
    "escalate": "Escalate",
    "return_to_agent": "Return to agent",
    "resolve": "Resolve",
    "close": "Close",
    "reopen": "Reopen",
}
# The steps refused without a reason, and what is said then (the step's form asks for it too).
REASON_REQUIRED = {
    "escalate": "Say why you escalate: the supervisor reads it first.",
    "reopen": "Say why it is reopened.",
}


def _someone_elses(item: Discrepancy, role: str, actor, action: str) -> bool:
    """An agent works their own items and the pool; anyone who works items may escalate."""
    return role == Role.AGENT and item.assignee_id not in (None, actor.pk) and action != "escalate"


def _blocked(item: Discrepancy, action: str) -> str:
    """Why an adjustment may not take this step now ("" when it may)."""
    if action == "resolve" and item.approval == Approval.PENDING:
        return "This adjustment waits for a supervisor's approval."
    if action == "reopen" and item.approval == Approval.REJECTED:
        return "A rejected adjustment stays closed: request a new one."
    return ""


def actions_for(*, discrepancy: Discrepancy, user) -> list[str]:
    """The transitions this user may take on this item now, in display order."""
    role = role_of(user, discrepancy.client)
    if role not in WRITE_ROLES:
        return []
    return [
        action
        for action, (sources, _, roles) in TRANSITIONS.items()
        if discrepancy.status in sources and role in roles
        and not _someone_elses(discrepancy, role, user, action) and not _blocked(discrepancy, action)
    ]


def _resolution(item: Discrepancy, resolution_code: str, resolution_text: str, root_cause: str) -> dict:
    """The changes that resolve the item, once its kind's code and a text are given."""
    codes = dict(RESOLUTION_CODES[item.kind])
    if resolution_code not in codes:
        raise ValidationError({"resolution_code": f"Choose a resolution for a {item.get_kind_display().lower()}: {', '.join(codes.values())}."})
    if not resolution_text.strip():
        raise ValidationError({"resolution_text": "Say what was done."})
    if root_cause and root_cause not in RootCause.values:
        raise ValidationError({"root_cause": "Unknown root cause."})
    changes = {"resolution_code": resolution_code, "resolution_text": resolution_text.strip()}
    if root_cause:
        changes["root_cause"] = root_cause
    return changes


@transaction.atomic
def discrepancy_transition(
    *,
    discrepancy: Discrepancy,
    actor: Actor,
    action: str,
    version: int,
    reason: str = "",
    resolution_code: str = "",
    resolution_text: str = "",
    root_cause: str = "",
) -> Discrepancy:
    """Move an item along the workflow (see TRANSITIONS); resolving needs a code of its kind."""
    if action not in TRANSITIONS:
        raise DomainError(f"Unknown step {action!r}.")
    sources, target, roles = TRANSITIONS[action]
    item = Discrepancy.objects.select_related("client").get(pk=discrepancy.pk)
    role = require_role(actor, item.client, roles)
    if item.version != version:
        raise stale_error(item, item.status)
    if _someone_elses(item, role, actor, action):
        raise PermissionDenied(f"{item.reference} is assigned to someone else.")
    if item.status not in sources:
        allowed = ", ".join(Status(s).label.lower() for s in Status.values if s in sources)
        raise DomainError(
            f"{item.reference} is {item.get_status_display().lower()}: "
            f"\"{ACTION_LABELS[action]}\" applies only to items that are {allowed}."
        )
    if blocked := _blocked(item, action):
        raise DomainError(blocked)
    reason = reason.strip()
    if action in REASON_REQUIRED and not reason:
        raise DomainError(REASON_REQUIRED[action])
    now = timezone.now()
    before = {"status": item.status, "assignee_id": item.assignee_id, "sla_due_at": item.sla_due_at}
    changes = {"status": target}
    if action == "escalate":
        changes.update(escalation_level=F("escalation_level") + 1, escalated_at=now)
    if action == "resolve":
        changes.update(_resolution(item, resolution_code, resolution_text, root_cause), resolved_at=now)
    if action == "close":
        changes["closed_at"] = now
    if action == "reopen":
        changes.update(resolved_at=None, closed_at=None, resolution_code="")
    if action in ("reopen", "return_to_agent"):
        # A fresh SLA period: the old due time has long passed, and the sweep would escalate the
        # item again before anyone could pick it up.
        changes["sla_due_at"] = policy.sla_due_at(now, item.client.sla_hours(item.priority))
    changes.update(_sla_after(item, action, now, changes.get("sla_due_at")))
    if target == Status.IN_PROGRESS and item.assignee_id is None:
        if action == "start" or role == Role.AGENT:
            changes["assignee"] = actor  # an agent who works an unassigned item owns it
        else:
            # Nobody works it: back to the pool that "Claim next" serves.
            changes["status"] = Status.OPEN
    conditional_update(item, sources=sources, version=version, **changes)
    item.refresh_from_db()
    details = {
        "action": action,
        "reason": reason,
        "changes": {"status": {"before": before["status"], "after": item.status}},
    }
    if item.assignee_id != before["assignee_id"]:
        details["changes"]["assignee"] = {"before": None, "after": item.assignee.get_username()}
    if item.sla_due_at != before["sla_due_at"]:
        details["sla_due_at"] = item.sla_due_at
    if action == "resolve":
        details.update(resolution_code=resolution_code, resolution=resolution_text.strip(), root_cause=item.root_cause)
    if action == "escalate":
        details["escalation_level"] = item.escalation_level
    audit_record(client=item.client, actor=actor, verb=f"discrepancy.{action}", subject=item, details=details)
    return item


def _sla_after(item: Discrepancy, action: str, now, new_due) -> dict:
    """The SLA record after a step: resolving ends the current due time (met or missed), a
    supervisor's hand-back ends it too, and a fresh due time is added after it."""
    history = item.sla_history
    if action in ("resolve", "return_to_agent", "reopen"):
        history = policy.sla_ended(history, now=now)
    if new_due is not None:
        history = policy.sla_started(history, due_at=new_due, level=item.escalation_level)
    return sla_record(history) if history != item.sla_history else {}


def _status_after_assign(status: str, assignee) -> str:
    """Giving an open item to someone assigns it; taking it back to the pool makes it claimable again."""
    if assignee is not None and status == Status.OPEN:
        return Status.ASSIGNED
    if assignee is None and status in (Status.ASSIGNED, Status.IN_PROGRESS):
        return Status.OPEN
    return status


def _check_assignee(client: Client, assignee) -> None:
    if assignee is not None and role_of(assignee, client) not in WRITE_ROLES:
        raise DomainError(f"{assignee.get_username()} cannot work on {client.code} items.")


def _assignee_change(before, assignee) -> dict:
    return {"before": before.get_username() if before else None, "after": assignee.get_username() if assignee else None}


@transaction.atomic
def discrepancy_assign(*, discrepancy: Discrepancy, actor: Actor, assignee, version: int, reason: str = "") -> Discrepancy:
    """A supervisor gives an item to an agent (or takes it back to the pool with assignee=None)."""
    item = Discrepancy.objects.select_related("client", "assignee").get(pk=discrepancy.pk)
    require_role(actor, item.client, SUPERVISE_ROLES)
    _check_assignee(item.client, assignee)
    changes = {"assignee": _assignee_change(item.assignee, assignee)}
    status = _status_after_assign(item.status, assignee)
    if status != item.status:
        changes["status"] = {"before": item.status, "after": status}
    conditional_update(item, sources=ACTIVE_STATUSES, version=version, assignee=assignee, status=status)
    item.refresh_from_db()
    audit_record(
        client=item.client, actor=actor, verb="discrepancy.assigned", subject=item,
        details={"reason": reason, "changes": changes},
    )
    return item


@transaction.atomic
def discrepancies_bulk_assign(*, client: Client, actor: Actor, ids: list[int], assignee, reason: str = "") -> int:
    """Assign many items of one client at once; returns how many changed.

    Items closed or resolved meanwhile are left alone, and so are items the assignment would not
    change (already theirs, or already in the pool): no event, no new version.
    """
    require_role(actor, client, SUPERVISE_ROLES)
    _check_assignee(client, assignee)
    locked = locks.locked(Discrepancy.objects.filter(client=client, pk__in=ids, status__in=ACTIVE_STATUSES).select_related("assignee"))
    assignee_id = assignee.pk if assignee is not None else None
    items = [
        item for item in locked
        if item.assignee_id != assignee_id or _status_after_assign(item.status, assignee) != item.status
    ]
    now = timezone.now()
    events = []
    for item in items:
        changes = {"assignee": _assignee_change(item.assignee, assignee)}
        status = _status_after_assign(item.status, assignee)
        if status != item.status:
            changes["status"] = {"before": item.status, "after": status}
        item.assignee = assignee
        item.status = status
        item.version += 1
        item.updated_at = now
        events.append(PendingEvent("discrepancy.assigned", item, {"reason": reason, "bulk": True, "changes": changes}))
    Discrepancy.objects.bulk_update(items, ["assignee", "status", "version", "updated_at"])
    audit_record_many(client=client, actor=actor, events=events)
    return len(items)


@transaction.atomic
def discrepancy_claim_next(*, user, clients) -> Discrepancy | None:
    """Give the user the oldest highest-priority unassigned item of their clients.

    SKIP LOCKED: two agents claiming at once each get a different item, never the same one.
    """
    writable = [c for c in clients if role_of(user, c) in WRITE_ROLES]
    claimable = (
        Discrepancy.objects.filter(client__in=writable, status=Status.OPEN, assignee__isnull=True)
        # An adjustment waiting for a supervisor is not work an agent can do yet.
        .exclude(approval=Approval.PENDING)
        .order_by("-priority_rank", "created_at", "pk")
    )
    item = locks.locked(claimable, skip_locked=True, ordered=False).first()
    if item is None:
        return None
    Discrepancy.objects.filter(pk=item.pk).update(
        assignee=user, status=Status.ASSIGNED, version=F("version") + 1, updated_at=timezone.now()
    )
    item.refresh_from_db()
    audit_record(
        client=item.client, actor=user, verb="discrepancy.claimed", subject=item,
        details={"changes": {"status": {"before": Status.OPEN, "after": Status.ASSIGNED}, "assignee": {"before": None, "after": user.get_username()}}},
    )
    return item


@transaction.atomic
def discrepancy_set_priority(*, discrepancy: Discrepancy, actor: Actor, priority: str, version: int, reason: str) -> Discrepancy:
    """A supervisor overrides the policy's priority; the SLA due time follows the new priority."""
    item = Discrepancy.objects.select_related("client").get(pk=discrepancy.pk)
    require_role(actor, item.client, SUPERVISE_ROLES)
    if priority not in Priority.values:
        raise DomainError(f"Unknown priority {priority!r}.")
    if not reason.strip():
        raise DomainError("Say why the priority changes.")
    before = item.priority
    due = policy.sla_due_at(item.created_at, item.client.sla_hours(priority))
    history = policy.sla_moved(item.sla_history, due_at=due, now=timezone.now())
    conditional_update(
        item, sources=ACTIVE_STATUSES, version=version, priority=priority,
        priority_rank=PRIORITY_RANK[priority], priority_overridden=True, sla_due_at=due, **sla_record(history),
    )
    item.refresh_from_db()
    audit_record(
        client=item.client, actor=actor, verb="discrepancy.priority_changed", subject=item,
        details={"reason": reason.strip(), "changes": {"priority": {"before": before, "after": priority}}, "sla_due_at": due},
    )
    return item
