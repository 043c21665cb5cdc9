import datetime as dt

import django_filters
from django import forms
from django.core.validators import (
    DecimalValidator,
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
)
from django.db.models import Q

from . import events
from .models import AuditEvent, Customer, Payment, PaymentKind, PaymentSource

# What a list's filter takes: dates people look for, amounts the money columns can hold (16 digits
# before the point, 2 after), searches of a sensible length. Anything else is the filter's form
# error, never a query the database refuses (a numeric overflow, a datetime past year 9999).
FILTER_DATE_MIN = dt.date(1900, 1, 1)
FILTER_DATE_MAX = dt.date(2200, 12, 31)
FILTER_TEXT_MAX = 200


def _bound(field: forms.Field) -> None:
    for part in getattr(field, "fields", ()):  # the two ends of a range
        _bound(part)
    if isinstance(field, forms.DecimalField):
        field.validators.append(DecimalValidator(max_digits=18, decimal_places=2))
    elif isinstance(field, forms.DateField):
        field.validators += [MinValueValidator(FILTER_DATE_MIN), MaxValueValidator(FILTER_DATE_MAX)]
    elif type(field) is forms.CharField:
        field.validators.append(MaxLengthValidator(FILTER_TEXT_MAX))


class BoundedFilterSet(django_filters.FilterSet):
    """A FilterSet whose number, date and text inputs are bounded (see FILTER_DATE_MIN)."""

    @property
    def form(self):
        # The form is built on first use, after a subclass has set its filters' choices.
        form = super().form
        if not getattr(form, "bounded", False):
            for field in form.fields.values():
                _bound(field)
            form.bounded = True
        return form


class CustomerFilter(BoundedFilterSet):
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


class PaymentFilter(BoundedFilterSet):
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


class AuditEventFilter(BoundedFilterSet):
    verb = django_filters.ChoiceFilter(choices=_verb_choices, label="What happened")
    subject_type = django_filters.ChoiceFilter(choices=_subject_choices, label="Subject")
    actor_label = django_filters.CharFilter(label="Actor")
    created_at = django_filters.DateFromToRangeFilter(label="Date (from / to)")

    class Meta:
        model = AuditEvent
        fields = ["verb", "subject_type", "actor_label", "created_at"]
