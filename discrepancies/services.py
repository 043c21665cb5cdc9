"""Every write to discrepancies. Each checks the actor's role in the client, changes the row with
a conditional UPDATE (status and version as they were read), and writes its AuditEvent in the
same transaction."""

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Case, F, Max, Value, When
from django.db.models.functions import Abs, Least
from django.template.loader import render_to_string
from django.utils import timezone

from bpo_ledger.access import ADMIN, SUPERVISE_ROLES, WRITE_ROLES, role_of
from bpo_ledger.audit import Actor, PendingEvent, audit_record, audit_record_many
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client, Customer, Payment, Role
from schedules import services as schedule_services
from schedules.models import PaymentStatus, ScheduledPayment

from . import policy
from .models import (
    ACTIVE_STATUSES,
    PRIORITY_RANK,
    RESOLUTION_CODES,
    AdjustmentType,
    Approval,
    Attachment,
    Discrepancy,
    DiscrepancyKind,
    MismatchField,
    Note,
    Priority,
    RootCause,
    Status,
)

SYSTEM_SLA = "system:sla_sweep"


class StaleError(DomainError):
    """The row changed since the user loaded it: nothing was overwritten."""


# action -> (statuses it may start from, status it leads to, roles that may do it)
AGENT_AND_UP = frozenset({Role.AGENT, Role.SUPERVISOR, ADMIN})
TRANSITIONS = {
    "start": ({Status.ASSIGNED}, Status.IN_PROGRESS, AGENT_AND_UP),
    "await_customer": ({Status.IN_PROGRESS}, Status.AWAITING_CUSTOMER, AGENT_AND_UP),
    "customer_replied": ({Status.AWAITING_CUSTOMER}, Status.IN_PROGRESS, AGENT_AND_UP),
    "escalate": (
        {Status.OPEN, Status.ASSIGNED, Status.IN_PROGRESS, Status.AWAITING_CUSTOMER},
        Status.ESCALATED,
        AGENT_AND_UP,
    ),
    "return_to_agent": ({Status.ESCALATED}, Status.IN_PROGRESS, SUPERVISE_ROLES),
    "resolve": ({Status.IN_PROGRESS, Status.AWAITING_CUSTOMER, Status.ESCALATED}, Status.RESOLVED, AGENT_AND_UP),
    "close": ({Status.RESOLVED}, Status.CLOSED, SUPERVISE_ROLES),
    "reopen": ({Status.RESOLVED, Status.CLOSED}, Status.IN_PROGRESS, AGENT_AND_UP),
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


def _role(actor: Actor, client: Client) -> str:
    if isinstance(actor, str):
        return ADMIN  # system jobs act with full rights, on record under their own name
    role = role_of(actor, client)
    if role is None:
        raise PermissionDenied("You are not a member of this client.")
    return role


def _require(actor: Actor, client: Client, roles) -> str:
    role = _role(actor, client)
    if role not in roles:
        raise PermissionDenied("Your role for this client may not do this.")
    return role


def actions_for(*, discrepancy: Discrepancy, user) -> list[str]:
    """The transitions this user may take on this item now, in display order."""
    role = role_of(user, discrepancy.client)
    if role not in WRITE_ROLES:
        return []
    allowed = []
    for action, (sources, _, roles) in TRANSITIONS.items():
        if discrepancy.status in sources and role in roles:
            if role == Role.AGENT and discrepancy.assignee_id not in (None, user.pk) and action != "escalate":
                continue
            if _blocked(discrepancy, action):
                continue
            allowed.append(action)
    return allowed


def _blocked(item: Discrepancy, action: str) -> str:
    """Why an adjustment may not take this step now ("" when it may)."""
    if action == "resolve" and item.approval == Approval.PENDING:
        return "This adjustment waits for a supervisor's approval."
    if action == "reopen" and item.approval == Approval.REJECTED:
        return "A rejected adjustment stays closed: request a new one."
    return ""


def _stale_error(item: Discrepancy, status: str) -> StaleError:
    return StaleError(
        f"{item.reference} was changed by someone else (it is now {Status(status).label.lower()}): "
        "reload the page and try again. Nothing was overwritten."
    )


def _status_after_assign(status: str, assignee) -> str:
    """Giving an open item to someone assigns it; taking it back to the pool makes it claimable again."""
    if assignee is not None and status == Status.OPEN:
        return Status.ASSIGNED
    if assignee is None and status in (Status.ASSIGNED, Status.IN_PROGRESS):
        return Status.OPEN
    return status


def _compute_priority(client: Client, amount: Decimal, opened_at: dt.datetime, now: dt.datetime) -> str:
    rank = policy.priority_rank(
        amount, opened_at=opened_at, now=now, medium=client.priority_medium_amount,
        high=client.priority_high_amount, critical=client.priority_critical_amount,
        age_step_days=client.priority_age_step_days,
    )
    return policy.PRIORITIES[rank]


def _lock_client(client: Client) -> None:
    # The client row (as the audit chain does): numbers and fingerprints are handed out one at a time.
    list(Client.objects.select_for_update(no_key=True).filter(pk=client.pk).values_list("pk"))


def _next_number(client: Client) -> int:
    _lock_client(client)
    return (Discrepancy.objects.filter(client=client).aggregate(n=Max("number"))["n"] or 0) + 1


@transaction.atomic
def discrepancy_log(
    *,
    client: Client,
    actor: Actor,
    kind: str,
    summary: str,
    currency: str = "",
    amount_expected: Decimal | None = None,
    amount_actual: Decimal | None = None,
    customer: Customer | None = None,
    scheduled_payment: ScheduledPayment | None = None,
    payments: list[Payment] = (),
    mismatch_field: str = "",
    root_cause: str = "",
    detected_by: str = "",
    fingerprint: str = "",
    now: dt.datetime | None = None,
) -> tuple[Discrepancy, bool]:
    """Log a discrepancy, by hand or from a reconciliation run; returns (item, created).

    The same fingerprint in the same client is the same problem: the existing item comes back.
    """
    if not isinstance(actor, str):
        _require(actor, client, WRITE_ROLES)
    opened_at = now or timezone.now()
    if fingerprint:
        # Checked under the client lock: two runs logging the same problem at once get one item
        # (the second finds the first's), never an IntegrityError.
        _lock_client(client)
        existing = Discrepancy.objects.filter(client=client, fingerprint=fingerprint).first()
        if existing:
            return existing, False
    errors = {}
    if kind not in DiscrepancyKind.values:
        errors["kind"] = f"Unknown kind {kind!r}."
    if kind == DiscrepancyKind.MISMATCH and mismatch_field not in MismatchField.values:
        errors["mismatch_field"] = "Say which field does not match."
    if kind != DiscrepancyKind.MISMATCH and mismatch_field:
        errors["mismatch_field"] = "Only a mismatch names a mismatched field."
    if root_cause and root_cause not in RootCause.values:
        errors["root_cause"] = f"Unknown root cause {root_cause!r}."
    if not summary.strip():
        errors["summary"] = "Describe the problem in a line."
    for name, related in (("customer", customer), ("scheduled_payment", scheduled_payment)):
        if related is not None and related.client_id != client.pk:
            errors[name] = "This belongs to another client."
    if any(p.client_id != client.pk for p in payments):
        errors["payments"] = "A payment belongs to another client."
    if errors:
        raise ValidationError(errors)
    if scheduled_payment is not None and customer is None:
        customer = scheduled_payment.schedule.customer
    difference = (amount_actual or Decimal("0")) - (amount_expected or Decimal("0"))
    priority = _compute_priority(client, difference, opened_at, opened_at)
    item = Discrepancy.objects.create(
        client=client,
        number=_next_number(client),
        kind=kind,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        summary=summary.strip(),
        currency=currency or client.currency,
        amount_expected=amount_expected,
        amount_actual=amount_actual,
        amount_difference=difference,
        customer=customer,
        scheduled_payment=scheduled_payment,
        mismatch_field=mismatch_field,
        root_cause=root_cause,
        sla_due_at=policy.sla_due_at(opened_at, client.sla_hours(priority)),
        detected_by=detected_by or (actor if isinstance(actor, str) else f"user:{actor.get_username()}"),
        reported_by=None if isinstance(actor, str) else actor,
        fingerprint=fingerprint or f"manual:{uuid.uuid4()}",
    )
    if now is not None:
        # auto_now_add ignores a given value. An item logged as of a moment (a run's) is opened
        # then, so its age, its priority ageing and its SLA all count from the same instant.
        Discrepancy.objects.filter(pk=item.pk).update(created_at=opened_at)
        item.created_at = opened_at
    if payments:
        item.payments.set(payments)
    audit_record(
        client=client, actor=actor, verb="discrepancy.logged", subject=item,
        details={
            "kind": kind, "summary": item.summary, "priority": priority, "currency": item.currency,
            "amount_expected": amount_expected, "amount_actual": amount_actual, "difference": difference,
            "scheduled_payment": scheduled_payment.reference if scheduled_payment else None,
            "sla_due_at": item.sla_due_at, "detected_by": item.detected_by,
        },
    )
    return item, True


def _conditional_update(item: Discrepancy, *, sources, version: int, conditions: dict | None = None, **changes) -> None:
    """UPDATE ... WHERE status IN sources AND version = version; refuse if someone got there first."""
    updated = Discrepancy.objects.filter(pk=item.pk, version=version, status__in=sources, **(conditions or {})).update(
        version=F("version") + 1, updated_at=timezone.now(), **changes
    )
    if updated:
        return
    current = Discrepancy.objects.filter(pk=item.pk).values("status", "version").get()
    if current["version"] != version:
        raise _stale_error(item, current["status"])
    raise DomainError(f"{item.reference} is {Status(current['status']).label.lower()}: this step does not apply.")


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
    role = _require(actor, item.client, roles)
    if item.version != version:
        raise _stale_error(item, item.status)
    if role == Role.AGENT and item.assignee_id not in (None, actor.pk) and action != "escalate":
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
    now = timezone.now()
    before = {"status": item.status, "assignee_id": item.assignee_id, "sla_due_at": item.sla_due_at}
    changes = {"status": target}
    if action == "escalate":
        if not reason:
            raise DomainError("Say why you escalate: the supervisor reads it first.")
        changes.update(escalation_level=F("escalation_level") + 1, escalated_at=now)
    if action == "resolve":
        codes = dict(RESOLUTION_CODES[item.kind])
        if resolution_code not in codes:
            raise ValidationError({"resolution_code": f"Choose a resolution for a {item.get_kind_display().lower()}: {', '.join(codes.values())}."})
        if not resolution_text.strip():
            raise ValidationError({"resolution_text": "Say what was done."})
        if root_cause and root_cause not in RootCause.values:
            raise ValidationError({"root_cause": "Unknown root cause."})
        changes.update(resolution_code=resolution_code, resolution_text=resolution_text.strip(), resolved_at=now)
        if root_cause:
            changes["root_cause"] = root_cause
    if action == "close":
        changes["closed_at"] = now
    if action == "reopen":
        if not reason:
            raise DomainError("Say why it is reopened.")
        changes.update(resolved_at=None, closed_at=None, resolution_code="")
    if action in ("reopen", "return_to_agent"):
        # A fresh SLA period: the old due time has long passed, and the sweep would escalate the
        # item again before anyone could pick it up.
        changes["sla_due_at"] = policy.sla_due_at(now, item.client.sla_hours(item.priority))
    if target == Status.IN_PROGRESS and item.assignee_id is None:
        if action == "start" or role == Role.AGENT:
            changes["assignee"] = actor  # an agent who works an unassigned item owns it
        else:
            # Nobody works it: back to the pool that "Claim next" serves.
            changes["status"] = Status.OPEN
    _conditional_update(item, sources=sources, version=version, **changes)
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


@transaction.atomic
def discrepancy_assign(*, discrepancy: Discrepancy, actor: Actor, assignee, version: int, reason: str = "") -> Discrepancy:
    """A supervisor gives an item to an agent (or takes it back to the pool with assignee=None)."""
    item = Discrepancy.objects.select_related("client", "assignee").get(pk=discrepancy.pk)
    _require(actor, item.client, SUPERVISE_ROLES)
    if assignee is not None and role_of(assignee, item.client) not in WRITE_ROLES:
        raise DomainError(f"{assignee.get_username()} cannot work on {item.client.code} items.")
    before = {"assignee": item.assignee.get_username() if item.assignee else None, "status": item.status}
    status = _status_after_assign(item.status, assignee)
    _conditional_update(item, sources=ACTIVE_STATUSES, version=version, assignee=assignee, status=status)
    item.refresh_from_db()
    changes = {"assignee": {"before": before["assignee"], "after": assignee.get_username() if assignee else None}}
    if status != before["status"]:
        changes["status"] = {"before": before["status"], "after": status}
    audit_record(
        client=item.client, actor=actor, verb="discrepancy.assigned", subject=item,
        details={"reason": reason, "changes": changes},
    )
    return item


@transaction.atomic
def discrepancies_bulk_assign(*, client: Client, actor: Actor, ids: list[int], assignee, reason: str = "") -> int:
    """Assign many items of one client at once; items closed or resolved meanwhile are left alone."""
    _require(actor, client, SUPERVISE_ROLES)
    if assignee is not None and role_of(assignee, client) not in WRITE_ROLES:
        raise DomainError(f"{assignee.get_username()} cannot work on {client.code} items.")
    # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the assignee join.
    items = list(
        Discrepancy.objects.select_for_update(of=("self",)).filter(client=client, pk__in=ids, status__in=ACTIVE_STATUSES)
        .select_related("assignee").order_by("pk")
    )
    now = timezone.now()
    events = []
    for item in items:
        before = item.assignee.get_username() if item.assignee else None
        changes = {"assignee": {"before": before, "after": assignee.get_username() if assignee else None}}
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
    item = (
        Discrepancy.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(client__in=writable, status=Status.OPEN, assignee__isnull=True)
        # An adjustment waiting for a supervisor is not work an agent can do yet.
        .exclude(approval=Approval.PENDING)
        .order_by("-priority_rank", "created_at", "pk")
        .first()
    )
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
    _require(actor, item.client, SUPERVISE_ROLES)
    if priority not in Priority.values:
        raise DomainError(f"Unknown priority {priority!r}.")
    if not reason.strip():
        raise DomainError("Say why the priority changes.")
    before = item.priority
    due = policy.sla_due_at(item.created_at, item.client.sla_hours(priority))
    _conditional_update(
        item, sources=ACTIVE_STATUSES, version=version, priority=priority,
        priority_rank=PRIORITY_RANK[priority], priority_overridden=True, sla_due_at=due,
    )
    item.refresh_from_db()
    audit_record(
        client=item.client, actor=actor, verb="discrepancy.priority_changed", subject=item,
        details={"reason": reason.strip(), "changes": {"priority": {"before": before, "after": priority}}, "sla_due_at": due},
    )
    return item


@transaction.atomic
def discrepancy_note_add(*, discrepancy: Discrepancy, actor, text: str) -> Note:
    _require(actor, discrepancy.client, WRITE_ROLES)
    if not text.strip():
        raise DomainError("The note is empty.")
    note = Note.objects.create(client=discrepancy.client, discrepancy=discrepancy, author=actor, text=text.strip())
    audit_record(
        client=discrepancy.client, actor=actor, verb="discrepancy.note_added", subject=discrepancy,
        details={"reason": note.text[:500], "note": note.pk},
    )
    return note


# Evidence files: what they may be and how big.
ATTACHMENT_TYPES = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".csv": ("text/csv", None),
    ".txt": ("text/plain", None),
    ".eml": ("message/rfc822", None),
}


