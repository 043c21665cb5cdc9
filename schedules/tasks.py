"""Celery tasks: thin, idempotent, taking ids and ISO dates."""

from celery import shared_task
from celery.utils.log import get_task_logger
from django.utils import timezone

from bpo_ledger.clock import parse_day, parse_now
from bpo_ledger.models import Client

from . import services

NIGHTLY_LOCAL_HOUR = 1  # schedules move at 01:00 in each client's time zone

logger = get_task_logger(__name__)


@shared_task(ignore_result=True)
def send_reminders(now_iso: str | None = None) -> None:
    """Hourly: take back the claims of senders that died, then one task per active client."""
    swept = services.reminders_sweep_stale()
    if swept:
        logger.warning(
            "reminders of stopped senders: %s queued again, %s retried under their idempotency key, "
            "%s marked failed with an unknown outcome", swept.requeued, swept.retried, swept.unknown,
        )
    now_iso = now_iso or timezone.now().isoformat()
    for client_id in Client.objects.filter(is_active=True).values_list("pk", flat=True):
        send_client_reminders.delay_on_commit(client_id, now_iso)


@shared_task(ignore_result=True, acks_late=True)
def send_client_reminders(client_id: int, now_iso: str) -> dict:
    client = Client.objects.get(pk=client_id)
    return services.reminders_send(client=client, now=parse_now(now_iso)).as_dict()


@shared_task(ignore_result=True)
def run_nightly_where_due(now_iso: str | None = None) -> None:
    """Hourly: start the nightly schedule job for each client where it is now 01:xx."""
    now = parse_now(now_iso) if now_iso else timezone.now()
    for client in Client.objects.filter(is_active=True).only("pk", "timezone"):
        local = now.astimezone(client.zone)
        if local.hour == NIGHTLY_LOCAL_HOUR:
            schedules_nightly.delay_on_commit(client.pk, local.date().isoformat())


# Rows held by someone else past the services' LOCK_WAIT: tried again 1, 2, 4, 8 and 16 minutes
# later, then the task fails (and says so in the worker's log) rather than passing for done.
@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(services.NightlyJobBlocked,),
    max_retries=5,
    retry_backoff=60,
    retry_backoff_max=16 * 60,
    retry_jitter=False,
)
def schedules_nightly(client_id: int, date_iso: str) -> dict:
    """Move statuses (due, overdue) and extend open-ended schedules; safe to run twice."""
    client = Client.objects.get(pk=client_id)
    today = parse_day(date_iso)
    moved = services.scheduled_payments_advance(client=client, today=today)
    moved["generated"] = services.schedules_extend_horizon(client=client, today=today)
    return moved
