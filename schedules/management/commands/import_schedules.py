import argparse
import datetime as dt
import textwrap
from pathlib import Path

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import transaction

from bpo_ledger.models import Client, Customer
from bpo_ledger.services import customer_create
from schedules.csv_import import (
    COLUMNS,
    CustomerData,
    ParsedFile,
    RowError,
    ScheduleRow,
    customer_column,
    parse_schedules_csv,
    schedule_column,
)
from schedules.models import PaymentSchedule
from schedules.services import ScheduleSpec, schedule_preview, schedules_create_many

ACTOR = "system:import_schedules"


def _help() -> str:
    width = max(len(c.name) for c in COLUMNS) + 2
    lines = [
        "Create customers and payment schedules from a client's CRM export (CSV, UTF-8 with or",
        "without BOM, one schedule per row, header names case-insensitive).",
        "",
        "The whole file is checked first; if any row is wrong every problem is printed with its",
        "line and column and nothing is created. Otherwise the missing customers and all the",
        "schedules are created in one transaction. A customer already on file (same customer_ref)",
        "is reused unchanged; a row whose schedule_ref was already imported is skipped, so",
        "importing the same file again creates nothing.",
        "",
        "Dates are YYYY-MM-DD; amounts 1234.50 or 1,234.50. A column of another kind filled in",
        "is an error. Columns (* = a value is required on every row):",
    ]
    for column in COLUMNS:
        name = column.name + ("*" if column.required else "")
        wrapped = textwrap.wrap(column.help, 88 - width - 2)
        lines.append(f"  {name:<{width}}{wrapped[0]}")
        lines.extend(f"  {'':<{width}}{more}" for more in wrapped[1:])
    return "\n".join(lines)


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the column list kept as written."""


class _Rejected(Exception):
    """Raised inside the transaction to roll back everything validation wrote."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} problems")
        self.errors = errors


class Command(BaseCommand):
    help = _help()

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = _HelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--client", metavar="CODE", required=True, help="The client whose customers and schedules these are.")
        parser.add_argument("file", metavar="FILE.csv", help="The CSV export.")

    def handle(self, *args, client, file, **options):
        tenant = Client.objects.filter(code=client).first()
        if tenant is None:
            raise CommandError(f"No client with code {client!r}.")
        try:
            data = Path(file).read_bytes()
        except FileNotFoundError:
            raise CommandError(f"No such file: {file}") from None
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        parsed = parse_schedules_csv(data)
        try:
            with transaction.atomic():
                customers_created, schedules_created, skipped = _import(tenant, parsed)
        except _Rejected as rejected:
            for error in rejected.errors:
                self.stderr.write(str(error))
            count = len(rejected.errors)
            raise CommandError(
                f"{file}: {count} problem{'s' if count != 1 else ''} found; nothing was imported."
            ) from None
        self.stdout.write(
            f"{customers_created} customers created, {schedules_created} schedules created, "
            f"{skipped} rows already imported"
        )


def _import(client: Client, parsed: ParsedFile) -> tuple[int, int, int]:
    """Validate every row against the database and the domain, then create; all or nothing.

    Runs inside the caller's transaction: customers are created to validate the schedules
    that refer to them, and _Rejected rolls them back if anything is wrong.
    """
    # Serialize imports of one client (the audit chain takes this lock anyway), so two runs of
    # the same file cannot both find a schedule_ref new and both create it.
    list(Client.objects.select_for_update(no_key=True).filter(pk=client.pk).values_list("pk"))
    errors = list(parsed.errors)
    imported = {
        ref
        for refs in _chunks([row.external_ref for row in parsed.rows])
        for ref in PaymentSchedule.objects.filter(client=client, external_ref__in=refs).values_list(
            "external_ref", flat=True
        )
    }
    rows = [row for row in parsed.rows if row.external_ref not in imported]
    customers, created = _customers(client, parsed, {row.customer_ref for row in rows}, errors)

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
        raise _Rejected(parsed.in_file_order(errors))
    if specs:
        try:
            schedules_create_many(client=client, actor=ACTOR, specs=specs, source="import")
        except ValidationError as exc:
            # Every spec passed the preview: only a change made meanwhile gets here.
            raise CommandError(f"Nothing was imported: {' '.join(exc.messages)}") from None
    return created, len(specs), len(parsed.rows) - len(rows)


def _chunks(values: list[str], size: int = 1000):
    # Keeps IN (...) lists under SQLite's limit on query parameters for files of any length.
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _customers(
    client: Client, parsed: ParsedFile, refs: set[str], errors: list[RowError]
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
                actor=ACTOR,
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
