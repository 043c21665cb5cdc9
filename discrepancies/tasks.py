"""Celery tasks: thin, idempotent, taking ISO dates."""

from celery import shared_task

from bpo_ledger.clock import parse_now

from . import services


@shared_task(ignore_result=True)
def sla_sweep(now_iso: str | None = None) -> dict:
    """Every 15 minutes: escalate items past their SLA and age priorities; safe to run twice."""
    sweep = services.discrepancies_sla_sweep(now=parse_now(now_iso) if now_iso else None)
    return {"escalated": sweep.escalated, "raised": sweep.raised, "held": sweep.held}
