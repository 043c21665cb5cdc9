"""Every write of the reconciliation app: imports of bank statements and reconciliation runs."""

from .held import upload_forget, upload_held_open, upload_hold
from .imports import (
    CsvPreview,
    csv_preview,
    file_sha256,
    import_notice_done,
    notice_deadline,
    statement_async_bytes,
    statement_import,
    statement_import_job_run,
    statement_import_queue,
    statement_import_void,
    statement_max_bytes,
)
from .runs import RunFailed, RunOutcome, RunRefused, reconciliation_run, reconciliation_run_queue

__all__ = [
    "RunFailed", "RunOutcome", "RunRefused", "reconciliation_run", "reconciliation_run_queue",
    "CsvPreview", "csv_preview", "file_sha256", "import_notice_done", "notice_deadline",
    "statement_async_bytes", "statement_import", "statement_import_job_run", "statement_import_queue", "statement_import_void", "statement_max_bytes",
    "upload_forget", "upload_held_open", "upload_hold",
]
from .matches import allocation_undo, credit_refund, payment_unallocated_rest  # noqa: E402

__all__ += ["allocation_undo", "credit_refund", "payment_unallocated_rest"]
