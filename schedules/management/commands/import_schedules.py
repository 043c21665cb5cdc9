import argparse
import textwrap
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client
from schedules.csv_import import COLUMNS
from schedules.services import ImportRejected, schedules_import_csv


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
        try:
            result = schedules_import_csv(client=tenant, data=data)
        except ImportRejected as rejected:
            for error in rejected.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{file}: {rejected}") from None
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{result.customers_created} customers created, {result.schedules_created} schedules created, "
            f"{result.already_imported} rows already imported"
        )
