from django.apps import AppConfig


class DiscrepanciesConfig(AppConfig):
    name = "discrepancies"

    def ready(self):
        from . import events  # noqa: F401  (the discrepancy log's verbs join the catalogue)