def attachment_max_bytes() -> int:
    return getattr(settings, "ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


@transaction.atomic
def discrepancy_attach(*, discrepancy: Discrepancy, actor, upload) -> Attachment:
    """Store an evidence file after checking its size, extension and content."""
    _require(actor, discrepancy.client, WRITE_ROLES)
    name = upload.name.rsplit("/", 1)[-1]
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if extension not in ATTACHMENT_TYPES:
        raise DomainError(f"{name}: only {', '.join(sorted(ATTACHMENT_TYPES))} files can be attached.")
    limit = attachment_max_bytes()
    if upload.size > limit:
        raise DomainError(f"{name} is {upload.size / 1048576:.1f} MB; the limit is {limit / 1048576:.0f} MB.")
    content_type, magic = ATTACHMENT_TYPES[extension]
    head = upload.read(4096)
    upload.seek(0)
    if magic and not head.startswith(magic):
        raise DomainError(f"{name} is not really a {extension[1:].upper()} file.")
    if magic is None and b"\x00" in head:
        raise DomainError(f"{name} is not a text file.")
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = Attachment(
        client=discrepancy.client, discrepancy=discrepancy, original_name=name[:255], content_type=content_type,
        size=upload.size, sha256=digest.hexdigest(), uploaded_by=actor,
    )
    attachment.file.save(name, upload, save=False)
    attachment.save()
    audit_record(
        client=discrepancy.client, actor=actor, verb="discrepancy.attachment_added", subject=discrepancy,
        details={"file": attachment.original_name, "size": attachment.size, "sha256": attachment.sha256},
    )
    return attachment


NOTIFIABLE_KINDS = (DiscrepancyKind.UNDERPAYMENT, DiscrepancyKind.MISSING)


def notify_refusal(item: Discrepancy) -> str:
    """Why the customer of this item cannot be emailed now ("" when they can)."""
    if item.kind not in NOTIFIABLE_KINDS:
        return "Only underpayments and missing payments are notified to the customer."
    if not item.is_active:
        return f"{item.reference} is {item.get_status_display().lower()}: reopen it before writing to the customer."
    customer = item.customer
    if customer is None:
        return "No customer is linked to this item."
    if not (customer.email_consent and customer.email):
        return f"{customer.name} has not agreed to email, or has no address: call them instead."
    return ""


@transaction.atomic
def discrepancy_notify_customer(*, discrepancy: Discrepancy, actor, message: str = "") -> str:
    """Email the customer about an underpayment or a missing payment; returns the Message-ID."""
    item = Discrepancy.objects.select_related("client", "customer", "scheduled_payment").get(pk=discrepancy.pk)
    _require(actor, item.client, WRITE_ROLES)
    refusal = notify_refusal(item)
    if refusal:
        raise DomainError(refusal)
    customer = item.customer
    context = {
        "customer_name": customer.name,
        "client_name": item.client.name,
        "currency": item.currency,
        "expected": item.amount_expected,
        "received": item.amount_actual or Decimal("0.00"),
        "outstanding": abs(item.amount_difference),
        "reference": item.scheduled_payment.reference if item.scheduled_payment else item.reference,
        "due_date": item.scheduled_payment.due_date if item.scheduled_payment else None,
        "how_to_pay": item.client.payment_instructions,
        "message": message.strip(),
    }
    subject = render_to_string(f"discrepancies/notify/{item.kind}_subject.txt", context).strip()
    body = render_to_string(f"discrepancies/notify/{item.kind}_email.txt", context).strip()
    email = EmailMessage(subject, body, to=[customer.email])
    message_id = email.message()["Message-ID"]
    email.extra_headers["Message-ID"] = message_id
    # Sent only once the log entry is committed: a rolled-back change notifies nobody.
    transaction.on_commit(lambda: email.send())
    audit_record(
        client=item.client, actor=actor, verb="discrepancy.customer_notified", subject=item,
        details={"channel": "email", "to": customer.email, "subject": subject, "provider_id": message_id, "reason": message.strip()},
    )
    return message_id


# --- Adjustments -------------------------------------------------------------------------


@transaction.atomic
def adjustment_request(
    *,
    client: Client,
    actor,
    adjustment_type: str,
    scheduled_payment: ScheduledPayment,
    amount: Decimal | None = None,
    reason: str,
    payment: Payment | None = None,
    root_cause: str = "",
    fingerprint: str = "",
) -> Discrepancy:
    """Log a write-off, amount correction or manual match as an adjustment.

    Up to the client's threshold it is applied at once; above it, it waits for a supervisor
    other than the requester, and until then changes no balance. A fingerprint already logged
    returns that adjustment, unchanged.
    """
    _require(actor, client, WRITE_ROLES)
    if fingerprint:
        _lock_client(client)
        existing = Discrepancy.objects.filter(client=client, fingerprint=fingerprint).first()
        if existing:
            return existing
    if adjustment_type not in AdjustmentType.values:
        raise ValidationError({"adjustment_type": "Choose write-off, amount correction or manual match."})
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why: the approver reads it."})
    if scheduled_payment.client_id != client.pk:
        raise ValidationError({"scheduled_payment": "This payment belongs to another client."})
    # As it is now, not as the caller's page showed it: the before values go on the record.
    scheduled_payment = ScheduledPayment.objects.select_related("schedule").get(pk=scheduled_payment.pk)
    currency = scheduled_payment.schedule.currency
    reference = scheduled_payment.reference
    outstanding = scheduled_payment.amount_outstanding
    if adjustment_type == AdjustmentType.MANUAL_MATCH:
        if payment is None or payment.client_id != client.pk:
            raise ValidationError({"payment": "Choose the received payment to match."})
        if payment.amount <= 0:
            raise ValidationError({"payment": "A reversal or refund cannot settle a payment."})
        if payment.currency != currency:
            raise ValidationError({"payment": f"The payment is in {payment.currency}; {reference} is in {currency}."})
        amount = min(payment.amount, outstanding)
    if amount is None or amount <= 0:
        raise ValidationError({"amount": "The amount must be more than zero."})
    if adjustment_type != AdjustmentType.AMOUNT_CORRECTION and not scheduled_payment.is_open:
        raise ValidationError({"scheduled_payment": f"{reference} is {scheduled_payment.get_status_display().lower()}: nothing is owed on it."})
    if adjustment_type == AdjustmentType.WRITE_OFF and amount > outstanding:
        raise ValidationError({"amount": f"Only {outstanding} is outstanding on {reference}."})
    if adjustment_type == AdjustmentType.AMOUNT_CORRECTION:
        if scheduled_payment.status in (PaymentStatus.WAIVED, PaymentStatus.CANCELLED):
            raise ValidationError({"scheduled_payment": f"{reference} is {scheduled_payment.get_status_display().lower()}: it cannot be corrected."})
        if amount == scheduled_payment.amount_due:
            raise ValidationError({"amount": f"{reference} is already {amount}."})
    before = {
        "reference": reference,
        "amount_due": scheduled_payment.amount_due,
        "amount_paid": scheduled_payment.amount_paid,
        "status": scheduled_payment.status,
    }
    # Expected and actual are the adjusted figure before and after, so the difference is the
    # amount at stake (for a correction, the change, not the new amount).
    if adjustment_type == AdjustmentType.WRITE_OFF:
        figure_before, figure_after = scheduled_payment.amount_due, scheduled_payment.amount_due - amount
        after = {"amount_due": figure_after}
    elif adjustment_type == AdjustmentType.AMOUNT_CORRECTION:
        figure_before, figure_after = scheduled_payment.amount_due, amount
        after = {"amount_due": figure_after}
    else:
        figure_before, figure_after = scheduled_payment.amount_paid, scheduled_payment.amount_paid + amount
        after = {"amount_paid": figure_after, "payment": payment.bank_transaction_id}
    at_stake = abs(figure_after - figure_before)
    needs_approval = at_stake > client.adjustment_approval_threshold
    item, _ = discrepancy_log(
        client=client, actor=actor, kind=DiscrepancyKind.ADJUSTMENT,
        summary=f"{AdjustmentType(adjustment_type).label} of {currency} {at_stake} on {reference}",
        currency=currency, amount_expected=figure_before, amount_actual=figure_after,
        scheduled_payment=scheduled_payment, payments=[payment] if payment else [], root_cause=root_cause,
        fingerprint=fingerprint,
    )
    Discrepancy.objects.filter(pk=item.pk).update(
        adjustment_type=adjustment_type, adjustment_amount=amount,
        adjustment_before=_json(before), adjustment_after=_json(after),
        approval=Approval.PENDING if needs_approval else Approval.NOT_REQUIRED,
        resolution_text=reason,
    )
    item.refresh_from_db()
    audit_record(
        client=client, actor=actor, verb="adjustment.requested", subject=item,
        details={"type": adjustment_type, "amount": amount, "reason": reason, "before": before, "after": after,
                 "needs_approval": needs_approval, "threshold": client.adjustment_approval_threshold},
    )
    if not needs_approval:
        _adjustment_apply(item, actor)
        item.refresh_from_db()
    return item


def _json(values: dict) -> dict:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}


