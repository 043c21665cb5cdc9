from decimal import Decimal

from django import forms
from django.core import signing

from bpo_ledger.models import ImportFormat

from .models import CsvMapping

AUTO = ""
HELD_SALT = "reconciliation.held-upload"


class UploadForm(forms.Form):
    """A statement file, its format (detected unless chosen) and, for CSV, the column mapping."""

    file = forms.FileField(required=False, help_text="camt.052/053/054, OFX/QFX, MT940/942, BAI2, NACHA or CSV.")
    format = forms.ChoiceField(
        choices=[(AUTO, "Detect from the content"), *ImportFormat.choices], required=False,
    )
    mapping = forms.ModelChoiceField(
        queryset=CsvMapping.objects.none(), required=False, label="CSV column mapping",
        help_text="For CSV files: how the bank's export reads (admins keep the mappings).",
    )
    held = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client
        self.fields["mapping"].queryset = CsvMapping.objects.filter(client=client).order_by("name")

    def clean_held(self):
        token = self.cleaned_data.get("held")
        if not token:
            return None
        try:
            held = signing.loads(token, salt=HELD_SALT, max_age=24 * 3600)
        except signing.BadSignature:
            raise forms.ValidationError("The previewed file is no longer available: choose it again.") from None
        if held.get("client") != self.client.code:
            raise forms.ValidationError("The previewed file belongs to another client: choose it again.")
        return held

    def clean(self):
        data = super().clean()
        if not data.get("file") and not data.get("held"):
            self.add_error("file", "Choose a statement file.")
        if data.get("format") == ImportFormat.CSV and not data.get("mapping"):
            self.add_error("mapping", "A CSV file needs a column mapping.")
        return data


def held_token(*, client_code: str, path: str, name: str, size: int) -> str:
    return signing.dumps({"client": client_code, "path": path, "name": name, "size": size}, salt=HELD_SALT)


class VoidForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the import is undone: wrong client, wrong file, ...",
    )


class UndoMatchForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}), label="Why the match is undone",
        help_text="On the schedule's and the payment's log: wrong customer, wrong reference, ...",
    )

    def __init__(self, *args, allocation_id: int, **kwargs):
        kwargs.setdefault("auto_id", f"id_undo_{allocation_id}_%s")  # one form per allocation on the page
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class CreditRefundForm(forms.Form):
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=Decimal("0.01"), label="Amount to refund")
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="On the payment's and the customer's log: the customer asked for it back, ...",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_refund_%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
