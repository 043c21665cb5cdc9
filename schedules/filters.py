import django_filters
from django.db.models import Q

from bpo_ledger.filters import BoundedFilterSet

from .models import PaymentSchedule, ScheduleKind, ScheduleStatus


class ScheduleFilter(BoundedFilterSet):
    client = django_filters.ChoiceFilter(field_name="client__code", label="Client", empty_label="All my clients")
    kind = django_filters.ChoiceFilter(choices=ScheduleKind.choices)
    status = django_filters.ChoiceFilter(choices=ScheduleStatus.choices)
    customer = django_filters.CharFilter(method="customer_search", label="Customer name or CRM ref")
    next_due_date = django_filters.DateFromToRangeFilter(label="Next due (from / to)")
    overdue = django_filters.BooleanFilter(
        field_name="is_overdue", label="Overdue only", widget=django_filters.widgets.BooleanWidget()
    )

    class Meta:
        model = PaymentSchedule
        fields = ["client", "kind", "status", "customer", "next_due_date", "overdue"]

    def __init__(self, *args, clients, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["client"].extra["choices"] = [(c.code, f"{c.code} · {c.name}") for c in clients]
        self.form.label_suffix = ""

    def customer_search(self, queryset, name, value):
        return queryset.filter(Q(customer__name__icontains=value) | Q(customer__external_ref__iexact=value))
