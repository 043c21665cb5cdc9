"""Reminders to customers before and after due dates: each is sent once, and none is lost.

A reminder is a row keyed by (scheduled payment, kind, days, channel), created with
INSERT ... ON CONFLICT DO NOTHING, so however often the job runs, and however many run at once,
each exists once. A sender claims a batch with a conditional UPDATE (queued -> claimed, stamped
with a claim token) and then, one message at a time, marks it "sending" (handed to the provider),
sends it, and commits its outcome together with the next message's "sending" mark. Every one of
those writes holds only while the claim is still the sender's (token and status in the WHERE),
and the sender refreshes the claim's claimed_at as it goes (a heartbeat).

So at any moment a sender holds at most one message whose outcome is unknown. If it dies, the
sweep finds its claim unrefreshed for REMINDER_CLAIM_TIMEOUT and takes it back: the messages it
never tried go back to the queue; the one in flight is retried under the same idempotency key
where the provider honours one (it delivers a key once), and is otherwise marked failed with an
unknown outcome, for a person to check, because a second message is worse than a missing one
that the log shows. A slow sender whose claim was taken back writes nothing over the sweep.
"""

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.template import engines
from django.template.loader import get_template
from django.utils import timezone
from django.utils.module_loading import import_string

from bpo_ledger import locks
from bpo_ledger.audit import PendingEvent, audit_record_many
from bpo_ledger.bulk import bulk_update
from bpo_ledger.clock import client_today
from bpo_ledger.models import Channel, Client
from bpo_ledger.money import format_amount

from ..models import (
    OPEN_PAYMENT_STATUSES,
    Reminder,
    ReminderKind,
    ReminderStatus,
    ReminderTemplate,
    ScheduleStatus,
)
from ..sms import get_sms_backend

BATCH_SIZE = 200  # claimed at once; a sender that dies hands back the untried ones
MAX_ATTEMPTS = 3
SYSTEM_ACTOR = "system:reminders"
MESSAGE_ID_DOMAIN = "bpo-ledger.local"

logger = logging.getLogger(__name__)


def claim_timeout() -> dt.timedelta:
    """How long a claim may go unrefreshed before the sweep takes it back as a dead sender's."""
    return dt.timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT)


def idempotency_key(reminder_id: int) -> str:
    """The key a provider dedupes on: the same for every attempt at one reminder."""
    return f"reminder-{reminder_id}"


def email_message_id(reminder_id: int) -> str:
    """An email reminder's Message-ID, known before sending: a person can look it up."""
    return f"<{idempotency_key(reminder_id)}@{MESSAGE_ID_DOMAIN}>"


def retry_is_safe(channel: str) -> bool:
    """Whether the provider of `channel` delivers an idempotency key once (see schedules.sms)."""
    backend = settings.EMAIL_BACKEND if channel == Channel.EMAIL else settings.SMS_BACKEND
    return bool(getattr(import_string(backend), "honours_idempotency_key", False))


def retry_delay(attempts: int) -> dt.timedelta:
    """Backoff after a failed send: 5, 20, 80 minutes..."""
    return dt.timedelta(minutes=5 * 4 ** max(attempts - 1, 0))


@dataclass
class ReminderRun:
    created: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0  # outside the customer's allowed hours: queued for the next window
    retried: int = 0
    failed: int = 0
    # Outcomes not written because the sweep had taken the claim back (the sender was too slow).
    taken_back: int = 0
    by_kind: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _wanted(client: Client, today: dt.date) -> list[tuple[dt.date, str, str, int]]:
    """(due date, kind for ordinary schedules, kind for autopay, days) for today's reminders."""
    wanted = []
    for days in sorted(set(client.reminder_lead_days)):
        if days > 0:
            wanted.append((today + dt.timedelta(days=days), ReminderKind.UPCOMING, ReminderKind.DEBIT_NOTICE, days))
    wanted.append((today, ReminderKind.DUE_TODAY, ReminderKind.DEBIT_NOTICE, 0))
    for days in sorted(set(client.reminder_overdue_days)):
        if days > 0:
            wanted.append((today - dt.timedelta(days=days), ReminderKind.OVERDUE, ReminderKind.OVERDUE, days))
    return wanted


