"""The reconciliation run: a client's expected payments against the money received, as of a date.

``reconciliation_run`` reads what is open (streamed, set-based, integer cents and date ordinals),
hands it to the pure engine (``reconciliation.matching.reconcile``) and writes the result in one
transaction, all or nothing: allocations (COPY on PostgreSQL), allocations taken back, one
UPDATE ... FROM of the scheduled payments, the discrepancies of new findings (numbered under the
client's chain head, once per fingerprint), the open items it resolves, the mandate actions of
NACHA returns (through the schedules services), and the audit events in one batch.

What it reads is ``run_read``'s. One run per client at a time: the run holds the client's
reconciliation lock (bpo_ledger.locks, rank 0) for its whole work; a second run is refused, and a
manual match waits for it.

Every identifier in this module's SQL is a constant or a model's table or column name; every
value travels as a parameter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import DateTimeField, JSONField, Max
from django.db.models.expressions import RawSQL
from django.utils import timezone

from bpo_ledger import bulk, locks
from bpo_ledger.access import require_role
from bpo_ledger.audit import Actor, PendingEvent, audit_record_many
from bpo_ledger.clock import client_today
from bpo_ledger.errors import DomainError
from bpo_ledger.models import (
    AuditEvent,
    Client,
    Membership,
    Payment,
    Role,
)
from discrepancies import policy
from discrepancies.models import ACTIVE_STATUSES, PRIORITY_RANK, Discrepancy, MismatchField, Status
from discrepancies.services._common import sla_record
from schedules import duedates
from schedules import services as schedule_services
from schedules.models import (
    OPEN_PAYMENT_STATUSES,
    Allocation,
    PaymentSchedule,
    PaymentStatus,
    ScheduledPayment,
    ScheduleStatus,
)
from schedules.services.planning import _holidays, _initial_status, schedules_refresh_rollups

from .. import matching
from ..events import RUN_ACTOR
from ..models import (
    ReconciliationRun,
    RunStatus,
    RunTrigger,
    UndoneAllocation,
)
from .run_read import RunInputs, _cents, _chunks, _start_of_day, _table, run_inputs_read

logger = logging.getLogger(__name__)

MISMATCH_FIELDS = {"currency": MismatchField.CURRENCY, "account": MismatchField.ACCOUNT_NUMBER, "payer": MismatchField.PAYER}
# What a run's resolution of an item of this kind says in its resolution code.
RESOLUTION_CODES = {matching.MISSING: "payment_located"}


class RunRefused(DomainError):
    """Another run of the client holds its reconciliation lock."""


class RunFailed(DomainError):
    """The run failed: nothing of its work was kept, it is recorded as failed."""

    def __init__(self, message: str, *, run: ReconciliationRun):
        super().__init__(message)
        self.run = run


@dataclass
class RunOutcome:
    run: ReconciliationRun | None  # None for a dry run
    result: matching.Result
    counts: dict = field(default_factory=dict)
    phase_seconds: dict = field(default_factory=dict)
    logged: int = 0
    resolved: int = 0
    already_logged: int = 0
    waiting_for: list = field(default_factory=list)


# --- Writing ------------------------------------------------------------------------------------


def _money(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents).scaleb(-2)


def _update_from(
    name: str, columns: list[tuple[str, str]], rows: list[tuple], update_sql: str, params: list, *, keep: bool = False
) -> int:
    """Run one UPDATE ... FROM a temporary table `name` holding `rows` (COPY on PostgreSQL); the
    table is dropped after it unless `keep` (the caller drops it)."""
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        definition = ", ".join(f"{column} {kind}" for column, kind in columns)
        cursor.execute(f"CREATE TEMP TABLE {name} ({definition})")
        names = ", ".join(column for column, _ in columns)
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            # A temporary table has no statistics until asked: the join plans on its real size
            # (the key column is enough: the others are only read).
            cursor.execute(f"ANALYZE {name} ({columns[0][0]})")
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {name} ({names}) VALUES ({marks})", rows)  # noqa: S608
        cursor.execute(update_sql, params)
        updated = cursor.rowcount
        if not keep:
            cursor.execute(f"DROP TABLE {name}")
    return updated


def _lock_mandate_schedules(result: matching.Result) -> dict[int, PaymentSchedule]:
    """The schedules of the mandate actions, locked first (rank 2, before the scheduled payments
    the run updates), so that the schedules services acting on them later wait for nothing."""
    ids = sorted({action.schedule_id for action in result.mandate_actions})
    if not ids:
        return {}
    return {s.pk: s for s in locks.locked(PaymentSchedule.objects.select_related("client", "customer").filter(pk__in=ids))}


def _undo_allocations(client: Client, run: ReconciliationRun, unallocations: list[matching.Unallocation], now) -> int:
    """Take back allocations of reversed payments, newest first within each (payment, expected);
    each undo recorded (UndoneAllocation), so that a reversal is acted on once."""
    if not unallocations:
        return 0
    wanted: dict[tuple[int, int], int] = defaultdict(int)
    for undo in unallocations:
        wanted[(undo.payment_id, undo.expected_id)] += undo.amount
    stored = []
    for chunk in _chunks(sorted({payment_id for payment_id, _ in wanted})):
        stored += Allocation.objects.filter(client=client, payment_id__in=chunk).order_by("-created_at", "-pk")
    deleted, reduced = [], []
    for allocation in stored:
        key = (allocation.payment_id, allocation.scheduled_payment_id)
        left = wanted.get(key, 0)
        if left <= 0:
            continue
        cents = int(allocation.amount * 100)
        if cents <= left:
            deleted.append(allocation.pk)
            wanted[key] = left - cents
        else:
            allocation.amount = _money(cents - left)
            reduced.append(allocation)
            wanted[key] = 0
    short = {key: cents for key, cents in wanted.items() if cents > 0}
    if short:
        raise DomainError(f"The engine takes back more than is allocated: {sorted(short.items())[:5]}")
    for chunk in _chunks(deleted):
        Allocation.objects.filter(pk__in=chunk).delete()
    bulk.bulk_update(reduced, ["amount"])
    with bulk.row_writer(UndoneAllocation, ["client_id", "run_id", "payment_id", "scheduled_payment_id", "reversal_id", "amount", "created_at"]) as write:
        for undo in unallocations:
            write((client.pk, run.pk, undo.payment_id, undo.expected_id, undo.reversal_id, _money(undo.amount), now))
    return len(unallocations)


def _insert_allocations(client: Client, allocations: list[matching.Allocation], actor: Actor, now) -> int:
    created_by = None if isinstance(actor, str) else actor.pk
    with bulk.row_writer(
        Allocation,
        ["client_id", "payment_id", "scheduled_payment_id", "amount", "rule", "explanation", "created_at", "created_by_id"],
    ) as write:
        for allocation in allocations:
            write((client.pk, allocation.payment_id, allocation.expected_id, _money(allocation.amount), allocation.rule,
                   allocation.explanation[:500], now, created_by))
    return len(allocations)


def _update_scheduled_payments(
    client: Client, inputs: RunInputs, result: matching.Result, received: dict[int, matching.Received], as_of: dt.date, now
) -> int:
    """One UPDATE ... FROM of the scheduled payments the run changed: amount paid (by what it
    allocated less what it took back), status (paid when the engine settles it, within the
    tolerance; else partially paid, or open again as its due date has it) and paid_at (the start
    of the latest day of the money applied); then their schedules' roll-ups. Returns how many."""
    delta: dict[int, int] = defaultdict(int)
    latest: dict[int, int] = {}
    for allocation in result.allocations:
        delta[allocation.expected_id] += allocation.amount
        value_date = received[allocation.payment_id].value_date if allocation.payment_id in received else inputs.policy.as_of
        latest[allocation.expected_id] = max(latest.get(allocation.expected_id, 0), value_date)
    for undo in result.unallocations:
        delta[undo.expected_id] -= undo.amount
    undone = {(u.payment_id, u.expected_id) for u in result.unallocations}
    for settled in inputs.settled:
        if settled.expected_id in delta and (settled.payment_id, settled.expected_id) not in undone:
            latest[settled.expected_id] = max(latest.get(settled.expected_id, 0), settled.value_date)
    settles, reopens = set(result.settled_expected), set(result.reopened_expected)
    changed = set(delta) | settles | reopens
    # (due date ordinal, schedule, settled before) of each; a payment taken back may be older
    # than the run's read reaches: looked up.
    known = {e.id: (e.due, e.schedule_id, e.settled) for e in inputs.expected if e.id in changed}
    unknown = sorted(changed - set(known))
    for chunk in _chunks(unknown):
        for pk, due, schedule_id, status in ScheduledPayment.objects.filter(client=client, pk__in=chunk).values_list(
            "pk", "due_date", "schedule_id", "status"
        ):
            known[pk] = (due.toordinal(), schedule_id, status == PaymentStatus.PAID)
    if len(known) < len(changed):
        raise DomainError(f"The engine names scheduled payments of no such id: {sorted(changed - set(known))[:5]}")
    zone = client.zone
    adapt = connection.ops.adapt_datetimefield_value
    rows = []
    for expected_id in sorted(changed):
        due, _, was_settled = known[expected_id]
        settled = expected_id in settles or (was_settled and expected_id not in reopens)
        if delta.get(expected_id, 0) == 0 and settled == was_settled:
            continue
        reopen = _initial_status(dt.date.fromordinal(due), as_of, client.grace_days)
        paid_on = dt.date.fromordinal(latest[expected_id]) if latest.get(expected_id) else as_of
        rows.append((expected_id, delta.get(expected_id, 0), 1 if settled else 0, reopen, adapt(_start_of_day(paid_on, zone))))
    statuses = [*OPEN_PAYMENT_STATUSES, PaymentStatus.PAID]
    marks = ", ".join(["%s"] * len(statuses))
    paid_cents = _cents("sp.amount_paid")
    sql = (
        f"UPDATE {_table(ScheduledPayment)} AS sp SET "  # noqa: S608
        f"amount_paid = ({paid_cents} + v.delta) / 100.0, "
        f"status = CASE WHEN v.settled = 1 THEN %s WHEN {paid_cents} + v.delta > 0 THEN %s ELSE v.reopen END, "
        "paid_at = CASE WHEN v.settled = 1 THEN COALESCE(sp.paid_at, v.paid_at) ELSE NULL END, "
        "updated_at = %s "
        f"FROM reconciliation_run_expected v WHERE sp.id = v.id AND sp.client_id = %s AND sp.status IN ({marks})"
    )
    kind = "timestamp with time zone" if connection.vendor == "postgresql" else "text"
    if not rows:
        return 0
    _update_from(
        "reconciliation_run_expected",
        [("id", "bigint"), ("delta", "bigint"), ("settled", "smallint"), ("reopen", "varchar(16)"), ("paid_at", kind)],
        rows, sql, [PaymentStatus.PAID, PaymentStatus.PARTIALLY_PAID, adapt(now), client.pk, *statuses], keep=True,
    )
    # The schedules' roll-ups (next due date, overdue, completed) in one statement, for the
    # schedules of the payments in the table.
    changed = ScheduledPayment.objects.filter(pk__in=RawSQL("SELECT id FROM reconciliation_run_expected", ()))
    schedules_refresh_rollups(schedule_ids=changed.values("schedule_id"))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE reconciliation_run_expected")
    return len(rows)


