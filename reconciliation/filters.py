import django_filters
from django.db.models import Q

from bpo_ledger.filters import BoundedFilterSet
from bpo_ledger.models import ImportFormat, ImportStatus, Payment, PaymentImport

from .models import ReconciliationRun, RunStatus, RunTrigger


class ImportFilter(django_filters.FilterSet):
    format = django_filters.ChoiceFilter(choices=ImportFormat.choices)
    status = django_filters.ChoiceFilter(choices=ImportStatus.choices)
    file_name = django_filters.CharFilter(label="File name", lookup_expr="icontains")
    created_at = django_filters.DateFromToRangeFilter(label="Imported (from / to)")

    class Meta:
        model = PaymentImport
        fields = ["format", "status", "file_name", "created_at"]


class UnmatchedPaymentFilter(BoundedFilterSet):
    value_date = django_filters.DateFromToRangeFilter(label="Value date (from / to)")
    amount = django_filters.RangeFilter(label="Amount (min / max)")
    payer = django_filters.CharFilter(label="Payer name or reference", method="by_payer")
    currency = django_filters.CharFilter(label="Currency", lookup_expr="iexact")

    class Meta:
        model = Payment
        fields = ["value_date", "amount", "payer", "currency"]

    def by_payer(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(payer_name__icontains=value) | Q(reference__icontains=value))


class RunFilter(BoundedFilterSet):
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    trigger = django_filters.ChoiceFilter(choices=RunTrigger.choices)
    as_of = django_filters.DateFromToRangeFilter(label="As of (from / to)")

    class Meta:
        model = ReconciliationRun
        fields = ["status", "trigger", "as_of"]
