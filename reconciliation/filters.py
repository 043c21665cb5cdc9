import django_filters

from bpo_ledger.models import ImportFormat, ImportStatus, PaymentImport


class ImportFilter(django_filters.FilterSet):
    format = django_filters.ChoiceFilter(choices=ImportFormat.choices)
    status = django_filters.ChoiceFilter(choices=ImportStatus.choices)
    file_name = django_filters.CharFilter(label="File name", lookup_expr="icontains")
    created_at = django_filters.DateFromToRangeFilter(label="Imported (from / to)")

    class Meta:
        model = PaymentImport
        fields = ["format", "status", "file_name", "created_at"]
