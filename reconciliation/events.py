"""The reconciliation app's verbs: statement imports (each about one import, so its page shows one
timeline) and reconciliation runs (about the run, the discrepancies it resolves, the schedules
whose payments it takes back)."""

from bpo_ledger.events import (
    EventType,
    changes,
    day,
    joined,
    money,
    register,
    register_subjects,
    register_system_actors,
)
from schedules.models import ALLOCATION_RULE_LABELS

IMPORT = "paymentimport"
BANK_ACCOUNT = "bankaccount"
RUN = "reconciliationrun"
DISCREPANCY = "discrepancy"
SCHEDULE = "paymentschedule"
RUN_ACTOR = "system:reconciliation"

# The counts of a run's summary, in the order people read them.
RUN_COUNT_WORDS = (
    ("payments_in", "payments in"), ("expected_in", "expected payments in"), ("allocations", "allocations"),
    ("settled", "settled"), ("logged", "discrepancies logged"), ("already_logged", "already logged"),
    ("resolved", "resolved"), ("taken_back", "allocations taken back"), ("unallocated", "payments left unallocated"),
    ("waiting", "held back for statements"),
)
PAYMENT = "payment"


def _counts(d: dict) -> str:
    parts = [f"{d.get('file_name', '')} ({d.get('format', '')})".strip()]
    counts = d.get("counts") or {}
    words = (
        ("entries", "entries"), ("stored", "stored"), ("already_known", "already known"),
        ("confirmed", "confirmed payments recorded by hand"), ("replaced", "batch lines replaced"),
        ("pending", "pending or information only"), ("notices", "notices"), ("warnings", "warnings"),
    )
    parts.append(", ".join(f"{counts[key]} {label}" for key, label in words if counts.get(key)))
    totals = d.get("totals") or {}
    if totals:
        parts.append("totals " + ", ".join(money(amount, currency) for currency, amount in sorted(totals.items())))
    return joined(parts)


def _voided(d: dict) -> str:
    parts = [f"{d.get('file_name', '')}: {d.get('payments', 0)} payments removed"]
    if d.get("allocations"):
        parts.append(f"{d['allocations']} allocations undone")
    return joined(parts)


def _account(d: dict) -> str:
    return f"{d.get('account', '')} ({d.get('currency', '')}), first seen in {d.get('file_name', '')}"


def _notice(d: dict) -> str:
    return joined([f"{d.get('code', '')} {d.get('payer_name', '')}".strip(), d.get("message", "")])


def _run(d: dict) -> str:
    counts = d.get("counts") or {}
    parts = [f"as of {day(d.get('as_of'))}" if d.get("as_of") else ""]
    parts.append(", ".join(f"{counts[key]} {label}" for key, label in RUN_COUNT_WORDS if counts.get(key)))
    if d.get("waiting_for"):
        parts.append("waiting for statements of " + ", ".join(w.get("account", "") for w in d["waiting_for"]))
    return joined(parts)


def _resolved_by_run(d: dict) -> str:
    return f"by run {d['run']}" if d.get("run") else ""


def _taken_back(d: dict) -> str:
    text = f"{d.get('reference', '')}: {money(d.get('amount'), d.get('currency', ''))} of payment {d.get('payment', '')}"
    return joined([text, f"by {d.get('reversal', '')}" + (f" ({d['return_code']})" if d.get("return_code") else ""),
                   changes(d.get("changes"))])


def _undone(d: dict) -> str:
    text = f"{money(d.get('amount'), d.get('currency', ''))} of received payment {d.get('payment', '')} " \
           f"taken back off {d.get('reference', '')}"
    rule = ALLOCATION_RULE_LABELS.get(d.get("rule", ""), (d.get("rule") or "").replace("_", " "))
    return joined([f"{text} ({rule.lower()})" if rule else text,
                   changes(d.get("changes"), {"amount_paid": "amount paid", "schedule_status": "the schedule"})])


def _refunded(d: dict) -> str:
    text = f"{money(d.get('amount'), d.get('currency', ''))} of received payment {d.get('payment', '')} paid back"
    if d.get("credit_left") not in (None, ""):
        text += f", {money(d['credit_left'], d.get('currency', ''))} of its credit left"
    return text


register_subjects({
    IMPORT: "statement import", BANK_ACCOUNT: "bank account", PAYMENT: "received payment", RUN: "reconciliation run",
})
register_system_actors({"system:import_statement": "the statement import", RUN_ACTOR: "the reconciliation run"})
register(
    EventType("statement.imported", "Statement imported", IMPORT, _counts),
    EventType("statement.voided", "Import voided", IMPORT, _voided),
    EventType("statement.notice_done", "Notice applied", IMPORT, _notice),
    EventType("bank_account.added", "Bank account added", BANK_ACCOUNT, _account),
    EventType("reconciliation.run", "Reconciled", RUN, _run),
    EventType("reconciliation.resolved", "Resolved by the reconciliation run", DISCREPANCY, _resolved_by_run),
    EventType("reconciliation.taken_back", "Payment taken back", SCHEDULE, _taken_back),
    # On the received payment's log and on the schedule's (undo) or the customer's (refund).
    EventType("allocation.undone", "Match undone", PAYMENT, _undone),
    EventType("credit.refunded", "Credit refunded", PAYMENT, _refunded),
)
