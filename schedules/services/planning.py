"""Planning schedules: their due dates, validation and creation, one at a time or in bulk."""

import collections
import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, QuerySet, Subquery
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.access import require_role
from bpo_ledger.audit import Actor, PendingEvent, audit_record_many
from bpo_ledger.bulk import row_inserter, row_writer
from bpo_ledger.clock import client_today
from bpo_ledger.crypto import masked, normalize_account
from bpo_ledger.models import BankClosureDay, Client, Customer

from .. import duedates, models
from ..models import (
    OPEN_PAYMENT_STATUSES,
    PaymentSchedule,
    PaymentStatus,
    ScheduledPayment,
    ScheduleKind,
    ScheduleStatus,
    payment_reference,
)

# Open-ended schedules (recurring without an end, autopay) are generated this far ahead, and
# the nightly job keeps them so.
HORIZON_DAYS = 180
CYCLIC_KINDS = (ScheduleKind.RECURRING, ScheduleKind.AUTOPAY, ScheduleKind.INSTALLMENT)
OPEN_ENDED_KINDS = (ScheduleKind.RECURRING, ScheduleKind.AUTOPAY)


@functools.lru_cache(maxsize=256)
def _business_calendar(country: str, subdivision: str, closures: frozenset[dt.date]) -> duedates.BusinessCalendar:
    # Shared by every schedule of the clients with this calendar; it works out further years by
    # itself as later dates are looked up. Changed closure days make a new key, hence a new one.
    return duedates.holiday_calendar(country, subdivision=subdivision or None, closures=closures)


def _holidays(client: Client) -> duedates.Holidays:
    """The client's business-day calendar (one query, for its bank closure days); callers
    planning many schedules of one client ask once and pass it on."""
    if client.business_day_rule == duedates.BusinessDayRule.NONE:
        return frozenset()
    closures = frozenset(BankClosureDay.objects.filter(client=client).values_list("date", flat=True))
    return _business_calendar(client.country, client.subdivision, closures)


def _plan(
    schedule: PaymentSchedule, *, through: dt.date, first_sequence: int = 1, holidays: duedates.Holidays | None = None
) -> list[duedates.Due]:
    """The dues of a schedule with nominal dates through `through` (all of them if it ends);
    `holidays` is the client's calendar when the caller has it already (see _holidays)."""
    return _plan_of(schedule, schedule.client, through=through, first_sequence=first_sequence, holidays=holidays)


def _plan_of(
    schedule, client: Client, *, through: dt.date, first_sequence: int = 1, holidays: duedates.Holidays | None = None
) -> list[duedates.Due]:
    """_plan of a schedule or a ScheduleRow (which holds the client's id, not the client)."""
    rule = duedates.BusinessDayRule(client.business_day_rule)
    if holidays is None:
        holidays = _holidays(client)
    kind = schedule.kind
    if kind in (ScheduleKind.ONE_TIME, ScheduleKind.DEFERRED):
        nominal = schedule.deferred_until if kind == ScheduleKind.DEFERRED else schedule.start_date
        return [
            duedates.Due(
                sequence=1,
                due_date=duedates.roll(nominal, rule=rule, holidays=holidays),
                nominal_date=nominal,
                amount=schedule.amount,
            )
        ][first_sequence - 1 :]
    frequency = duedates.Frequency(schedule.frequency)
    if kind == ScheduleKind.INSTALLMENT:
        return duedates.installment_plan(
            total=schedule.amount,
            count=schedule.installment_count,
            start=schedule.start_date,
            frequency=frequency,
            interval=schedule.interval,
            anchor_day=schedule.anchor_day,
            down_payment=schedule.down_payment,
            rule=rule,
            holidays=holidays,
        )[first_sequence - 1 :]
    # Recurring and autopay: counted from cycle_start (moved by deferrals).
    cycle_start = schedule.cycle_start or schedule.start_date
    offset = schedule.cycle_start_sequence - 1
    remaining_count = None if schedule.cycles is None else max(schedule.cycles - offset, 0)
    dues = duedates.recurring_plan(
        amount=schedule.amount,
        start=cycle_start,
        frequency=frequency,
        interval=schedule.interval,
        anchor_day=schedule.anchor_day,
        count=remaining_count,
        end=schedule.end_date,
        through=through,
        rule=rule,
        holidays=holidays,
        first_sequence=max(first_sequence - offset, 1),
    )
    if not offset:
        return dues
    return [
        duedates.Due(
            sequence=due.sequence + offset,
            due_date=due.due_date,
            nominal_date=due.nominal_date,
            amount=due.amount,
        )
        for due in dues
    ]


