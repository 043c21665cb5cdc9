"""Payment schedules: what each customer is expected to pay and when, and the reminders sent."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from bpo_ledger.crypto import EncryptedTextField, masked
from bpo_ledger.models import Channel, Client, Customer, Payment, currency_field, money_field


class ScheduleKind(models.TextChoices):
    RECURRING = "recurring", "Recurring"
    INSTALLMENT = "installment", "Installment plan"
    DEFERRED = "deferred", "Deferred"
    ONE_TIME = "one_time", "One-time"
    AUTOPAY = "autopay", "Autopay"


class ScheduleStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    DEFAULTED = "defaulted", "Defaulted"


class Frequency(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    BIWEEKLY = "biweekly", "Every two weeks"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Every six months"
    ANNUAL = "annual", "Annually"


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    DIRECT_DEBIT = "direct_debit", "Direct debit"
    CARD = "card", "Card"
    WALLET = "wallet", "Wallet"
    CHECK = "check", "Check"
    CASH = "cash", "Cash"


class AutopayMethod(models.TextChoices):
    BANK_ACCOUNT = "bank_account", "Bank account"
    CARD = "card", "Card"
    WALLET = "wallet", "Wallet"


class DeferralReason(models.TextChoices):
    AGREEMENT = "agreement", "Payment agreement"
    PROMOTION = "promotion", "Promotion"
    HARDSHIP = "hardship", "Hardship"
    OTHER = "other", "Other"


# The rules of each kind, as database constraints; schedules.services checks the same rules
# in Python first (the same messages), so a form or an import gets every error at once.
NEEDS_FREQUENCY = "Recurring, autopay and installment schedules need a frequency."
NEEDS_INSTALLMENTS = "An installment plan needs a number of installments."
NEEDS_DEFERRAL = "A deferred payment needs a deferred-until date and a reason."
NEEDS_MANDATE = "Autopay needs a method, a mandate reference and the date of consent."
ENDS_BEFORE_START = "The end date is before the start date."
DOWN_PAYMENT_TOO_HIGH = "The down payment must be less than the total."


class PaymentSchedule(models.Model):
    """One customer's plan of expected payments, of one of five kinds."""

    # No single-column index: schedule_unique_number (client, number) leads with client_id.
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="schedules", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="schedules")
    number = models.PositiveIntegerField(help_text="Sequential per client; part of references.")
    kind = models.CharField(max_length=16, choices=ScheduleKind.choices)
    status = models.CharField(
        max_length=16, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE
    )
    currency = currency_field()
    amount = money_field(
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Per cycle (recurring, autopay); the total (installment); the amount (one-time, deferred).",
    )
    method = models.CharField(
        max_length=16, choices=PaymentMethod.choices, default=PaymentMethod.BANK_TRANSFER
    )
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    cycles = models.PositiveIntegerField(
        null=True, blank=True, help_text="Number of payments, for a recurring plan that ends."
    )
    frequency = models.CharField(max_length=16, choices=Frequency.choices, blank=True)
    interval = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(24)]
    )
    anchor_day = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    # Where the cycle is counted from: the start date, until a deferral moves it. Due date k of
    # the cycle is computed from here, never from the previous due date, so it never drifts.
    cycle_start = models.DateField(null=True, blank=True)
    cycle_start_sequence = models.PositiveIntegerField(default=1)
    installment_count = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(360)]
    )
    down_payment = money_field(default=Decimal("0.00"), validators=[MinValueValidator(Decimal("0"))])
    deferred_until = models.DateField(null=True, blank=True)
    deferral_reason = models.CharField(max_length=16, choices=DeferralReason.choices, blank=True)
    deferral_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    autopay_method = models.CharField(max_length=16, choices=AutopayMethod.choices, blank=True)
    autopay_account = EncryptedTextField(blank=True)
    autopay_account_last4 = models.CharField(max_length=4, blank=True)
    mandate_reference = models.CharField(max_length=64, blank=True)
    mandate_consented_at = models.DateTimeField(null=True, blank=True)
    external_ref = models.CharField(
        max_length=64, blank=True, help_text="The schedule's id in the client's CRM, if any."
    )
    description = models.CharField(max_length=200, blank=True)
    # Rolled up from the scheduled payments by services and the nightly job, so the list
    # can filter and sort by them without aggregating 100,000s of rows.
    next_due_date = models.DateField(null=True, blank=True)
    is_overdue = models.BooleanField(default=False)
    horizon_until = models.DateField(
        null=True, blank=True, help_text="Due dates are generated through this date."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Optimistic concurrency: every change to the schedule or its payments made by a person
    # moves it on, and a change made on a page that showed an older version is refused.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["client", "number"], name="schedule_unique_number"),
            # The target of scheduled_payment_schedule_same_client, the composite foreign key
            # by which a scheduled payment belongs to a schedule of its own client.
            models.UniqueConstraint(fields=["id", "client"], name="schedule_id_client"),
            models.UniqueConstraint(
                fields=["client", "external_ref"],
                condition=~Q(external_ref=""),
                name="schedule_unique_external_ref",
                violation_error_message="A schedule with this CRM reference already exists.",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["recurring", "autopay", "installment"]) | ~Q(frequency=""),
                name="schedule_cycle_has_frequency",
                violation_error_message=NEEDS_FREQUENCY,
            ),
            models.CheckConstraint(
                condition=~Q(kind="installment") | Q(installment_count__isnull=False),
                name="schedule_installment_has_count",
                violation_error_message=NEEDS_INSTALLMENTS,
            ),
            models.CheckConstraint(
                condition=~Q(kind="deferred")
                | (Q(deferred_until__isnull=False) & ~Q(deferral_reason="")),
                name="schedule_deferred_has_date_and_reason",
                violation_error_message=NEEDS_DEFERRAL,
            ),
            models.CheckConstraint(
                condition=~Q(kind="autopay")
                | (~Q(autopay_method="") & ~Q(mandate_reference="") & Q(mandate_consented_at__isnull=False)),
                name="schedule_autopay_has_mandate",
                violation_error_message=NEEDS_MANDATE,
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="schedule_ends_after_start",
                violation_error_message=ENDS_BEFORE_START,
            ),
            models.CheckConstraint(
                condition=Q(down_payment__lt=models.F("amount")),
                name="schedule_down_payment_below_total",
                violation_error_message=DOWN_PAYMENT_TOO_HIGH,
            ),
        ]
        indexes = [
            # The schedule list: WHERE client_id IN (...) AND status = ? ORDER BY next_due_date
            models.Index(fields=["client", "status", "next_due_date"], name="schedule_list_idx"),
            models.Index(fields=["client", "customer"], name="schedule_customer_idx"),
            # "Overdue only" filter.
            models.Index(
                fields=["client", "next_due_date"],
                condition=Q(is_overdue=True),
                name="schedule_overdue_idx",
            ),
            # The nightly horizon extension: open-ended active schedules whose horizon ran short.
            models.Index(
                fields=["horizon_until"],
                condition=Q(status="active", kind__in=["recurring", "autopay"]),
                name="schedule_horizon_idx",
            ),
        ]

    def __str__(self):
        return f"{self.reference} · {self.get_kind_display()}"

    def get_absolute_url(self):
        return reverse("schedule_detail", args=[self.client.code, self.pk])

    @property
    def reference(self) -> str:
        return schedule_reference(self.client.code, self.number)

    @property
    def autopay_account_masked(self) -> str:
        return masked(self.autopay_account_last4)

    @property
    def is_open(self) -> bool:
        return self.status in (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)


