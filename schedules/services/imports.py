"""Importing a client's CRM export of payment schedules (CSV): customers and schedules at once.

The whole file is checked first, against the file's own rules (schedules.csv_import) and then the
database and the domain; if anything is wrong every problem is reported with its line and column
and nothing is kept. A customer already on file is reused unchanged, a schedule_ref already
imported is skipped, so importing the same file again creates nothing.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from bpo_ledger import locks
from bpo_ledger.access import require_role
from bpo_ledger.audit import Actor
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client, Customer
from bpo_ledger.services import customer_create

from ..csv_import import (
    CustomerData,
    ParsedFile,
    RowError,
    ScheduleRow,
    customer_column,
    parse_schedules_csv,
    schedule_column,
)
from ..models import PaymentSchedule
from .planning import ScheduleSpec, schedule_preview, schedules_create_many

SYSTEM_ACTOR = "system:import_schedules"


@dataclass(frozen=True)
class ImportResult:
    customers_created: int
    schedules_created: int
    already_imported: int  # rows whose schedule_ref was imported before: skipped


class ImportRejected(DomainError):
    """The file has problems (each in `errors`, in the file's order); nothing was imported."""

    def __init__(self, errors: list[RowError]):
        count = len(errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found; nothing was imported.")
        self.errors = errors


@transaction.atomic
def schedules_import_csv(*, client: Client, data: bytes | str, actor: Actor = SYSTEM_ACTOR) -> ImportResult:
    """Create the customers and schedules of a CRM export; all or nothing.

    Raises ImportRejected listing every problem of the file, or DomainError if the database
    changed under an import whose rows all checked out.
    """
    require_role(actor, client)
    parsed = parse_schedules_csv(data)
    # Serialize imports of one client (the audit chain takes this lock anyway), so two runs of
    # the same file cannot both find a schedule_ref new and both create it. It is the only
    # row this import locks.
    locks.client_chain_head(client_id=client.pk)
    errors = list(parsed.errors)
    imported = {
        ref
        for refs in _chunks([row.external_ref for row in parsed.rows])
        for ref in PaymentSchedule.objects.filter(client=client, external_ref__in=refs).values_list(
            "external_ref", flat=True
        )
    }
    rows = [row for row in parsed.rows if row.external_ref not in imported]
    # Customers are created to check the schedules that refer to them; a rejection rolls them back.
    customers, created = _customers(client, actor, parsed, {row.customer_ref for row in rows}, errors)

    specs = []
    for row in rows:
        spec = ScheduleSpec(customer=customers[row.customer_ref], **row.spec_fields())
        try:
            schedule_preview(client=client, spec=spec)
        except ValidationError as exc:
            errors.extend(_row_errors(exc, row))
        else:
            specs.append(spec)

    if errors:
        raise ImportRejected(parsed.in_file_order(errors))
    if specs:
        try:
            schedules_create_many(client=client, actor=actor, specs=specs, source="import")
        except ValidationError as exc:
            # Every spec passed the preview: only a change made meanwhile gets here.
            raise DomainError(f"Nothing was imported: {' '.join(exc.messages)}") from None
    return ImportResult(
        customers_created=created, schedules_created=len(specs), already_imported=len(parsed.rows) - len(rows)
    )


def _chunks(values: list[str], size: int = 1000):
    # Keeps IN (...) lists under SQLite's limit on query parameters for files of any length.
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _customers(
    client: Client, actor: Actor, parsed: ParsedFile, refs: set[str], errors: list[RowError]
) -> tuple[dict[str, Customer], int]:
    """The customers of the rows to import, creating the new ones; returns them and how many are new.

    A new customer that cannot be created is stood in for by an unsaved one, so that its
    schedules are still checked and every problem of the file is reported at once.
    """
    customers = {
        c.external_ref: c
        for chunk in _chunks(sorted(refs))
        for c in Customer.objects.filter(client=client, external_ref__in=chunk)
    }
    created = 0
    for data in sorted((parsed.customers[ref] for ref in refs - set(customers)), key=lambda d: d.line):
        stand_in = Customer(client=client, external_ref=data.external_ref, name=data.name)
        customers[data.external_ref] = stand_in
        if not data.name:
            errors.append(
                RowError(data.line, "customer_name", f"customer {data.external_ref} is not on file yet: give its name")
            )
            continue
        try:
            customers[data.external_ref] = customer_create(
                client=client,
                actor=actor,
                external_ref=data.external_ref,
                name=data.name,
                email=data.email,
                phone=data.phone,
                timezone_name=data.timezone,
                email_consent=data.email_consent,
                sms_consent=data.sms_consent,
                bank_account=data.bank_account,
                source="import",
            )
            created += 1
        except ValidationError as exc:
            errors.extend(_customer_errors(exc, data))
    return customers, created


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs of a ValidationError; field is "" for errors of the whole object."""
    if not hasattr(exc, "error_dict"):
        return [("", message) for message in exc.messages]
    return [
        ("" if name == NON_FIELD_ERRORS else name, message)
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


# Account numbers stay out of error output, as they stay masked everywhere else.
_SECRET_FIELDS = {"bank_account", "autopay_account"}


def _shown(message: str, name: str, value) -> str:
    """The message with the offending value in front, when there is one to show."""
    if name in _SECRET_FIELDS or value in (None, "") or isinstance(value, dt.datetime):
        return message
    if str(value) in message:
        return message
    return f'"{value}": {message}'


def _customer_errors(exc: ValidationError, data: CustomerData) -> list[RowError]:
    errors = []
    for name, message in _messages(exc):
        if not name:
            errors.append(RowError(data.line, "", f"customer {data.external_ref}: {message}"))
            continue
        column = customer_column(name)
        errors.append(RowError(data.line_of(column), column, _shown(message, name, getattr(data, name, None))))
    return errors


def _row_errors(exc: ValidationError, row: ScheduleRow) -> list[RowError]:
    errors = []
    for name, message in _messages(exc):
        if not name:
            errors.append(RowError(row.line, "", message))
            continue
        errors.append(RowError(row.line, schedule_column(name), _shown(message, name, getattr(row, name, None))))
    return errors