QUEUE_SQL = """
INSERT INTO schedules_reminder
    (client_id, scheduled_payment_id, kind, days, channel, status, skip_reason, recipient,
     attempts, last_error, provider_id, created_at)
SELECT sp.client_id, sp.id, CASE WHEN s.kind = 'autopay' THEN %(autopay_kind)s ELSE %(kind)s END,
       %(days)s, ch.channel, 'queued', '', '', 0, '', '', %(now)s
FROM schedules_scheduledpayment sp
JOIN schedules_paymentschedule s ON s.id = sp.schedule_id
CROSS JOIN ({channels}) ch
WHERE sp.client_id = %(client)s AND sp.due_date = %(due_date)s AND s.status = 'active'
  AND sp.status IN ({open_statuses})
ON CONFLICT DO NOTHING
RETURNING id
"""


def reminders_queue(*, client: Client, today: dt.date) -> int:
    """Create today's reminder rows in SQL, one statement per kind; returns how many were new.

    ON CONFLICT DO NOTHING on the (payment, kind, days, channel) key makes it idempotent, and
    RETURNING counts exactly the rows this call created, even with two senders at once.
    Any open payment qualifies: a part-paid one is reminded of what is still outstanding, and
    one the nightly job has not moved yet is still unpaid.
    """
    channels = [c for c in client.reminder_channels if c in Channel.values]
    if not channels:
        return 0
    channel_sql = " UNION ALL ".join(f"SELECT %(ch{i})s AS channel" for i in range(len(channels)))
    open_sql = ", ".join(f"%(open{i})s" for i in range(len(OPEN_PAYMENT_STATUSES)))
    sql = QUEUE_SQL.format(channels=channel_sql, open_statuses=open_sql)
    open_params = {f"open{i}": str(status) for i, status in enumerate(OPEN_PAYMENT_STATUSES)}
    created = 0
    now = timezone.now()
    with connection.cursor() as cursor:
        for due_date, kind, autopay_kind, days in _wanted(client, today):
            params = {
                "client": client.pk, "due_date": due_date, "kind": kind, "autopay_kind": autopay_kind,
                "days": days, "now": now, **{f"ch{i}": c for i, c in enumerate(channels)}, **open_params,
            }
            cursor.execute(sql, params)
            created += len(cursor.fetchall())
    return created


@dataclass
class _Claim:
    """A batch this sender won: its rows carry `token` while they are the sender's."""

    token: uuid.UUID
    ids: list[int]
    beat: float = field(default_factory=time.monotonic)  # when claimed_at was last refreshed


def _claim(client: Client, now: dt.datetime, after_id: int = 0) -> tuple[_Claim, list[Reminder]] | None:
    """Win up to BATCH_SIZE queued reminders; a row another sender took is never returned.

    after_id: the last id this run claimed. The scan starts there rather than at the front of
    the queue index, whose first entries are the rows already sent (dead until vacuum).
    """
    token = uuid.uuid4()
    with transaction.atomic():
        queued = Reminder.objects.filter(client=client, status=ReminderStatus.QUEUED, id__gt=after_id).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        )
        ids = list(locks.locked(queued, skip_locked=True).values_list("id", flat=True)[:BATCH_SIZE])
        if not ids:
            return None
        # Conditional UPDATE: only rows still queued are taken, and tagged as ours. claimed_at is
        # the wall clock, not the run's `now`: the sweep judges a sender dead by real time.
        Reminder.objects.filter(id__in=ids, status=ReminderStatus.QUEUED).update(
            status=ReminderStatus.CLAIMED, claimed_at=timezone.now(), claim_token=token
        )
    batch = list(
        # By id (the primary key) and then token: the token alone has no index to find it by.
        Reminder.objects.filter(id__in=ids, claim_token=token, status=ReminderStatus.CLAIMED)
        .select_related("scheduled_payment__schedule__customer__client")
        # What sending reads, and no more: in particular no encrypted column to decrypt.
        .only(
            *SAVED_FIELDS, "client_id", "kind", "days", "channel", "claim_token",
            "scheduled_payment__reference", "scheduled_payment__due_date", "scheduled_payment__amount_due",
            "scheduled_payment__amount_paid", "scheduled_payment__status", "scheduled_payment__schedule_id",
            "scheduled_payment__schedule__status", "scheduled_payment__schedule__kind",
            "scheduled_payment__schedule__method", "scheduled_payment__schedule__currency",
            "scheduled_payment__schedule__autopay_account_last4", "scheduled_payment__schedule__customer_id",
            "scheduled_payment__schedule__customer__name", "scheduled_payment__schedule__customer__email",
            "scheduled_payment__schedule__customer__phone", "scheduled_payment__schedule__customer__timezone",
            "scheduled_payment__schedule__customer__email_consent", "scheduled_payment__schedule__customer__sms_consent",
            "scheduled_payment__schedule__customer__client_id", "scheduled_payment__schedule__customer__client__timezone",
        )
        .order_by("id")
    )
    return _Claim(token=token, ids=ids), batch


