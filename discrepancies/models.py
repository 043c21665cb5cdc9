"""Payment discrepancy logs: every difference between expected and received money, worked to
resolution with notes, evidence, escalations and, for adjustments, a second pair of eyes."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from bpo_ledger.models import Client, Customer, Payment, currency_field, money_field
from schedules.models import ScheduledPayment


class DiscrepancyKind(models.TextChoices):
    OVERPAYMENT = "overpayment", "Overpayment"
    UNDERPAYMENT = "underpayment", "Underpayment"
    DUPLICATE = "duplicate", "Duplicate payment"
    MISSING = "missing", "Missing payment"
    MISMATCH = "mismatch", "Mismatch"
    ADJUSTMENT = "adjustment", "Adjustment"
    CHARGEBACK = "chargeback", "Chargeback"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    AWAITING_CUSTOMER = "awaiting_customer", "Awaiting customer"
    ESCALATED = "escalated", "Escalated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


ACTIVE_STATUSES = (
    Status.OPEN,
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.AWAITING_CUSTOMER,
    Status.ESCALATED,
)


def sla_breached_q(now) -> Q:
    """Active items that have missed any of their SLA due times, the current one included (the
    sweep may not have escalated it yet). The queue's filter, the team page and the dashboard."""
    return Q(status__in=ACTIVE_STATUSES) & (Q(sla_breached_at__isnull=False) | Q(sla_due_at__lt=now))


class Priority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


class MismatchField(models.TextChoices):
    ACCOUNT_NUMBER = "account_number", "Account number"
    AMOUNT = "amount", "Amount"
    CURRENCY = "currency", "Currency"
    REFERENCE = "reference", "Reference"
    DATE = "date", "Date"
    PAYER = "payer", "Payer"
    OTHER = "other", "Other"


class RootCause(models.TextChoices):
    DATA_ENTRY = "data_entry", "Data entry error"
    SYSTEM_INTEGRATION = "system_integration", "System integration"
    COMMUNICATION = "communication", "Communication breakdown"
    CUSTOMER_MISUNDERSTANDING = "customer_misunderstanding", "Customer misunderstanding"
    BANK_ERROR = "bank_error", "Bank error"
    FRAUD = "fraud", "Fraud"
    OTHER = "other", "Other"


# Resolution codes offered for each kind, and only there.
RESOLUTION_CODES = {
    DiscrepancyKind.OVERPAYMENT: [("refund_issued", "Refund issued"), ("credit_applied", "Credit applied to account")],
    DiscrepancyKind.UNDERPAYMENT: [
        ("customer_notified", "Customer notified"),
        ("balance_rebilled", "Balance rebilled"),
        ("written_off", "Written off"),
    ],
    DiscrepancyKind.DUPLICATE: [("refunded", "Refunded"), ("credited", "Credited"), ("reversed", "Reversed")],
    DiscrepancyKind.MISSING: [
        ("payment_located", "Payment located"),
        ("customer_contacted", "Customer contacted"),
        ("schedule_rearranged", "Schedule rearranged"),
        ("written_off", "Written off"),
    ],
    DiscrepancyKind.MISMATCH: [("data_corrected", "Data corrected"), ("payment_reassigned", "Payment reassigned")],
    DiscrepancyKind.CHARGEBACK: [
        ("evidence_submitted", "Evidence submitted"),
        ("won", "Won"),
        ("lost", "Lost"),
        ("accepted", "Accepted"),
    ],
    DiscrepancyKind.ADJUSTMENT: [("applied", "Applied")],
}


class AdjustmentType(models.TextChoices):
    WRITE_OFF = "write_off", "Write-off"
    AMOUNT_CORRECTION = "amount_correction", "Amount correction"
    MANUAL_MATCH = "manual_match", "Manual match"