def schedule_reference(client_code: str, number: int) -> str:
    return f"{client_code}-{number:06d}"


def payment_reference(client_code: str, number: int, sequence: int) -> str:
    """The reference customers quote: ACME-000123-03."""
    return f"{schedule_reference(client_code, number)}-{sequence:02d}"


class PaymentStatus(models.TextChoices):
    UPCOMING = "upcoming", "Upcoming"
    DUE = "due", "Due"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    OVERDUE = "overdue", "Overdue"
    PAID = "paid", "Paid"
    WAIVED = "waived", "Waived"
    CANCELLED = "cancelled", "Cancelled"


OPEN_PAYMENT_STATUSES = (
    PaymentStatus.UPCOMING,
    PaymentStatus.DUE,
    PaymentStatus.PARTIALLY_PAID,
    PaymentStatus.OVERDUE,
)


class ScheduledPayment(models.Model):
    """One expected payment of a schedule."""

    # No single-column indexes: scheduled_payment_due_idx (client, status, due_date) and
    # scheduled_payment_unique_ref (client, reference) lead with client_id, and
    # scheduled_payment_unique_seq (schedule, sequence) leads with schedule_id.
    # No single-column foreign keys either: one composite foreign key, (schedule_id, client_id)
    # -> paymentschedule (id, client_id), scheduled_payment_schedule_same_client (migration
    # schedules 0005), makes the database refuse a payment whose client is not its schedule's,
    # and checks one row instead of two per payment. The client exists through the schedule.
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    schedule = models.ForeignKey(
        PaymentSchedule,
        on_delete=models.PROTECT,
        related_name="payments",
        db_index=False,
        db_constraint=False,
    )
    sequence = models.PositiveIntegerField()
    reference = models.CharField(max_length=40)
    due_date = models.DateField()
    original_due_date = models.DateField(
        help_text="The due date first set; differs from due_date after a deferral or rolling."
    )
    amount_due = money_field()
    amount_paid = money_field(default=Decimal("0.00"))
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.UPCOMING
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["schedule", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "sequence"], name="scheduled_payment_unique_seq"),
            models.UniqueConstraint(fields=["client", "reference"], name="scheduled_payment_unique_ref"),
            models.CheckConstraint(condition=Q(amount_due__gt=0), name="scheduled_payment_positive"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="scheduled_payment_paid_nonneg"),
        ]
        indexes = [
            # Reminders and the nightly status move: WHERE client_id = ? AND status IN (...) AND due_date = ?
            models.Index(fields=["client", "status", "due_date"], name="scheduled_payment_due_idx"),
        ]

    def __str__(self):
        return self.reference

    @property
    def amount_outstanding(self):
        return max(self.amount_due - self.amount_paid, Decimal("0.00"))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_PAYMENT_STATUSES