def _initial_status(due_date: dt.date, today: dt.date, grace_days: int) -> str:
    if due_date > today:
        return PaymentStatus.UPCOMING
    if due_date + dt.timedelta(days=grace_days) < today:
        return PaymentStatus.OVERDUE
    return PaymentStatus.DUE


class NewPayment(NamedTuple):
    """A scheduled payment to insert: plain values in the columns' order, the row COPY writes."""

    client_id: int
    schedule_id: int
    sequence: int
    reference: str
    due_date: dt.date
    original_due_date: dt.date
    amount_due: Decimal
    amount_paid: Decimal
    status: str
    updated_at: str  # the moment as ISO text, rendered once (psycopg would format it per row)


ZERO = Decimal("0.00")


def _payment_rows(schedule: PaymentSchedule, dues: list[duedates.Due], today: dt.date) -> list[NewPayment]:
    client = schedule.client
    return list(_new_payments(
        client=client, schedule_id=schedule.pk, number=schedule.number, dues=dues,
        statuses=_initial_statuses(dues, today, client.grace_days), updated_at=timezone.now().isoformat(),
    ))


def _initial_statuses(dues: list[duedates.Due], today: dt.date, grace_days: int) -> list[str]:
    return [_initial_status(due.due_date, today, grace_days) for due in dues]


def _new_payments(
    *, client: Client, schedule_id: int, number: int, dues: list[duedates.Due], statuses: list[str], updated_at: str
) -> Iterator[NewPayment]:
    client_id, code = client.pk, client.code
    for due, status in zip(dues, statuses, strict=True):
        yield NewPayment(
            client_id, schedule_id, due.sequence, payment_reference(code, number, due.sequence),
            due.due_date, due.due_date, due.amount, ZERO, status, updated_at,
        )


def scheduled_payments_insert(rows: Iterable[NewPayment]) -> int:
    """Insert many scheduled payments at once: COPY on PostgreSQL, bulk_create elsewhere."""
    count = 0
    with row_writer(ScheduledPayment, NewPayment._fields) as write:
        for row in rows:
            write(row)
            count += 1
    return count


def schedules_refresh_rollups(*, schedule_ids) -> None:
    """Recompute next due date, overdue flag and completion of the given schedules in SQL.

    schedule_ids: a list of ids or a values_list queryset of them.
    """
    if connection.vendor == "postgresql":
        _refresh_rollups_set_based(schedule_ids)
        return
    open_payments = ScheduledPayment.objects.filter(
        schedule=OuterRef("pk"), status__in=OPEN_PAYMENT_STATUSES
    )
    PaymentSchedule.objects.filter(pk__in=schedule_ids).update(
        next_due_date=Subquery(
            open_payments.order_by().values("schedule").annotate(d=Min("due_date")).values("d")[:1]
        ),
        is_overdue=Exists(open_payments.filter(status=PaymentStatus.OVERDUE)),
    )
    # A schedule with a fixed end whose payments are all settled is complete ...
    PaymentSchedule.objects.filter(pk__in=schedule_ids, status=ScheduleStatus.ACTIVE).exclude(
        kind__in=OPEN_ENDED_KINDS, cycles__isnull=True, end_date__isnull=True
    ).filter(~Exists(open_payments), Exists(ScheduledPayment.objects.filter(schedule=OuterRef("pk")))).update(
        status=ScheduleStatus.COMPLETED
    )
    # ... and active again once a payment of it is open again (a reversal took its money back).
    PaymentSchedule.objects.filter(pk__in=schedule_ids, status=ScheduleStatus.COMPLETED).filter(
        Exists(open_payments)
    ).update(status=ScheduleStatus.ACTIVE)


