from django.core.management.base import BaseCommand
from django.utils import timezone

from discrepancies import services
from schedules.management.commands.send_reminders import parse_now


class Command(BaseCommand):
    help = (
        "The SLA sweep (every 15 minutes under Celery beat): escalate active discrepancies past "
        "their SLA due time, then raise the priority of aged ones in each active client. Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            metavar="ISO-DATETIME",
            help="Run as of this moment, e.g. 2026-11-23T14:00:00+00:00 (default: now).",
        )

    def handle(self, *args, now=None, **options):
        moment = parse_now(now) if now else timezone.now()
        sweep = services.discrepancies_sla_sweep(now=moment)
        self.stdout.write(f"{sweep.escalated} discrepancies past their SLA escalated")
        for code, raised in sweep.raised.items():
            self.stdout.write(f"{code}: {raised} priorities raised by age")
