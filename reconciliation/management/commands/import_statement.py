from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client, ImportFormat
from reconciliation.formats import StatementError
from reconciliation.models import CsvMapping
from reconciliation.services import statement_import

ACTOR = "system:import_statement"


class Command(BaseCommand):
    help = (
        "Import bank statement files (camt.052/053/054, OFX, MT940/942, BAI2, NACHA, CSV) for a client. "
        "Each file is checked whole: a bad file is refused with its line or element and nothing of it is "
        "kept; a file imported before is refused; payments already known from an overlapping file are not "
        "stored twice. The format is detected from the content unless given; CSV needs --mapping."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", metavar="CODE", required=True, help="The client the statements are of.")
        parser.add_argument(
            "--format", choices=ImportFormat.values, help="The files' format (default: detected from each file)."
        )
        parser.add_argument("--mapping", metavar="NAME", help="The client's CSV column mapping (for CSV files).")
        parser.add_argument("files", metavar="FILE", nargs="+")

    def handle(self, *args, client, format, mapping, files, **options):  # noqa: A002
        tenant = Client.objects.filter(code=client).first()
        if tenant is None:
            raise CommandError(f"No client with code {client!r}.")
        csv_mapping = None
        if mapping:
            csv_mapping = CsvMapping.objects.filter(client=tenant, name=mapping).first()
            if csv_mapping is None:
                names = ", ".join(CsvMapping.objects.filter(client=tenant).values_list("name", flat=True)) or "none"
                raise CommandError(f"{tenant.code} has no CSV mapping named {mapping!r} (it has: {names}).")
        failed = 0
        for file in files:
            try:
                self._import_one(tenant, Path(file), format, csv_mapping)
            except CommandError as exc:
                self.stderr.write(str(exc))
                failed += 1
        if failed:
            raise CommandError(f"{failed} of {len(files)} file{'s' if len(files) != 1 else ''} refused; nothing of them was kept.")

    def _import_one(self, client, path: Path, format, mapping) -> None:  # noqa: A002
        progress = self._progress_bar(path.name) if self.stdout.isatty() else None
        try:
            with path.open("rb") as stream:
                imported = statement_import(
                    client=client, actor=ACTOR, file_name=path.name, stream=stream, format=format,
                    mapping=mapping, source="command", progress=progress,
                )
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file") from None
        except OSError as exc:
            raise CommandError(f"{path}: cannot read it ({exc.strerror})") from None
        except StatementError as exc:
            raise CommandError(f"{path}: refused at {exc.where or 'the start'}: {exc.message}") from None
        except DomainError as exc:
            raise CommandError(f"{path}: {exc}") from None
        finally:
            if progress is not None:
                self.stdout.write("")
        totals = ", ".join(f"{currency} {amount}" for currency, amount in imported.totals.items()) or "none"
        self.stdout.write(
            f"{path.name}: import #{imported.pk} ({imported.get_format_display()}): {imported.entries_count} entries, "
            f"{imported.created_count} stored, {imported.skipped_count} already known, "
            f"{imported.confirmed_count} confirmed payments recorded by hand, {imported.pending_count} pending, "
            f"{imported.notices_count} notices, {imported.warnings_count} warnings; totals {totals}"
        )

    def _progress_bar(self, name: str):
        def show(read: int, stored: int) -> None:
            self.stdout.write(f"\r{name}: {read:,} rows read, {stored:,} stored", ending="")
            self.stdout.flush()

        return show
