"""Planning schedules: their due dates, validation and creation, one at a time or in bulk."""

import collections
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, Subquery
from django.utils import timezone

from bpo_ledger.audit import Actor, PendingEvent, audit_record_many
from bpo_ledger.bulk import bulk_insert
from bpo_ledger.clock import client_today
from bpo_ledger.crypto import normalize_account
from bpo_ledger.models import Client, Customer

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


@functools.lru_cache(maxsize=64)
def _country_holidays(country: str):
    # The calendar fills in further years by itself as later dates are looked up.
    return duedates.holiday_calendar(country, years=[timezone.now().year])


def _holidays(client: Client):
    if client.business_day_rule == duedates.BusinessDayRule.NONE:
        return frozenset()
    return _country_holidays(client.country)


def _plan(schedule: PaymentSchedule, *, through: dt.date, first_sequence: int = 1) -> list[duedates.Due]:
    """The dues of a schedule with nominal dates through `through` (all of them if it ends)."""
    client = schedule.client
    rule = duedates.BusinessDayRule(client.business_day_rule)
    kind = schedule.kind
    if kind in (ScheduleKind.ONE_TIME, ScheduleKind.DEFERRED):
        nominal = schedule.deferred_until if kind == ScheduleKind.DEFERRED else schedule.start_date
        holidays = _holidays(client)
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
            holidays=_holidays(client),
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
        holidays=_holidays(client),
        first_sequence=max(first_sequence - offset, 1),
    )
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


@dataclass(frozen=True)
class NewPayment:
    """A scheduled payment to insert; plain values, so that a bulk insert builds no model objects."""

    client_id: int
    schedule_id: int
    sequence: int
    reference: str
    due_date: dt.date
    amount_due: Decimal
    status: str


def _payment_rows(schedule: PaymentSchedule, dues: list[duedates.Due], today: dt.date) -> list[NewPayment]:
    code = schedule.client.code
    grace = schedule.client.grace_days
    return [
        NewPayment(
            client_id=schedule.client_id,
            schedule_id=schedule.pk,
            sequence=due.sequence,
            reference=payment_reference(code, schedule.number, due.sequence),
            due_date=due.due_date,
            amount_due=due.amount,
            status=_initial_status(due.due_date, today, grace),
        )
        for due in dues
    ]


COPY_COLUMNS = (
    "client_id", "schedule_id", "sequence", "reference", "due_date", "original_due_date",
    "amount_due", "amount_paid", "status", "updated_at",
)


def scheduled_payments_insert(rows: list[NewPayment]) -> int:
    """Insert many scheduled payments at once: COPY on PostgreSQL, bulk_create elsewhere."""
    if not rows:
        return 0
    now = timezone.now()
    if connection.vendor != "postgresql":
        ScheduledPayment.objects.bulk_create(
            [
                ScheduledPayment(
                    client_id=r.client_id, schedule_id=r.schedule_id, sequence=r.sequence, reference=r.reference,
                    due_date=r.due_date, original_due_date=r.due_date, amount_due=r.amount_due, status=r.status,
                )
                for r in rows
            ],
            batch_size=1000,
        )
        return len(rows)
    zero = Decimal("0.00")
    table = ScheduledPayment._meta.db_table
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    (r.client_id, r.schedule_id, r.sequence, r.reference, r.due_date,
                     r.due_date, r.amount_due, zero, r.status, now)
                )
    return len(rows)


def schedules_refresh_rollups(*, schedule_ids) -> None:
    """Recompute next due date, overdue flag and completion of the given schedules in SQL.

    schedule_ids: a list of ids or a values_list queryset of them.
    """
    open_payments = ScheduledPayment.objects.filter(
        schedule=OuterRef("pk"), status__in=OPEN_PAYMENT_STATUSES
    )
    PaymentSchedule.objects.filter(pk__in=schedule_ids).update(
        next_due_date=Subquery(
            open_payments.order_by().values("schedule").annotate(d=Min("due_date")).values("d")[:1]
        ),
        is_overdue=Exists(open_payments.filter(status=PaymentStatus.OVERDUE)),
    )
    # A schedule with a fixed end whose payments are all settled is complete.
    PaymentSchedule.objects.filter(pk__in=schedule_ids, status=ScheduleStatus.ACTIVE).exclude(
        kind__in=OPEN_ENDED_KINDS, cycles__isnull=True, end_date__isnull=True
    ).filter(~Exists(open_payments), Exists(ScheduledPayment.objects.filter(schedule=OuterRef("pk")))).update(
        status=ScheduleStatus.COMPLETED
    )


def _allocate_numbers(client: Client, count: int) -> int:
    """Reserve `count` consecutive schedule numbers for the client; returns the first."""
    list(Client.objects.select_for_update(no_key=True).filter(pk=client.pk).values_list("pk"))
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
KIND_SPECIFIC = set().union(*KIND_FIELDS.values())


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


