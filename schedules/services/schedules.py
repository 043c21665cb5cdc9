"""Every write to payment schedules. Each writes its AuditEvent (the schedule log) in the same
transaction; the subject of every event is the schedule, so its page shows one timeline."""

import collections
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, Q, Subquery
from django.utils import timezone

from bpo_ledger.audit import Actor, PendingEvent, audit_record, audit_record_many
from bpo_ledger.bulk import bulk_insert
from bpo_ledger.crypto import normalize_account
from bpo_ledger.errors import DomainError
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


def client_today(client: Client, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the client is: due dates are the client's calendar days."""
    return duedates.local_date(now or timezone.now(), client.timezone)


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


def _locked(schedule: PaymentSchedule) -> PaymentSchedule:
    return PaymentSchedule.objects.select_for_update().select_related("client", "customer").get(pk=schedule.pk)


def _require_open(schedule: PaymentSchedule) -> None:
    if not schedule.is_open:
        raise DomainError(f"Schedule {schedule.reference} is {schedule.get_status_display().lower()}: it can no longer change.")


def _reason_required(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Give a reason: it goes on the schedule's log.")
    return reason


def _open_payments(schedule: PaymentSchedule):
    return ScheduledPayment.objects.select_for_update().filter(
        schedule=schedule, status__in=OPEN_PAYMENT_STATUSES
    ).order_by("sequence")


@transaction.atomic
def schedule_defer(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    until: dt.date,
    reason_code: str,
    reason: str,
    approved_by=None,
    today: dt.date | None = None,
) -> PaymentSchedule:
    """Move the remaining due dates so the next one falls on `until`; the old dates stay on record."""
    schedule = _locked(schedule)
    _require_open(schedule)
    reason = _reason_required(reason)
    today = today or client_today(schedule.client)
    remaining = list(_open_payments(schedule))
    if not remaining:
        raise DomainError(f"Schedule {schedule.reference} has no open payment to defer.")
    first = remaining[0]
    if until <= first.due_date:
        raise DomainError(f"Defer to a date after the next due date, {first.due_date:%Y-%m-%d}.")
    if until < today:
        raise DomainError("Defer to a date in the future.")
    rule = duedates.BusinessDayRule(schedule.client.business_day_rule)
    if schedule.kind in (ScheduleKind.ONE_TIME, ScheduleKind.DEFERRED) or not schedule.frequency:
        nominal_dates = [until]
    else:
        nominal_dates = list(
            duedates.cycle_dates(
                start=until,
                frequency=duedates.Frequency(schedule.frequency),
                interval=schedule.interval,
                anchor_day=until.day,
                count=len(remaining),
            )
        )
    holidays = _holidays(schedule.client)
    moves = {}
    for payment, nominal in zip(remaining, nominal_dates, strict=True):
        new_date = duedates.roll(nominal, rule=rule, holidays=holidays)
        moves[payment.reference] = {"before": payment.due_date, "after": new_date}
        payment.due_date = new_date
        payment.status = _initial_status(new_date, today, schedule.client.grace_days)
    ScheduledPayment.objects.bulk_update(remaining, ["due_date", "status", "updated_at"])
    if schedule.kind in OPEN_ENDED_KINDS:
        # Later cycles continue from the new date, counted from the first moved payment.
        schedule.cycle_start = until
        schedule.cycle_start_sequence = first.sequence
        schedule.anchor_day = until.day
        last = remaining[-1]
        horizon = _horizon(schedule, today)
        extra = _plan(schedule, through=horizon, first_sequence=last.sequence + 1)
        scheduled_payments_insert(_payment_rows(schedule, extra, today))
        schedule.horizon_until = horizon
    if schedule.kind == ScheduleKind.DEFERRED:
        schedule.deferred_until = until
    schedule.save(update_fields=["cycle_start", "cycle_start_sequence", "anchor_day", "horizon_until", "deferred_until", "updated_at"])
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client,
        actor=actor,
        verb="schedule.deferred",
        subject=schedule,
        details={
            "until": until,
            "reason_code": reason_code,
            "reason": reason,
            "approved_by": approved_by.get_username() if approved_by else None,
            "moved": moves,
        },
    )
    return schedule


def _set_status(schedule: PaymentSchedule, *, actor: Actor, allowed_from: tuple, to: str, verb: str, reason: str) -> PaymentSchedule:
    schedule = _locked(schedule)
    reason = _reason_required(reason)
    if schedule.status not in allowed_from:
        raise DomainError(
            f"Schedule {schedule.reference} is {schedule.get_status_display().lower()}; "
            f"it cannot be {verb.split('.')[1]}."
        )
    before = schedule.status
    # Conditional UPDATE: only the writer that still sees the old status wins.
    updated = PaymentSchedule.objects.filter(pk=schedule.pk, status=before).update(
        status=to, updated_at=timezone.now()
    )
    if not updated:
        raise DomainError("The schedule was changed by someone else; reload and try again.")
    schedule.status = to
    audit_record(
        client=schedule.client,
        actor=actor,
        verb=verb,
        subject=schedule,
        details={"reason": reason, "changes": {"status": {"before": before, "after": to}}},
    )
    return schedule


# The schedule statuses each step may start from; the schedule page offers only these.
OPEN = (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)
STEP_STATUSES = {
    "defer": OPEN, "method": OPEN, "amount": OPEN, "payment": OPEN, "fail": OPEN, "cancel": OPEN,
    "pause": (ScheduleStatus.ACTIVE,),
    "resume": (ScheduleStatus.PAUSED,),
    "inquiry": tuple(ScheduleStatus.values),  # a customer may ask about any schedule
}


def schedule_step_allowed(schedule: PaymentSchedule, step: str) -> bool:
    return schedule.status in STEP_STATUSES[step]


@transaction.atomic
def schedule_pause(*, schedule: PaymentSchedule, actor: Actor, reason: str) -> PaymentSchedule:
    """Pause: no reminders go out and nothing falls overdue on the log until it resumes."""
    return _set_status(schedule, actor=actor, allowed_from=STEP_STATUSES["pause"], to=ScheduleStatus.PAUSED, verb="schedule.paused", reason=reason)


@transaction.atomic
def schedule_resume(*, schedule: PaymentSchedule, actor: Actor, reason: str) -> PaymentSchedule:
    return _set_status(schedule, actor=actor, allowed_from=STEP_STATUSES["resume"], to=ScheduleStatus.ACTIVE, verb="schedule.resumed", reason=reason)


@transaction.atomic
def schedule_cancel(*, schedule: PaymentSchedule, actor: Actor, reason: str) -> PaymentSchedule:
    """Cancel the schedule and every payment still open; paid ones stay as they are."""
    schedule = _set_status(
        schedule,
        actor=actor,
        allowed_from=STEP_STATUSES["cancel"],
        to=ScheduleStatus.CANCELLED,
        verb="schedule.cancelled",
        reason=reason,
    )
    ScheduledPayment.objects.filter(schedule=schedule, status__in=OPEN_PAYMENT_STATUSES).update(
        status=PaymentStatus.CANCELLED, updated_at=timezone.now()
    )
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    return schedule


@transaction.atomic
def schedule_change_method(
    *,
    schedule: PaymentSchedule,
    actor: Actor,
    method: str,
    reason: str,
    autopay_method: str = "",
    autopay_account: str = "",
    mandate_reference: str = "",
) -> PaymentSchedule:
    """Change how the customer pays (and, for autopay, the mandate's account)."""
    schedule = _locked(schedule)
    _require_open(schedule)
    reason = _reason_required(reason)
    before = {"method": schedule.method, "account": schedule.autopay_account_masked, "mandate": schedule.mandate_reference}
    schedule.method = method
    if schedule.kind == ScheduleKind.AUTOPAY:
        if autopay_method:
            schedule.autopay_method = autopay_method
        if autopay_account:
            account = normalize_account(autopay_account)
            schedule.autopay_account, schedule.autopay_account_last4 = account, account[-4:]
        if mandate_reference:
            schedule.mandate_reference = mandate_reference
    _validate(schedule)
    after = {"method": schedule.method, "account": schedule.autopay_account_masked, "mandate": schedule.mandate_reference}
    changes = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if autopay_account and "account" not in changes:
        changes["account"] = {"before": before["account"], "after": after["account"]}
    if not changes:
        raise DomainError("Nothing changed: choose a different method or account.")
    schedule.save()
    audit_record(
        client=schedule.client, actor=actor, verb="schedule.method_changed", subject=schedule,
        details={"reason": reason, "changes": changes},
    )
    return schedule


@transaction.atomic
def schedule_change_amount(
    *, schedule: PaymentSchedule, actor: Actor, amount: Decimal, reason: str, today: dt.date | None = None
) -> PaymentSchedule:
    """Change the amount of future, untouched payments only; past and part-paid ones keep theirs.

    For an installment plan `amount` is the new total, spread over the future installments.
    """
    schedule = _locked(schedule)
    _require_open(schedule)
    reason = _reason_required(reason)
    if amount <= 0:
        raise DomainError("The amount must be more than zero.")
    today = today or client_today(schedule.client)
    future = [p for p in _open_payments(schedule) if p.due_date >= today and p.amount_paid == 0]
    if not future:
        raise DomainError(f"Schedule {schedule.reference} has no future unpaid payment to change.")
    before_amount = schedule.amount
    if schedule.kind == ScheduleKind.INSTALLMENT:
        fixed = sum(
            (p.amount_due for p in ScheduledPayment.objects.filter(schedule=schedule).exclude(pk__in=[p.pk for p in future])),
            Decimal("0.00"),
        )
        rest = amount - fixed
        if rest <= 0:
            raise DomainError(f"The new total must exceed {fixed} already due or paid.")
        try:
            new_amounts = duedates.split_installments(rest, len(future))
        except ValueError as exc:
            raise DomainError(str(exc)) from None
    else:
        new_amounts = [amount] * len(future)
    changed = {}
    for payment, new in zip(future, new_amounts, strict=True):
        changed[payment.reference] = {"before": payment.amount_due, "after": new}
        payment.amount_due = new
    ScheduledPayment.objects.bulk_update(future, ["amount_due", "updated_at"])
    schedule.amount = amount
    schedule.save(update_fields=["amount", "updated_at"])
    audit_record(
        client=schedule.client, actor=actor, verb="schedule.amount_changed", subject=schedule,
        details={
            "reason": reason,
            "changes": {"amount": {"before": before_amount, "after": amount}},
            "payments": changed,
        },
    )
    return schedule


def _payment_locked(scheduled_payment: ScheduledPayment) -> ScheduledPayment:
    return ScheduledPayment.objects.select_for_update().select_related("schedule__client", "schedule__customer").get(pk=scheduled_payment.pk)


@transaction.atomic
def scheduled_payment_record(
    *,
    scheduled_payment: ScheduledPayment,
    actor: Actor,
    amount: Decimal,
    paid_on: dt.date,
    method: str,
    note: str = "",
) -> ScheduledPayment:
    """Record money received outside the bank files (cash, a card taken by phone)."""
    payment = _payment_locked(scheduled_payment)
    schedule = payment.schedule
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    if amount <= 0:
        raise DomainError("The amount must be more than zero.")
    if amount > payment.amount_outstanding:
        raise DomainError(
            f"{amount} is more than the {payment.amount_outstanding} outstanding on {payment.reference}; "
            "log the overpayment as a discrepancy instead."
        )
    before = {"status": payment.status, "amount_paid": payment.amount_paid}
    payment.amount_paid += amount
    if payment.amount_paid >= payment.amount_due:
        payment.status, payment.paid_at = PaymentStatus.PAID, timezone.now()
    else:
        payment.status = PaymentStatus.PARTIALLY_PAID
    payment.save(update_fields=["amount_paid", "status", "paid_at", "updated_at"])
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.recorded", subject=schedule,
        details={
            "reference": payment.reference,
            "amount": amount,
            "paid_on": paid_on,
            "method": method,
            "reason": note,
            "changes": {
                "status": {"before": before["status"], "after": payment.status},
                "amount_paid": {"before": before["amount_paid"], "after": payment.amount_paid},
            },
        },
    )
    return payment