def _adjustment_apply(item: Discrepancy, actor) -> None:
    """Change the balance through the schedules services (on the schedule's log) and resolve the item."""
    scheduled_payment = item.scheduled_payment
    reason = f"Adjustment {item.reference}: {item.resolution_text}"
    if item.adjustment_type == AdjustmentType.WRITE_OFF:
        schedule_services.scheduled_payment_waive(scheduled_payment=scheduled_payment, actor=actor, amount=item.adjustment_amount, reason=reason)
    elif item.adjustment_type == AdjustmentType.AMOUNT_CORRECTION:
        schedule_services.scheduled_payment_correct_amount(scheduled_payment=scheduled_payment, actor=actor, amount_due=item.adjustment_amount, reason=reason)
    else:
        payment = item.payments.get()
        schedule_services.scheduled_payment_record(
            scheduled_payment=scheduled_payment, actor=actor, amount=item.adjustment_amount,
            paid_on=payment.value_date, method="bank_transfer", note=reason,
        )
    now = timezone.now()
    Discrepancy.objects.filter(pk=item.pk).update(
        applied_at=now, status=Status.RESOLVED, resolution_code="applied", resolved_at=now,
        version=F("version") + 1, updated_at=now,
    )
    audit_record(
        client=item.client, actor=actor, verb="adjustment.applied", subject=item,
        details={
            "type": item.adjustment_type, "amount": item.adjustment_amount, "scheduled_payment": scheduled_payment.reference,
            "changes": {"status": {"before": item.status, "after": Status.RESOLVED}},
        },
    )


