import datetime as dt

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from bpo_ledger.filters import BoundedFilterSet
from bpo_ledger.forms import ProjectForm

from .models import (
    ACTIVE_STATUSES,
    PRIORITY_RANK,
    Discrepancy,
    DiscrepancyKind,
    Priority,
    Status,
    sla_breached_q,
)
from .reports import AGING_BUCKETS


def _age_ranges() -> dict[str, tuple[int, int | None]]:
    """The dashboard's age buckets as (youngest, oldest) whole days since the item was logged."""
    ranges, youngest = {}, 0
    for label, last in AGING_BUCKETS:
        ranges[label] = (youngest, last)
        youngest = (last or 0) + 1
    return ranges


AGE_RANGES = _age_ranges()
AGE_CHOICES = [
    (label, f"{youngest}–{oldest} days" if oldest is not None else f"Over {youngest - 1} days")
    for label, (youngest, oldest) in AGE_RANGES.items()
]
ANY_STATUS = "any"


class RunNumberFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class QueueFilter(BoundedFilterSet):
    """The queue's filters. Without a status, only active items (open to escalated) are listed."""

    client = django_filters.ChoiceFilter(method="client_filter", label="Client", empty_label="All my clients")
    kind = django_filters.ChoiceFilter(choices=DiscrepancyKind.choices, empty_label="Any kind")
    status = django_filters.ChoiceFilter(
        choices=[(ANY_STATUS, "Any status")] + Status.choices, method="status_filter",
        empty_label="Active",
    )
    # Filters on priority_rank, which discrepancy_priority_idx (client, priority_rank, status) covers.
    priority = django_filters.ChoiceFilter(choices=Priority.choices, empty_label="Any priority", method="by_priority")
    age = django_filters.ChoiceFilter(choices=AGE_CHOICES, method="age_filter", label="Age", empty_label="Any age")
    sla_breached = django_filters.ChoiceFilter(
        choices=[("true", "Yes"), ("false", "No")], method="sla_filter", label="SLA breached", empty_label="Any",
    )
    amount_min = django_filters.NumberFilter(method="amount_min_filter", label="Amount from")
    amount_max = django_filters.NumberFilter(method="amount_max_filter", label="Amount to")
    customer = django_filters.CharFilter(method="customer_filter", label="Customer (name or CRM ref)")
    assignee = django_filters.ChoiceFilter(method="assignee_filter", label="Assignee", empty_label="Anyone")
    # What one reconciliation run logged (discrepancy_detected_by_idx); the run's page links here.
    run = RunNumberFilter(method="run_filter", label="Reconciliation run #", min_value=1, max_value=2**63 - 1)

    class Meta:
        model = Discrepancy
        form = ProjectForm
        fields = [
            "client", "kind", "status", "priority", "age", "sla_breached", "amount_min", "amount_max", "customer", "assignee", "run",
        ]

    def __init__(self, *args, accesses, user, workers=(), now: dt.datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.now = user, now or timezone.now()
        self.client_ids = {a.client.code: a.client.pk for a in accesses}
        self.filters["client"].extra["choices"] = [(a.client.code, f"{a.client.code} · {a.client.name}") for a in accesses]
        self.filters["assignee"].extra["choices"] = [("me", "Me"), ("none", "Unassigned")] + [
            (str(u.pk), u.get_full_name() or u.get_username()) for u in workers if u.pk != user.pk
        ]
        for name in ("amount_min", "amount_max"):
            # The difference either way: 50 finds both 50 short and 50 over.
            self.form.fields[name].widget.attrs.update(step="0.01", min="0", title="Difference, either way")

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status__in=ACTIVE_STATUSES)
        return queryset

    def client_filter(self, queryset, name, value):
        return queryset.filter(client_id=self.client_ids[value])

    def status_filter(self, queryset, name, value):
        return queryset if value == ANY_STATUS else queryset.filter(status=value)

    def age_filter(self, queryset, name, value):
        youngest, oldest = AGE_RANGES[value]
        queryset = queryset.filter(created_at__lte=self.now - dt.timedelta(days=youngest))
        if oldest is not None:
            queryset = queryset.filter(created_at__gt=self.now - dt.timedelta(days=oldest + 1))
        return queryset

    def sla_filter(self, queryset, name, value):
        # An open item that has missed any of its due times, even one an escalation replaced.
        if value == "true":
            return queryset.filter(sla_breached_q(self.now))
        return queryset.exclude(sla_breached_q(self.now))

    def amount_min_filter(self, queryset, name, value):
        return queryset.filter(Q(amount_difference__gte=value) | Q(amount_difference__lte=-value))

    def amount_max_filter(self, queryset, name, value):
        return queryset.filter(amount_difference__gte=-value, amount_difference__lte=value)

    def customer_filter(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(customer__name__icontains=value) | Q(customer__external_ref__iexact=value))

    def assignee_filter(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee=self.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=int(value))

    def run_filter(self, queryset, name, value):
        return queryset.filter(detected_by=f"run:{value}")

    def by_priority(self, queryset, name, value):
        return queryset.filter(priority_rank=PRIORITY_RANK[value])
