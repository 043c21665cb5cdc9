from django.core.management.base import BaseCommand, CommandError

from bpo_ledger.audit import audit_verify
from bpo_ledger.models import Client


def _what_broke(report) -> str:
    if report.broken_event_id is None:
        return report.reason
    return (
        f"chain broken at event id {report.broken_event_id} (seq {report.broken_seq}): {report.reason}; "
        f"{report.verified} events before it verified"
    )


class Command(BaseCommand):
    help = "Verify the audit hash chains; exit non-zero naming the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--client", metavar="CODE", help="Only this client's chain.")

    def handle(self, *args, client=None, **options):
        clients = Client.objects.order_by("code")
        if client:
            clients = clients.filter(code=client)
            if not clients.exists():
                raise CommandError(f"No client with code {client!r}.")
        total, broken = 0, []
        for each in clients:
            report = audit_verify(client=each)
            total += report.verified
            if report.ok:
                self.stdout.write(f"{each.code}: {report.verified} events verified")
            else:
                broken.append(report)
                self.stderr.write(f"{each.code}: {_what_broke(report)}")
        if broken:
            first = broken[0]
            where = (
                f"event id {first.broken_event_id} (seq {first.broken_seq})"
                if first.broken_event_id is not None
                else first.reason
            )
            raise CommandError(f"{len(broken)} audit chain(s) broken; first: client {first.client_code}, {where}")
        self.stdout.write(self.style.SUCCESS(f"OK: {total} events verified in {clients.count()} chain(s)"))
