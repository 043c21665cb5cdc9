"""Every write to payment schedules and reminders, by sub-domain:

- planning: due dates, validation, creating schedules one at a time or in bulk;
- lifecycle: deferrals, pauses, cancellation, method and amount changes, inquiries;
- payments: one scheduled payment recorded, failed, written off or corrected;
- nightly: the horizon extension and the nightly status moves;
- reminders: queueing and sending reminders.
"""

from .lifecycle import (  # noqa: F401
    INQUIRY_CHANNELS,
    schedule_cancel,
    schedule_change_amount,
    schedule_change_method,
    schedule_defer,
    schedule_log_inquiry,
    schedule_pause,
    schedule_resume,
    schedule_step_allowed,
)
from .nightly import scheduled_payments_advance, schedules_extend_horizon  # noqa: F401
from .payments import (  # noqa: F401
    scheduled_payment_correct_amount,
    scheduled_payment_fail,
    scheduled_payment_record,
    scheduled_payment_waive,
)
from .planning import (  # noqa: F401
    CYCLIC_KINDS,
    HORIZON_DAYS,
    KIND_FIELDS,
    ScheduleSpec,
    client_today,
    schedule_create,
    schedule_preview,
    scheduled_payments_insert,
    schedules_create_many,
    schedules_refresh_rollups,
)
from .reminders import reminders_send, reminders_sweep_stale  # noqa: F401
