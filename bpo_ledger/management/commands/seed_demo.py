"""Demo data for `make run`: each app's seeder in settings.DEMO_SEEDERS, in order.

Running it again changes nothing.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

from bpo_ledger.demo import DEMO_PASSWORD, logins


class Command(BaseCommand):
    help = "Load demo clients, users, customers, schedules (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        with transaction.atomic():
            created = sum(import_string(path)() for path in settings.DEMO_SEEDERS)
        self.stdout.write(f"Demo data: {created} rows created" if created else "Demo data already loaded: nothing changed")
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD})"))
        for line in logins():
            self.stdout.write(f"  {line}")