def _record_customers(client: Client, identified: dict[int, int]) -> int:
    """The customers the run identified, on payments that named none."""
    sql = (
        f"UPDATE {_table(Payment)} AS p SET customer_id = v.customer_id FROM reconciliation_run_payer v "  # noqa: S608
        "WHERE p.id = v.id AND p.client_id = %s AND p.customer_id IS NULL"
    )
    return _update_from(
        "reconciliation_run_payer", [("id", "bigint"), ("customer_id", "bigint")], sorted(identified.items()), sql, [client.pk]
    )


def _record_reversed(client: Client, unallocations: list[matching.Unallocation], received: dict[int, matching.Received]) -> int:
    """A return the import could not link to its payment, linked to the one the run took money back
    from: its payment's unallocated rest counts it from now on, like any linked return."""
    links = sorted({
        (undo.reversal_id, undo.payment_id) for undo in unallocations
        if undo.reversal_id in received and received[undo.reversal_id].reverses is None
    })
    sql = (
        f"UPDATE {_table(Payment)} AS p SET reverses_id = v.original_id FROM reconciliation_run_reversal v "  # noqa: S608
        "WHERE p.id = v.id AND p.client_id = %s AND p.reverses_id IS NULL"
    )
    return _update_from("reconciliation_run_reversal", [("id", "bigint"), ("original_id", "bigint")], links, sql, [client.pk])


