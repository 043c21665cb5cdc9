"""Demo schedules of all five kinds across the demo clients, some of them overdue."""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bpo_ledger.models import Client, Customer

from . import services
from .models import PaymentSchedule

ACTOR = "system:seed_demo"


def _plans(today: dt.date):
    """(client code, customer ref, schedule ref, spec fields) relative to today."""
    months_ago = lambda n: (today.replace(day=1) - dt.timedelta(days=28 * n)).replace(day=min(today.day, 28))  # noqa: E731
    return [
        ("ACME", "CRM-1001", "DEMO-A1", dict(kind="recurring", amount=Decimal("89.90"), start_date=months_ago(5), frequency="monthly", anchor_day=31, description="Electricity, monthly")),
        ("ACME", "CRM-1002", "DEMO-A2", dict(kind="installment", amount=Decimal("1200.00"), start_date=months_ago(3), frequency="monthly", installment_count=6, down_payment=Decimal("200.00"), description="Meter upgrade")),
        ("ACME", "CRM-1003", "DEMO-A3", dict(kind="one_time", amount=Decimal("45.00"), start_date=today + dt.timedelta(days=7), description="Reconnection fee")),
        ("ACME", "CRM-1004", "DEMO-A4", dict(kind="deferred", amount=Decimal("310.25"), start_date=today - dt.timedelta(days=20), deferred_until=today + dt.timedelta(days=25), deferral_reason="hardship", description="Winter bill, hardship deferral")),
        ("ACME", "CRM-1005", "DEMO-A5", dict(kind="autopay", amount=Decimal("64.00"), start_date=months_ago(2), frequency="monthly", autopay_method="card", autopay_account="4111111111111111", mandate_reference="MND-ACME-1005", mandate_consented_at=timezone.now() - dt.timedelta(days=70), description="Water, autopay")),
        ("ACME", "CRM-1001", "DEMO-A6", dict(kind="recurring", amount=Decimal("15.00"), start_date=months_ago(4), frequency="biweekly", cycles=12, description="Equipment rental")),
        ("GLOBEX", "GX-20001", "DEMO-G1", dict(kind="autopay", amount=Decimal("39.99"), start_date=months_ago(6), frequency="monthly", anchor_day=1, autopay_method="bank_account", autopay_account="DE89370400440532013000", mandate_reference="SEPA-GX-20001", mandate_consented_at=timezone.now() - dt.timedelta(days=200), description="Mobile plan")),
        ("GLOBEX", "GX-20002", "DEMO-G2", dict(kind="installment", amount=Decimal("899.00"), start_date=months_ago(4), frequency="monthly", installment_count=24, description="Handset")),
        ("GLOBEX", "GX-20003", "DEMO-G3", dict(kind="recurring", amount=Decimal("120.00"), start_date=months_ago(7), frequency="quarterly", description="Business line")),
        ("GLOBEX", "GX-20004", "DEMO-G4", dict(kind="one_time", amount=Decimal("59.00"), start_date=today - dt.timedelta(days=40), description="Roaming charges")),
        ("INITECH", "IN-501", "DEMO-I1", dict(kind="installment", amount=Decimal("5000.00"), start_date=months_ago(8), frequency="monthly", installment_count=12, anchor_day=15, description="Personal loan")),
        ("INITECH", "IN-502", "DEMO-I2", dict(kind="deferred", amount=Decimal("250.00"), start_date=today - dt.timedelta(days=10), deferred_until=today + dt.timedelta(days=50), deferral_reason="agreement", description="Arrears payment agreement")),
        ("INITECH", "IN-503", "DEMO-I3", dict(kind="recurring", amount=Decimal("75.00"), start_date=months_ago(3), frequency="weekly", interval=2, end_date=today + dt.timedelta(days=120), description="Top-up plan")),
    ]


@transaction.atomic
def seed() -> int:
    created = 0
    for code, customer_ref, schedule_ref, fields in _plans(timezone.localdate()):
        client = Client.objects.get(code=code)
        if PaymentSchedule.objects.filter(client=client, external_ref=schedule_ref).exists():
            continue
        customer = Customer.objects.get(client=client, external_ref=customer_ref)
        spec = services.ScheduleSpec(customer=customer, external_ref=schedule_ref, **fields)
        schedule = services.schedule_create(client=client, actor=ACTOR, spec=spec, source="seed_demo")
        created += 1
        # A little history: the oldest payments of some schedules were paid.
        paid = list(schedule.payments.filter(status="overdue").order_by("sequence"))
        for payment in paid[: max(len(paid) - 1, 0)]:
            services.scheduled_payment_record(
                scheduled_payment=payment, actor=ACTOR, amount=payment.amount_due,
                paid_on=payment.due_date, method=schedule.method, note="demo history",
            )
    return created