@transaction.atomic
def scheduled_payment_fail(
    *, scheduled_payment: ScheduledPayment, actor: Actor, reason: str, today: dt.date | None = None
) -> ScheduledPayment:
    """A collection attempt failed (a debit bounced, a card declined): on the log, still owed."""
    payment = _payment_locked(scheduled_payment)
    schedule = payment.schedule
    reason = _reason_required(reason)
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    today = today or client_today(schedule.client)
    before = payment.status
    if payment.status == PaymentStatus.UPCOMING and payment.due_date <= today:
        payment.status = _initial_status(payment.due_date, today, schedule.client.grace_days)
        payment.save(update_fields=["status", "updated_at"])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.failed", subject=schedule,
        details={"reference": payment.reference, "reason": reason, "status": {"before": before, "after": payment.status}},
    )
    return payment


INQUIRY_CHANNELS = ("phone", "email", "chat", "letter", "in_person")


@transaction.atomic
def schedule_log_inquiry(
    *, schedule: PaymentSchedule, actor: Actor, channel: str, summary: str, outcome: str
) -> None:
    """Put a customer's question about the schedule on its log."""
    if channel not in INQUIRY_CHANNELS:
        raise DomainError(f"Unknown inquiry channel {channel!r}; use one of {', '.join(INQUIRY_CHANNELS)}.")
    if not summary.strip():
        raise DomainError("Summarize what the customer asked.")
    audit_record(
        client=schedule.client, actor=actor, verb="inquiry.logged", subject=schedule,
        details={"channel": channel, "reason": summary.strip(), "outcome": outcome.strip()},
    )


