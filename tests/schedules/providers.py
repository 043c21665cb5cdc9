"""Providers for tests that run the reminder job in other processes (a killed sender, a Celery
worker): what they deliver is on file, so the test can count it across processes."""

import os
import time

from schedules.sms import FileSMSBackend


class SlowFileSMSBackend(FileSMSBackend):
    """Delivers at once (the line is on file), then takes SMS_ANSWER_SECONDS to answer."""

    def send(self, **message) -> str:
        message_id = super().send(**message)
        time.sleep(float(os.environ.get("SMS_ANSWER_SECONDS", "0.1")))
        return message_id
