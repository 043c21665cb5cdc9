from django import forms
from django.core.exceptions import ValidationError

from .models import Customer


class ProjectForm(forms.Form):
    """The project's form base: labels without a trailing colon, like the rest of the app."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ProjectModelForm(forms.ModelForm):
    """ProjectForm for a model; the model is validated by the service, with the change applied."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def _post_clean(self):
        pass


def add_service_errors(form: forms.Form, exc: ValidationError, renamed: dict | None = None) -> None:
    """Show a service's ValidationError on the form: each field's errors by the field (a field
    the service names differently mapped through `renamed`), the rest at the top."""
    renamed = renamed or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        field = renamed.get(field, field)
        form.add_error(field if field in form.fields else None, errors)


def version_field() -> forms.IntegerField:
    """The version of the row the user saw; a service refuses the change when it moved on."""
    return forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class CustomerForm(ProjectModelForm):
    bank_account = forms.CharField(
        required=False,
        max_length=64,
        label="Bank account (IBAN or account number)",
        help_text="Stored encrypted and shown masked. Leave blank to keep the current account.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    remove_bank_account = forms.BooleanField(required=False, label="Remove the bank account")
    reason = forms.CharField(
        required=False,
        max_length=500,
        help_text="Why the change (shown on the customer's log).",
    )
    version = version_field()

    class Meta:
        model = Customer
        fields = ["external_ref", "name", "email", "phone", "timezone", "email_consent", "sms_consent"]
        help_texts = {"phone": "International format, e.g. +14155550123."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The stored number is never sent back to the browser.
            self.initial.pop("bank_account", None)
            if self.instance.bank_account_masked:
                self.fields["bank_account"].help_text = (
                    f"Current: {self.instance.bank_account_masked}. "
                    + self.fields["bank_account"].help_text
                )
            self.initial["version"] = self.instance.version
        else:
            del self.fields["remove_bank_account"]
            del self.fields["reason"]
            del self.fields["version"]

    def bank_account_change(self) -> str | None:
        """None keeps the stored account, "" removes it."""
        if self.cleaned_data.get("remove_bank_account"):
            return ""
        return self.cleaned_data.get("bank_account") or None
