"""Bank statements in: the client's accounts, its CSV column mappings, what each import held
besides payments (statements, pending entries, notices, warnings), and imports run as jobs.

Payments and the imports themselves (PaymentImport) live in the core ledger: discrepancies
refer to them too.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from bpo_ledger.models import Client, PaymentImport, currency_field, money_field

from .formats import Kind, StatementError
from .formats.csv import COLUMN_OPTIONS, SIGN_AS_IS, SIGN_DEBIT_CREDIT, SIGN_INVERTED, CsvOptions


class CsvSign(models.TextChoices):
    AS_IS = SIGN_AS_IS, "Signed as the client sees it (money in is positive)"
    INVERTED = SIGN_INVERTED, "Signed the other way round (money in is negative)"
    DEBIT_CREDIT = SIGN_DEBIT_CREDIT, "Separate debit and credit columns"


def validate_kinds(value) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError('Enter an object such as {"FEE": "fee", "RET": "reversal"}.')
    unknown = sorted(set(value.values()) - set(Kind))
    if unknown:
        raise ValidationError(f"Unknown kind {', '.join(unknown)}; use {', '.join(Kind)}.")


class CsvMapping(models.Model):
    """How one bank's CSV export of a client reads: saved once, chosen at each CSV import."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="csv_mappings")
    name = models.CharField(max_length=100, help_text="Such as \"Chase business checking export\".")
    account = models.CharField(
        max_length=64, blank=True, help_text="The client's account the files are statements of (when no account column)."
    )
    currency = currency_field(blank=True, help_text="Currency of lines whose currency column is empty (or when there is none).")
    encoding = models.CharField(max_length=32, default="utf-8", help_text="utf-8, cp1252, latin-1, ...")
    delimiter = models.CharField(max_length=1, default=",", help_text="One character; a tab is \\t.")
    quote = models.CharField(max_length=1, default='"')
    header_row = models.PositiveSmallIntegerField(
        default=1, help_text="The line number of the column titles (0: no titles, columns named by number from 1)."
    )
    date_format = models.CharField(max_length=32, default="%Y-%m-%d", help_text="strftime codes: %d.%m.%Y, %m/%d/%Y, ...")
    decimal_separator = models.CharField(max_length=1, default=".")
    thousands_separator = models.CharField(max_length=1, blank=True)
    sign = models.CharField(max_length=16, choices=CsvSign.choices, default=CsvSign.AS_IS)
    amount_column = models.CharField(max_length=100, blank=True)
    debit_column = models.CharField(max_length=100, blank=True)
    credit_column = models.CharField(max_length=100, blank=True)
    value_date_column = models.CharField(max_length=100)
    booking_date_column = models.CharField(max_length=100, blank=True)
    reference_column = models.CharField(max_length=100, blank=True)
    remittance_column = models.CharField(max_length=100, blank=True)
    payer_name_column = models.CharField(max_length=100, blank=True)
    payer_account_column = models.CharField(max_length=100, blank=True)
    transaction_id_column = models.CharField(
        max_length=100, blank=True, help_text="Empty: a stable key made of the line's own values (see the README)."
    )
    kind_column = models.CharField(max_length=100, blank=True, help_text="A column saying what kind of movement a line is.")
    kinds = models.JSONField(
        default=dict, blank=True, validators=[validate_kinds],
        help_text='Values of the kind column and what they mean: {"FEE": "fee", "RET": "reversal"}.',
    )
    currency_column = models.CharField(max_length=100, blank=True)
    account_column = models.CharField(max_length=100, blank=True, help_text="The client's account, when the file names it per line.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["client", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "name"], name="csv_mapping_unique_name",
                violation_error_message="This client already has a mapping of this name.",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.client.code})" if self.client_id else self.name

    def reader_options(self) -> dict:
        """The keywords of reconciliation.formats.csv.read."""
        options = {
            "account": self.account, "currency": self.currency, "encoding": self.encoding,
            "delimiter": "\t" if self.delimiter == "\\t" else self.delimiter, "quote": self.quote,
            "header_row": self.header_row, "date_format": self.date_format,
            "decimal_separator": self.decimal_separator, "thousands_separator": self.thousands_separator,
            "sign": self.sign, "kinds": dict(self.kinds or {}),
        }
        options.update({column: getattr(self, column) for column in COLUMN_OPTIONS})
        return options

    def clean(self):
        try:
            CsvOptions.from_options(self.reader_options())
        except StatementError as exc:
            raise ValidationError(exc.message) from None


