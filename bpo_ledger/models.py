"""The core ledger: tenants (clients), who may work on them, their customers, money received,
and the append-only audit chain."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import holidays
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from .crypto import EncryptedTextField, masked
from .money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, validate_currency


def money_field(**kwargs):
    return models.DecimalField(
        max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES, **kwargs
    )


def currency_field(**kwargs):
    return models.CharField(max_length=3, validators=[validate_currency], **kwargs)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "%(value)s is not an IANA time zone (such as Europe/London).",
            params={"value": value},
            code="invalid_timezone",
        )


def validate_country(value: str) -> None:
    if value not in holidays.list_supported_countries():
        raise ValidationError(
            "%(value)s is not a country with a holiday calendar (ISO 3166 alpha-2, such as GB).",
            params={"value": value},
            code="invalid_country",
        )


def country_subdivision(country: str, value: str) -> str:
    """The package's code for `value`, a subdivision of `country` by code or name, any case
    ("england" -> "ENG"); raises ValidationError naming the country's subdivisions."""
    calendar = holidays.country_holidays(country)
    codes = {code.casefold(): code for code in calendar.subdivisions}
    names = {name.casefold(): code for name, code in calendar.subdivisions_aliases.items()}
    code = codes.get(value.strip().casefold()) or names.get(value.strip().casefold())
    if code is not None:
        return code
    if not codes:
        raise ValidationError(
            "%(country)s has no subdivisions in the holiday calendar: leave this empty.",
            params={"country": country},
            code="invalid_subdivision",
        )
    raise ValidationError(
        "%(value)s is not a subdivision of %(country)s; use one of %(codes)s.",
        params={"value": value, "country": country, "codes": ", ".join(calendar.subdivisions)},
        code="invalid_subdivision",
    )


