import json

import django_tables2 as tables

from .models import AuditEvent, Customer, Payment


class CustomerTable(tables.Table):
    name = tables.Column(linkify=lambda record: record.get_absolute_url())
    bank_account_masked = tables.Column("Bank account", orderable=False)
    email_consent = tables.BooleanColumn("Email ok")
    sms_consent = tables.BooleanColumn("SMS ok")

    class Meta:
        model = Customer
        fields = ("name", "external_ref", "email", "phone", "email_consent", "sms_consent")
        sequence = (*fields, "bank_account_masked")
        attrs = {"class": "table"}
        empty_text = "No customers match."


class PaymentTable(tables.Table):
    amount = tables.Column(attrs={"td": {"class": "num"}})
    payer_account_masked = tables.Column("Payer account", orderable=False)
    customer = tables.Column(linkify=lambda record: record.customer.get_absolute_url() if record.customer else None)

    class Meta:
        model = Payment
        fields = (
            "value_date",
            "kind",
            "amount",
            "currency",
            "payer_name",
            "reference",
            "bank_transaction_id",
            "customer",
        )
        sequence = (*fields, "payer_account_masked")
        attrs = {"class": "table"}
        empty_text = "No payments match."


class AuditEventTable(tables.Table):
    seq = tables.Column("#")
    created_at = tables.DateTimeColumn(format="Y-m-d H:i:s", verbose_name="When")
    actor_label = tables.Column("Actor")
    verb = tables.Column("Action")
    subject_id = tables.Column("Subject id")
    details = tables.Column(orderable=False)

    def render_details(self, value):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    class Meta:
        model = AuditEvent
        fields = ("seq", "created_at", "actor_label", "verb", "subject_type", "subject_id", "details")
        attrs = {"class": "table audit"}
        empty_text = "Nothing on record yet."