def _refresh_rollups_set_based(schedule_ids) -> None:
    """schedules_refresh_rollups in one UPDATE ... FROM the schedules' payments grouped (PostgreSQL):
    a reconciliation run touches 100,000s of schedules, and a subquery per schedule and column
    costs minutes there. The same rules as the ORM version above."""
    qn = connection.ops.quote_name
    schedules, payments = qn(PaymentSchedule._meta.db_table), qn(ScheduledPayment._meta.db_table)
    if isinstance(schedule_ids, QuerySet):
        ids_sql, ids_params = schedule_ids.query.sql_with_params()
        chosen, params = f"s2.id IN ({ids_sql})", list(ids_params)
    else:
        chosen, params = "s2.id = ANY(%s)", [list(schedule_ids)]
    open_marks = ", ".join(["%s"] * len(OPEN_PAYMENT_STATUSES))
    ended = ", ".join(["%s"] * len(OPEN_ENDED_KINDS))
    sql = (
        f"UPDATE {schedules} AS s SET next_due_date = r.next_due, is_overdue = r.overdue, status = CASE "  # noqa: S608
        f"WHEN s.status = %s AND r.open_count = 0 AND r.total > 0 "
        f"AND NOT (s.kind IN ({ended}) AND s.cycles IS NULL AND s.end_date IS NULL) THEN %s "
        "WHEN s.status = %s AND r.open_count > 0 THEN %s ELSE s.status END "
        "FROM (SELECT s2.id AS schedule_id, "
        f"MIN(sp.due_date) FILTER (WHERE sp.status IN ({open_marks})) AS next_due, "
        "COALESCE(BOOL_OR(sp.status = %s), false) AS overdue, "
        f"COUNT(sp.id) FILTER (WHERE sp.status IN ({open_marks})) AS open_count, COUNT(sp.id) AS total "
        f"FROM {schedules} s2 LEFT JOIN {payments} sp ON sp.schedule_id = s2.id WHERE {chosen} GROUP BY s2.id) r "
        "WHERE s.id = r.schedule_id"
    )
    values = [
        ScheduleStatus.ACTIVE, *OPEN_ENDED_KINDS, ScheduleStatus.COMPLETED, ScheduleStatus.COMPLETED, ScheduleStatus.ACTIVE,
        *OPEN_PAYMENT_STATUSES, PaymentStatus.OVERDUE, *OPEN_PAYMENT_STATUSES, *params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _rollups(schedule, dues: list[duedates.Due], statuses: list[str]) -> dict:
    """next_due_date, is_overdue and status of a new schedule (or its row) whose payments have
    these dues and statuses, as schedules_refresh_rollups would compute them in SQL."""
    open_dates = [
        due.due_date for due, status in zip(dues, statuses, strict=True) if status in OPEN_PAYMENT_STATUSES
    ]
    unbounded = schedule.kind in OPEN_ENDED_KINDS and schedule.cycles is None and schedule.end_date is None
    completed = dues and not open_dates and not unbounded and schedule.status == ScheduleStatus.ACTIVE
    return {
        "next_due_date": min(open_dates, default=None),
        "is_overdue": PaymentStatus.OVERDUE in statuses,
        "status": ScheduleStatus.COMPLETED if completed else schedule.status,
    }


def _allocate_numbers(client: Client, count: int) -> int:
    """Reserve `count` consecutive schedule numbers for the client; returns the first."""
    locks.client_chain_head(client_id=client.pk)
    current = PaymentSchedule.objects.filter(client=client).aggregate(n=Max("number"))["n"] or 0
    return current + 1


@dataclass(frozen=True)
class ScheduleSpec:
    """Everything needed to create a schedule; the form, the CSV import and seed data build one."""

    customer: Customer
    kind: str
    amount: Decimal
    start_date: dt.date
    currency: str = ""
    method: str = "bank_transfer"
    frequency: str = ""
    interval: int = 1
    anchor_day: int | None = None
    end_date: dt.date | None = None
    cycles: int | None = None
    installment_count: int | None = None
    down_payment: Decimal = Decimal("0.00")
    deferred_until: dt.date | None = None
    deferral_reason: str = ""
    deferral_approved_by: object = None
    autopay_method: str = ""
    autopay_account: str = ""
    mandate_reference: str = ""
    mandate_consented_at: dt.datetime | None = None
    external_ref: str = ""
    description: str = ""


KIND_FIELDS = {
    ScheduleKind.RECURRING: {"frequency", "interval", "anchor_day", "end_date", "cycles"},
    ScheduleKind.INSTALLMENT: {"frequency", "interval", "anchor_day", "installment_count", "down_payment"},
    ScheduleKind.DEFERRED: {"deferred_until", "deferral_reason", "deferral_approved_by"},
    ScheduleKind.ONE_TIME: set(),
    ScheduleKind.AUTOPAY: {
        "frequency", "interval", "anchor_day", "end_date", "cycles",
        "autopay_method", "autopay_account", "mandate_reference", "mandate_consented_at",
    },
}


def _kind_rule_errors(schedule: PaymentSchedule) -> dict:
    """The kind rules of PaymentSchedule's check constraints, checked without a query per rule."""
    errors = {}
    if schedule.kind in CYCLIC_KINDS and not schedule.frequency:
        errors["frequency"] = models.NEEDS_FREQUENCY
    if schedule.kind == ScheduleKind.INSTALLMENT and not schedule.installment_count:
        errors["installment_count"] = models.NEEDS_INSTALLMENTS
    if schedule.kind == ScheduleKind.DEFERRED:
        if not schedule.deferred_until:
            errors["deferred_until"] = models.NEEDS_DEFERRAL
        if not schedule.deferral_reason:
            errors["deferral_reason"] = models.NEEDS_DEFERRAL
    if schedule.kind == ScheduleKind.AUTOPAY:
        for name in ("autopay_method", "mandate_reference", "mandate_consented_at"):
            if not getattr(schedule, name):
                errors[name] = models.NEEDS_MANDATE
    if schedule.end_date and schedule.end_date < schedule.start_date:
        errors["end_date"] = models.ENDS_BEFORE_START
    if schedule.amount is not None and schedule.down_payment is not None and schedule.down_payment >= schedule.amount:
        errors["down_payment"] = models.DOWN_PAYMENT_TOO_HIGH
    return errors


# The dates a schedule holds; each lies in settings.SCHEDULE_DATE_MIN..MAX, so that no input sizes
# a plan by centuries or overflows the date arithmetic after it (year 9999 plus a horizon).
SCHEDULE_DATE_FIELDS = ("start_date", "end_date", "deferred_until", "mandate_consented_at")


def schedule_date_range() -> tuple[dt.date, dt.date]:
    return settings.SCHEDULE_DATE_MIN, settings.SCHEDULE_DATE_MAX


def schedule_date_problem(day: dt.date) -> str:
    """Why `day` cannot be a date of a schedule, or "" when it can."""
    low, high = schedule_date_range()
    if isinstance(day, dt.datetime):
        day = day.date()
    if low <= day <= high:
        return ""
    return f"{day.isoformat()} is out of range: schedule dates lie between {low.isoformat()} and {high.isoformat()}."


def _too_many_payments(count: int) -> str:
    limit = settings.SCHEDULE_MAX_PAYMENTS
    return f"{count:,} payments is more than a schedule may have ({limit:,} at most)." if count > limit else ""


def _bound_errors(schedule) -> dict:
    """The bounds on what one schedule can ask for: its dates, and its number of payments where
    it is given (the plan's own length is checked when it is planned)."""
    errors = {}
    for name in SCHEDULE_DATE_FIELDS:
        value = getattr(schedule, name)
        if isinstance(value, dt.date) and (problem := schedule_date_problem(value)):
            errors[name] = problem
    for name in ("cycles", "installment_count"):
        value = getattr(schedule, name)
        if isinstance(value, int) and (problem := _too_many_payments(value)):
            errors[name] = problem
    return errors


def _rule_errors(schedule) -> dict:
    """The bounds, then the kind rules, each field's first problem."""
    return {**_kind_rule_errors(schedule), **_bound_errors(schedule)}


# Set by the services, not taken from a spec: full_clean leaves them to the database.
NOT_VALIDATED = ("number", "client", "customer")


def _validate(schedule: PaymentSchedule) -> None:
    """Field validation plus the kind rules; the database constraints stay as the backstop."""
    errors = _rule_errors(schedule)
    try:
        schedule.full_clean(exclude=NOT_VALIDATED, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, messages)
    if errors:
        raise ValidationError(errors)


# A new schedule as plain values, one per column of PaymentSchedule (by attname, in the model's
# order): the row its bulk insert writes, and readable like a schedule by the kind rules, the
# plan and the audit details. Building a model object per schedule costs more than its plan.
ScheduleRow = collections.namedtuple("ScheduleRow", [f.attname for f in PaymentSchedule._meta.concrete_fields])
_NEW_ROW = ScheduleRow._make(f.get_default() for f in PaymentSchedule._meta.concrete_fields)


def _schedule_values(*, client: Client, spec: ScheduleSpec) -> dict:
    """The field values (by attname) of the schedule a spec describes; other fields keep their
    defaults, and fields of other kinds are dropped.

    Raises ValidationError for a customer of another client or a deferral before the start.
    """
    if spec.customer.client_id != client.pk:
        raise ValidationError({"customer": "This customer belongs to another client."})
    values = {
        "client_id": client.pk,
        "customer_id": spec.customer.pk,
        "kind": spec.kind,
        "amount": spec.amount,
        "currency": spec.currency or client.currency,
        "method": spec.method,
        "start_date": spec.start_date,
        "cycle_start": spec.start_date,
        "external_ref": spec.external_ref.strip(),
        "description": spec.description.strip(),
    }
    for name in KIND_FIELDS.get(spec.kind, ()):
        value = getattr(spec, name)
        if name == "deferral_approved_by":
            values["deferral_approved_by_id"] = None if value is None else value.pk
        elif name == "autopay_account":
            if value:
                account = normalize_account(value)
                values["autopay_account"] = account
                values["autopay_account_last4"] = account[-4:]
        else:
            values[name] = value
    if spec.kind == ScheduleKind.DEFERRED and spec.deferred_until and spec.deferred_until < spec.start_date:
        raise ValidationError({"deferred_until": "The deferred-until date is before the original date."})
    if spec.kind == ScheduleKind.AUTOPAY:
        values["method"] = "direct_debit" if spec.autopay_method == "bank_account" else spec.autopay_method or spec.method
    return values


def _unvalidated_schedule(*, client: Client, spec: ScheduleSpec) -> PaymentSchedule:
    """The unsaved schedule of a spec, before _validate; raises as _schedule_values does."""
    schedule = PaymentSchedule(number=0, **_schedule_values(client=client, spec=spec))
    # The related objects at hand, so that reading them asks the database nothing.
    schedule.client = client
    schedule.customer = spec.customer
    if schedule.deferral_approved_by_id is not None:
        schedule.deferral_approved_by = spec.deferral_approved_by
    return schedule


def _build_schedule(*, client: Client, spec: ScheduleSpec) -> PaymentSchedule:
    """An unsaved, validated schedule; fields of other kinds are dropped."""
    schedule = _unvalidated_schedule(client=client, spec=spec)
    _validate(schedule)
    return schedule


def _value_key(value) -> tuple:
    # Equal Decimals may differ in their places (49.9 == 49.90), which a field's checks see.
    return (type(value), str(value) if isinstance(value, Decimal) else value)


class _FieldChecks:
    """Whether full_clean, as _validate runs it, passes a new schedule's values and leaves them.

    A field's checks (to_python, choices, validators) depend on its value alone, so each runs
    once per distinct value of the field, and its outcome is remembered for the rest of a batch.
    """

    def __init__(self):
        self._fields = {
            field.attname: field
            for field in PaymentSchedule._meta.concrete_fields
            if field.name not in NOT_VALIDATED and not field.generated
        }
        self._outcomes: dict[tuple, bool] = {}
        # Columns a spec leaves keep their defaults, checked once, here; some (the amount, say)
        # have none that passes and must always be given.
        self._required = frozenset(
            attname for attname in self._fields if not self._all_pass({attname: getattr(_NEW_ROW, attname)})
        )

    def pass_unchanged(self, values: dict) -> bool:
        """For a new schedule with these values (by attname) and defaults elsewhere."""
        return self._required <= values.keys() and self._all_pass(values)

    def _all_pass(self, values: dict) -> bool:
        fields, outcomes = self._fields, self._outcomes
        for attname, value in values.items():
            if attname not in fields:
                continue
            try:
                key = (attname, *_value_key(value))
                passed = outcomes.get(key)
            except TypeError:  # an unhashable value: full_clean will have its say
                return False
            if passed is None:
                passed = outcomes[key] = self._passes_unchanged(fields[attname], value)
            if not passed:
                return False
        return True

    @staticmethod
    def _passes_unchanged(field, value) -> bool:
        # Model.clean_fields for one field. Only ForeignKey.validate reads the instance, to route
        # its query: an unsaved one routes it to the default database, as None does.
        if (field.blank and value in field.empty_values) or isinstance(value, DatabaseDefault):
            return True
        try:
            cleaned = field.clean(value, None)
        except ValidationError:
            return False
        return _value_key(cleaned) == _value_key(value)


def _build_rows(*, client: Client, specs: list[ScheduleSpec]) -> list[ScheduleRow]:
    """_build_schedule for each spec, as rows; in order, so the first faulty spec raises.

    A spec that breaks a kind rule, or has a value full_clean would refuse or convert, goes
    through _build_schedule itself; for the others _FieldChecks knows full_clean's outcome.
    """
    checks = _FieldChecks()
    rows = []
    for spec in specs:
        values = _schedule_values(client=client, spec=spec)
        row = _NEW_ROW._replace(**values)
        if _rule_errors(row) or not checks.pass_unchanged(values):
            schedule = _build_schedule(client=client, spec=spec)
            row = ScheduleRow._make(getattr(schedule, name) for name in ScheduleRow._fields)
        rows.append(row)
    return rows


DUPLICATE_REF = "A schedule with this CRM reference already exists."


def _check_external_refs(client: Client, refs: list[str]) -> None:
    """CRM references must be new and distinct: one query for the whole batch."""
    refs = [ref for ref in refs if ref]
    repeated = {ref for ref, n in collections.Counter(refs).items() if n > 1}
    taken = set(PaymentSchedule.objects.filter(client=client, external_ref__in=refs).values_list("external_ref", flat=True)) if refs else set()
    if repeated or taken:
        problems = [f"{DUPLICATE_REF[:-1]}: {ref}." for ref in sorted(taken)]
        problems += [f"CRM reference {ref} appears twice in this batch." for ref in sorted(repeated - taken)]
        raise ValidationError({"external_ref": problems})


def _horizon(schedule: PaymentSchedule, today: dt.date) -> dt.date:
    return max(today, schedule.start_date) + dt.timedelta(days=HORIZON_DAYS)


def _new_plan(
    schedule, client: Client, *, through: dt.date, holidays: duedates.Holidays | None = None
) -> list[duedates.Due]:
    """The dues of a new schedule (or its row) through `through`; raises ValidationError for a
    plan that cannot be made or has more payments than a schedule may have."""
    try:
        dues = _plan_of(schedule, client, through=through, holidays=holidays)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if problem := _too_many_payments(len(dues)):
        # Only dates far apart make so many with a count in bounds: the start is what to change.
        raise ValidationError({
            "start_date": f"From {schedule.start_date.isoformat()} to {dues[-1].nominal_date.isoformat()}, {problem} "
            "Start later, or give an end date or a number of payments."
        })
    return dues


def schedule_check(
    *, client: Client, spec: ScheduleSpec, today: dt.date | None = None, holidays: duedates.Holidays | None = None
) -> list[duedates.Due]:
    """The dues a schedule would have, checked as creating it checks them except for its CRM
    reference (a batch checks all of its references at once); saves and locks nothing.
    `holidays`: the client's calendar, when a batch has it already (see _holidays).
    Raises ValidationError."""
    schedule = _build_schedule(client=client, spec=spec)
    return _new_plan(schedule, client, through=_horizon(schedule, today or client_today(client)), holidays=holidays)


def schedule_preview(*, client: Client, spec: ScheduleSpec, today: dt.date | None = None) -> list[duedates.Due]:
    """The dues a schedule would have, without saving anything; raises ValidationError."""
    dues = schedule_check(client=client, spec=spec, today=today)
    _check_external_refs(client, [spec.external_ref.strip()])
    return dues


def _created_details(schedule: ScheduleRow, spec: ScheduleSpec, dues, source: str) -> dict:
    details = {
        "kind": schedule.kind,
        "amount": schedule.amount,
        "currency": schedule.currency,
        "method": schedule.method,
        "start_date": schedule.start_date,
        "scheduled_payments": len(dues),
        "first_due": dues[0].due_date if dues else None,
        "last_due": dues[-1].due_date if dues else None,
        "source": source,
    }
    for name in KIND_FIELDS[schedule.kind]:
        if name == "autopay_account":
            value = masked(schedule.autopay_account_last4)
        elif name == "deferral_approved_by":
            value = spec.deferral_approved_by.get_username() if schedule.deferral_approved_by_id else None
        else:
            value = getattr(schedule, name)
        if value not in (None, ""):
            details[name] = value
    return details


@transaction.atomic
def schedule_create(
    *, client: Client, actor: Actor, spec: ScheduleSpec, source: str = "manual", today: dt.date | None = None
) -> PaymentSchedule:
    """Create a schedule of any kind with its scheduled payments; raises ValidationError, or
    PermissionDenied for a role that may not write."""
    created = schedules_create_many(client=client, actor=actor, specs=[spec], source=source, today=today)
    return created.select_related("client", "customer").get()


@transaction.atomic
def schedules_create_many(
    *, client: Client, actor: Actor, specs: list[ScheduleSpec], source: str, today: dt.date | None = None
) -> QuerySet[PaymentSchedule]:
    """Create many schedules in bulk (imports, seeding); all or nothing. Raises ValidationError
    for the first faulty spec, or PermissionDenied for a role that may not write.

    Returns the new schedules, in the order of the specs, as a queryset read when used.
    """
    require_role(actor, client)
    today = today or client_today(client)
    built = _build_rows(client=client, specs=specs)
    _check_external_refs(client, [row.external_ref for row in built])
    first = _allocate_numbers(client, len(built))
    created_by = None if isinstance(actor, str) else actor.pk
    # One moment for the batch, as text for COPY (psycopg would format a datetime in every row).
    now = timezone.now().isoformat()
    # Asked before the COPY starts: the connection runs no other query while it streams.
    holidays = _holidays(client)
    subject_type = PaymentSchedule._meta.model_name
    events = []
    # Each schedule's payments stream into the database while the next schedule is planned; the
    # schedules' own rows follow in one COPY as the block ends (foreign keys are checked at commit).
    with (
        row_inserter(PaymentSchedule, len(built)) as insert_schedule,
        row_writer(ScheduledPayment, NewPayment._fields) as write_payment,
    ):
        for number, (row, spec) in enumerate(zip(built, specs, strict=True), first):
            horizon = _horizon(row, today)
            dues = _new_plan(row, client, through=horizon, holidays=holidays)
            statuses = _initial_statuses(dues, today, client.grace_days)
            row = row._replace(
                number=number,
                created_by_id=created_by,
                horizon_until=horizon if row.kind in OPEN_ENDED_KINDS else row.horizon_until,
                created_at=now,
                updated_at=now,
                # Written with the schedule's own row: no UPDATE over the new schedules afterwards.
                **_rollups(row, dues, statuses),
            )
            schedule_id = insert_schedule(row)
            for payment in _new_payments(
                client=client, schedule_id=schedule_id, number=number, dues=dues, statuses=statuses, updated_at=now
            ):
                write_payment(payment)
            events.append(PendingEvent("schedule.created", (subject_type, schedule_id), _created_details(row, spec, dues, source)))
    audit_record_many(client=client, actor=actor, events=events)
    return PaymentSchedule.objects.filter(client=client, number__gte=first, number__lt=first + len(built)).order_by("number")