def _resolve(client: Client, run: ReconciliationRun, resolutions: list[matching.Resolution], now) -> list[tuple[Discrepancy, str, str]]:
    """Resolve the open items whose problem went away, on their log; returns (item, status before, reason).

    Only items a run logged: one a person logged (a chargeback under dispute, an adjustment) counts
    for the one-open-item rule, but a person closes it.
    """
    if not resolutions:
        return []
    reasons = {r.fingerprint: r.reason for r in resolutions}
    items = []
    for chunk in _chunks(sorted(reasons)):
        items += locks.locked(Discrepancy.objects.filter(
            client=client, fingerprint__in=chunk, status__in=ACTIVE_STATUSES, detected_by__startswith="run:"
        ))
    resolved = []
    for item in items:
        before = item.status
        reason = reasons[item.fingerprint]
        item.status = Status.RESOLVED
        item.resolution_code = RESOLUTION_CODES.get(item.kind, "")
        item.resolution_text = f"Resolved by reconciliation run {run.pk}: {reason}"
        item.resolved_at = now
        item.updated_at = now
        item.version += 1
        for name, value in sla_record(policy.sla_ended(item.sla_history, now=now)).items():
            setattr(item, name, value)
        resolved.append((item, before, reason))
    bulk.bulk_update(
        [item for item, _, _ in resolved],
        ["status", "resolution_code", "resolution_text", "resolved_at", "updated_at", "version", "sla_history",
         "first_sla_breached_at", "sla_breached_at"],
    )
    return resolved


