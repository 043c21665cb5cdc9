import os

from django.apps import AppConfig


class BpoLedgerConfig(AppConfig):
    name = "bpo_ledger"
    verbose_name = "BPO Ledger"

    def ready(self):
        # The filesystem broker of the embedded setup needs its folders before first use.
        from django.conf import settings

        from . import events  # noqa: F401  (the core ledger's verbs join the catalogue)

        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if key in options:
                os.makedirs(options[key], exist_ok=True)