@transaction.atomic
def schedules_extend_horizon(*, client: Client, today: dt.date | None = None) -> int:
    """Generate the next due dates of open-ended schedules whose horizon runs short; returns rows added."""
    today = today or client_today(client)
    target = today + dt.timedelta(days=HORIZON_DAYS)
    schedules = list(
        PaymentSchedule.objects.select_for_update(skip_locked=True)
        .select_related("client")
        .filter(client=client, status=ScheduleStatus.ACTIVE, kind__in=OPEN_ENDED_KINDS, horizon_until__lt=target)
    )
    if not schedules:
        return 0
    last_seq = dict(
        ScheduledPayment.objects.filter(schedule__in=schedules)
        .values("schedule").annotate(m=Max("sequence")).values_list("schedule", "m")
    )
    rows = []
    for schedule in schedules:
        dues = _plan(schedule, through=target, first_sequence=last_seq.get(schedule.pk, 0) + 1)
        rows.extend(_payment_rows(schedule, dues, today))
        schedule.horizon_until = target
    scheduled_payments_insert(rows)
    PaymentSchedule.objects.bulk_update(schedules, ["horizon_until"], batch_size=1000)
    schedules_refresh_rollups(schedule_ids=[s.pk for s in schedules])
    return len(rows)


@transaction.atomic
def scheduled_payments_advance(*, client: Client, today: dt.date | None = None) -> dict:
    """The nightly move: upcoming -> due on the due date, due -> overdue after the grace days.

    Paused and cancelled schedules do not move. Each schedule whose payments fell overdue gets
    one event on its log naming them.
    """
    today = today or client_today(client)
    active = Q(client=client, schedule__status=ScheduleStatus.ACTIVE)
    now = timezone.now()
    became_due = ScheduledPayment.objects.filter(active, status=PaymentStatus.UPCOMING, due_date__lte=today).update(
        status=PaymentStatus.DUE, updated_at=now
    )
    overdue_cutoff = today - dt.timedelta(days=client.grace_days)
    late = ScheduledPayment.objects.filter(
        active,
        status__in=(PaymentStatus.UPCOMING, PaymentStatus.DUE, PaymentStatus.PARTIALLY_PAID),
        due_date__lt=overdue_cutoff,
    )
    late_rows = list(late.values_list("pk", "schedule_id", "reference", "due_date"))
    ScheduledPayment.objects.filter(pk__in=[r[0] for r in late_rows]).update(status=PaymentStatus.OVERDUE, updated_at=now)
    by_schedule: dict[int, list] = {}
    for _, schedule_id, reference, due_date in late_rows:
        by_schedule.setdefault(schedule_id, []).append({"reference": reference, "due_date": due_date})
    audit_record_many(
        client=client,
        actor="system:nightly",
        events=[
            PendingEvent("payment.overdue", ("paymentschedule", schedule_id), {"payments": payments, "grace_days": client.grace_days})
            for schedule_id, payments in sorted(by_schedule.items())
        ],
    )
    touched = set(by_schedule) | set(
        ScheduledPayment.objects.filter(client=client, due_date=today, status=PaymentStatus.DUE).values_list("schedule_id", flat=True)
    )
    if touched:
        schedules_refresh_rollups(schedule_ids=list(touched))
    return {"due": became_due, "overdue": len(late_rows), "schedules": len(by_schedule)}


