"""Reads of schedules, always scoped by client or by the user's clients."""

from django.db.models import QuerySet

from bpo_ledger.access import clients_for
from bpo_ledger.models import Client, Customer

from .models import Allocation, PaymentSchedule, ScheduledPayment


def schedules_visible_to(*, user) -> QuerySet[PaymentSchedule]:
    return PaymentSchedule.objects.filter(client__in=clients_for(user)).select_related("client", "customer")


def schedule_get(*, client: Client, pk: int) -> PaymentSchedule:
    """The client's schedule, or PaymentSchedule.DoesNotExist for anyone else's."""
    return PaymentSchedule.objects.select_related("client", "customer", "deferral_approved_by").get(client=client, pk=pk)


def scheduled_payments_of(*, schedule: PaymentSchedule) -> QuerySet[ScheduledPayment]:
    return ScheduledPayment.objects.filter(schedule=schedule).order_by("sequence")


def schedules_of_customer(*, customer: Customer) -> QuerySet[PaymentSchedule]:
    return PaymentSchedule.objects.filter(client=customer.client_id, customer=customer).select_related("client").order_by("-number")


def allocations_of(*, schedule: PaymentSchedule) -> QuerySet[Allocation]:
    """The money received for a schedule: each allocation with its payment, newest first."""
    return (
        Allocation.objects.filter(client=schedule.client_id, scheduled_payment__schedule=schedule)
        .select_related("payment", "payment__entered_by", "scheduled_payment", "created_by")
        .order_by("-payment__value_date", "-id")
    )