def _add_business_days(day: dt.date, days: int, holidays) -> dt.date:
    while days > 0:
        day += dt.timedelta(days=1)
        if duedates.is_business_day(day, holidays=holidays):
            days -= 1
    return day


def _earlier_retries(client: Client, actions: list[matching.MandateAction]) -> dict[str, int]:
    """How often each scheduled payment (by reference) was set to be debited again: the schedule log says."""
    schedule_ids = sorted({str(a.schedule_id) for a in actions if a.action == matching.RETRY})
    counts: dict[str, int] = defaultdict(int)
    if schedule_ids:
        events = AuditEvent.objects.filter(
            client=client, verb="payment.debit_retry", subject_type="paymentschedule", subject_id__in=schedule_ids
        ).values_list("details", flat=True)
        for details in events:
            counts[(details or {}).get("reference", "")] += 1
    return counts


def _act_on_mandates(client: Client, result: matching.Result, schedules: dict[int, PaymentSchedule], as_of: dt.date) -> int:
    """Retry, pause or revoke autopay mandates after NACHA returns, through the schedules services."""
    if not result.mandate_actions:
        return 0
    payments = {p.pk: p for p in ScheduledPayment.objects.filter(
        client=client, pk__in=sorted({a.expected_id for a in result.mandate_actions}))}
    retries = _earlier_retries(client, result.mandate_actions)
    holidays = _holidays(client)
    done = 0
    for action in sorted(result.mandate_actions, key=lambda a: (a.schedule_id, a.expected_id, a.payment_id)):
        schedule = schedules.get(action.schedule_id)
        if schedule is None:
            continue
        payment = payments.get(action.expected_id)
        kind = action.action
        if kind == matching.RETRY and payment is not None:
            if retries[payment.reference] < client.autopay_max_retries and payment.is_open and schedule.is_open:
                retries[payment.reference] += 1
                due = _add_business_days(as_of, client.autopay_retry_days, holidays)
                schedule_services.scheduled_payment_retry_debit(
                    scheduled_payment=payment, actor=RUN_ACTOR, due_date=due, today=as_of,
                    reason=f"debit returned ({action.return_code}): retry {retries[payment.reference]} of "
                           f"{client.autopay_max_retries}",
                )
                done += 1
                continue
            kind = matching.PAUSE  # retries used up: the mandate waits for the customer
        if kind == matching.PAUSE and schedule.status == ScheduleStatus.ACTIVE:
            reason = f"mandate paused: debit returned ({action.return_code})"
            if action.action == matching.RETRY:
                reason += f" after {client.autopay_max_retries} retries"
            schedules[schedule.pk] = schedule_services.schedule_pause(
                schedule=schedule, actor=RUN_ACTOR, version=None, reason=reason
            )
            done += 1
        elif kind == matching.REVOKE and schedule.is_open:
            schedules[schedule.pk] = schedule_services.schedule_cancel(
                schedule=schedule, actor=RUN_ACTOR, version=None, reason=f"mandate revoked ({action.return_code})"
            )
            done += 1
    return done