def _allowed_now(client: Client, customer, now: dt.datetime) -> dt.datetime | None:
    """None if now is inside the customer's allowed hours, else when the next window opens."""
    local = now.astimezone(customer.zone)
    start, end = client.reminder_hours_start, client.reminder_hours_end
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, start, tzinfo=customer.zone).astimezone(dt.UTC)


class _Renderer:
    """Client's own templates where set, else the defaults in templates/schedules/reminders/."""

    def __init__(self, client: Client):
        self.client = client
        self.custom = {(t.kind, t.channel): t for t in ReminderTemplate.objects.filter(client=client)}
        self.cache = {}

    def _template(self, kind: str, channel: str, part: str):
        key = (kind, channel, part)
        if key not in self.cache:
            custom = self.custom.get((kind, channel))
            source = getattr(custom, part, "") if custom else ""
            if source:
                self.cache[key] = engines["django"].from_string("{% autoescape off %}" + source + "{% endautoescape %}")
            else:
                self.cache[key] = get_template(f"schedules/reminders/{kind}_{channel if part == 'body' else 'subject'}.txt")
        return self.cache[key]

    def render(self, reminder: Reminder) -> tuple[str, str]:
        payment = reminder.scheduled_payment
        schedule = payment.schedule
        context = {
            "customer_name": schedule.customer.name,
            "amount": format_amount(payment.amount_outstanding),
            "currency": schedule.currency,
            "due_date": payment.due_date.strftime("%d %B %Y").lstrip("0"),
            "reference": payment.reference,
            "days": reminder.days,
            "client_name": self.client.name,
            "how_to_pay": self.client.payment_instructions or f"Quote {payment.reference} with your payment.",
            "method": schedule.get_method_display(),
            "account": schedule.autopay_account_masked,
        }
        body = self._template(reminder.kind, reminder.channel, "body").render(context).strip()
        subject = ""
        if reminder.channel == Channel.EMAIL:
            subject = " ".join(self._template(reminder.kind, reminder.channel, "subject").render(context).split())
        return subject, body


def _skip_reason(reminder: Reminder) -> str:
    payment = reminder.scheduled_payment
    schedule = payment.schedule
    customer = schedule.customer
    if schedule.status != ScheduleStatus.ACTIVE:
        return f"schedule is {schedule.status}"
    if not payment.is_open:
        return f"payment is {payment.status}"
    if reminder.channel == Channel.EMAIL:
        if not customer.email_consent:
            return "no consent to email"
        if not customer.email:
            return "no email address"
    if reminder.channel == Channel.SMS:
        if not customer.sms_consent:
            return "no consent to SMS"
        if not customer.phone:
            return "no phone number"
    return ""


SAVED_FIELDS = ["status", "skip_reason", "next_attempt_at", "attempts", "recipient", "provider_id", "sent_at", "last_error"]
HELD = (ReminderStatus.CLAIMED, ReminderStatus.SENDING)


def _record(client: Client, claim: _Claim, run: ReminderRun, *, done: list[Reminder], start: Reminder | None) -> bool:
    """One commit: the outcomes in `done`, their events, then `start` marked as handed to the provider.

    Each write holds only while the claim is still ours (its token and a held status are in the
    UPDATE's WHERE): a row the sweep took back keeps what the sweep wrote, and is counted as
    taken back. Returns whether `start` may be sent.
    """
    with transaction.atomic():
        kept = _write_outcomes(claim, done, start)
        started = start is not None and Reminder.objects.filter(
            id=start.id, claim_token=claim.token, status=ReminderStatus.CLAIMED
        ).update(status=ReminderStatus.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now()) == 1
        if time.monotonic() - claim.beat >= claim_timeout().total_seconds() / 10:
            # The heartbeat: the sweep leaves alone a claim whose sender is getting on with it.
            Reminder.objects.filter(id__in=claim.ids, claim_token=claim.token, status__in=HELD).update(
                claimed_at=timezone.now()
            )
            claim.beat = time.monotonic()
        audit_record_many(
            client=client, actor=SYSTEM_ACTOR,
            events=[_event(r, VERB_OF_OUTCOME[r.outcome]) for r in kept if r.outcome in VERB_OF_OUTCOME],
        )
    for reminder in done:
        if reminder not in kept:
            run.taken_back += 1
            logger.warning(
                "reminder %s (%s): the sweep took back this sender's claim; its outcome here, %s%s, "
                "is not recorded over the sweep's", reminder.id, reminder.channel, reminder.outcome,
                f" as {reminder.provider_id}" if reminder.outcome == "sent" else "",
            )
    for reminder in kept:
        setattr(run, reminder.outcome, getattr(run, reminder.outcome) + 1)
        if reminder.outcome == "sent":
            run.by_kind[reminder.kind] = run.by_kind.get(reminder.kind, 0) + 1
    if started:
        start.status = ReminderStatus.SENDING
        start.attempts += 1
    return started


