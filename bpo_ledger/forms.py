from django import forms

from .models import Customer


class CustomerForm(forms.ModelForm):
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

    class Meta:
        model = Customer
        fields = ["external_ref", "name", "email", "phone", "timezone", "email_consent", "sms_consent"]
        help_texts = {"phone": "International format, e.g. +14155550123."}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The stored number is never sent back to the browser.
            self.initial.pop("bank_account", None)
            if self.instance.bank_account_masked:
                self.fields["bank_account"].help_text = (
                    f"Current: {self.instance.bank_account_masked}. "
                    + self.fields["bank_account"].help_text
                )
        else:
            del self.fields["remove_bank_account"]
            del self.fields["reason"]

    def _post_clean(self):
        # Validation of the model happens in the service, with the whole change applied.
        pass

    def bank_account_change(self) -> str | None:
        """None keeps the stored account, "" removes it."""
        if self.cleaned_data.get("remove_bank_account"):
            return ""
        return self.cleaned_data.get("bank_account") or None