@transaction.atomic
def scheduled_payment_waive(*, scheduled_payment: ScheduledPayment, actor: Actor, amount: Decimal, reason: str) -> ScheduledPayment:
    """Write off part or all of what is outstanding (an approved adjustment); on the schedule's log."""
    payment = _payment_locked(scheduled_payment)
    schedule = payment.schedule
    if not payment.is_open:
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: nothing is owed on it.")
    if amount <= 0 or amount > payment.amount_outstanding:
        raise DomainError(f"Write off between 0.01 and the {payment.amount_outstanding} outstanding on {payment.reference}.")
    before = {"status": payment.status, "amount_due": payment.amount_due}
    if payment.amount_paid == 0 and amount == payment.amount_due:
        # All of it: the payment is waived and keeps what was due, on record.
        payment.status = PaymentStatus.WAIVED
    else:
        payment.amount_due -= amount
        if payment.amount_due <= payment.amount_paid:
            payment.status = PaymentStatus.PAID
    payment.save(update_fields=["amount_due", "status", "updated_at"])
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.written_off", subject=schedule,
        details={
            "reference": payment.reference, "amount": amount, "reason": reason,
            "changes": {
                "status": {"before": before["status"], "after": payment.status},
                "amount_due": {"before": before["amount_due"], "after": payment.amount_due},
            },
        },
    )
    return payment