def _priority(client: Client, difference: Decimal, low: bool) -> str:
    if low:
        return "low"
    rank = policy.base_priority_rank(
        difference, medium=client.priority_medium_amount, high=client.priority_high_amount,
        critical=client.priority_critical_amount,
    )
    return policy.PRIORITIES[rank]


def _summary(finding: matching.Finding, names: dict[int, str]) -> str:
    summary = finding.summary
    if finding.return_code and finding.return_code not in summary:
        summary += f" (return code {finding.return_code})"
    if finding.suggestions:
        summary += "; suggested: " + ", ".join(names.get(c, str(c)) for c in finding.suggestions)
    return summary[:300]


class _Logged(NamedTuple):
    """A discrepancy the run logged, as its audit event tells it."""

    pk: int
    kind: str
    summary: str
    priority: str
    currency: str
    amount_expected: Decimal | None
    amount_actual: Decimal | None
    amount_difference: Decimal
    sla_due_at: dt.datetime
    detected_by: str
    scheduled_payment: str | None  # its reference


# The columns of a new discrepancy that differ from one finding to the next; the others are the
# same for every item of the run (its defaults, the run, the moment).
_VARYING = (
    "number", "kind", "priority", "priority_rank", "summary", "currency", "amount_expected", "amount_actual",
    "amount_difference", "customer_id", "scheduled_payment_id", "mismatch_field", "sla_due_at", "sla_history",
    "fingerprint",
)


def _discrepancy_columns(client: Client, run: ReconciliationRun, now) -> tuple[list[str], list]:
    """(columns, values) of a new discrepancy's row, in the table's order, with None in the
    varying ones: the model's defaults in database form, the client, the run, the moment."""
    fixed = {"client_id": client.pk, "detected_by": run.detected_by, "created_at": now, "updated_at": now}
    columns, values = [], []
    for f in Discrepancy._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f.column)
        if f.attname in _VARYING:
            values.append(None)
            continue
        value = fixed[f.attname] if f.attname in fixed else f.get_default()
        if isinstance(f, JSONField):
            value = json.dumps(value)
        elif isinstance(f, DateTimeField) and value is not None:
            value = connection.ops.adapt_datetimefield_value(value)
        values.append(value)
    return columns, values