@transaction.atomic
def adjustment_decide(*, discrepancy: Discrepancy, actor, approve: bool, comment: str, version: int) -> Discrepancy:
    """A supervisor approves (and so applies) or rejects a pending adjustment; never their own."""
    item = Discrepancy.objects.select_related("client", "scheduled_payment", "reported_by").get(pk=discrepancy.pk)
    _require(actor, item.client, SUPERVISE_ROLES)
    if isinstance(actor, str) or item.reported_by_id == actor.pk:
        raise PermissionDenied("Nobody approves their own adjustment: another supervisor must decide.")
    if item.version != version:
        raise _stale_error(item, item.status)
    if item.approval != Approval.PENDING:
        raise DomainError(f"{item.reference} does not wait for approval.")
    comment = comment.strip()
    if not comment:
        raise DomainError("Add a comment for the record.")
    now = timezone.now()
    changes = {
        "approval": Approval.APPROVED if approve else Approval.REJECTED,
        "approved_by": actor, "approval_comment": comment, "approval_decided_at": now,
    }
    if not approve:
        changes.update(status=Status.CLOSED, closed_at=now, resolution_code="")
    before = item.status
    _conditional_update(item, sources=ACTIVE_STATUSES, version=version, conditions={"approval": Approval.PENDING}, **changes)
    item.refresh_from_db()
    details = {"reason": comment, "requested_by": item.reported_by.get_username() if item.reported_by else None}
    if not approve:
        details["changes"] = {"status": {"before": before, "after": item.status}}
    audit_record(
        client=item.client, actor=actor, verb="adjustment.approved" if approve else "adjustment.rejected", subject=item,
        details=details,
    )
    if approve:
        _adjustment_apply(item, actor)
        item.refresh_from_db()
    return item


