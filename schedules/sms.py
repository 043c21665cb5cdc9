"""SMS backends, chosen by settings.SMS_BACKEND (a dotted path), like Django's email backends.

A real provider's backend implements send(to=..., body=..., idempotency_key=...) and returns the
provider's message id, raising SMSError when the provider refuses the message. A backend whose
provider delivers a key once, however often it is sent (answering a repeat with the first
message's id), says so with `honours_idempotency_key = True`: a reminder whose sender died while
handing it over is then retried under the same key; otherwise it is marked failed with an unknown
outcome for a person to check, never sent a second time.
"""

import datetime as dt
import fcntl
import os
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string


class SMSError(Exception):
    pass


class FileSMSBackend:
    """Development default: appends each message to settings.SMS_FILE_PATH, one line each.

    A line is the delivery: written whole with one append, under a file lock shared by every
    process. A key already on file is not written again; its message id is returned.
    """

    honours_idempotency_key = True
    _lock = threading.Lock()
    # Per file: (inode, bytes read, message ids on file), so each send reads only the new lines.
    _index: dict[str, tuple[int, int, set]] = {}

    def send(self, *, to: str, body: str, idempotency_key: str = "") -> str:
        message_id = f"file-{idempotency_key}" if idempotency_key else f"file-{uuid.uuid4()}"
        path = Path(settings.SMS_FILE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        line = f"{stamp}\t{message_id}\t{to}\t{body.replace(chr(10), ' ')}\n".encode()
        with self._lock, path.open("ab+") as log:
            fcntl.flock(log, fcntl.LOCK_EX)  # released when the file closes
            if idempotency_key and message_id in self._on_file(str(path), log):
                return message_id
            log.write(line)
            log.flush()
            self._on_file(str(path), log)  # past our own line
        return message_id

    def _on_file(self, path: str, log) -> set:
        """The message ids on file, reading what was appended since this process last looked."""
        stat = os.fstat(log.fileno())
        inode, offset, ids = self._index.get(path, (stat.st_ino, 0, set()))
        if inode != stat.st_ino or stat.st_size < offset:  # replaced or truncated
            offset, ids = 0, set()
        log.seek(offset)
        new = log.read()
        for entry in new.splitlines():
            fields = entry.split(b"\t", 2)
            if len(fields) > 1:
                ids.add(fields[1].decode())
        self._index[path] = (stat.st_ino, offset + len(new), ids)
        return ids


class LocmemSMSBackend:
    """Tests: messages land in LocmemSMSBackend.outbox; a key already there is not sent again."""

    honours_idempotency_key = True
    outbox: list[dict] = []

    def send(self, *, to: str, body: str, idempotency_key: str = "") -> str:
        for message in self.outbox:
            if idempotency_key and message["key"] == idempotency_key:
                return message["id"]
        message_id = f"locmem-{uuid.uuid4()}"
        self.outbox.append({"to": to, "body": body, "id": message_id, "key": idempotency_key})
        return message_id


def get_sms_backend():
    return import_string(settings.SMS_BACKEND)()