def _write_outcomes(claim: _Claim, done: list[Reminder], start: Reminder | None) -> list[Reminder]:
    """Write the outcomes of the rows in `done` that the claim still holds; returns those."""
    if len(done) == 1 and (start is None or done[0].id < start.id):  # one message just sent
        [reminder] = done
        held = Reminder.objects.filter(id=reminder.id, claim_token=claim.token, status__in=HELD)
        return done if held.update(**{name: getattr(reminder, name) for name in SAVED_FIELDS}) else []
    if not done:
        return []
    # The skipped and deferred of a batch, locked with the first to send so that rows lock in id
    # order; then written only where the claim still holds them.
    ids = [r.id for r in done] + ([start.id] if start is not None else [])
    held = set(
        locks.locked(Reminder.objects.filter(id__in=ids, claim_token=claim.token, status__in=HELD))
        .values_list("id", flat=True)
    )
    kept = [r for r in done if r.id in held]
    bulk_update(kept, SAVED_FIELDS)
    return kept


VERB_OF_OUTCOME = {"sent": "reminder.sent", "failed": "reminder.failed"}


def _deliver(reminder: Reminder, renderer: _Renderer, now: dt.datetime, mail, sms) -> None:
    """Hand one message to its provider and set its outcome (sent, retried or failed) on the row."""
    customer = reminder.scheduled_payment.schedule.customer
    try:
        subject, body = renderer.render(reminder)
        if reminder.channel == Channel.EMAIL:
            mail.open()  # once per run; here so that an unreachable server is a retried error
            message_id = email_message_id(reminder.id)
            message = EmailMessage(subject, body, to=[customer.email], connection=mail, headers={"Message-ID": message_id})
            message.send()
            reminder.recipient, reminder.provider_id = customer.email, message_id
        else:
            reminder.recipient = customer.phone
            reminder.provider_id = sms.send(to=customer.phone, body=body, idempotency_key=idempotency_key(reminder.id))
    except Exception as exc:  # any provider error: retried with backoff, then failed
        reminder.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
        if reminder.attempts < MAX_ATTEMPTS:
            reminder.status, reminder.next_attempt_at = ReminderStatus.QUEUED, now + retry_delay(reminder.attempts)
            reminder.outcome = "retried"
        else:
            reminder.status, reminder.outcome = ReminderStatus.FAILED, "failed"
        return
    reminder.status, reminder.sent_at, reminder.outcome = ReminderStatus.SENT, timezone.now(), "sent"


def _send_batch(client: Client, claim: _Claim, batch: list[Reminder], renderer: _Renderer, now: dt.datetime,
                run: ReminderRun, mail, sms) -> None:
    to_send, not_now = [], []
    for reminder in batch:
        customer = reminder.scheduled_payment.schedule.customer
        reason = _skip_reason(reminder)
        if reason:
            reminder.status, reminder.skip_reason, reminder.outcome = ReminderStatus.SKIPPED, reason, "skipped"
            not_now.append(reminder)
            continue
        window = _allowed_now(client, customer, now)
        if window is not None:
            # It waits for the customer's morning.
            reminder.status, reminder.next_attempt_at, reminder.outcome = ReminderStatus.QUEUED, window, "deferred"
            not_now.append(reminder)
            continue
        to_send.append(reminder)
    # Saved before sending, with the first message's "sending" mark: should this process die
    # while sending, only that message's outcome is unknown.
    started = _record(client, claim, run, done=not_now, start=to_send[0] if to_send else None)
    for i, reminder in enumerate(to_send):
        following = to_send[i + 1] if i + 1 < len(to_send) else None
        if not started:
            # The sweep took it back before we began: someone else may be sending it now.
            run.taken_back += 1
            started = _record(client, claim, run, done=[], start=following)
            continue
        _deliver(reminder, renderer, now, mail, sms)
        started = _record(client, claim, run, done=[reminder], start=following)


