from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self):
        from . import events  # noqa: F401  (the statement imports' verbs join the catalogue)
