import datetime as dt
from decimal import Decimal

from django import forms

from bpo_ledger.clock import client_today
from bpo_ledger.forms import ProjectForm, version_field
from bpo_ledger.models import Customer, Membership, Role

from .models import (
    OPEN_PAYMENT_STATUSES,
    AutopayMethod,
    DeferralReason,
    PaymentMethod,
    PaymentSchedule,
    ScheduledPayment,
    ScheduleKind,
)
from .services import (
    INQUIRY_CHANNELS,
    KIND_FIELDS,
    DeferScope,
    ScheduleSpec,
    schedule_anchor_day,
    schedule_date_range,
    schedule_step_needs_reason,
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class ScheduleForm(ProjectForm):
    """Create a schedule of one kind: only that kind's fields are on the form."""

    customer = forms.ModelChoiceField(queryset=Customer.objects.none())
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=Decimal("0.01"))
    currency = forms.CharField(max_length=3, required=False, help_text="Blank: the client's currency.")
    start_date = forms.DateField(widget=DateInput())
    method = forms.ChoiceField(choices=PaymentMethod.choices, initial=PaymentMethod.BANK_TRANSFER)
    frequency = forms.ChoiceField(choices=PaymentSchedule._meta.get_field("frequency").choices)
    interval = forms.IntegerField(min_value=1, max_value=24, initial=1, help_text="Every N cycles.")
    anchor_day = forms.IntegerField(
        min_value=1, max_value=31, required=False,
        help_text="Day of the month payments fall on (31 = the month's last day). Blank: the start date's day.",
    )
    end_date = forms.DateField(widget=DateInput(), required=False, help_text="Blank: open-ended.")
    cycles = forms.IntegerField(min_value=1, required=False, help_text="Number of payments; blank: open-ended.")
    installment_count = forms.IntegerField(min_value=1, max_value=360, label="Number of installments")
    down_payment = forms.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal("0"), required=False, initial=Decimal("0.00"),
        help_text="Due on the start date; the rest is split into the installments.",
    )
    deferred_until = forms.DateField(widget=DateInput(), label="Deferred until")
    deferral_reason = forms.ChoiceField(choices=DeferralReason.choices)
    deferral_approved_by = forms.ModelChoiceField(queryset=Membership.objects.none(), label="Approved by")
    autopay_method = forms.ChoiceField(choices=AutopayMethod.choices, label="Collect from")
    autopay_account = forms.CharField(
        max_length=64, label="Account, card or wallet number", help_text="Stored encrypted, shown masked.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    mandate_reference = forms.CharField(max_length=64)
    mandate_consented_at = forms.DateField(widget=DateInput(), label="Date of consent")
    external_ref = forms.CharField(max_length=64, required=False, label="CRM reference")
    description = forms.CharField(max_length=200, required=False)

    COMMON = ("customer", "amount", "currency", "start_date", "method", "external_ref", "description")

    def __init__(self, *args, client, kind, **kwargs):
        super().__init__(*args, **kwargs)
        self.client, self.kind = client, kind
        keep = set(self.COMMON) | KIND_FIELDS[kind]
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        self.fields["customer"].queryset = Customer.objects.filter(client=client).order_by("name")
        if "deferral_approved_by" in self.fields:
            self.fields["deferral_approved_by"].queryset = (
                Membership.objects.filter(client=client, role=Role.SUPERVISOR).select_related("user")
            )
        if kind == ScheduleKind.AUTOPAY:
            del self.fields["method"]
        labels = {
            ScheduleKind.RECURRING: "Amount per payment",
            ScheduleKind.AUTOPAY: "Amount per collection",
            ScheduleKind.INSTALLMENT: "Total amount",
        }
        self.fields["amount"].label = labels.get(kind, "Amount")
        if kind == ScheduleKind.DEFERRED:
            self.fields["start_date"].label = "Originally due on"
        # The service refuses dates out of this range; the date picker offers none.
        low, high = schedule_date_range()
        for field in self.fields.values():
            if isinstance(field, forms.DateField):
                field.widget.attrs.update(min=low.isoformat(), max=high.isoformat())

    def spec(self) -> ScheduleSpec:
        data = self.cleaned_data
        values = {name: data[name] for name in self.fields if name in ScheduleSpec.__dataclass_fields__}
        if "deferral_approved_by" in data and data["deferral_approved_by"]:
            values["deferral_approved_by"] = data["deferral_approved_by"].user
        if data.get("mandate_consented_at"):
            values["mandate_consented_at"] = dt.datetime.combine(data["mandate_consented_at"], dt.time(), tzinfo=dt.UTC)
        if values.get("down_payment") is None:
            values.pop("down_payment", None)
        values["currency"] = (data.get("currency") or "").upper()
        for text in ("external_ref", "description", "autopay_account", "mandate_reference"):
            if text in values:
                values[text] = values[text] or ""
        return ScheduleSpec(kind=self.kind, **values)


class ScheduleStepForm(ProjectForm):
    """A step on a schedule: carries the version of the schedule the page showed, and asks for a
    reason where the services say the step needs one."""

    version = version_field()
    reason_field = "reason"  # the field the log's reason is taken from

    def __init__(self, *args, schedule, step, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["version"] = schedule.version
        if self.reason_field in self.fields:
            self.fields[self.reason_field].required = schedule_step_needs_reason(step)


class ReasonForm(ScheduleStepForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Goes on the schedule's log.")


class DeferForm(ReasonForm):
    until = forms.DateField(widget=DateInput(), label="New due date of the next payment")
    scope = forms.ChoiceField(
        choices=[(scope.value, scope.label) for scope in DeferScope], initial=DeferScope.NEXT,
        widget=forms.RadioSelect, label="Move",
    )
    reason_code = forms.ChoiceField(choices=DeferralReason.choices, label="Why")
    approved_by = forms.ModelChoiceField(
        queryset=Membership.objects.none(), required=False, help_text="The supervisor who agreed, if any."
    )

    field_order = ["until", "scope", "reason_code", "approved_by", "reason"]

    def __init__(self, *args, schedule, **kwargs):
        super().__init__(*args, schedule=schedule, **kwargs)
        self.fields["approved_by"].queryset = Membership.objects.filter(
            client=schedule.client_id, role=Role.SUPERVISOR
        ).select_related("user")
        if schedule.kind in (ScheduleKind.ONE_TIME, ScheduleKind.DEFERRED):
            del self.fields["scope"]  # one payment: there is nothing later to move
            return
        anchor = schedule_anchor_day(schedule)
        self.fields["scope"].help_text = (
            f"Later payments stay on day {anchor} of the month (or the month's last day), one cycle apart."
            if anchor
            else "Later payments follow the new date one cycle apart."
        )

    def clean(self):
        data = super().clean()
        data.setdefault("scope", DeferScope.NEXT.value)
        return data


class MethodForm(ReasonForm):
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    autopay_method = forms.ChoiceField(choices=[("", "keep")] + AutopayMethod.choices, required=False, label="Collect from")
    autopay_account = forms.CharField(
        max_length=64, required=False, label="New account, card or wallet number", help_text="Blank keeps the current one."
    )
    mandate_reference = forms.CharField(max_length=64, required=False, help_text="Blank keeps the current one.")

    field_order = ["method", "autopay_method", "autopay_account", "mandate_reference", "reason"]

    def __init__(self, *args, schedule, **kwargs):
        super().__init__(*args, schedule=schedule, **kwargs)
        self.fields["method"].initial = schedule.method
        if schedule.kind != ScheduleKind.AUTOPAY:
            for name in ("autopay_method", "autopay_account", "mandate_reference"):
                del self.fields[name]


class AmountForm(ReasonForm):
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=Decimal("0.01"), label="New amount")

    field_order = ["amount", "reason"]

    def __init__(self, *args, schedule, **kwargs):
        super().__init__(*args, schedule=schedule, **kwargs)
        self.fields["amount"].initial = schedule.amount
        self.fields["amount"].help_text = (
            "The new total of the plan, spread over the future unpaid installments."
            if schedule.kind == ScheduleKind.INSTALLMENT
            else "Applies to future unpaid payments only."
        )


class InquiryForm(ScheduleStepForm):
    channel = forms.ChoiceField(choices=[(c, c.replace("_", " ").capitalize()) for c in INQUIRY_CHANNELS])
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What the customer asked or said.")
    outcome = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="What was agreed or done.")


class _PaymentChoiceForm(ScheduleStepForm):
    scheduled_payment = forms.ModelChoiceField(queryset=ScheduledPayment.objects.none(), label="Payment")

    def __init__(self, *args, schedule, **kwargs):
        super().__init__(*args, schedule=schedule, **kwargs)
        open_payments = ScheduledPayment.objects.filter(schedule=schedule, status__in=OPEN_PAYMENT_STATUSES).order_by("sequence")
        field = self.fields["scheduled_payment"]
        field.queryset = open_payments
        field.label_from_instance = lambda p: (
            f"{p.reference} · due {p.due_date:%Y-%m-%d} · {p.amount_outstanding} outstanding ({p.get_status_display().lower()})"
        )
        first = open_payments.first()
        if first:
            field.initial = first.pk


class RecordPaymentForm(_PaymentChoiceForm):
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=Decimal("0.01"))
    paid_on = forms.DateField(widget=DateInput(), label="Paid on")
    method = forms.ChoiceField(choices=PaymentMethod.choices)
    note = forms.CharField(
        max_length=500, label="Reason / receipt", help_text="Why it is recorded by hand: receipt number, who took it."
    )

    reason_field = "note"

    def __init__(self, *args, schedule, **kwargs):
        super().__init__(*args, schedule=schedule, **kwargs)
        # The day the client's staff live in, not the server's: near midnight UTC they differ.
        self.fields["paid_on"].initial = client_today(schedule.client)
        self.fields["paid_on"].help_text = f"The day the money was received, in {schedule.client.timezone}."


class FailPaymentForm(_PaymentChoiceForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text="E.g. the bank's return reason: R01 insufficient funds."
    )
