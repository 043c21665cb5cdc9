"""The schedule log's verbs: every event is about a schedule, so its page shows one timeline."""

from bpo_ledger.events import (
    EventType,
    changes,
    day,
    joined,
    money,
    register,
    register_subjects,
    register_system_actors,
    value_text,
)

SCHEDULE = "paymentschedule"

FIELD_LABELS = {
    "amount_due": "amount due",
    "amount_paid": "amount paid",
    "account": "account",
    "mandate": "mandate",
    "due_date": "due date",
}


def _created(d: dict) -> str:
    kind = value_text(d.get("kind"))
    count = d.get("scheduled_payments")
    text = f"{kind}, {money(d.get('amount'), d.get('currency', ''))}"
    if count:
        text += f", {count} payment{'s' if count != 1 else ''}"
        if d.get("first_due"):
            text += f" due from {day(d.get('first_due'))}"
            if d.get("last_due") and d.get("last_due") != d.get("first_due"):
                text += f" to {day(d.get('last_due'))}"
    if d.get("source") and d.get("source") != "manual":
        text += f", from {value_text(d['source'])}"
    return text


# Which payments a deferral moved (details["scope"]); events before the choice existed have none.
DEFER_SCOPES = {
    "next": "only the next payment",
    "all_later": "this and all later payments, keeping the day of month",
}
# A long deferral names this many moves and counts the rest; the details keep every one.
DEFER_MOVES_NAMED = 12


def _moves(moved: dict) -> str:
    named = [
        f"{ref} from {day(change.get('before'))} to {day(change.get('after'))}"
        for ref, change in list(moved.items())[:DEFER_MOVES_NAMED]
    ]
    rest = len(moved) - len(named)
    if rest:
        named.append(f"and {rest} more")
    return ", ".join(named)


def _deferred(d: dict) -> str:
    moved = d.get("moved") or {}
    parts = []
    scope = d.get("scope")
    if scope in DEFER_SCOPES:
        parts.append(f"{DEFER_SCOPES[scope]}: {_moves(moved)}" if moved else DEFER_SCOPES[scope])
        if d.get("added"):
            parts.append(f"{d['added']} payment{'s' if d['added'] != 1 else ''} added after them")
    elif moved:
        first = next(iter(moved.values()))
        parts.append(f"next payment moved from {day(first.get('before'))} to {day(first.get('after'))}")
        if len(moved) > 1:
            parts.append(f"{len(moved) - 1} later payment{'s' if len(moved) > 2 else ''} moved with it")
    if d.get("reason_code"):
        parts.append(f"grounds: {value_text(d['reason_code'])}")
    if d.get("approved_by"):
        parts.append(f"approved by {d['approved_by']}")
    return joined(parts)


def _status(d: dict) -> str:
    return changes(d.get("changes"))


def _amount_changed(d: dict) -> str:
    text = changes(d.get("changes"))
    payments = d.get("payments") or {}
    if payments:
        text += f" on {len(payments)} future payment{'s' if len(payments) != 1 else ''}"
    return text


def _payment(d: dict) -> str:
    """The facts of an event about one scheduled payment."""
    parts = [d.get("reference", "")]
    if d.get("amount") not in (None, ""):
        parts[0] += f": {money(d['amount'], d.get('currency', ''))}"
    if d.get("paid_on"):
        parts.append(f"paid on {day(d['paid_on'])}")
    if d.get("method"):
        parts.append(f"by {value_text(d['method'])}")
    if d.get("payment") and d.get("source") != "manual":
        parts.append(f"from received payment {d['payment']}")
    parts.append(changes(d.get("changes"), FIELD_LABELS))
    if d.get("status"):
        parts.append(changes({"status": d["status"]}))
    return joined(parts)


def _overdue(d: dict) -> str:
    payments = d.get("payments") or []
    listed = ", ".join(f"{p.get('reference')} (due {day(p.get('due_date'))})" for p in payments)
    grace = d.get("grace_days")
    return f"{listed}, unpaid {grace} days after the due date" if grace is not None else listed


def _inquiry(d: dict) -> str:
    text = f"by {value_text(d.get('channel'))}"
    if d.get("outcome"):
        text += f"; outcome: {d['outcome']}"
    return text


REMINDER_KINDS = {
    "upcoming": "upcoming payment",
    "due_today": "due today",
    "overdue": "overdue",
    "debit_notice": "autopay debit notice",
}


def _reminder(d: dict) -> str:
    kind = REMINDER_KINDS.get(d.get("kind"), value_text(d.get("kind")))
    days = d.get("days")
    if days:
        kind += f", {days} day{'s' if days != 1 else ''} {'after' if d.get('kind') == 'overdue' else 'before'}"
    text = f"{kind} reminder for {d.get('reference', '')} by {value_text(d.get('channel'))}"
    attempts = d.get("attempts")
    if attempts and attempts > 1:
        text += f" (attempt {attempts})"
    return text


register_subjects({SCHEDULE: "schedule"})
register_system_actors(
    {"system:nightly": "the nightly job", "system:reminders": "the reminder job", "system:import_schedules": "the schedule import"}
)
register(
    EventType("schedule.created", "Schedule created", SCHEDULE, _created),
    EventType("schedule.deferred", "Deferred", SCHEDULE, _deferred),
    EventType("schedule.paused", "Paused", SCHEDULE, _status),
    EventType("schedule.resumed", "Resumed", SCHEDULE, _status),
    EventType("schedule.cancelled", "Cancelled", SCHEDULE, _status),
    EventType(
        "schedule.method_changed",
        "Payment method changed",
        SCHEDULE,
        lambda d: changes(d.get("changes"), FIELD_LABELS),
    ),
    EventType("schedule.amount_changed", "Amount changed", SCHEDULE, _amount_changed),
    EventType("payment.recorded", "Payment recorded", SCHEDULE, _payment),
    EventType("payment.failed", "Collection failed", SCHEDULE, _payment),
    EventType("payment.overdue", "Payments fell overdue", SCHEDULE, _overdue),
    EventType("payment.written_off", "Written off", SCHEDULE, _payment),
    EventType("payment.amount_corrected", "Amount due corrected", SCHEDULE, _payment),
    EventType("payment.debit_retry", "Debit to be tried again", SCHEDULE, _payment),
    EventType("inquiry.logged", "Customer inquiry logged", SCHEDULE, _inquiry, "Question"),
    EventType("reminder.sent", "Reminder sent", SCHEDULE, _reminder),
    EventType("reminder.failed", "Reminder failed", SCHEDULE, _reminder),
)