# --- The SLA sweep ----------------------------------------------------------------------


@transaction.atomic
def discrepancies_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """Escalate every active item past its SLA due time and raise its level; safe to run twice.

    The new due time is a fresh SLA period from now, so the next breach escalates again and an
    item not yet past it is left alone.
    """
    now = now or timezone.now()
    late = list(
        Discrepancy.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status__in=ACTIVE_STATUSES, sla_due_at__lt=now)
        .select_related("client")
        .order_by("client_id", "pk")
    )
    by_client: dict[int, list] = {}
    for item in late:
        item.previous_status = item.status
        item.status = Status.ESCALATED
        item.escalation_level += 1
        item.escalated_at = now
        item.sla_due_at = policy.sla_due_at(now, item.client.sla_hours(item.priority))
        item.version += 1
        item.updated_at = now
        by_client.setdefault(item.client_id, []).append(item)
    Discrepancy.objects.bulk_update(late, ["status", "escalation_level", "escalated_at", "sla_due_at", "version", "updated_at"], batch_size=500)
    for items in by_client.values():
        audit_record_many(
            client=items[0].client, actor=SYSTEM_SLA,
            events=[
                PendingEvent("discrepancy.escalate", item, {
                    "reason": "SLA breached", "escalation_level": item.escalation_level,
                    "changes": {"status": {"before": item.previous_status, "after": Status.ESCALATED}},
                    "sla_due_at": item.sla_due_at,
                })
                for item in items
            ],
        )
    return len(late)