@transaction.atomic
def scheduled_payment_correct_amount(
    *, scheduled_payment: ScheduledPayment, actor: Actor, amount_due: Decimal, reason: str
) -> ScheduledPayment:
    """Correct what one payment should have been (an approved adjustment); on the schedule's log."""
    payment = _payment_locked(scheduled_payment)
    schedule = payment.schedule
    if amount_due <= 0:
        raise DomainError("The corrected amount must be more than zero.")
    if payment.status in (PaymentStatus.WAIVED, PaymentStatus.CANCELLED):
        raise DomainError(f"{payment.reference} is {payment.get_status_display().lower()}: it cannot be corrected.")
    before = {"status": payment.status, "amount_due": payment.amount_due}
    payment.amount_due = amount_due
    if payment.amount_paid >= amount_due:
        payment.status = PaymentStatus.PAID
    elif payment.status == PaymentStatus.PAID:
        payment.status = PaymentStatus.PARTIALLY_PAID
    payment.save(update_fields=["amount_due", "status", "updated_at"])
    schedules_refresh_rollups(schedule_ids=[schedule.pk])
    audit_record(
        client=schedule.client, actor=actor, verb="payment.amount_corrected", subject=schedule,
        details={
            "reference": payment.reference, "reason": reason,
            "changes": {
                "status": {"before": before["status"], "after": payment.status},
                "amount_due": {"before": before["amount_due"], "after": payment.amount_due},
            },
        },
    )
    return payment
