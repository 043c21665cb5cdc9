from django.apps import AppConfig


class DiscrepanciesConfig(AppConfig):
    name = "discrepancies"
