"""Every write to discrepancies, by sub-domain:

- intake: logging an item (checks, numbering, fingerprints);
- workflow: the transitions, assigning, claiming the next item, overriding the priority;
- adjustments: requesting, applying and deciding (four eyes) write-offs, corrections, matches;
- evidence: notes and attachments;
- notices: emailing the customer;
- sla: the SLA sweep (escalating overdue items, raising the priority of aged ones).

Each checks the actor's role in the client, changes the row with a conditional UPDATE (status
and version as they were read) or under a lock from bpo_ledger.locks, and writes its AuditEvent
in the same transaction.
"""

from .adjustments import adjustment_decide, adjustment_request
from .evidence import (
    ATTACHMENT_TYPES,
    attachment_limit_text,
    attachment_max_bytes,
    discrepancy_attach,
    discrepancy_note_add,
)
from .intake import discrepancy_log
from .notices import discrepancy_notify_customer, notify_refusal
from .sla import (
    SlaSweep,
    discrepancies_age_priorities,
    discrepancies_escalate_overdue,
    discrepancies_sla_sweep,
)
from .workflow import (
    ACTION_LABELS,
    REASON_REQUIRED,
    TRANSITIONS,
    actions_for,
    discrepancies_bulk_assign,
    discrepancy_assign,
    discrepancy_claim_next,
    discrepancy_set_priority,
    discrepancy_transition,
)

__all__ = [
    "ACTION_LABELS",
    "ATTACHMENT_TYPES",
    "REASON_REQUIRED",
    "TRANSITIONS",
    "SlaSweep",
    "actions_for",
    "adjustment_decide",
    "adjustment_request",
    "attachment_limit_text",
    "attachment_max_bytes",
    "discrepancies_age_priorities",
    "discrepancies_bulk_assign",
    "discrepancies_escalate_overdue",
    "discrepancies_sla_sweep",
    "discrepancy_assign",
    "discrepancy_attach",
    "discrepancy_claim_next",
    "discrepancy_log",
    "discrepancy_note_add",
    "discrepancy_notify_customer",
    "discrepancy_set_priority",
    "discrepancy_transition",
    "notify_refusal",
]
