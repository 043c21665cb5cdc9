import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from bpo_ledger.models import Client, Membership, Payment
from tests.conftest import make_client


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("currency", "XYZ", "XYZ is not an ISO 4217 currency code"),
        ("timezone", "Europe/Atlantis", "Europe/Atlantis is not an IANA time zone"),
        ("country", "QQ", "QQ is not a country with a holiday calendar"),
        ("code", "acme", "2 to 12 capital letters or digits"),
        ("match_tolerance_percent", Decimal("120"), "less than or equal to 100"),
        ("match_tolerance_amount", Decimal("-1"), "greater than or equal to 0"),
        ("grace_days", 400, "less than or equal to 90"),
        ("reminder_lead_days", [7, 7], "appears twice"),
        ("reminder_lead_days", "7,1", "list of whole numbers"),
        ("reminder_overdue_days", [3, 120], "between 0 and 90"),
        ("reminder_channels", ["fax"], "Unknown reminder channel fax"),
        ("reminder_channels", [], "cannot be blank"),
        ("reminder_hours_start", dt.time(22, 0), "Reminder hours must start before they end"),
        ("sla_hours_critical", 100, "critical <= high <= medium <= low"),
        ("adjustment_approval_window_days", 0, "greater than or equal to 1"),
    ],
)
def test_client_policy_is_validated(db, field, value, message):
    client = Client(code="ACME", name="Acme")
    setattr(client, field, value)
    with pytest.raises(ValidationError) as excinfo:
        client.full_clean()
    assert message in str(excinfo.value)


def test_a_default_client_is_valid(db):
    make_client("ACME")


def test_one_role_per_user_and_client(agent, client_a):
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=agent, client=client_a, role="supervisor")


def test_the_same_bank_transaction_cannot_be_stored_twice(client_a):
    fields = dict(
        client=client_a, amount=Decimal("10.00"), currency="USD", value_date=dt.date(2026, 1, 5),
        source_account="US-OPERATING-1", bank_transaction_id="TX-1",
    )
    Payment.objects.create(**fields)
    with pytest.raises(IntegrityError):
        Payment.objects.create(**fields)


def test_the_same_transaction_id_on_another_account_is_a_different_payment(client_a):
    fields = dict(client=client_a, amount=Decimal("10.00"), currency="USD", value_date=dt.date(2026, 1, 5), bank_transaction_id="TX-1")
    Payment.objects.create(source_account="ACC-1", **fields)
    Payment.objects.create(source_account="ACC-2", **fields)
    assert Payment.objects.count() == 2


def test_the_adjustment_approval_window_is_edited_in_the_admin(client, admin_user, client_a):
    from django.urls import reverse

    client.force_login(admin_user)
    page = client.get(reverse("admin:bpo_ledger_client_change", args=[client_a.pk]))
    assert 'name="adjustment_approval_window_days" value="30"' in page.content.decode()