class Allocation(models.Model):
    """Part of a received payment applied to a scheduled payment, with the rule that applied it.

    A payment recorded by hand has one (rule "manual"); a bank payment matched by hand or by
    the matcher has one per scheduled payment it settles. The allocations of a scheduled payment
    add up to its amount paid.
    """

    # No single-column indexes: every read is scoped by client, and the two composite indexes
    # (client, payment) and (client, scheduled_payment) serve them.
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations", db_index=False)
    scheduled_payment = models.ForeignKey(
        ScheduledPayment, on_delete=models.PROTECT, related_name="allocations", db_index=False
    )
    amount = money_field()
    rule = models.CharField(max_length=32, help_text='What applied it: "manual", "manual_match", a matcher rule.')
    explanation = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
        ]
        indexes = [
            # What a payment settles (Payments page, the matcher's unallocated rest).
            models.Index(fields=["client", "payment"], name="allocation_payment_idx"),
            # What settled a scheduled payment (the schedule page).
            models.Index(fields=["client", "scheduled_payment"], name="allocation_scheduled_idx"),
        ]

    def __str__(self):
        return f"{self.amount} of payment {self.payment_id} to {self.scheduled_payment_id} ({self.rule})"

    @property
    def rule_label(self) -> str:
        return ALLOCATION_RULE_LABELS.get(self.rule, self.rule.replace("_", " ").capitalize())


# What applied an allocation, in words (the matcher's rules are reconciliation.matching.RULES).
ALLOCATION_RULE_LABELS = {
    "reference": "Matched by reference",
    "customer_amount": "Matched by customer and amount",
    "customer_variance": "Matched by customer, with an amount variance",
    "credit": "Applied from the customer's credit",
    "manual": "Recorded by hand",
    "manual_match": "Matched by hand",
}


class ReminderKind(models.TextChoices):
    UPCOMING = "upcoming", "Upcoming payment"
    DUE_TODAY = "due_today", "Due today"
    OVERDUE = "overdue", "Overdue payment"
    DEBIT_NOTICE = "debit_notice", "Autopay debit notice"


class ReminderStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    # Held by a sender that has not handed it to the provider yet: back to the queue if it dies.
    CLAIMED = "claimed", "Claimed by a sender"
    # Handed to the provider, outcome not yet recorded: at most one per sender at a time.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class Reminder(models.Model):
    """One message to a customer about one scheduled payment; never sent twice."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    scheduled_payment = models.ForeignKey(
        ScheduledPayment, on_delete=models.PROTECT, related_name="reminders"
    )
    kind = models.CharField(max_length=16, choices=ReminderKind.choices)
    days = models.SmallIntegerField(
        default=0, help_text="Days before (upcoming, debit notice) or after (overdue) the due date."
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(
        max_length=8, choices=ReminderStatus.choices, default=ReminderStatus.QUEUED
    )
    skip_reason = models.CharField(max_length=200, blank=True)
    recipient = models.CharField(max_length=254, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    # The sender's heartbeat while it holds the row (claimed or sending): the sweep takes back
    # only claims older than REMINDER_CLAIM_TIMEOUT.
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The idempotency key: a reminder exists once, whoever creates it first wins.
            models.UniqueConstraint(
                fields=["scheduled_payment", "kind", "days", "channel"], name="reminder_once"
            ),
        ]
        indexes = [
            # The sender's claim: WHERE client_id = ? AND status = 'queued' ORDER BY id LIMIT n.
            # Only queued rows are in it, so a claim never walks past the rows already sent.
            models.Index(fields=["client", "id"], condition=Q(status="queued"), name="reminder_queue_idx"),
            # The stale-claim sweep: WHERE status IN ('claimed', 'sending') AND claimed_at < ?.
            models.Index(
                fields=["claimed_at"], condition=Q(status__in=["claimed", "sending"]), name="reminder_held_idx"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.channel}) for {self.scheduled_payment_id}"


class ReminderTemplate(models.Model):
    """A client's own wording for one kind of message on one channel (else the default file)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="reminder_templates")
    kind = models.CharField(max_length=16, choices=ReminderKind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    subject = models.CharField(
        max_length=200, blank=True, help_text="Email only. Django template syntax."
    )
    body = models.TextField(
        help_text=(
            "Django template syntax. Available: {{ customer_name }}, {{ amount }}, {{ currency }}, "
            "{{ due_date }}, {{ reference }}, {{ days }}, {{ client_name }}, {{ how_to_pay }}, "
            "{{ method }}, {{ account }}."
        )
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "kind", "channel"], name="reminder_template_once")
        ]

    def __str__(self):
        return f"{self.client.code} {self.get_kind_display()} ({self.channel})"