def validate_day_list(value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ValidationError("Enter a list of whole numbers of days, such as [7, 1].")
    if any(v < 0 or v > 90 for v in value):
        raise ValidationError("Each number of days must be between 0 and 90.")
    if len(set(value)) != len(value):
        raise ValidationError("A number of days appears twice.")


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


def validate_channels(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Choose at least one reminder channel.")
    unknown = sorted(set(value) - set(Channel.values))
    if unknown:
        raise ValidationError(
            "Unknown reminder channel %(unknown)s; use %(known)s.",
            params={"unknown": ", ".join(map(str, unknown)), "known": ", ".join(Channel.values)},
        )


def default_lead_days():
    return [7, 1]


def default_overdue_days():
    return [3, 10]


def default_channels():
    return [Channel.EMAIL]


class BusinessDayRule(models.TextChoices):
    NONE = "none", "No rolling"
    FOLLOWING = "following", "Following business day"
    PRECEDING = "preceding", "Preceding business day"
    MODIFIED_FOLLOWING = "modified_following", "Modified following"


class Client(models.Model):
    """A client company of the BPO: the tenant, with its reconciliation and service policy."""

    code = models.CharField(
        max_length=12,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z][A-Z0-9]{1,11}$",
                "2 to 12 capital letters or digits, starting with a letter (e.g. ACME).",
            )
        ],
        help_text="Short code used in URLs and payment references, e.g. ACME.",
    )
    name = models.CharField(max_length=200)
    currency = currency_field(default="USD", help_text="Default currency (ISO 4217).")
    timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone], help_text="IANA time zone."
    )
    country = models.CharField(
        max_length=2,
        default="US",
        validators=[validate_country],
        help_text="Country whose working week and public (and bank) holidays set the business days (ISO 3166 alpha-2).",
    )
    subdivision = models.CharField(
        max_length=20,
        blank=True,
        help_text="State, nation or Land whose own holidays also close banks, e.g. ENG (England) in GB, VIC in AU, BY in DE.",
    )
    is_active = models.BooleanField(default=True)
    business_day_rule = models.CharField(
        max_length=20,
        choices=BusinessDayRule.choices,
        default=BusinessDayRule.FOLLOWING,
        help_text="Where a due date moves when the bank is closed that day (weekend, holiday, closure day).",
    )
    payment_instructions = models.TextField(
        blank=True,
        help_text="How customers pay (bank details, portal link); quoted in reminders.",
    )

    # Matching policy.
    match_tolerance_amount = money_field(
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="A payment within this absolute amount of what is due counts as exact.",
    )
    match_tolerance_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="... or within this percentage of what is due (the larger tolerance wins).",
    )
    payment_window_days_before = models.PositiveSmallIntegerField(
        default=5,
        validators=[MaxValueValidator(60)],
        help_text="A payment may arrive this many days before its due date and still match.",
    )
    payment_window_days_after = models.PositiveSmallIntegerField(
        default=10,
        validators=[MaxValueValidator(90)],
        help_text="... or this many days after it.",
    )
    grace_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(90)],
        help_text="Days after the due date before an unpaid payment is overdue / missing.",
    )
    duplicate_window_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(90)],
        help_text="A second payment of the same amount by the same payer within these days is a duplicate.",
    )

    # Reminder policy.
    reminder_lead_days = models.JSONField(
        default=default_lead_days,
        validators=[validate_day_list],
        help_text="Days before the due date to remind, e.g. [7, 1].",
    )
    reminder_overdue_days = models.JSONField(
        default=default_overdue_days,
        validators=[validate_day_list],
        help_text="Days after the due date to remind of a missed payment, e.g. [3, 10].",
    )
    reminder_channels = models.JSONField(
        default=default_channels,
        validators=[validate_channels],
        help_text='Channels to use, of "email" and "sms".',
    )
    reminder_hours_start = models.TimeField(
        default=dt.time(8, 0), help_text="Reminders go out no earlier than this, customer's time."
    )
    reminder_hours_end = models.TimeField(
        default=dt.time(21, 0), help_text="... and no later than this."
    )

    # Service levels for discrepancies, in hours to resolution.
    sla_hours_critical = models.PositiveIntegerField(default=4, validators=[MinValueValidator(1)])
    sla_hours_high = models.PositiveIntegerField(default=24, validators=[MinValueValidator(1)])
    sla_hours_medium = models.PositiveIntegerField(default=72, validators=[MinValueValidator(1)])
    sla_hours_low = models.PositiveIntegerField(default=168, validators=[MinValueValidator(1)])

    # Discrepancy priority: by the amount at stake, raised one level for each step of age.
    priority_medium_amount = money_field(
        default=Decimal("50.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="A discrepancy of at least this amount is medium priority (below: low).",
    )
    priority_high_amount = money_field(
        default=Decimal("500.00"), validators=[MinValueValidator(Decimal("0"))], help_text="... high from this amount."
    )
    priority_critical_amount = money_field(
        default=Decimal("5000.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="... critical from this amount.",
    )
    priority_age_step_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="An unresolved discrepancy goes up one priority level for each this many days of age.",
    )

    statement_accounts_listed_only = models.BooleanField(
        "Only listed bank accounts",
        default=False,
        help_text=(
            "Refuse a bank statement for an account not yet listed under the client's bank accounts. "
            "Off: a statement for a new account is accepted and the account listed."
        ),
    )

    adjustment_approval_threshold = money_field(
        default=Decimal("100.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=(
            "Adjustments need a supervisor's approval when, with the others on the same scheduled payment "
            "in the approval window, they come to more than this amount."
        ),
    )
    adjustment_approval_window_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=(
            "The adjustments (applied or pending, by anyone) on one scheduled payment in this many days "
            "are added up against the approval threshold, so that one large adjustment cannot be split into small ones."
        ),
    )

    # Autopay returns (NACHA R01, R09: insufficient or uncollected funds).
    autopay_retry_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(30)],
        help_text="An autopay debit returned for insufficient funds is tried again this many business days later.",
    )
    autopay_max_retries = models.PositiveSmallIntegerField(
        default=2,
        validators=[MaxValueValidator(2)],
        help_text="How often a returned debit is tried again (NACHA allows two retries).",
    )

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reminder_hours_start__lt=models.F("reminder_hours_end")),
                name="client_reminder_hours_ordered",
                violation_error_message="Reminder hours must start before they end.",
            ),
            models.CheckConstraint(
                condition=Q(sla_hours_critical__lte=models.F("sla_hours_high"))
                & Q(sla_hours_high__lte=models.F("sla_hours_medium"))
                & Q(sla_hours_medium__lte=models.F("sla_hours_low")),
                name="client_sla_hours_ordered",
                violation_error_message=(
                    "SLA hours must not grow with priority: critical <= high <= medium <= low."
                ),
            ),
            models.CheckConstraint(
                condition=Q(priority_medium_amount__lte=models.F("priority_high_amount"))
                & Q(priority_high_amount__lte=models.F("priority_critical_amount")),
                name="client_priority_amounts_ordered",
                violation_error_message="Priority amounts must grow: medium <= high <= critical.",
            ),
            models.CheckConstraint(
                condition=Q(match_tolerance_amount__gte=0)
                & Q(match_tolerance_percent__gte=0)
                & Q(match_tolerance_percent__lte=100)
                & Q(adjustment_approval_threshold__gte=0),
                name="client_policy_amounts_valid",
            ),
        ]

    def __str__(self):
        return f"{self.code} · {self.name}"

    def clean(self):
        super().clean()
        # An unknown country is already the country field's error.
        if self.subdivision and self.country in holidays.list_supported_countries():
            try:
                self.subdivision = country_subdivision(self.country, self.subdivision)
            except ValidationError as exc:
                raise ValidationError({"subdivision": exc}) from None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def sla_hours(self, priority: str) -> int:
        return getattr(self, f"sla_hours_{priority}")


