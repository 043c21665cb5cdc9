"""What is kept on an item beside its fields: notes and evidence files."""

import hashlib

from django.conf import settings
from django.db import transaction

from bpo_ledger.access import require_role
from bpo_ledger.audit import audit_record
from bpo_ledger.errors import DomainError

from ..models import Attachment, Discrepancy, Note

# Evidence files: the extensions taken, each with its content type and how its content begins
# (None: text, which must hold no NUL byte). The upload form offers the same list.
ATTACHMENT_TYPES = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".csv": ("text/csv", None),
    ".txt": ("text/plain", None),
    ".eml": ("message/rfc822", None),
}


def attachment_max_bytes() -> int:
    """The largest evidence file taken (settings.ATTACHMENT_MAX_BYTES)."""
    return settings.ATTACHMENT_MAX_BYTES


def attachment_limit_text() -> str:
    """The size limit as people read it, e.g. "10 MB"."""
    return f"{attachment_max_bytes() / 1048576:.0f} MB"


@transaction.atomic
def discrepancy_note_add(*, discrepancy: Discrepancy, actor, text: str) -> Note:
    require_role(actor, discrepancy.client)
    if not text.strip():
        raise DomainError("The note is empty.")
    note = Note.objects.create(client=discrepancy.client, discrepancy=discrepancy, author=actor, text=text.strip())
    audit_record(
        client=discrepancy.client, actor=actor, verb="discrepancy.note_added", subject=discrepancy,
        details={"reason": note.text[:500], "note": note.pk},
    )
    return note


def _content_type(upload, name: str) -> str:
    """The upload's content type, once its name, size and first bytes say it is what it claims."""
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if extension not in ATTACHMENT_TYPES:
        raise DomainError(f"{name}: only {', '.join(sorted(ATTACHMENT_TYPES))} files can be attached.")
    if upload.size > attachment_max_bytes():
        raise DomainError(f"{name} is {upload.size / 1048576:.1f} MB; the limit is {attachment_limit_text()}.")
    content_type, magic = ATTACHMENT_TYPES[extension]
    head = upload.read(4096)
    upload.seek(0)
    if magic and not head.startswith(magic):
        raise DomainError(f"{name} is not really a {extension[1:].upper()} file.")
    if magic is None and b"\x00" in head:
        raise DomainError(f"{name} is not a text file.")
    return content_type


@transaction.atomic
def discrepancy_attach(*, discrepancy: Discrepancy, actor, upload) -> Attachment:
    """Store an evidence file after checking its size, extension and content."""
    require_role(actor, discrepancy.client)
    name = upload.name.rsplit("/", 1)[-1]
    content_type = _content_type(upload, name)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = Attachment(
        client=discrepancy.client, discrepancy=discrepancy, original_name=name[:255], content_type=content_type,
        size=upload.size, sha256=digest.hexdigest(), uploaded_by=actor,
    )
    attachment.file.save(name, upload, save=False)
    attachment.save()
    audit_record(
        client=discrepancy.client, actor=actor, verb="discrepancy.attachment_added", subject=discrepancy,
        details={"file": attachment.original_name, "size": attachment.size, "sha256": attachment.sha256},
    )
    return attachment
