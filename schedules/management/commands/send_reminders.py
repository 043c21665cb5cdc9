import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from bpo_ledger import clock
from bpo_ledger.models import Client
from schedules import services


def parse_now(value: str) -> dt.datetime:
    """--now as an aware moment, or a CommandError saying the format.

    discrepancies' escalate_overdue imports it from here until it reads bpo_ledger.clock itself.
    """
    try:
        return clock.parse_now(value)
    except ValueError as exc:
        raise CommandError(f"--now {exc}") from None


class Command(BaseCommand):
    help = (
        "Send due payment reminders (the hourly job): take back the claims of senders that died, "
        "then queue and send each active client's reminders."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", metavar="CODE", help="Only this client.")
        parser.add_argument(
            "--now",
            metavar="ISO-DATETIME",
            help="Run as of this moment, e.g. 2026-11-23T14:00:00+00:00 (default: now).",
        )

    def handle(self, *args, client=None, now=None, **options):
        moment = parse_now(now) if now else None
        clients = Client.objects.filter(is_active=True).order_by("code")
        if client:
            clients = clients.filter(code=client)
            if not clients:
                raise CommandError(f"No active client with code {client!r}.")
        # Staleness is judged by the wall clock (claims are stamped with it), whatever --now says.
        swept = services.reminders_sweep_stale()
        if swept:
            self.stdout.write(
                f"Reminders of stopped senders: {swept.requeued} never tried, queued again; "
                f"{swept.retried} in flight, retried under the same idempotency key; "
                f"{swept.unknown} in flight, marked failed (outcome unknown: check the provider's log)"
            )
        for each in clients:
            run = services.reminders_send(client=each, now=moment)
            line = (
                f"{each.code}: {run.created} created, {run.sent} sent, {run.skipped} skipped, "
                f"{run.deferred} deferred to allowed hours, {run.retried} retried, {run.failed} failed"
            )
            if run.taken_back:
                line += f"; {run.taken_back} taken back by the sweep while this run was slow (not recorded here)"
            self.stdout.write(line)