def _log_findings(
    client: Client, run: ReconciliationRun, findings: list[matching.Finding], inputs: RunInputs, now
) -> tuple[list[tuple[_Logged, matching.Finding]], int]:
    """Log the new findings as discrepancies, numbered in the client's sequence under its chain
    head lock; a fingerprint already logged (by this or an earlier run, or by hand) is skipped.
    One INSERT ... SELECT ... ON CONFLICT (client, fingerprint) DO NOTHING from a temporary table
    (COPY on PostgreSQL), the payments linked by COPY. Returns (the items logged with their
    findings, how many were logged before)."""
    unique: dict[str, matching.Finding] = {}
    for finding in findings:
        unique.setdefault(finding.fingerprint, finding)
    if not unique:
        return [], 0
    new = [unique[fp] for fp in sorted(unique)]
    number = 1  # the order among the new items; numbered after the client's last under its lock, below
    expected = {e.id: e for e in inputs.expected}
    names = {c.id: c.name for c in inputs.customers}
    columns, template = _discrepancy_columns(client, run, now)
    place = {name: columns.index(Discrepancy._meta.get_field(name.removesuffix("_id")).column) for name in _VARYING}
    adapt = connection.ops.adapt_datetimefield_value
    due_of = {priority: policy.sla_due_at(now, client.sla_hours(priority)) for priority in policy.PRIORITIES}
    rows, items = [], {}
    for finding in sorted(new, key=lambda f: (f.kind, f.expected_id or 0, f.payment_ids, f.fingerprint)):
        amount_expected, amount_actual = _money(finding.amount_expected), _money(finding.amount_actual)
        difference = (amount_actual or Decimal("0.00")) - (amount_expected or Decimal("0.00"))
        priority = _priority(client, difference, finding.low_priority)
        due = due_of[priority]
        customer_id = finding.customer_id
        scheduled = expected.get(finding.expected_id)
        if customer_id is None and scheduled is not None:
            customer_id = scheduled.customer_id
        summary = _summary(finding, names)
        currency = finding.currency or client.currency
        mismatch = MISMATCH_FIELDS.get(finding.mismatch_field, MismatchField.OTHER) if finding.kind == matching.MISMATCH else ""
        row = list(template)
        for name, value in (
            ("number", number), ("kind", finding.kind), ("priority", priority), ("priority_rank", PRIORITY_RANK[priority]),
            ("summary", summary), ("currency", currency), ("amount_expected", amount_expected),
            ("amount_actual", amount_actual), ("amount_difference", difference), ("customer_id", customer_id),
            ("scheduled_payment_id", finding.expected_id), ("mismatch_field", mismatch), ("sla_due_at", adapt(due)),
            ("sla_history", json.dumps(policy.sla_started([], due_at=due, level=0))), ("fingerprint", finding.fingerprint),
        ):
            row[place[name]] = value
        rows.append(tuple(row))
        items[finding.fingerprint] = (finding, _Logged(
            0, finding.kind, summary, priority, currency, amount_expected, amount_actual, difference, due, run.detected_by,
            scheduled.reference if scheduled is not None else None,
        ))
        number += 1
    names_sql = ", ".join(columns)
    table = "reconciliation_run_finding"
    empty = "WITH NO DATA" if connection.vendor == "postgresql" else "WHERE 0 = 1"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMP TABLE {table} AS SELECT {names_sql} FROM {_table(Discrepancy)} {empty}")  # noqa: S608
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names_sql}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names_sql}) VALUES ({marks})", rows)  # noqa: S608
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table} (client_id, fingerprint)")  # the columns the INSERT's anti-join reads
        # Numbers are handed out under the client's chain head lock, which every logger takes
        # before it looks a fingerprint up: a fingerprint logged before (by a run or a person,
        # resolved or not) is left out, and the rest are numbered on from the client's last one,
        # without gaps. DO NOTHING keeps a problem one item if a conflict ever came.
        locks.client_chain_head(client_id=client.pk)
        last = Discrepancy.objects.filter(client=client).aggregate(n=Max("number"))["n"] or 0
        selected = ", ".join(
            "%s + ROW_NUMBER() OVER (ORDER BY t.number)" if column == "number" else f"t.{column}" for column in columns
        )
        cursor.execute(
            f"INSERT INTO {_table(Discrepancy)} ({names_sql}) SELECT {selected} FROM {table} t "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT 1 FROM {_table(Discrepancy)} d WHERE d.client_id = t.client_id "
            "AND d.fingerprint = t.fingerprint) "
            "ON CONFLICT (client_id, fingerprint) DO NOTHING RETURNING id, fingerprint",
            [last],
        )
        stored = cursor.fetchall()
        cursor.execute(f"DROP TABLE {table}")
    logged = sorted(
        ((items[fp][1]._replace(pk=pk), items[fp][0]) for pk, fp in stored), key=lambda pair: pair[0].pk
    )
    through = Discrepancy.payments.through
    with bulk.row_writer(through, ["discrepancy_id", "payment_id"]) as write:
        for item, finding in logged:
            for payment_id in sorted(set(finding.payment_ids)):
                write((item.pk, payment_id))
    return logged, len(unique) - len(logged)