def _validate(schedule: PaymentSchedule) -> None:
    """Field validation plus the kind rules; the database constraints stay as the backstop."""
    errors = _kind_rule_errors(schedule)
    try:
        schedule.full_clean(exclude=["number", "client", "customer"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, messages)
    if errors:
        raise ValidationError(errors)


def _build_schedule(*, client: Client, spec: ScheduleSpec) -> PaymentSchedule:
    """An unsaved, validated schedule; fields of other kinds are dropped."""
    if spec.customer.client_id != client.pk:
        raise ValidationError({"customer": "This customer belongs to another client."})
    keep = KIND_FIELDS.get(spec.kind, set())
    values = {
        name: getattr(spec, name)
        for name in KIND_SPECIFIC
        if name in keep and name != "autopay_account"
    }
    schedule = PaymentSchedule(
        client=client,
        customer=spec.customer,
        number=0,
        kind=spec.kind,
        amount=spec.amount,
        currency=spec.currency or client.currency,
        method=spec.method,
        start_date=spec.start_date,
        external_ref=spec.external_ref.strip(),
        description=spec.description.strip(),
        **values,
    )
    if spec.kind == ScheduleKind.AUTOPAY and spec.autopay_account:
        account = normalize_account(spec.autopay_account)
        schedule.autopay_account = account
        schedule.autopay_account_last4 = account[-4:]
    if spec.kind == ScheduleKind.DEFERRED and spec.deferred_until and spec.deferred_until < spec.start_date:
        raise ValidationError({"deferred_until": "The deferred-until date is before the original date."})
    if spec.kind == ScheduleKind.AUTOPAY:
        schedule.method = "direct_debit" if spec.autopay_method == "bank_account" else spec.autopay_method or schedule.method
    schedule.cycle_start = spec.start_date
    _validate(schedule)
    return schedule


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


def schedule_preview(*, client: Client, spec: ScheduleSpec, today: dt.date | None = None) -> list[duedates.Due]:
    """The dues a schedule would have, without saving anything; raises ValidationError."""
    schedule = _build_schedule(client=client, spec=spec)
    _check_external_refs(client, [schedule.external_ref])
    try:
        return _plan(schedule, through=_horizon(schedule, today or client_today(client)))
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _created_details(schedule: PaymentSchedule, dues, source: str) -> dict:
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
        value = getattr(schedule, name, None)
        if name == "autopay_account":
            value = schedule.autopay_account_masked
        elif name == "deferral_approved_by":
            value = value.get_username() if value else None
        if value not in (None, ""):
            details[name] = value
    return details


@transaction.atomic
def schedule_create(
    *, client: Client, actor: Actor, spec: ScheduleSpec, source: str = "manual", today: dt.date | None = None
) -> PaymentSchedule:
    """Create a schedule of any kind with its scheduled payments; raises ValidationError."""
    (schedule,) = schedules_create_many(client=client, actor=actor, specs=[spec], source=source, today=today)
    # Rollups (next due date, overdue) were computed in SQL: hand back the row as stored.
    return PaymentSchedule.objects.select_related("client", "customer").get(pk=schedule.pk)


@transaction.atomic
def schedules_create_many(
    *, client: Client, actor: Actor, specs: list[ScheduleSpec], source: str, today: dt.date | None = None
) -> list[PaymentSchedule]:
    """Create many schedules in bulk (imports, seeding); all or nothing.

    Returns the new schedules as built: their rollup fields were set in SQL, not on these objects.
    """
    today = today or client_today(client)
    built = [_build_schedule(client=client, spec=spec) for spec in specs]
    _check_external_refs(client, [schedule.external_ref for schedule in built])
    first = _allocate_numbers(client, len(built))
    plans = []
    for offset, schedule in enumerate(built):
        schedule.number = first + offset
        if not isinstance(actor, str):
            schedule.created_by = actor
        try:
            plans.append(_plan(schedule, through=_horizon(schedule, today)))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if schedule.kind in OPEN_ENDED_KINDS:
            schedule.horizon_until = _horizon(schedule, today)
    bulk_insert(built, need_ids=True)
    rows = []
    for schedule, dues in zip(built, plans, strict=True):
        rows.extend(_payment_rows(schedule, dues, today))
    scheduled_payments_insert(rows)
    # The new schedules have consecutive numbers: a range, not a list of 100,000 ids.
    new_ids = PaymentSchedule.objects.filter(
        client=client, number__gte=first, number__lt=first + len(built)
    ).values("pk")
    schedules_refresh_rollups(schedule_ids=new_ids)
    audit_record_many(
        client=client,
        actor=actor,
        events=[
            PendingEvent("schedule.created", schedule, _created_details(schedule, dues, source))
            for schedule, dues in zip(built, plans, strict=True)
        ],
    )
    return built
