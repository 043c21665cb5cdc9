"""Importing a client's CRM export of payment schedules (CSV): customers and schedules at once.

The whole file is checked first, against the file's own rules (schedules.csv_import) and then the
database and the domain, reading only: no transaction, no lock. If anything is wrong every problem
is reported with its line and column and nothing is written; otherwise the file is written in one
transaction, the client's row locked only then. A customer already on file is reused unchanged, a schedule_ref already
imported is skipped, so importing the same file again creates nothing.
"""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from bpo_ledger import locks
from bpo_ledger.access import require_role
from bpo_ledger.audit import Actor
from bpo_ledger.clock import client_today
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client, Customer
from bpo_ledger.services import customer_new, customers_store_many

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
from .planning import ScheduleSpec, _holidays, schedule_check, schedules_create_many

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


@dataclass
class _CheckedFile:
    """An import whose every row checked out: what is left to write."""

    rows: list[ScheduleRow]  # the rows whose schedule_ref is new, in the file's order
    customers: dict[str, Customer]  # by customer_ref: those on file, and the new ones unsaved
    already_imported: int


def schedules_import_csv(*, client: Client, data: bytes | str, actor: Actor = SYSTEM_ACTOR) -> ImportResult:
    """Create the customers and schedules of a CRM export; all or nothing.

    Every row is parsed and checked first, with no transaction open and no row locked, so that
    checking a long file holds up no other writer of the client; only a file without a problem
    is written, in one transaction. Raises ImportRejected listing every problem of the file, or
    DomainError if the database changed under an import whose rows all checked out.
    """
    require_role(actor, client)
    checked = _check(client, parse_schedules_csv(data))
    try:
        return _write(client, actor, checked)
    except (ValidationError, IntegrityError) as exc:
        # Every row checked out: only a change made meanwhile (a customer or schedule created
        # under the same reference, say) gets here.
        detail = (
            " ".join(exc.messages) if isinstance(exc, ValidationError)
            else "another change took a customer_ref of the file meanwhile"
        )
        raise DomainError(f"Nothing was imported: {detail}. Run the import again.") from None


def _check(client: Client, parsed: ParsedFile) -> _CheckedFile:
    """Check every row of a parsed file against the database and the domain, reading only;
    raises ImportRejected with every problem found."""
    errors = list(parsed.errors)
    imported = _imported_refs(client, [row.external_ref for row in parsed.rows])
    rows = [row for row in parsed.rows if row.external_ref not in imported]
    customers = _customers(client, parsed, {row.customer_ref for row in rows}, errors)
    today, holidays = client_today(client), _holidays(client)
    for row in rows:
        spec = ScheduleSpec(customer=customers[row.customer_ref], **row.spec_fields())
        try:
            schedule_check(client=client, spec=spec, today=today, holidays=holidays)
        except ValidationError as exc:
            errors.extend(_row_errors(exc, row))
    if errors:
        raise ImportRejected(parsed.in_file_order(errors))
    return _CheckedFile(rows, customers, len(parsed.rows) - len(rows))


@transaction.atomic
def _write(client: Client, actor: Actor, checked: _CheckedFile) -> ImportResult:
    # Serialize imports of one client (the audit chain takes this lock anyway), so two runs of
    # the same file cannot both find a schedule_ref new and both create it. It is the only row
    # this import locks, and only now that the file is known to be good.
    locks.client_chain_head(client_id=client.pk)
    # What another import wrote while this one was checking is skipped, as on a second run.
    imported = _imported_refs(client, [row.external_ref for row in checked.rows])
    rows = [row for row in checked.rows if row.external_ref not in imported]
    customers, created = _stored_customers(client, actor, checked.customers, {row.customer_ref for row in rows})
    specs = [ScheduleSpec(customer=customers[row.customer_ref], **row.spec_fields()) for row in rows]
    if specs:
        schedules_create_many(client=client, actor=actor, specs=specs, source="import")
    return ImportResult(
        customers_created=created,
        schedules_created=len(specs),
        already_imported=checked.already_imported + len(checked.rows) - len(rows),
    )


def _imported_refs(client: Client, refs: list[str]) -> set[str]:
    """The schedule refs among `refs` the client already has."""
    return {
        ref
        for chunk in _chunks(refs)
        for ref in PaymentSchedule.objects.filter(client=client, external_ref__in=chunk).values_list(
            "external_ref", flat=True
        )
    }


def _chunks(values: list[str], size: int = 1000):
    # Keeps IN (...) lists under SQLite's limit on query parameters for files of any length.
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _customers_on_file(client: Client, refs) -> dict[str, Customer]:
    return {
        c.external_ref: c
        for chunk in _chunks(sorted(refs))
        for c in Customer.objects.filter(client=client, external_ref__in=chunk)
    }


def _customers(client: Client, parsed: ParsedFile, refs: set[str], errors: list[RowError]) -> dict[str, Customer]:
    """The customers of the rows to import: those on file, and the new ones built and checked but
    not saved. A new customer with a problem is stood in for by a bare unsaved one, so that its
    schedules are still checked and every problem of the file is reported at once."""
    customers = _customers_on_file(client, refs)
    for data in sorted((parsed.customers[ref] for ref in refs - set(customers)), key=lambda d: d.line):
        customers[data.external_ref] = Customer(client=client, external_ref=data.external_ref, name=data.name)
        if not data.name:
            errors.append(
                RowError(data.line, "customer_name", f"customer {data.external_ref} is not on file yet: give its name")
            )
            continue
        try:
            customers[data.external_ref] = customer_new(
                client=client,
                external_ref=data.external_ref,
                name=data.name,
                email=data.email,
                phone=data.phone,
                timezone_name=data.timezone,
                email_consent=data.email_consent,
                sms_consent=data.sms_consent,
                bank_account=data.bank_account,
                looked_up=True,  # not on file: _customers_on_file found no customer with this ref
            )
        except ValidationError as exc:
            errors.extend(_customer_errors(exc, data))
    return customers


def _stored_customers(
    client: Client, actor: Actor, checked: dict[str, Customer], refs: set[str]
) -> tuple[dict[str, Customer], int]:
    """The customers of `refs`, saving the new ones (one created meanwhile is reused unchanged);
    returns them and how many were created."""
    new_refs = {ref for ref in refs if checked[ref].pk is None}
    customers = {ref: checked[ref] for ref in refs - new_refs} | _customers_on_file(client, new_refs)
    to_create = [checked[ref] for ref in sorted(new_refs - set(customers))]
    for customer in customers_store_many(client=client, actor=actor, customers=to_create, source="import"):
        customers[customer.external_ref] = customer
    return customers, len(to_create)


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
