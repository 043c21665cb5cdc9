import uuid
from decimal import Decimal

from django import forms
from django.core.validators import RegexValidator

from bpo_ledger.forms import ProjectForm, version_field
from bpo_ledger.models import Customer, Payment
from bpo_ledger.money import validate_currency
from schedules.models import ScheduledPayment

from .models import AdjustmentType, Discrepancy, DiscrepancyKind, MismatchField, Priority, RootCause
from .services import ACTION_LABELS, ATTACHMENT_TYPES, REASON_REQUIRED, attachment_limit_text

ROOT_CAUSES = [("", "Not known yet")] + RootCause.choices


class ReferenceLookupForm(ProjectForm):
    """Customer and scheduled payment typed as references, looked up in this client only."""

    # One token per page load: the item's fingerprint, so a double submit logs it once.
    token = forms.CharField(
        widget=forms.HiddenInput, required=False, validators=[RegexValidator(r"^[0-9a-f]{32}$")]
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client
        self.fields["token"].initial = uuid.uuid4().hex

    @property
    def fingerprint(self) -> str:
        token = self.cleaned_data.get("token")
        return f"form:{token}" if token else ""

    def clean_customer_ref(self):
        ref = self.cleaned_data["customer_ref"].strip()
        if not ref:
            return None
        customer = Customer.objects.filter(client=self.client, external_ref=ref).first()
        if customer is None:
            raise forms.ValidationError(f"{self.client.code} has no customer with CRM reference {ref}.")
        return customer

    def clean_scheduled_payment_ref(self):
        ref = self.cleaned_data["scheduled_payment_ref"].strip().upper()
        if not ref:
            if self.fields["scheduled_payment_ref"].required:
                raise forms.ValidationError("Give the reference of the expected payment.")
            return None
        payment = (
            ScheduledPayment.objects.filter(client=self.client, reference=ref).select_related("schedule__customer").first()
        )
        if payment is None:
            raise forms.ValidationError(f"{self.client.code} has no scheduled payment {ref}.")
        return payment


class DiscrepancyForm(ReferenceLookupForm):
    """An item logged by hand, e.g. from a customer call."""

    kind = forms.ChoiceField(
        choices=[("", "Choose the kind")] + DiscrepancyKind.choices,
        help_text="A write-off, amount correction or manual match that should change a balance: request an adjustment instead.",
    )
    summary = forms.CharField(max_length=300, help_text="One line: what is wrong.")
    customer_ref = forms.CharField(
        max_length=64, required=False, label="Customer CRM reference",
        help_text="Blank: taken from the scheduled payment, or none.",
    )
    scheduled_payment_ref = forms.CharField(
        max_length=40, required=False, label="Scheduled payment reference", help_text="E.g. ACME-000123-03; optional."
    )
    amount_expected = forms.DecimalField(max_digits=18, decimal_places=2, required=False, label="Amount expected")
    amount_actual = forms.DecimalField(max_digits=18, decimal_places=2, required=False, label="Amount received")
    currency = forms.CharField(max_length=8, required=False, help_text="ISO 4217, e.g. USD; blank: the client's currency.")
    mismatch_field = forms.ChoiceField(
        choices=[("", "—")] + MismatchField.choices, required=False, label="Mismatched field",
        help_text="Mismatches only: what does not match.",
    )
    root_cause = forms.ChoiceField(choices=ROOT_CAUSES, required=False)

    def clean_currency(self):
        currency = self.cleaned_data["currency"].strip().upper()
        if currency:
            validate_currency(currency)
        return currency


class AdjustmentForm(ReferenceLookupForm):
    adjustment_type = forms.ChoiceField(choices=[("", "Choose the adjustment")] + AdjustmentType.choices, label="Adjustment")
    scheduled_payment_ref = forms.CharField(max_length=40, label="Scheduled payment reference", help_text="E.g. ACME-000123-03.")
    amount = forms.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal("0.01"), required=False,
        help_text="Write-off: the amount written off. Correction: the new amount due. Manual match: taken from the payment.",
    )
    bank_transaction_id = forms.CharField(
        max_length=128, required=False, label="Received payment (bank transaction id)", help_text="Manual match only."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="The approver reads it.")
    root_cause = forms.ChoiceField(choices=ROOT_CAUSES, required=False)

    field_order = ["adjustment_type", "scheduled_payment_ref", "amount", "bank_transaction_id", "reason", "root_cause"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scheduled_payment_ref"].required = True

    def clean(self):
        data = super().clean()
        kind = data.get("adjustment_type")
        if kind == AdjustmentType.MANUAL_MATCH:
            txn = (data.get("bank_transaction_id") or "").strip()
            found = list(Payment.objects.filter(client=self.client, bank_transaction_id=txn)[:2]) if txn else []
            if len(found) != 1:
                self.add_error("bank_transaction_id", "Give the bank transaction id of one received payment of this client.")
            else:
                data["payment"] = found[0]  # the service settles what it can of the payment's amount
        elif kind and data.get("amount") is None:
            self.add_error("amount", "Give the amount.")
        return data


# --- Actions on one item: every form carries the version the user saw. ------------------


class ActionForm(ProjectForm):
    version = version_field()

    def __init__(self, *args, discrepancy: Discrepancy, action: str, **kwargs):
        # Several forms share one page: ids carry the action so that every label is unique.
        kwargs.setdefault("auto_id", f"id_{action}_%s")
        kwargs.setdefault("initial", {}).setdefault("version", discrepancy.version)
        super().__init__(*args, **kwargs)
        self.discrepancy, self.action = discrepancy, action


class TransitionForm(ActionForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The steps the service refuses without a reason ask for one.
        if self.action in REASON_REQUIRED:
            self.fields["reason"].required = True
            self.fields["reason"].label = f"Why {ACTION_LABELS[self.action].lower()}"
            self.fields["reason"].help_text = REASON_REQUIRED[self.action]
        else:
            self.fields["reason"].label = "Comment (optional)"
            self.fields["reason"].widget = forms.TextInput()


class ResolveForm(ActionForm):
    resolution_code = forms.ChoiceField(label="Resolution")
    resolution_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="What was done")
    root_cause = forms.ChoiceField(choices=ROOT_CAUSES, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the resolutions that fit this kind of discrepancy.
        self.fields["resolution_code"].choices = self.discrepancy.resolution_choices
        self.fields["root_cause"].initial = self.discrepancy.root_cause


class NoteForm(ActionForm):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Note")


class AttachForm(ActionForm):
    file = forms.FileField(label="Evidence file")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What the service takes, said and offered as it checks it.
        kinds = [extension[1:].upper() for extension in ATTACHMENT_TYPES]
        self.fields["file"].help_text = f"{', '.join(kinds[:-1])} or {kinds[-1]}; up to {attachment_limit_text()}."
        self.fields["file"].widget.attrs["accept"] = ",".join(ATTACHMENT_TYPES)


class AssignForm(ActionForm):
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody (back to the pool)")
    reason = forms.CharField(max_length=500, required=False, label="Reason (optional)")

    def __init__(self, *args, workers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = workers
        self.fields["assignee"].initial = self.discrepancy.assignee_id
        self.fields["assignee"].label_from_instance = lambda u: u.get_full_name() or u.get_username()


class PriorityForm(ActionForm):
    priority = forms.ChoiceField(choices=Priority.choices)
    reason = forms.CharField(max_length=500, help_text="Why the policy's priority does not fit.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["priority"].initial = self.discrepancy.priority


class NotifyForm(ActionForm):
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Personal message (optional)",
        help_text="Added to the standard email about the outstanding amount.",
    )


class DecisionForm(ActionForm):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Goes on the record.")


class BulkAssignForm(ProjectForm):
    """The items picked on a list (of the clients the user supervises) and who gets them."""

    ids = forms.ModelMultipleChoiceField(
        queryset=None, label="Items",
        error_messages={"required": "Pick at least one item.", "invalid_choice": "An item you picked is not in a client you supervise."},
    )
    assignee = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Nobody (back to the pool)",
        error_messages={"invalid_choice": "Choose who gets the items."},
    )
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, clients, workers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].queryset = Discrepancy.objects.filter(client__in=clients).select_related("client")
        self.fields["assignee"].queryset = workers

    def ids_by_client(self):
        """[(client, [ids])], one entry per client, in client order."""
        groups = {}
        for item in self.cleaned_data["ids"]:
            groups.setdefault(item.client, []).append(item.pk)
        return sorted(groups.items(), key=lambda group: group[0].code)
