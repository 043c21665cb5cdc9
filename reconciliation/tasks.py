"""Celery tasks: thin, idempotent, taking ids."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True, acks_late=True)
def import_statement_job(job_id: int) -> None:
    """Import a large uploaded statement; a second delivery of the same job does nothing."""
    services.statement_import_job_run(job_id=job_id)