class BankClosureDay(models.Model):
    """A day the client's bank is closed though it is no public holiday (a strike, a bank's own
    holiday): due dates roll off it like off a holiday."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="bank_closure_days")
    date = models.DateField()
    name = models.CharField(max_length=100, help_text="Why the bank is closed, e.g. Bank staff day.")

    class Meta:
        ordering = ["client", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "date"],
                name="bank_closure_day_once_per_client",
                violation_error_message="This day is already a bank closure day of the client.",
            )
        ]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.name}"


class Role(models.TextChoices):
    AGENT = "agent", "Agent"
    SUPERVISOR = "supervisor", "Supervisor"
    AUDITOR = "auditor", "Auditor"


class Membership(models.Model):
    """A user's role for one client; a user may have different roles for different clients."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client__code", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "user"],
                name="membership_one_role_per_client",
                violation_error_message="This user already has a role for this client.",
            )
        ]
        indexes = [
            # access.memberships_for(user): every request looks up the user's memberships.
            models.Index(fields=["user", "client"], name="membership_user_idx"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_role_display()} of {self.client.code}"


class Customer(models.Model):
    """A client's payer, as the client's CRM knows them."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="customers")
    external_ref = models.CharField(
        "CRM reference", max_length=64, help_text="The customer's id in the client's CRM."
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(
        max_length=20,
        blank=True,
        validators=[
            RegexValidator(r"^\+[1-9]\d{6,14}$", "Use international format, e.g. +14155550123.")
        ],
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="Customer's time zone for reminders; blank uses the client's.",
    )
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    bank_account = EncryptedTextField(blank=True)
    bank_account_last4 = models.CharField(max_length=4, blank=True, editable=False)
    bank_account_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Optimistic concurrency: a change made on a page that showed an older version is refused.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "external_ref"],
                name="customer_unique_external_ref",
                violation_error_message="A customer with this CRM reference already exists.",
            ),
            models.CheckConstraint(
                condition=Q(email_consent=False) | Q(email_consent_at__isnull=False),
                name="customer_email_consent_dated",
            ),
            models.CheckConstraint(
                condition=Q(sms_consent=False) | Q(sms_consent_at__isnull=False),
                name="customer_sms_consent_dated",
            ),
        ]
        indexes = [
            # Matching a payer's account to a customer: WHERE client_id = ? AND bank_account_hash = ?
            models.Index(
                fields=["client", "bank_account_hash"],
                name="customer_account_lookup_idx",
                condition=~Q(bank_account_hash=""),
            ),
            models.Index(fields=["client", "name"], name="customer_name_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.external_ref})"

    def get_absolute_url(self):
        return reverse("customer_detail", args=[self.client.code, self.pk])

    @property
    def bank_account_masked(self) -> str:
        return masked(self.bank_account_last4)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone or self.client.timezone)


class ImportFormat(models.TextChoices):
    CAMT052 = "camt052", "ISO 20022 camt.052"
    CAMT053 = "camt053", "ISO 20022 camt.053"
    CAMT054 = "camt054", "ISO 20022 camt.054"
    OFX = "ofx", "OFX / QFX"
    MT940 = "mt940", "SWIFT MT940"
    MT942 = "mt942", "SWIFT MT942"
    BAI2 = "bai2", "BAI2"
    NACHA = "nacha", "NACHA"
    CSV = "csv", "CSV"


class ImportStatus(models.TextChoices):
    STORED = "stored", "Stored"
    VOIDED = "voided", "Voided"


class PaymentImport(models.Model):
    """One bank or processor file loaded into the ledger; the same file is never loaded twice."""

    # No single-column index: import_client_time_idx (client, -created_at) leads with client_id.
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="imports", db_index=False)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=16, choices=ImportFormat.choices)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    source = models.CharField(
        max_length=32, default="upload", help_text="upload, command or a job name"
    )
    statements_count = models.PositiveIntegerField(default=0)
    entries_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(
        default=0, help_text="Entries already in the ledger from an earlier, overlapping file."
    )
    pending_count = models.PositiveIntegerField(
        default=0, help_text="Pending and information-only entries: listed, never payments."
    )
    notices_count = models.PositiveIntegerField(default=0, help_text="Notices for a person to act on.")
    warnings_count = models.PositiveIntegerField(default=0)
    confirmed_count = models.PositiveIntegerField(
        default=0, help_text="Bank lines that confirmed a payment recorded by hand (no second payment)."
    )
    replaced_count = models.PositiveIntegerField(
        default=0, help_text="Batch lines replaced by (or already replaced with) the batch's details."
    )
    # {"EUR": "1234.50", ...}: the stored payments' sum per currency, as text.
    totals = models.JSONField(default=dict, blank=True)
    accounts = models.JSONField(default=list, blank=True)
    mapping_name = models.CharField(max_length=100, blank=True, help_text="The CSV column mapping used.")
    status = models.CharField(max_length=8, choices=ImportStatus.choices, default=ImportStatus.STORED)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A voided import frees its file: imported by mistake, it may come in again.
            models.UniqueConstraint(
                fields=["client", "sha256"],
                condition=Q(status="stored"),
                name="import_unique_file",
                violation_error_message="This file has already been imported.",
            )
        ]
        indexes = [
            # The imports page: WHERE client_id = ? ORDER BY created_at DESC
            models.Index(fields=["client", "-created_at"], name="import_client_time_idx"),
        ]

    def __str__(self):
        return f"{self.file_name} ({self.get_format_display()})"


class PaymentKind(models.TextChoices):
    CREDIT = "credit", "Credit"
    REVERSAL = "reversal", "Reversal / return"
    CHARGEBACK = "chargeback", "Chargeback"
    REFUND = "refund", "Refund"
    FEE = "fee", "Bank fee"
    DEBIT = "debit", "Other debit"


class PaymentSource(models.TextChoices):
    """How a payment came into the ledger."""

    BANK_FILE = "bank_file", "Bank file"
    MANUAL = "manual", "Manual"
    API = "api", "API"


# The source account of payments recorded by hand; their bank_transaction_id is "manual-<uuid>",
# so they satisfy payment_unique_bank_transaction like any statement line.
MANUAL_SOURCE_ACCOUNT = "manual"


class Payment(models.Model):
    """Money actually received (positive) or taken back (negative), however it was recorded."""

    # No single-column index: payment_client_date_idx (client, value_date) leads with client_id.
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="payments", db_index=False)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    payment_import = models.ForeignKey(
        PaymentImport, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    source = models.CharField(max_length=16, choices=PaymentSource.choices, default=PaymentSource.BANK_FILE)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who recorded it by hand (manual payments; a system job leaves it empty).",
    )
    kind = models.CharField(max_length=16, choices=PaymentKind.choices, default=PaymentKind.CREDIT)
    amount = money_field(help_text="Signed: a reversal or chargeback is negative.")
    currency = currency_field()
    value_date = models.DateField()
    booking_date = models.DateField(null=True, blank=True)
    source_account = models.CharField(
        max_length=64, help_text="The receiving account as the statement names it."
    )
    bank_transaction_id = models.CharField(max_length=128)
    payer_name = models.CharField(max_length=200, blank=True)
    payer_account = EncryptedTextField(blank=True)
    payer_account_last4 = models.CharField(max_length=4, blank=True)
    payer_account_hash = models.CharField(max_length=64, blank=True)
    reference = models.CharField(max_length=500, blank=True)
    remittance = models.TextField(blank=True, help_text="The payer's free remittance text.")
    bank_code = models.CharField(max_length=64, blank=True, help_text="The bank's transaction code.")
    return_code = models.CharField(max_length=16, blank=True, help_text="Reason of a return: R01, AC06, ...")
    entry_ref = models.CharField(
        max_length=128, blank=True, help_text="The bank entry this line belongs to (a batch's reference)."
    )
    batch_detail = models.BooleanField(
        default=False, help_text="One payment of the details of a batch entry (camt TxDtls, camt.054)."
    )
    notes = models.CharField(max_length=500, blank=True, help_text='Such as "ACH, subject to return".')
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        db_index=False,  # payment_reverses_idx: only the few that reverse something
        on_delete=models.PROTECT,
        related_name="reversals",
        help_text="The earlier payment this return, reversal or chargeback takes back.",
    )
    # A payment recorded by hand that a bank line later carried: the line's key, so that the
    # same line in a later file is known and never becomes a second payment.
    confirmed_import = models.ForeignKey(
        PaymentImport, null=True, blank=True, on_delete=models.PROTECT, related_name="confirmations",
        db_index=False,  # payment_confirmed_import_idx: only the few confirmed
    )
    confirmed_source_account = models.CharField(max_length=64, blank=True)
    confirmed_transaction_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-value_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "source_account", "bank_transaction_id"],
                name="payment_unique_bank_transaction",
                violation_error_message="This bank transaction is already in the ledger.",
            ),
            models.UniqueConstraint(
                fields=["client", "confirmed_source_account", "confirmed_transaction_id"],
                condition=~Q(confirmed_transaction_id=""),
                name="payment_unique_confirmation",
                violation_error_message="This bank line already confirms another payment.",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="payment_amount_nonzero"),
        ]
        indexes = [
            # Payments list and the matcher's window: WHERE client_id = ? AND value_date BETWEEN ...
            models.Index(fields=["client", "value_date"], name="payment_client_date_idx"),
            models.Index(fields=["client", "customer"], name="payment_client_customer_idx"),
            # A batch's details replacing its line: WHERE client_id = ? AND source_account = ? AND entry_ref = ?
            models.Index(
                fields=["client", "source_account", "entry_ref"],
                name="payment_entry_ref_idx",
                condition=~Q(entry_ref=""),
            ),
            # Partial: most payments reverse nothing and confirm nothing, and a bulk import should
            # not pay for index entries of NULLs. Voiding an import looks them up.
            models.Index(fields=["reverses"], name="payment_reverses_idx", condition=Q(reverses__isnull=False)),
            models.Index(
                fields=["confirmed_import"], name="payment_confirmed_import_idx",
                condition=Q(confirmed_import__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.currency} {self.amount} on {self.value_date} ({self.bank_transaction_id})"

    @property
    def payer_account_masked(self) -> str:
        return masked(self.payer_account_last4)


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise TypeError("Audit events are append-only: they cannot be deleted.")


class AuditEvent(models.Model):
    """One entry of a client's append-only, hash-chained audit trail.

    hash = sha256(prev_hash + canonical JSON of the event); see bpo_ledger.audit.
    """

    # No single-column index: audit_chain_linear (client, seq) leads with client_id.
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="audit_events", db_index=False
    )
    seq = models.PositiveBigIntegerField(help_text="Position in the client's chain, from 1.")
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    actor_label = models.CharField(
        max_length=150, help_text="The user's name, or the system job that acted."
    )
    verb = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    details = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["client", "seq"]
        constraints = [
            # A second writer that read the same chain head fails here instead of forking the chain.
            models.UniqueConstraint(fields=["client", "seq"], name="audit_chain_linear"),
        ]
        indexes = [
            # Timelines: WHERE client_id = ? AND subject_type = ? AND subject_id = ? ORDER BY seq DESC
            models.Index(
                fields=["client", "subject_type", "subject_id", "seq"], name="audit_subject_idx"
            ),
            models.Index(fields=["client", "created_at"], name="audit_client_time_idx"),
        ]

    def __str__(self):
        return f"{self.client_id}#{self.seq} {self.verb} {self.subject_type}:{self.subject_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Audit events are append-only: they cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only: they cannot be deleted.")

    @property
    def subject_label(self) -> str:
        return self.details.get("subject_label") or f"{self.subject_type} {self.subject_id}"
