"""python manage.py reconcile --client CODE [--as-of DATE] [--dry-run]: one reconciliation run, its summary."""

from collections.abc import Iterable

from django.core.management.base import BaseCommand, CommandError

from bpo_ledger.clock import client_today, parse_day
from bpo_ledger.errors import DomainError
from bpo_ledger.models import Client
from reconciliation import matching
from reconciliation.models import RunTrigger
from reconciliation.services import RunOutcome, reconciliation_run


class Command(BaseCommand):
    help = (
        "Reconcile a client's expected payments against the payments received, as of a date (default: the "
        "client's today): allocate what matches, log a discrepancy for what does not (once), resolve what "
        "the money settled. --dry-run says what would happen and writes nothing. Exits non-zero when the run "
        "fails (nothing of it is kept) or another run of the client is working."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", metavar="CODE", required=True, help="The client to reconcile.")
        parser.add_argument("--as-of", metavar="DATE", help="The client's date to reconcile up to, such as 2026-12-10.")
        parser.add_argument("--dry-run", action="store_true", help="Compute and print the outcome; write nothing.")

    def handle(self, *args, client, as_of, dry_run, **options):
        tenant = Client.objects.filter(code=client).first()
        if tenant is None:
            raise CommandError(f"No client with code {client!r}.")
        try:
            day = parse_day(as_of) if as_of else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            outcome = reconciliation_run(client=tenant, as_of=day, trigger=RunTrigger.COMMAND, dry_run=dry_run)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        run = outcome.run
        title = (f"{tenant.code}: dry run as of {(day or client_today(tenant)).isoformat()}, nothing written" if run is None
                 else f"{tenant.code}: run {run.pk} as of {run.as_of.isoformat()} {run.get_status_display().lower()}")
        self.stdout.write(title)
        for line in summary_lines(outcome):
            self.stdout.write(f"  {line}")


def summary_lines(outcome: RunOutcome) -> Iterable[str]:
    """The summary of a run in lines of text, for the command and the logs."""
    counts = outcome.counts
    rules = ", ".join(f"{rule} {counts.get(f'matched_{rule}', 0)}" for rule in matching.RULES)
    kinds = (matching.OVERPAYMENT, matching.UNDERPAYMENT, matching.DUPLICATE, matching.MISSING, matching.MISMATCH, matching.CHARGEBACK)
    findings = ", ".join(f"{kind} {counts.get(f'findings_{kind}', 0)}" for kind in kinds)
    yield f"payments in {counts.get('payments_in', 0)}, expected payments in {counts.get('expected_in', 0)}"
    yield f"matched by rule: {rules}"
    yield (f"allocations {len(outcome.result.allocations)}, scheduled payments settled {counts.get('settled', 0)}, "
           f"allocations taken back {len(outcome.result.unallocations)}")
    yield f"findings by kind: {findings}"
    if outcome.run is not None:
        yield (f"discrepancies: {outcome.logged} logged, {outcome.already_logged} already logged, "
               f"{outcome.resolved} resolved")
    else:
        yield (f"discrepancies: {len(outcome.result.findings)} would be logged (fewer if logged before), "
               f"{len(outcome.result.resolutions)} resolved; dry run: nothing written")
    if outcome.waiting_for:
        waiting = ", ".join(f"{w['account']} (statements through {w['through'] or 'none'})" for w in outcome.waiting_for)
        yield f"missing held back, waiting for statements of: {waiting}"
    elif counts.get("waiting"):
        yield f"missing held back for {counts['waiting']} payments: no statement of the client is in yet"
    else:
        yield "waiting for no statements"
    yield "time per phase: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in outcome.phase_seconds.items())