def _waiting_for(result: matching.Result, coverage: list[matching.Coverage]) -> list[dict]:
    through = {c.account: c.through for c in coverage}
    accounts = sorted({account for waiting in result.waiting for account in waiting.accounts})
    return [
        {"account": account,
         "through": dt.date.fromordinal(through[account]).isoformat() if through.get(account) else None,
         "payments": sum(1 for w in result.waiting if account in w.accounts)}
        for account in accounts
    ]


def _events(
    client: Client, run: ReconciliationRun, inputs: RunInputs, result: matching.Result, logged, resolved, received, counts,
    waiting_for,
) -> list[PendingEvent]:
    expected = {e.id: e for e in inputs.expected}
    events = [PendingEvent("reconciliation.run", ("reconciliationrun", run.pk), {
        "as_of": run.as_of, "trigger": run.trigger, "counts": counts, "waiting_for": waiting_for,
    })]
    for item, _ in logged:
        events.append(PendingEvent("discrepancy.logged", ("discrepancy", item.pk), {
            "kind": item.kind, "summary": item.summary, "priority": item.priority, "currency": item.currency,
            "amount_expected": item.amount_expected, "amount_actual": item.amount_actual,
            "difference": item.amount_difference,
            "scheduled_payment": item.scheduled_payment,
            "sla_due_at": item.sla_due_at, "detected_by": item.detected_by,
        }))
    for item, before, reason in resolved:
        events.append(PendingEvent("reconciliation.resolved", ("discrepancy", item.pk), {
            "reason": reason, "run": run.pk, "changes": {"status": {"before": before, "after": Status.RESOLVED}},
        }))
    for undo in result.unallocations:
        scheduled = expected.get(undo.expected_id)
        reversal = received.get(undo.reversal_id)
        events.append(PendingEvent("reconciliation.taken_back", ("paymentschedule", scheduled.schedule_id if scheduled else ""), {
            "reference": scheduled.reference if scheduled else "", "amount": _money(undo.amount),
            "currency": scheduled.currency if scheduled else "", "payment": undo.payment_id, "reversal": undo.reversal_id,
            "return_code": reversal.return_code if reversal else "", "run": run.pk,
        }))
    return events


def _write(client: Client, run: ReconciliationRun, actor: Actor, inputs: RunInputs, result: matching.Result, as_of: dt.date) -> dict:
    """Everything the run changes, in the lock order: schedules of mandate actions, allocations,
    scheduled payments, resolved items, mandate actions, new items and the audit batch."""
    now = timezone.now()
    received = {r.id: r for r in inputs.received}
    schedules = _lock_mandate_schedules(result)
    unallocated = _undo_allocations(client, run, result.unallocations, now)
    allocated = _insert_allocations(client, result.allocations, actor, now)
    updated = _update_scheduled_payments(client, inputs, result, received, as_of, now)
    identified = _record_customers(client, result.identified)
    _record_reversed(client, result.unallocations, received)
    resolved = _resolve(client, run, result.resolutions, now)
    mandates = _act_on_mandates(client, result, schedules, as_of)
    logged, already = _log_findings(client, run, result.findings, inputs, now)
    waiting_for = _waiting_for(result, inputs.coverage)
    counts = {
        **result.counts, "allocations": allocated, "taken_back": unallocated, "identified": identified,
        "scheduled_payments_updated": updated,
        "logged": len(logged), "already_logged": already, "resolved": len(resolved), "mandate_actions": mandates,
        "waiting": len(result.waiting),
    }
    audit_record_many(client=client, actor=actor, events=_events(
        client, run, inputs, result, logged, resolved, received, counts, waiting_for))
    return {"counts": counts, "logged": len(logged), "already_logged": already, "resolved": len(resolved),
            "waiting_for": waiting_for}


# --- The run ------------------------------------------------------------------------------------


