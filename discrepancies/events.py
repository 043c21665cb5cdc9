"""The discrepancy log's verbs: each item's page shows its own timeline."""

from bpo_ledger.events import (
    EventType,
    changes,
    joined,
    money,
    register,
    register_subjects,
    register_system_actors,
    value_text,
)

from .models import AdjustmentType

DISCREPANCY = "discrepancy"
SLA_SWEEP = "system:sla_sweep"  # the actor of the SLA sweep's escalations and priority raises

ADJUSTMENT_TYPES = {t.value: t.label.lower() for t in AdjustmentType}


def _logged(d: dict) -> str:
    text = value_text(d.get("kind"))
    difference = d.get("difference")
    if difference not in (None, ""):
        text += f" of {money(str(difference).lstrip('-'), d.get('currency', ''))}"
    if d.get("scheduled_payment"):
        text += f" on {d['scheduled_payment']}"
    parts = [text]
    if d.get("priority"):
        parts.append(f"{value_text(d['priority'])} priority")
    if d.get("summary"):
        parts.append(d["summary"])
    return joined(parts)


def _step(d: dict) -> str:
    parts = [changes(d.get("changes"))]
    if d.get("resolution_code"):
        parts.append(f"resolution: {value_text(d['resolution_code'])}")
    if d.get("resolution"):
        parts.append(d["resolution"])
    if d.get("escalation_level"):
        parts.append(f"escalation level {d['escalation_level']}")
    return joined(parts)


def _attachment(d: dict) -> str:
    size = d.get("size")
    text = str(d.get("file", ""))
    if size is not None:
        text += f" ({size:,} bytes)"
    return text


def _notified(d: dict) -> str:
    return f"by {value_text(d.get('channel'))} to {d.get('to', '')}: {d.get('subject', '')}".strip()


def _adjustment(d: dict) -> str:
    return f"{ADJUSTMENT_TYPES.get(d.get('type'), value_text(d.get('type')))} of {money(d.get('amount'), d.get('currency', ''))}"


def _adjustment_requested(d: dict) -> str:
    text = _adjustment(d)
    if d.get("needs_approval") and d.get("window_total"):
        text += (
            f"; with the others on the same payment in {d.get('window_days')} days it comes to "
            f"{money(d['window_total'], d.get('currency', ''))}, above the approval threshold of {money(d.get('threshold'))}: "
            "it waits for a supervisor"
        )
    elif d.get("needs_approval"):
        text += f"; above the approval threshold of {money(d.get('threshold'))}, it waits for a supervisor"
    return text


def _adjustment_applied(d: dict) -> str:
    text = _adjustment(d)
    if d.get("scheduled_payment"):
        text += f" on {d['scheduled_payment']}"
    return text


def _decided(d: dict) -> str:
    parts = []
    if d.get("requested_by"):
        parts.append(f"requested by {d['requested_by']}")
    parts.append(changes(d.get("changes")))
    return joined(parts)


def _escalated_by_sweep(d: dict) -> str:
    parts = [changes(d.get("changes"))]
    if d.get("missed_sla_due_at"):
        parts.append(f"missed the SLA due {d['missed_sla_due_at']}")  # in the client's zone, as above
    if d.get("escalation_level"):
        parts.append(f"escalation level {d['escalation_level']}")
    if d.get("sla_due_at"):
        parts.append(f"new SLA due {d['sla_due_at']}")  # a time in the client's zone (events.details_in_zone)
    return joined(parts)


register_subjects({DISCREPANCY: "discrepancy"})
register_system_actors({SLA_SWEEP: "the SLA sweep"})
register(
    EventType("discrepancy.logged", "Discrepancy logged", DISCREPANCY, _logged),
    EventType("discrepancy.start", "Work started", DISCREPANCY, _step),
    EventType("discrepancy.await_customer", "Waiting for the customer", DISCREPANCY, _step),
    EventType("discrepancy.customer_replied", "Customer replied", DISCREPANCY, _step),
    EventType("discrepancy.escalate", "Escalated", DISCREPANCY, _escalated_by_sweep),
    EventType("discrepancy.return_to_agent", "Returned to the agent", DISCREPANCY, _step),
    EventType("discrepancy.resolve", "Resolved", DISCREPANCY, _step),
    EventType("discrepancy.close", "Closed", DISCREPANCY, _step),
    EventType("discrepancy.reopen", "Reopened", DISCREPANCY, _step),
    EventType("discrepancy.assigned", "Assigned", DISCREPANCY, lambda d: changes(d.get("changes"))),
    EventType("discrepancy.claimed", "Claimed", DISCREPANCY, lambda d: changes(d.get("changes"))),
    EventType("discrepancy.priority_changed", "Priority changed", DISCREPANCY, lambda d: changes(d.get("changes"))),
    EventType("discrepancy.priority_aged", "Priority raised by age", DISCREPANCY, lambda d: changes(d.get("changes"))),
    EventType("discrepancy.note_added", "Note added", DISCREPANCY, reason_label=""),
    EventType("discrepancy.attachment_added", "Evidence attached", DISCREPANCY, _attachment),
    EventType("discrepancy.customer_notified", "Customer notified", DISCREPANCY, _notified, "Message"),
    EventType("adjustment.requested", "Adjustment requested", DISCREPANCY, _adjustment_requested),
    EventType("adjustment.applied", "Adjustment applied", DISCREPANCY, _adjustment_applied),
    EventType("adjustment.approved", "Adjustment approved", DISCREPANCY, _decided),
    EventType("adjustment.rejected", "Adjustment rejected", DISCREPANCY, _decided),
)