def _event(reminder: Reminder, verb: str) -> PendingEvent:
    payment = reminder.scheduled_payment
    details = {
        "reference": payment.reference,
        "kind": reminder.kind,
        "days": reminder.days,
        "channel": reminder.channel,
        "attempts": reminder.attempts,
    }
    if verb == "reminder.sent":
        details["provider_id"] = reminder.provider_id
    else:
        details["reason"] = reminder.last_error
    return PendingEvent(verb, ("paymentschedule", payment.schedule_id), details)


def reminders_send(*, client: Client, now: dt.datetime | None = None) -> ReminderRun:
    """Queue today's reminders for the client and send every one that is due to go now."""
    now = now or timezone.now()
    run = ReminderRun()
    run.created = reminders_queue(client=client, today=client_today(client, now))
    renderer = _Renderer(client)
    sms = get_sms_backend()
    # Opened on the first email only: an SMS-only run needs no mail server.
    mail = get_connection()
    try:
        after_id = 0
        while claimed := _claim(client, now, after_id):
            claim, batch = claimed
            after_id = claim.ids[-1]
            _send_batch(client, claim, batch, renderer, now, run, mail, sms)
    finally:
        mail.close()
    return run


@dataclass
class SweepResult:
    """What the sweep did with the claims of senders that stopped."""

    requeued: int = 0  # never handed to the provider: back in the queue
    retried: int = 0  # in flight, on a provider that honours the idempotency key: queued again
    unknown: int = 0  # in flight, on a provider that does not: failed, outcome unknown

    def __bool__(self) -> bool:
        return bool(self.requeued or self.retried or self.unknown)


UNKNOWN_OUTCOME = {
    Channel.EMAIL: (
        "outcome unknown: the sender stopped while handing it to the mail server; it may have been "
        "delivered. Not resent, to avoid a duplicate: look for Message-ID {message_id} in the mail "
        "server's log"
    ),
    Channel.SMS: (
        "outcome unknown: the sender stopped while handing it to the SMS provider; it may have been "
        "delivered. Not resent, to avoid a duplicate: look for {key} in the provider's log"
    ),
}
GIVEN_UP = (
    "outcome unknown: a sender stopped while handing it to the provider on each of {attempts} attempts; "
    "given up: look for {key} in the provider's log"
)


@transaction.atomic
def reminders_sweep_stale(*, now: dt.datetime | None = None) -> SweepResult:
    """Take back the claims of senders that stopped: untried rows are queued again; the message
    in flight is retried under its idempotency key, or marked failed with an unknown outcome.

    `now` is the wall clock (claims are stamped with it), not a run's simulated time. A claim
    refreshed within REMINDER_CLAIM_TIMEOUT is a live sender's and is left alone.
    """
    now = now or timezone.now()
    stale = list(
        # Locks the reminders only, not the joined clients (whose rows guard the audit chain and
        # every insert that references them) nor the scheduled payments.
        locks.locked(
            Reminder.objects.filter(status__in=HELD, claimed_at__lt=now - claim_timeout()).select_related(
                "scheduled_payment", "client"
            ),
            skip_locked=True,
        )
    )
    result = SweepResult()
    safe = {channel: retry_is_safe(channel) for channel in Channel.values}
    failed_by_client: dict[int, list] = {}
    for reminder in stale:
        reminder.claim_token = None
        if reminder.status == ReminderStatus.CLAIMED:
            reminder.status = ReminderStatus.QUEUED
            result.requeued += 1
        elif safe[reminder.channel] and reminder.attempts < MAX_ATTEMPTS:
            reminder.status, reminder.next_attempt_at = ReminderStatus.QUEUED, None
            reminder.last_error = "the sender stopped while sending it: retried under the same idempotency key"
            result.retried += 1
        else:
            reminder.status = ReminderStatus.FAILED
            reminder.last_error = (
                UNKNOWN_OUTCOME[reminder.channel] if not safe[reminder.channel] else GIVEN_UP
            ).format(message_id=email_message_id(reminder.id), key=idempotency_key(reminder.id),
                     attempts=reminder.attempts)
            failed_by_client.setdefault(reminder.client_id, []).append(reminder)
            result.unknown += 1
    bulk_update(stale, ["status", "next_attempt_at", "last_error", "claim_token"])
    for reminders in failed_by_client.values():
        audit_record_many(
            client=reminders[0].client,
            actor=SYSTEM_ACTOR,
            events=[_event(r, "reminder.failed") for r in reminders],
        )
    return result
