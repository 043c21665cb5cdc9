"""Every write to payment schedules and reminders, by sub-domain:

- planning: due dates, validation, creating schedules one at a time or in bulk;
- imports: a client's CRM export (CSV) of customers and schedules;
- lifecycle: deferrals, pauses, cancellation, method and amount changes, inquiries;
- payments: one scheduled payment recorded, failed, written off or corrected;
- nightly: the horizon extension and the nightly status moves;
- reminders: queueing and sending reminders.
"""

from .imports import ImportRejected, ImportResult, schedules_import_csv  # noqa: F401
from .lifecycle import (  # noqa: F401
    DEFER_SCOPE_LABELS,
    INQUIRY_CHANNELS,
    DeferMove,
    DeferScope,
    schedule_anchor_day,
    schedule_cancel,
    schedule_change_amount,
    schedule_change_method,
    schedule_defer,
    schedule_defer_preview,
    schedule_log_inquiry,
    schedule_pause,
    schedule_resume,
    schedule_step_allowed,
    schedule_step_needs_reason,
)
from .nightly import NightlyJobBlocked, scheduled_payments_advance, schedules_extend_horizon  # noqa: F401
from .payments import (  # noqa: F401
    scheduled_payment_correct_amount,
    scheduled_payment_fail,
    scheduled_payment_record,
    scheduled_payment_retry_debit,
    scheduled_payment_waive,
)
from .planning import (  # noqa: F401
    HORIZON_DAYS,
    KIND_FIELDS,
    ScheduleSpec,
    schedule_create,
    schedule_date_range,
    schedule_preview,
    scheduled_payments_insert,
    schedules_create_many,
)
from .reminders import reminders_send, reminders_sweep_stale  # noqa: F401
