"""The event catalogue: every audit verb the apps write, with a label and its details in words.

Each app declares its verbs and subject types in its own ``events.py`` and registers them when
it is ready (``AppConfig.ready``); this module holds the catalogue, the helpers those modules
write their sentences with, and the core ledger's own verbs. Timelines, the audit trail, exports
and webhooks read the catalogue; ``audit_record`` refuses a verb it does not know.

A sentence reads "Deferred by Alice Agent: next payment moved from 15 Jan 2027 to 5 Feb 2027.
Reason: hardship".
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .clock import local_time_text
from .money import format_money


class UnknownEventError(LookupError):
    """A service wrote a verb, or named a subject type, that no app declared."""


def _nothing(details: dict) -> str:
    return ""


@dataclass(frozen=True)
class EventType:
    """One audit verb: what it is called on the page and how its details read."""

    verb: str
    label: str  # past tense, read before "by <actor>": "Deferred", "Payment recorded"
    subject_type: str  # the model name of what it happens to ("paymentschedule")
    describe: Callable[[dict], str] = _nothing  # details -> words; "" when the label says it all
    reason_label: str = "Reason"  # how the details' "reason" is introduced; "" puts it inline


_EVENTS: dict[str, EventType] = {}
_SUBJECTS: dict[str, str] = {}
_SYSTEM_ACTORS: dict[str, str] = {}


def register_subjects(labels: Mapping[str, str]) -> None:
    """Subject types (model names) with the word people use for them: {"customer": "customer"}."""
    _SUBJECTS.update(labels)


def register_system_actors(labels: Mapping[str, str]) -> None:
    """The system jobs that act on their own: {"system:nightly": "the nightly job"}."""
    _SYSTEM_ACTORS.update(labels)


def register(*types: EventType) -> None:
    for event_type in types:
        if event_type.subject_type not in _SUBJECTS:
            raise UnknownEventError(
                f"{event_type.verb}: subject type {event_type.subject_type!r} is not declared"
            )
        _EVENTS[event_type.verb] = event_type


def event_type(verb: str) -> EventType:
    try:
        return _EVENTS[verb]
    except KeyError:
        raise UnknownEventError(f"audit verb {verb!r} is in no app's events.py") from None


def catalogue() -> list[EventType]:
    return sorted(_EVENTS.values(), key=lambda t: t.verb)


def subject_labels() -> dict[str, str]:
    return dict(_SUBJECTS)


def subject_label(subject_type: str) -> str:
    return _SUBJECTS.get(subject_type, subject_type)


def actor_name(user, actor_label: str) -> str:
    """Who acted, as people know them: a user's full name, or the system job's description."""
    if user is not None:
        return user.get_full_name() or user.get_username()
    return _SYSTEM_ACTORS.get(actor_label, actor_label)


def describe(*, verb: str, details: dict) -> str:
    """The event's details in words (no actor), or "" when there is nothing more to say."""
    try:
        return event_type(verb).describe(details or {})
    except UnknownEventError:
        return ""


_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def details_in_zone(details, tz_name: str):
    """The details with every stored moment (ISO 8601 with an offset) as people in the zone read
    it, "2026-12-03 09:47 JST"; dates and other values as they are."""
    if isinstance(details, Mapping):
        return {key: details_in_zone(value, tz_name) for key, value in details.items()}
    if isinstance(details, list):
        return [details_in_zone(value, tz_name) for value in details]
    if isinstance(details, str) and _MOMENT.match(details):
        try:
            moment = dt.datetime.fromisoformat(details)
        except ValueError:
            return details
        if moment.utcoffset() is not None:
            return local_time_text(moment, tz_name)
    return details


def sentence(event, tz_name: str = "UTC") -> str:
    """A stored AuditEvent in words: "<label> by <actor>: <details>. Reason: <reason>", its times
    in the zone `tz_name` (the client's)."""
    try:
        known = event_type(event.verb)
    except UnknownEventError:
        # An event written before its verb was renamed still shows.
        known = EventType(event.verb, event.verb, "")
    actor = actor_name(event.actor if event.actor_id else None, event.actor_label)
    text = f"{known.label} by {actor}"
    details = known.describe(details_in_zone(event.details or {}, tz_name))
    reason = (event.details or {}).get("reason")
    if details:
        text += f": {details}"
    if reason and known.reason_label:
        text += f". {known.reason_label}: {reason}"
    elif reason:
        text += f"; {reason}" if details else f": {reason}"
    return text


# --- How details read: helpers for every app's events.py ---------------------------------------


def day(value) -> str:
    """A stored date ("2027-01-15") as people read it: "15 Jan 2027"."""
    if value in (None, ""):
        return "none"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value.day} {value:%b %Y}"


def money(amount, currency: str = "") -> str:
    return format_money(amount, currency) if amount not in (None, "") else "none"


def value_text(value) -> str:
    if value in (None, ""):
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return day(value)
    return str(value).replace("_", " ")


def changes(changes: Mapping | None, labels: Mapping[str, str] | None = None) -> str:
    """{"status": {"before": "due", "after": "paid"}} -> "status from due to paid"."""
    labels = labels or {}
    parts = []
    for field, change in (changes or {}).items():
        name = labels.get(field, field.replace("_", " "))
        parts.append(f"{name} from {value_text(change.get('before'))} to {value_text(change.get('after'))}")
    return ", ".join(parts)


def joined(parts: Iterable[str]) -> str:
    """Non-empty parts joined with "; "."""
    return "; ".join(part for part in parts if part)


# --- The core ledger's own events ----------------------------------------------------------------

CUSTOMER_FIELDS = {
    "external_ref": "CRM reference",
    "email_consent": "email consent",
    "sms_consent": "SMS consent",
    "bank_account": "bank account",
}


def _customer_created(details: dict) -> str:
    after = details.get("after") or {}
    source = details.get("source")
    text = f"{after.get('name', '')} ({after.get('external_ref', '')})".strip()
    return f"{text}, from {source}" if source and source != "manual" else text


def _membership(details: dict) -> str:
    return f"{details.get('user')} as {value_text(details.get('role'))}"


def _policy(details: dict) -> str:
    # A client's creation, and changes logged before the admin kept the value before, hold only
    # the value set.
    return ", ".join(
        changes({field: change}) if isinstance(change, Mapping) else f"{field.replace('_', ' ')} set to {value_text(change)}"
        for field, change in (details.get("changes") or {}).items()
    )


register_subjects({"customer": "customer", "client": "client", "user": "user"})
register(
    EventType("customer.created", "Customer created", "customer", _customer_created),
    EventType(
        "customer.updated",
        "Customer changed",
        "customer",
        lambda d: changes(d.get("changes"), CUSTOMER_FIELDS),
    ),
    EventType("client.created", "Client created", "client", _policy),
    EventType("client.policy_changed", "Policy changed", "client", _policy),
    EventType("membership.granted", "Role granted", "user", _membership),
    EventType("membership.changed", "Role changed", "user", _membership),
    EventType("membership.revoked", "Role revoked", "user", _membership),
)
