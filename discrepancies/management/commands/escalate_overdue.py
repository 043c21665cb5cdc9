from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from bpo_ledger.clock import NOW_FORMAT, parse_now
from discrepancies import services


class Command(BaseCommand):
    help = (
        "The SLA sweep (every 15 minutes under Celery beat): escalate active discrepancies past "
        "their SLA due time, then raise the priority of aged ones in each active client. Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            metavar="ISO-DATETIME",
            help=f"Run as of this moment (default: now): {NOW_FORMAT}.",
        )

    def handle(self, *args, now=None, **options):
        try:
            moment = parse_now(now) if now else timezone.now()
        except ValueError as exc:
            raise CommandError(f"--now {exc}") from None
        sweep = services.discrepancies_sla_sweep(now=moment)
        self.stdout.write(f"{sweep.escalated} discrepancies past their SLA escalated")
        for code, raised in sweep.raised.items():
            self.stdout.write(f"{code}: {raised} priorities raised by age")
        if sweep.held:
            self.stderr.write(
                f"{sweep.held} discrepancies were being changed by someone else and were left as they are; "
                "the next sweep takes them"
            )
