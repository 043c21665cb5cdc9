from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"

    def ready(self):
        from . import events  # noqa: F401  (the schedule log's verbs join the catalogue)
