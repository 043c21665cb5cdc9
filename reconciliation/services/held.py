"""Uploads kept between a CSV preview and the import that follows it."""

import datetime as dt
import uuid

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from bpo_ledger.errors import DomainError

HELD_FOR = dt.timedelta(days=1)


def upload_hold(*, client_code: str, upload) -> str:
    """Keep a previewed upload until it is imported; ones older than a day are swept here."""
    folder = f"{settings.STATEMENT_UPLOAD_DIR}/{client_code}"
    try:
        _, names = default_storage.listdir(folder)
    except FileNotFoundError:
        names = []
    stale = timezone.now() - HELD_FOR
    for name in names:
        if name.startswith("held-") and default_storage.get_modified_time(f"{folder}/{name}") < stale:
            default_storage.delete(f"{folder}/{name}")
    return default_storage.save(f"{folder}/held-{uuid.uuid4().hex}", upload)


def upload_held_open(*, held: dict):
    """The kept upload (``held``: its path, name and size, from the signed form token)."""
    try:
        stream = default_storage.open(held["path"], "rb")
    except FileNotFoundError:
        raise DomainError("The previewed file is no longer available: choose it again.") from None
    stream.name, stream.size = held["name"], held["size"]
    return stream


def upload_forget(*, upload, held_path: str | None) -> None:
    """A previewed file, once imported, is no longer kept."""
    if held_path:
        upload.close()
        default_storage.delete(held_path)
