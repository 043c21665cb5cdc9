import django_filters
from django.db.models import Q

from . import events
from .models import AuditEvent, Customer, Payment, PaymentKind, PaymentSource


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label="Name, CRM ref or email", method="search")
    email_consent = django_filters.BooleanFilter(label="Email consent")
    sms_consent = django_filters.BooleanFilter(label="SMS consent")

    class Meta:
        model = Customer
        fields = ["q", "email_consent", "sms_consent"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value) | Q(external_ref__iexact=value) | Q(email__iexact=value)
        )


class PaymentFilter(django_filters.FilterSet):
    value_date = django_filters.DateFromToRangeFilter(label="Value date (from / to)")
    kind = django_filters.ChoiceFilter(choices=PaymentKind.choices)
    source = django_filters.ChoiceFilter(choices=PaymentSource.choices, label="Source")
    q = django_filters.CharFilter(label="Reference, payer or transaction id", method="search")
    amount = django_filters.RangeFilter(label="Amount (min / max)")

    class Meta:
        model = Payment
        fields = ["value_date", "kind", "source", "currency", "q", "amount"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(reference__icontains=value)
            | Q(payer_name__icontains=value)
            | Q(bank_transaction_id=value)
        )


def _verb_choices():
    return [(t.verb, t.label) for t in sorted(events.catalogue(), key=lambda t: t.label)]


def _subject_choices():
    return sorted(events.subject_labels().items(), key=lambda pair: pair[1])


class AuditEventFilter(django_filters.FilterSet):
    verb = django_filters.ChoiceFilter(choices=_verb_choices, label="What happened")
    subject_type = django_filters.ChoiceFilter(choices=_subject_choices, label="Subject")
    actor_label = django_filters.CharFilter(label="Actor")
    created_at = django_filters.DateFromToRangeFilter(label="Date (from / to)")

    class Meta:
        model = AuditEvent
        fields = ["verb", "subject_type", "actor_label", "created_at"]
