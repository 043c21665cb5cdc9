import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from bpo_ledger.models import Client
from schedules import services


class Command(BaseCommand):
    help = "Move scheduled payments to due/overdue and extend open-ended schedules (the nightly job)."

    def add_arguments(self, parser):
        parser.add_argument("--client", metavar="CODE", help="Only this client.")
        parser.add_argument("--date", metavar="YYYY-MM-DD", help="Run as of this date (default: today where each client is).")

    def handle(self, *args, client=None, date=None, **options):
        clients = Client.objects.filter(is_active=True).order_by("code")
        if client:
            clients = clients.filter(code=client)
            if not clients:
                raise CommandError(f"No active client with code {client!r}.")
        try:
            as_of = dt.date.fromisoformat(date) if date else None
        except ValueError:
            raise CommandError(f"--date {date!r} is not a date; use YYYY-MM-DD.") from None
        for each in clients:
            today = as_of or services.client_today(each)
            moved = services.scheduled_payments_advance(client=each, today=today)
            generated = services.schedules_extend_horizon(client=each, today=today)
            self.stdout.write(
                f"{each.code} {today}: {moved['due']} now due, {moved['overdue']} overdue "
                f"on {moved['schedules']} schedules, {generated} payments generated"
            )