class Approval(models.TextChoices):
    NOT_REQUIRED = "not_required", "Not required"
    PENDING = "pending", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Discrepancy(models.Model):
    """One inconsistency between expected and actual payments, worked to resolution."""

    # No index of its own: every index of this table starts with client.
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="discrepancies", db_index=False)
    number = models.PositiveIntegerField(help_text="Sequential per client.")
    kind = models.CharField(max_length=16, choices=DiscrepancyKind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    # Sortable form of priority: the queue orders by it (highest first).
    priority_rank = models.PositiveSmallIntegerField(default=1)
    priority_overridden = models.BooleanField(
        default=False, help_text="Set by a supervisor: the policy no longer recomputes it."
    )
    summary = models.CharField(max_length=300)
    currency = currency_field()
    amount_expected = money_field(null=True, blank=True)
    amount_actual = money_field(null=True, blank=True)
    amount_difference = money_field(
        default=Decimal("0.00"), help_text="Actual minus expected: negative when less was received."
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )
    scheduled_payment = models.ForeignKey(
        ScheduledPayment, null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )
    payments = models.ManyToManyField(Payment, blank=True, related_name="discrepancies")
    mismatch_field = models.CharField(max_length=16, choices=MismatchField.choices, blank=True)
    root_cause = models.CharField(max_length=32, choices=RootCause.choices, blank=True)
    resolution_code = models.CharField(max_length=32, blank=True)
    resolution_text = models.TextField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sla_due_at = models.DateTimeField(help_text="The current SLA due time.")
    # Every due time the item was given and whether it was met (policy.sla_started and the
    # functions after it); kept for good, so an escalation never erases a breach.
    sla_history = models.JSONField(default=list, blank=True)
    first_sla_breached_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first SLA due time was missed: SLA performance counts it."
    )
    sla_breached_at = models.DateTimeField(
        null=True, blank=True, help_text="When the item first missed any of its SLA due times."
    )
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    detected_by = models.CharField(
        max_length=64, help_text="The reconciliation run (run:42) or the person who logged it."
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fingerprint = models.CharField(
        max_length=64, help_text="The same problem has the same fingerprint: it is logged once."
    )
    # Adjustments (kind adjustment) only.
    adjustment_type = models.CharField(max_length=20, choices=AdjustmentType.choices, blank=True)
    adjustment_amount = money_field(null=True, blank=True)
    adjustment_before = models.JSONField(default=dict, blank=True)
    adjustment_after = models.JSONField(default=dict, blank=True)
    approval = models.CharField(max_length=16, choices=Approval.choices, default=Approval.NOT_REQUIRED)
    approval_reason = models.CharField(
        max_length=300, blank=True, help_text="Why it needs a supervisor's approval, as the requester was told."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approval_comment = models.TextField(blank=True)
    approval_decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency: every change bumps it, and a change made from a stale page is refused.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sla_due_at"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.UniqueConstraint(fields=["client", "number"], name="discrepancy_unique_number"),
            models.UniqueConstraint(fields=["client", "fingerprint"], name="discrepancy_unique_fingerprint"),
            models.CheckConstraint(
                condition=Q(kind="mismatch") | Q(mismatch_field=""), name="discrepancy_mismatch_field_only_for_mismatch"
            ),
            models.CheckConstraint(
                condition=Q(kind="adjustment") | (Q(adjustment_type="") & Q(approval="not_required")),
                name="discrepancy_adjustment_fields_only_for_adjustments",
            ),
        ]
        indexes = [
            # The queue: WHERE client_id IN (...) AND status IN (...) ORDER BY sla_due_at
            models.Index(fields=["client", "status", "sla_due_at"], name="discrepancy_queue_idx"),
            # My items: WHERE assignee_id = ? AND status IN (...) ORDER BY sla_due_at
            models.Index(fields=["assignee", "status", "sla_due_at"], name="discrepancy_assignee_idx"),
            # Claim next: unassigned open items, highest priority then oldest first.
            models.Index(
                fields=["client", "-priority_rank", "created_at"],
                condition=Q(status="open", assignee__isnull=True),
                name="discrepancy_claim_idx",
            ),
            # The SLA sweep: active items past their due time.
            models.Index(
                fields=["sla_due_at"],
                condition=Q(status__in=["open", "assigned", "in_progress", "awaiting_customer", "escalated"]),
                name="discrepancy_sla_idx",
            ),
            # Kind and priority filters of the queue: kind alone, or kind and priority together
            # (the status is checked in the index, so neither visits rows of other statuses).
            models.Index(fields=["client", "kind", "priority_rank", "status"], name="discrepancy_kind_priority_idx"),
            models.Index(fields=["client", "priority_rank", "status"], name="discrepancy_priority_idx"),
            # Adjustment approvals queue.
            models.Index(fields=["client", "created_at"], condition=Q(approval="pending"), name="discrepancy_approval_idx"),
            models.Index(fields=["client", "customer"], name="discrepancy_customer_idx"),
            # The dashboard's opened/resolved per day.
            models.Index(fields=["client", "created_at"], name="discrepancy_created_idx"),
            models.Index(fields=["client", "resolved_at"], condition=Q(resolved_at__isnull=False), name="discrepancy_resolved_idx"),
            # What one reconciliation run logged (the queue's run filter): WHERE client_id = ? AND detected_by = 'run:42'
            models.Index(fields=["client", "detected_by"], name="discrepancy_detected_by_idx"),
        ]

    def __str__(self):
        return f"{self.reference} · {self.get_kind_display()}"

    def get_absolute_url(self):
        return reverse("discrepancy_detail", args=[self.client.code, self.pk])

    @property
    def reference(self) -> str:
        return discrepancy_reference(self.client.code, self.number)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def sla_breached(self, now) -> bool:
        """sla_breached_q for one item."""
        return self.is_active and (self.sla_breached_at is not None or self.sla_due_at < now)

    @property
    def resolution_choices(self) -> list[tuple[str, str]]:
        return RESOLUTION_CODES.get(self.kind, [])

    @property
    def resolution_label(self) -> str:
        return dict(RESOLUTION_CODES.get(self.kind, [])).get(self.resolution_code, self.resolution_code)


def discrepancy_reference(client_code: str, number: int) -> str:
    return f"{client_code}-D{number:06d}"


class Note(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Note by {self.author_id} on {self.discrepancy_id}"


def attachment_path(instance, filename):
    # Stored per client, under a random name: the original name is kept in the row only.
    return f"attachments/{instance.client.code}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """Evidence on a discrepancy: served only to members of its client."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=attachment_path)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.original_name
