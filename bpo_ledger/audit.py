"""The audit trail: one append-only sha256 hash chain per client.

Each event's hash is sha256(prev_hash + canonical JSON of the event), so altering, removing or
reordering any stored event breaks every hash after it, and `verify_audit` names the first.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from . import locks
from .bulk import bulk_insert
from .events import event_type
from .models import AuditEvent, Client

GENESIS_HASH = "0" * 64

# Who acted: a user, or the name of a system job such as "system:reconciliation".
Actor = AbstractBaseUser | str


def normalize_details(details: dict | None) -> dict:
    """Details as they will read back from the database: Decimals and dates become strings."""
    return json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder))


def canonical_event(
    *,
    client_id: int,
    seq: int,
    created_at,
    actor_id: int | None,
    actor_label: str,
    verb: str,
    subject_type: str,
    subject_id: str,
    details: dict,
) -> str:
    payload = {
        "client": client_id,
        "seq": seq,
        "created_at": created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor_id,
        "actor_label": actor_label,
        "verb": verb,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "details": details,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def event_hash(event: AuditEvent) -> str:
    """Recompute a stored event's hash from its fields."""
    return chain_hash(
        event.prev_hash,
        canonical_event(
            client_id=event.client_id,
            seq=event.seq,
            created_at=event.created_at,
            actor_id=event.actor_id,
            actor_label=event.actor_label,
            verb=event.verb,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            details=event.details,
        ),
    )


def _subject_of(subject: models.Model | tuple[str, object]) -> tuple[str, str]:
    if isinstance(subject, models.Model):
        return subject._meta.model_name, str(subject.pk)
    subject_type, subject_id = subject
    return subject_type, str(subject_id)


@dataclass(frozen=True)
class PendingEvent:
    """One event of a batch for audit_record_many."""

    verb: str
    subject: object
    details: dict | None = None


def _lock_chain_head(client_id: int) -> tuple[int, str]:
    """Lock the client's chain and return (next seq, prev hash)."""
    # Locking the client row serializes appends to its chain, so two writers never read the
    # same head.
    locks.client_chain_head(client_id=client_id)
    head = (
        AuditEvent.objects.filter(client_id=client_id)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    return (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)


def _actor_fields(actor: Actor) -> tuple[object, str]:
    if isinstance(actor, str):
        return None, actor
    return actor, actor.get_username()


@transaction.atomic
def audit_record_many(*, client: Client, actor: Actor, events: list[PendingEvent]) -> int:
    """Append a batch of events to the client's chain with one lock and one bulk insert."""
    if not events:
        return 0
    for verb in {pending.verb for pending in events}:
        event_type(verb)  # an unknown verb is refused before anything is written
    seq, prev_hash = _lock_chain_head(client.pk)
    actor_user, actor_label = _actor_fields(actor)
    created_at = timezone.now()
    rows = []
    for pending in events:
        subject_type, subject_id = _subject_of(pending.subject)
        event = AuditEvent(
            client_id=client.pk,
            seq=seq,
            created_at=created_at,
            actor=actor_user,
            actor_label=actor_label,
            verb=pending.verb,
            subject_type=subject_type,
            subject_id=subject_id,
            details=normalize_details(pending.details),
            prev_hash=prev_hash,
        )
        event.hash = event_hash(event)
        rows.append(event)
        seq, prev_hash = seq + 1, event.hash
    bulk_insert(rows)
    return len(rows)


@transaction.atomic
def audit_record(
    *,
    client: Client,
    actor: Actor,
    verb: str,
    subject: models.Model | tuple[str, object],
    details: dict | None = None,
) -> AuditEvent:
    """Append one event to the client's chain; call it inside the transaction of the change."""
    event_type(verb)  # an unknown verb is refused before anything is written
    seq, prev_hash = _lock_chain_head(client.pk)
    actor_user, actor_label = _actor_fields(actor)
    subject_type, subject_id = _subject_of(subject)
    details = normalize_details(details)
    created_at = timezone.now()
    event = AuditEvent(
        client_id=client.pk,
        seq=seq,
        created_at=created_at,
        actor=actor_user,
        actor_label=actor_label,
        verb=verb,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details,
        prev_hash=prev_hash,
    )
    event.hash = event_hash(event)
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainReport:
    client_code: str
    verified: int
    broken_event_id: int | None = None
    broken_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_event_id is None


def verify_chain(client_code: str, events: Iterable[AuditEvent]) -> ChainReport:
    """Walk one client's events in seq order; report how many verified and the first broken link."""
    prev_hash, expected_seq, verified = GENESIS_HASH, 1, 0
    for event in events:
        reason = ""
        if event.seq != expected_seq:
            reason = f"expected seq {expected_seq} but found {event.seq}: an event is missing"
        elif event.prev_hash != prev_hash:
            reason = "prev_hash does not match the previous event's hash"
        elif event_hash(event) != event.hash:
            reason = "hash does not match the event's contents: the row was altered"
        if reason:
            return ChainReport(client_code, verified, event.pk, event.seq, reason)
        prev_hash, expected_seq, verified = event.hash, expected_seq + 1, verified + 1
    return ChainReport(client_code, verified)


def audit_verify(*, client: Client) -> ChainReport:
    events = AuditEvent.objects.filter(client=client).order_by("seq").iterator(chunk_size=2000)
    return verify_chain(client.code, events)
