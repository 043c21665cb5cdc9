from django.core.management.base import BaseCommand, CommandError

from bpo_ledger.clock import client_today, parse_day
from bpo_ledger.models import Client
from schedules import services


class Command(BaseCommand):
    help = (
        "Move scheduled payments to due/overdue and extend open-ended schedules (the nightly job). "
        "A client whose rows stay locked by another transaction is named and the command exits non-zero."
    )

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
            as_of = parse_day(date) if date else None
        except ValueError as exc:
            raise CommandError(f"--date {exc}") from None
        blocked = []
        for each in clients:
            today = as_of or client_today(each)
            try:
                moved = services.scheduled_payments_advance(client=each, today=today)
                generated = services.schedules_extend_horizon(client=each, today=today)
            except services.NightlyJobBlocked as exc:
                # The other clients still get their night; this one is named and the exit says so.
                self.stderr.write(str(exc))
                blocked.append(each.code)
                continue
            self.stdout.write(
                f"{each.code} {today}: {moved['due']} now due, {moved['overdue']} overdue "
                f"on {moved['schedules']} schedules, {generated} payments generated"
            )
        if blocked:
            raise CommandError(f"The nightly job did not finish for {', '.join(blocked)}: run it again for them.")