class BankAccount(models.Model):
    """An account of the client that statements come for; its statements' running numbers."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="bank_accounts")
    account = models.CharField(max_length=64, help_text="As the bank's files name it: IBAN, account number, ...")
    currency = currency_field(blank=True)
    name = models.CharField(max_length=100, blank=True)
    first_seen_at = models.DateTimeField(null=True, blank=True, help_text="When its first statement came in.")
    first_import = models.ForeignKey(
        PaymentImport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_sequence = models.CharField(max_length=35, blank=True, help_text="The running number of its latest statement.")
    last_statement_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client", "account"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "account"], name="bank_account_unique",
                violation_error_message="This account is already listed for the client.",
            )
        ]

    def __str__(self):
        return f"{self.account} ({self.currency})" if self.currency else self.account


class ImportedStatement(models.Model):
    """One statement of an import, as the bank sent it, with a gap in its running numbers flagged."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    payment_import = models.ForeignKey(PaymentImport, on_delete=models.CASCADE, related_name="statements")
    account = models.CharField(max_length=64)
    currency = models.CharField(max_length=3, blank=True)
    statement_id = models.CharField(max_length=128, blank=True)
    sequence = models.CharField(max_length=35, blank=True)
    previous_sequence = models.CharField(
        max_length=35, blank=True, help_text="The account's running number before this statement."
    )
    sequence_gap = models.BooleanField(default=False, help_text="Statements are missing between the two numbers.")
    created = models.DateField(null=True, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    opening_balance = money_field(null=True, blank=True)
    closing_balance = money_field(null=True, blank=True)
    entries_count = models.PositiveIntegerField(default=0)
    place = models.CharField(max_length=200, blank=True, help_text="Where in the file: line, element path.")

    class Meta:
        ordering = ["payment_import", "id"]
        indexes = [
            # Gaps across imports: WHERE client_id = ? AND account = ? ORDER BY id
            models.Index(fields=["client", "account"], name="statement_account_idx"),
        ]

    def __str__(self):
        return f"{self.account} {self.statement_id or ''} #{self.sequence or '-'}"


class ItemKind(models.TextChoices):
    PENDING = "pending", "Pending entry"
    INFO = "info", "Information only"
    NOTICE = "notice", "Notice to act on"
    WARNING = "warning", "Warning"
    REPLACED = "replaced", "Batch line replaced by its details"


class ImportItem(models.Model):
    """What an import held besides payments: entries not booked, notices, warnings, replacements."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    payment_import = models.ForeignKey(PaymentImport, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=ItemKind.choices)
    account = models.CharField(max_length=64, blank=True)
    code = models.CharField(max_length=16, blank=True, help_text="A notice's code, such as C01.")
    message = models.TextField(blank=True)
    amount = money_field(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    value_date = models.DateField(null=True, blank=True)
    bank_transaction_id = models.CharField(max_length=128, blank=True)
    reference = models.CharField(max_length=500, blank=True)
    payer_name = models.CharField(max_length=200, blank=True)
    corrected = models.JSONField(default=dict, blank=True, help_text="A notice's corrected data.")
    # A replaced batch line as it was stored, so that voiding the import puts it back.
    snapshot = models.JSONField(default=dict, blank=True)
    deadline = models.DateField(null=True, blank=True, help_text="A notice's date to act by.")
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    place = models.CharField(max_length=200, blank=True, help_text="Where in the file: line, element path.")

    class Meta:
        ordering = ["payment_import", "id"]
        indexes = [
            # Open notices of a client: WHERE client_id = ? AND kind = 'notice' AND done_at IS NULL
            models.Index(
                fields=["client", "deadline"], name="import_item_open_notice_idx",
                condition=Q(kind="notice", done_at__isnull=True),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.message[:60]}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Imported"
    FAILED = "failed", "Refused"


class ImportJob(models.Model):
    """A large file imported by a worker: the upload waits here, with the outcome afterwards."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    file_name = models.CharField(max_length=255)
    path = models.CharField(max_length=500, help_text="Where the upload waits, under MEDIA_ROOT.")
    size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=16, blank=True, help_text="Empty: detected from the content.")
    mapping = models.ForeignKey(CsvMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True)
    rows_read = models.PositiveBigIntegerField(default=0)
    rows_stored = models.PositiveBigIntegerField(default=0)
    payment_import = models.ForeignKey(PaymentImport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "-created_at"], name="import_job_client_time_idx")]

    def __str__(self):
        return f"{self.file_name} ({self.get_status_display()})"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    NIGHTLY = "nightly", "Nightly"
    MANUAL = "manual", "Reconcile now"
    COMMAND = "command", "Command line"


