"""The audit trail: one append-only sha256 hash chain per client.

Each event's hash is sha256(prev_hash + canonical JSON of the event), so altering, removing or
reordering any stored event breaks every hash after it, and `verify_audit` names the first.
"""

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from . import locks
from .bulk import copy_rows
from .events import event_type, subject_labels
from .models import AuditEvent, Client, Payment

GENESIS_HASH = "0" * 64

# The canonical form: sorted keys, no spaces, text as it is. One encoder each, made once.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_CANONICAL_DETAILS = DjangoJSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_NORMALIZING = DjangoJSONEncoder()

# Who acted: a user, or the name of a system job such as "system:reconciliation".
Actor = AbstractBaseUser | str


def normalize_details(details: dict | None) -> dict:
    """Details as they will read back from the database: Decimals and dates become strings."""
    return json.loads(_NORMALIZING.encode(details or {}))


# Values that encode the same with or without the trip through JSON and back.
_SCALARS = (str, int, float, Decimal, dt.date, dt.time, dt.timedelta, uuid.UUID, type(None))
_SCALAR_TYPES = frozenset(_SCALARS) | {bool, dt.datetime}


def _keys_are_text(value) -> bool:
    """Whether every dict key inside `value` is text; no for containers of other kinds."""
    if type(value) is dict:
        if not set(map(type, value)) <= {str}:
            return False
        items = value.values()
    elif type(value) in (list, tuple):
        items = value
    else:
        return isinstance(value, _SCALARS)
    # The common case, scalars only, is told by their types at once.
    return set(map(type, items)) <= _SCALAR_TYPES or all(map(_keys_are_text, items))


def canonical_details(details: dict | None) -> str:
    """The canonical JSON of normalize_details(details), as it sits inside canonical_event.

    Encoded in one pass when every key is text. Other keys become text on the way through
    JSON, which can change their order or merge two of them: those details take the long way.
    """
    details = details or {}
    if _keys_are_text(details):
        return _CANONICAL_DETAILS.encode(details)
    return _CANONICAL.encode(normalize_details(details))


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
        "created_at": _utc_text(created_at),
        "actor": actor_id,
        "actor_label": actor_label,
        "verb": verb,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "details": details,
    }
    return _CANONICAL.encode(payload)


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _canonical_of_batch(*, client_id: int, created_at, actor_id: int | None, actor_label: str):
    """canonical_event for the events of one batch, which share client, moment and actor.

    Returns canonical(seq, verb, subject_type, subject_id, details_json): the shared fields are
    encoded once, and each event's text is its own fields placed around its canonical details,
    in the sorted key order canonical_event writes (the tests hold the two to the same text).
    """
    shared = (
        f'{{"actor":{_CANONICAL.encode(actor_id)},"actor_label":{_CANONICAL.encode(actor_label)},'
        f'"client":{_CANONICAL.encode(client_id)},"created_at":{_CANONICAL.encode(_utc_text(created_at))},"details":'
    )
    encode = _CANONICAL.encode

    def canonical(seq: int, verb: str, subject_type: str, subject_id: str, details_json: str) -> str:
        return (
            f'{shared}{details_json},"seq":{encode(seq)},"subject_id":{encode(subject_id)},'
            f'"subject_type":{encode(subject_type)},"verb":{encode(verb)}}}'
        )

    return canonical


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


class PendingEvent(NamedTuple):
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


AUDIT_COLUMNS = (
    "client_id", "seq", "created_at", "actor_id", "actor_label", "verb", "subject_type",
    "subject_id", "details", "prev_hash", "hash",
)


@transaction.atomic
def audit_record_many(*, client: Client, actor: Actor, events: list[PendingEvent]) -> int:
    """Append a batch of events to the client's chain with one lock and one bulk insert."""
    if not events:
        return 0
    for verb in {pending.verb for pending in events}:
        event_type(verb)  # an unknown verb is refused before anything is written
    seq, prev_hash = _lock_chain_head(client.pk)
    actor_user, actor_label = _actor_fields(actor)
    actor_id = actor_user.pk if actor_user is not None else None
    created_at = timezone.now()
    canonical = _canonical_of_batch(client_id=client.pk, created_at=created_at, actor_id=actor_id, actor_label=actor_label)

    def chained_rows(seq: int, prev_hash: str, stamp) -> Iterator[tuple]:
        """The batch as rows, each event hashed onto the one before it."""
        for pending in events:
            subject_type, subject_id = _subject_of(pending.subject)
            # The canonical details are valid JSON of the normalized details: stored as they are.
            details_json = canonical_details(pending.details)
            hash_ = chain_hash(prev_hash, canonical(seq, pending.verb, subject_type, subject_id, details_json))
            yield (client.pk, seq, stamp, actor_id, actor_label, pending.verb, subject_type, subject_id,
                   details_json, prev_hash, hash_)
            seq, prev_hash = seq + 1, hash_

    if connection.vendor == "postgresql":
        # COPY stores the rows as they are hashed; it gets the moment as text, rendered once
        # (psycopg would format the same datetime anew in every row).
        return copy_rows(AuditEvent, AUDIT_COLUMNS, chained_rows(seq, prev_hash, created_at.isoformat()))
    stored = [_event_of_row(row) for row in chained_rows(seq, prev_hash, created_at)]
    AuditEvent.objects.bulk_create(stored, batch_size=1000)
    return len(stored)


def _event_of_row(row: tuple) -> AuditEvent:
    values = dict(zip(AUDIT_COLUMNS, row, strict=True))
    values["details"] = json.loads(values["details"])
    return AuditEvent(**values)


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
        return not self.reason


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


def _records_needing_a_chain() -> list[type[models.Model]]:
    """The models whose rows are created only with an audit event: received payments and every
    subject type of the event catalogue that belongs to a client (customers, schedules,
    discrepancies...). Memberships and settings, which an admin may add by hand, are not."""
    subjects = subject_labels()
    found = [Payment]
    for model in apps.get_models():
        client_field = next((f for f in model._meta.concrete_fields if f.name == "client"), None)
        if model._meta.model_name in subjects and client_field is not None and client_field.related_model is Client:
            found.append(model)
    return found


def _records_without_chain(client: Client) -> str:
    """What a client with no audit event at all holds, such as "customers" ("" when nothing)."""
    held = [
        str(model._meta.verbose_name_plural)
        for model in _records_needing_a_chain()
        if model.objects.filter(client=client).exists()
    ]
    return ", ".join(held)


def audit_verify(*, client: Client) -> ChainReport:
    """Walk the client's chain. A client with records but no event at all fails too: its chain
    was emptied (a TRUNCATE, or rows removed past the triggers)."""
    rows = AuditEvent.objects.filter(client=client).order_by("seq").iterator(chunk_size=2000)
    report = verify_chain(client.code, rows)
    if report.ok and report.verified == 0:
        held = _records_without_chain(client)
        if held:
            return ChainReport(
                client.code, 0, reason=f"no audit events, yet the client has {held}: its audit trail was emptied"
            )
    return report
