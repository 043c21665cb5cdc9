"""SMS backends, chosen by settings.SMS_BACKEND (a dotted path), like Django's email backends.

A real provider's backend implements send(to=..., body=...) and returns the provider's message id,
raising SMSError when the provider refuses the message.
"""

import datetime as dt
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string


class SMSError(Exception):
    pass


class FileSMSBackend:
    """Development default: appends each message to settings.SMS_FILE_PATH."""

    _lock = threading.Lock()

    def send(self, *, to: str, body: str) -> str:
        message_id = f"file-{uuid.uuid4()}"
        path = Path(settings.SMS_FILE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._lock, path.open("a", encoding="utf-8") as log:
            log.write(f"{stamp}\t{message_id}\t{to}\t{body.replace(chr(10), ' ')}\n")
        return message_id


class LocmemSMSBackend:
    """Tests: messages land in LocmemSMSBackend.outbox."""

    outbox: list[dict] = []

    def send(self, *, to: str, body: str) -> str:
        message_id = f"locmem-{uuid.uuid4()}"
        self.outbox.append({"to": to, "body": body, "id": message_id})
        return message_id


def get_sms_backend():
    return import_string(settings.SMS_BACKEND)()