class ReconciliationRun(models.Model):
    """One reconciliation of a client as of a date: what went in, what matched, what was found."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    as_of = models.DateField(help_text="The client's local date the run reconciles up to.")
    trigger = models.CharField(max_length=8, choices=RunTrigger.choices, default=RunTrigger.NIGHTLY)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Who asked for it (reconcile now); empty for the nightly job and the command.",
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Seconds per phase: {"read": 1.2, "match": 3.4, "write": 2.1}.
    phase_seconds = models.JSONField(default=dict, blank=True)
    # payments_in, expected_in, matched_<rule>, settled, findings_<kind>, logged, already_logged,
    # resolved, unallocated, waiting: see reconciliation.matching.Result.counts.
    counts = models.JSONField(default=dict, blank=True)
    # The accounts whose statements a "missing" waits for: [{"account": ..., "through": "2026-01-05"}].
    waiting_for = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # Runs list and "the last run of this date": WHERE client_id = ? ORDER BY started_at DESC
            models.Index(fields=["client", "-started_at"], name="run_client_time_idx"),
            models.Index(fields=["client", "as_of"], name="run_client_as_of_idx"),
        ]

    def __str__(self):
        return f"run {self.pk} of {self.as_of} ({self.get_status_display()})"

    @property
    def detected_by(self) -> str:
        """What the discrepancies this run logged say in their detected_by."""
        return f"run:{self.pk}"


class CreditRefund(models.Model):
    """A known customer's credit (the unallocated rest of a payment) paid back by a supervisor,
    so that the next run no longer applies it to their next due payment."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    customer = models.ForeignKey("bpo_ledger.Customer", on_delete=models.PROTECT, related_name="credit_refunds")
    payment = models.ForeignKey("bpo_ledger.Payment", on_delete=models.PROTECT, related_name="credit_refunds")
    amount = money_field()
    reason = models.CharField(max_length=500)
    refunded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="credit_refund_positive")]
        indexes = [models.Index(fields=["client", "payment"], name="credit_refund_payment_idx")]

    def __str__(self):
        return f"{self.amount} refunded of payment {self.payment_id}"


class UndoneAllocation(models.Model):
    """Part of an allocation a run took back because the payment was reversed, returned or
    charged back: the record that the reversal was acted on, and what it reopened."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="undone_allocations")
    # Voiding the import of either payment takes the record with it: with the reversal gone the
    # money is there again, and the next run matches it anew.
    payment = models.ForeignKey("bpo_ledger.Payment", on_delete=models.CASCADE, related_name="+")
    scheduled_payment = models.ForeignKey("schedules.ScheduledPayment", on_delete=models.PROTECT, related_name="+")
    reversal = models.ForeignKey("bpo_ledger.Payment", on_delete=models.CASCADE, related_name="+", db_index=False)
    amount = money_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="undone_allocation_positive")]
        indexes = [
            # The run's read: reversals not yet acted on, WHERE client_id = ? AND reversal_id = p.id
            models.Index(fields=["client", "reversal"], name="undone_allocation_reversal_idx"),
        ]

    def __str__(self):
        return f"{self.amount} of payment {self.payment_id} taken back by {self.reversal_id}"
