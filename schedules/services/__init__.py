"""Every write to payment schedules and reminders."""

from .reminders import reminders_send, reminders_sweep_stale  # noqa: F401
from .schedules import (  # noqa: F401
    CYCLIC_KINDS,
    HORIZON_DAYS,
    INQUIRY_CHANNELS,
    ScheduleSpec,
    client_today,
    schedule_cancel,
    schedule_change_amount,
    schedule_change_method,
    schedule_create,
    schedule_defer,
    schedule_log_inquiry,
    schedule_pause,
    schedule_preview,
    schedule_resume,
    schedule_step_allowed,
    scheduled_payment_correct_amount,
    scheduled_payment_fail,
    scheduled_payment_record,
    scheduled_payment_waive,
    scheduled_payments_advance,
    scheduled_payments_insert,
    schedules_create_many,
    schedules_extend_horizon,
    schedules_refresh_rollups,
)
