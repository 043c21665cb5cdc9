"""Celery tasks: thin, idempotent, taking ids and ISO dates."""

import datetime as dt

from celery import shared_task
from celery.utils.log import get_task_logger
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from bpo_ledger.clock import parse_day, parse_now
from bpo_ledger.models import Client

from . import services
from .events import RUN_ACTOR
from .models import ReconciliationRun, RunStatus, RunTrigger

NIGHTLY_LOCAL_TIME = dt.time(2, 0)  # clients are reconciled from 02:00 in their own time zone
# A nightly run still marked running after this long died with its worker: it no longer holds
# the date back.
RUNNING_FOR_AT_MOST = dt.timedelta(hours=2)
# A nightly run that failed is tried again on the first tick this long after it (its supervisors
# are emailed at each failure: not every 15 minutes).
FAILED_RETRY_AFTER = dt.timedelta(hours=1)
REFUSED_RETRY_SECONDS = 60  # another run of the client holds its lock: try again this much later
REFUSED_MAX_RETRIES = 60

logger = get_task_logger(__name__)


@shared_task(ignore_result=True, acks_late=True)
def import_statement_job(job_id: int) -> None:
    """Import a large uploaded statement; a second delivery of the same job does nothing."""
    services.statement_import_job_run(job_id=job_id)


def _nightly_done_or_running(client_id: int, as_of: dt.date, now: dt.datetime, *, failed_wait: bool = False) -> bool:
    """Whether the client's nightly run of the date succeeded, is running (and not dead), or,
    with failed_wait, failed less than FAILED_RETRY_AFTER ago."""
    held = Q(status=RunStatus.SUCCEEDED) | Q(status=RunStatus.RUNNING, started_at__gt=now - RUNNING_FOR_AT_MOST)
    if failed_wait:
        held |= Q(status=RunStatus.FAILED, finished_at__gt=now - FAILED_RETRY_AFTER)
    return ReconciliationRun.objects.filter(held, client_id=client_id, as_of=as_of, trigger=RunTrigger.NIGHTLY).exists()


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=REFUSED_MAX_RETRIES)
def reconcile_client(self, client_id: int, as_of: str, trigger: str = RunTrigger.NIGHTLY, user_id: int | None = None) -> None:
    """Reconcile one client as of a date; tried again later while another run of it works.

    A nightly run of a date that already succeeded (a second delivery, a second enqueue) does nothing.
    """
    client = Client.objects.get(pk=client_id)
    day = parse_day(as_of)
    if trigger == RunTrigger.NIGHTLY and _nightly_done_or_running(client_id, day, timezone.now()):
        return
    actor = get_user_model().objects.get(pk=user_id) if user_id else RUN_ACTOR
    try:
        services.reconciliation_run(client=client, as_of=day, actor=actor, trigger=trigger)
    except services.RunRefused as exc:
        raise self.retry(exc=exc, countdown=REFUSED_RETRY_SECONDS) from None
    except services.RunFailed as exc:
        # On record (the run, failed, with its error) and in the supervisors' mail; the nightly
        # schedule tries the date again on its next tick.
        logger.error("%s", exc)


@shared_task(ignore_result=True)
def reconcile_due_clients(now_iso: str | None = None) -> list[int]:
    """Every 15 minutes: one reconcile_client task per active client whose local time is past
    02:00 and whose local date has no nightly run yet, so each local date is reconciled once,
    whatever the clocks do that night. Returns the ids of the clients queued."""
    now = parse_now(now_iso) if now_iso else timezone.now()
    queued = []
    for client in Client.objects.filter(is_active=True).only("pk", "timezone").order_by("pk"):
        local = now.astimezone(client.zone)
        if local.time() < NIGHTLY_LOCAL_TIME:
            continue
        as_of = local.date()
        # Runs are stamped with the real time: they are compared with it, whatever `now` says.
        if _nightly_done_or_running(client.pk, as_of, timezone.now(), failed_wait=True):
            continue
        reconcile_client.delay_on_commit(client.pk, as_of.isoformat(), RunTrigger.NIGHTLY, None)
        queued.append(client.pk)
    return queued