@transaction.atomic
def discrepancies_age_priorities(*, client: Client, now: dt.datetime | None = None) -> int:
    """Raise the priority of items that have aged, by the client's policy (never lowers it).

    Overridden priorities stay as the supervisor set them. Each raise is on the item's log.
    """
    now = now or timezone.now()
    # policy.priority_rank in SQL: the amount's rank plus one per full age step, at most critical.
    base = Case(
        When(amount_abs__gte=client.priority_critical_amount, then=Value(3)),
        When(amount_abs__gte=client.priority_high_amount, then=Value(2)),
        When(amount_abs__gte=client.priority_medium_amount, then=Value(1)),
        default=Value(0),
    )
    events = []
    # Oldest step first: an item three steps old is raised once, straight to its rank.
    for steps in (3, 2, 1):
        cutoff = now - dt.timedelta(days=client.priority_age_step_days * steps)
        raised = list(
            Discrepancy.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(client=client, status__in=ACTIVE_STATUSES, priority_overridden=False, created_at__lte=cutoff)
            .annotate(amount_abs=Abs("amount_difference"), target_rank=Least(base + Value(steps), Value(3)))
            .filter(priority_rank__lt=F("target_rank"))
            .order_by("pk")
            .values_list("pk", "priority", "target_rank")
        )
        for rank in (1, 2, 3):
            pks = [pk for pk, _, target in raised if target == rank]
            for start in range(0, len(pks), 500):
                Discrepancy.objects.filter(pk__in=pks[start : start + 500]).update(
                    priority_rank=rank, priority=policy.PRIORITIES[rank], version=F("version") + 1, updated_at=now
                )
        events += [
            PendingEvent("discrepancy.priority_aged", ("discrepancy", pk), {
                "reason": f"Open for {client.priority_age_step_days * steps}+ days",
                "changes": {"priority": {"before": before, "after": policy.PRIORITIES[target]}},
            })
            for pk, before, target in raised
        ]
    audit_record_many(client=client, actor=SYSTEM_SLA, events=events)
    return len(events)


@dataclass(frozen=True)
class SlaSweep:
    escalated: int
    raised: dict[str, int]  # client code -> priorities raised by age


def discrepancies_sla_sweep(*, now: dt.datetime | None = None) -> SlaSweep:
    """The 15-minute job: escalate what is past its SLA, then age priorities per active client.

    Each step commits on its own; run again at the same moment, it changes nothing more.
    """
    now = now or timezone.now()
    escalated = discrepancies_escalate_overdue(now=now)
    raised = {
        client.code: discrepancies_age_priorities(client=client, now=now)
        for client in Client.objects.filter(is_active=True).order_by("code")
    }
    return SlaSweep(escalated, raised)