def _email_supervisors(client: Client, run: ReconciliationRun) -> None:
    """Tell the client's supervisors that a run failed; a mail error is logged, not raised."""
    users = get_user_model().objects.filter(
        pk__in=Membership.objects.filter(client=client, role=Role.SUPERVISOR).values("user"), is_active=True
    ).exclude(email="")
    recipients = sorted(users.values_list("email", flat=True))
    if not recipients:
        return
    subject = f"Reconciliation of {client.code} as of {run.as_of.isoformat()} failed"
    body = (
        f"The reconciliation run {run.pk} of {client.name} ({client.code}) as of {run.as_of.isoformat()} failed:\n\n"
        f"    {run.error}\n\n"
        "Nothing of its work was kept: no allocation, status or discrepancy changed. "
        "The next run tries again; `python manage.py reconcile --client "
        f"{client.code} --as-of {run.as_of.isoformat()}` runs it by hand."
    )
    try:
        EmailMessage(subject, body, to=recipients).send()
    except Exception:  # the failure is on record in the run; a mail server down must not hide it
        logger.exception("could not email the supervisors of %s about failed run %s", client.code, run.pk)


def reconciliation_run(
    *,
    client: Client,
    as_of: dt.date | None = None,
    actor: Actor = RUN_ACTOR,
    trigger: str = RunTrigger.NIGHTLY,
    dry_run: bool = False,
) -> RunOutcome:
    """Reconcile the client as of a date (default: its today): read, match, write, or for a dry
    run only read and match. Raises RunRefused while another run of the client works, and
    RunFailed (after recording the run as failed and emailing the supervisors) if it fails."""
    require_role(actor, client)
    as_of = as_of or client_today(client)
    phases: dict[str, float] = {}

    def timed(name: str, work):
        started = time.perf_counter()
        value = work()
        phases[name] = round(time.perf_counter() - started, 3)
        return value

    if dry_run:
        with transaction.atomic():
            inputs = timed("read", lambda: run_inputs_read(client, as_of))
            result = timed("match", lambda: matching.reconcile(**inputs.engine_kwargs()))
            transaction.set_rollback(True)  # a dry run writes nothing, whatever happens
        counts = {**result.counts, "waiting": len(result.waiting)}
        return RunOutcome(run=None, result=result, counts=counts, phase_seconds=phases,
                          waiting_for=_waiting_for(result, inputs.coverage))
    with locks.reconciliation_lock_tried(client_id=client.pk) as had:
        if not had:
            raise RunRefused(
                f"A reconciliation run of {client.code} is already in progress; this one was not started. "
                "Try again when it has finished."
            )
        run = ReconciliationRun.objects.create(
            client=client, as_of=as_of, trigger=trigger, status=RunStatus.RUNNING, started_at=timezone.now(),
            started_by=None if isinstance(actor, str) else actor,
        )
        try:
            with transaction.atomic():
                inputs = timed("read", lambda: run_inputs_read(client, as_of))
                result = timed("match", lambda: matching.reconcile(**inputs.engine_kwargs()))
                written = timed("write", lambda: _write(client, run, actor, inputs, result, as_of))
                ReconciliationRun.objects.filter(pk=run.pk).update(
                    status=RunStatus.SUCCEEDED, finished_at=timezone.now(), counts=written["counts"],
                    phase_seconds=phases, waiting_for=written["waiting_for"],
                )
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            ReconciliationRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED, finished_at=timezone.now(), error=error[:5000], phase_seconds=phases,
            )
            run.refresh_from_db()
            _email_supervisors(client, run)
            raise RunFailed(
                f"Reconciliation run {run.pk} of {client.code} as of {as_of.isoformat()} failed ({error}); "
                "nothing of it was kept.", run=run,
            ) from exc
    run.refresh_from_db()
    return RunOutcome(
        run=run, result=result, counts=written["counts"], phase_seconds=phases, logged=written["logged"],
        resolved=written["resolved"], already_logged=written["already_logged"], waiting_for=written["waiting_for"],
    )


def reconciliation_run_queue(*, client: Client, actor: Actor) -> dt.date:
    """Reconcile now: queue a run of the client as of its today, as the actor (agents and
    supervisors); the runs page shows it when done. Returns the date queued."""
    from .. import tasks

    require_role(actor, client)
    as_of = client_today(client)
    tasks.reconcile_client.delay_on_commit(
        client.pk, as_of.isoformat(), RunTrigger.MANUAL, None if isinstance(actor, str) else actor.pk
    )
    return as_of
