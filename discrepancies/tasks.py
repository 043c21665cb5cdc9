"""Celery tasks: thin, idempotent, taking ISO dates."""

import datetime as dt

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def sla_sweep(now_iso: str | None = None) -> dict:
    """Every 15 minutes: escalate items past their SLA and age priorities; safe to run twice."""
    now = None
    if now_iso:
        now = dt.datetime.fromisoformat(now_iso)
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
    sweep = services.discrepancies_sla_sweep(now=now)
    return {"escalated": sweep.escalated, "raised": sweep.raised}
