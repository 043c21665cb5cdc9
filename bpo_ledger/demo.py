"""Core demo data: clients, one user per role, customers. Running it again changes nothing."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from . import services
from .models import Client, Customer, Membership, Role

ACTOR = "system:seed_demo"
DEMO_PASSWORD = "demo-pass-2026"

CLIENTS = [
    {
        "code": "ACME",
        "name": "Acme Utilities Inc.",
        "currency": "USD",
        "timezone": "America/New_York",
        "country": "US",
        "match_tolerance_amount": Decimal("1.00"),
        "adjustment_approval_threshold": Decimal("250.00"),
        "reminder_channels": ["email", "sms"],
        "payment_instructions": "Pay at acme-utilities.example/pay or by ACH to routing 021000021, account 4000123456, quoting your reference.",
    },
    {
        "code": "GLOBEX",
        "name": "Globex Telecom GmbH",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "country": "DE",
        "subdivision": "BE",  # Berlin
        "match_tolerance_percent": Decimal("0.50"),
        "grace_days": 5,
        "payment_instructions": "Überweisung an Globex Telecom GmbH, IBAN DE44 5001 0517 5407 3249 31, Verwendungszweck: Ihre Referenz.",
    },
    {
        "code": "INITECH",
        "name": "Initech Lending Ltd",
        "currency": "GBP",
        "timezone": "Europe/London",
        "country": "GB",
        "subdivision": "ENG",
        "reminder_lead_days": [10, 3, 1],
        "sla_hours_critical": 2,
        "payment_instructions": "Pay by bank transfer to Initech Lending Ltd, sort code 20-00-00, account 55779911, quoting your reference.",
    },
]

# username, full name, {client code: role}; plus the admin.
USERS = [
    ("agent", "Alice Agent", {"ACME": Role.AGENT, "GLOBEX": Role.AGENT}),
    ("supervisor", "Sam Supervisor", {"ACME": Role.SUPERVISOR, "GLOBEX": Role.SUPERVISOR}),
    ("auditor", "Audrey Auditor", {"ACME": Role.AUDITOR, "GLOBEX": Role.AUDITOR, "INITECH": Role.AUDITOR}),
    ("agent2", "Bob Agent", {"INITECH": Role.AGENT, "ACME": Role.SUPERVISOR}),
]

CUSTOMERS = {
    "ACME": [
        ("CRM-1001", "Maria Gonzalez", "maria.gonzalez@example.com", "+12125550101", "America/New_York", True, True, "021000021 1234567890"),
        ("CRM-1002", "James Carter", "james.carter@example.com", "+13125550102", "America/Chicago", True, False, "026009593 9876543210"),
        ("CRM-1003", "Priya Natarajan", "priya.n@example.com", "+14155550103", "America/Los_Angeles", True, True, ""),
        ("CRM-1004", "Oluwaseun Adeyemi", "seun.adeyemi@example.com", "", "", False, False, "111000025 5550001234"),
        ("CRM-1005", "Hiro Tanaka", "hiro.tanaka@example.com", "+12065550105", "America/Los_Angeles", True, False, ""),
    ],
    "GLOBEX": [
        ("GX-20001", "Lena Fischer", "lena.fischer@example.de", "+4915123456701", "Europe/Berlin", True, True, "DE89370400440532013000"),
        ("GX-20002", "Jonas Weber", "jonas.weber@example.de", "", "", True, False, "DE02120300000000202051"),
        ("GX-20003", "Sofia Rossi", "sofia.rossi@example.it", "+393471234567", "Europe/Rome", False, True, "IT60X0542811101000000123456"),
        ("GX-20004", "Tomasz Nowak", "tomasz.nowak@example.pl", "", "Europe/Warsaw", True, False, ""),
    ],
    "INITECH": [
        ("IN-501", "Oliver Smith", "oliver.smith@example.co.uk", "+447700900501", "Europe/London", True, True, "GB29NWBK60161331926819"),
        ("IN-502", "Amelia Jones", "amelia.jones@example.co.uk", "", "", True, False, "GB94BARC10201530093459"),
        ("IN-503", "Aisha Khan", "aisha.khan@example.co.uk", "+447700900503", "", False, False, ""),
    ],
}


@transaction.atomic
def seed() -> int:
    """Create what is missing; returns the number of rows created."""
    created = 0
    clients = {}
    for spec in CLIENTS:
        fields = dict(spec)
        code = fields.pop("code")
        client = Client.objects.filter(code=code).first()
        if client is None:
            client = Client(code=code, **fields)
            client.full_clean()
            client.save()
            services.client_policy_record(
                client=client, actor=ACTOR, created=True, changes={k: str(v) for k, v in spec.items()}
            )
            created += 1
        clients[code] = client

    User = get_user_model()
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@bpo-ledger.local", DEMO_PASSWORD, first_name="Ada")
        created += 1
    for username, full_name, roles in USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            first, last = full_name.split(" ", 1)
            user = User.objects.create_user(
                username, f"{username}@bpo-ledger.local", DEMO_PASSWORD, first_name=first, last_name=last
            )
            created += 1
        for code, role in roles.items():
            membership, made = Membership.objects.get_or_create(
                user=user, client=clients[code], defaults={"role": role}
            )
            if made:
                services.membership_record(membership=membership, actor=ACTOR, verb="membership.granted")
                created += 1

    for code, rows in CUSTOMERS.items():
        client = clients[code]
        existing = set(Customer.objects.filter(client=client).values_list("external_ref", flat=True))
        for ref, name, email, phone, tz, email_ok, sms_ok, account in rows:
            if ref in existing:
                continue
            services.customer_create(
                client=client,
                actor=ACTOR,
                external_ref=ref,
                name=name,
                email=email,
                phone=phone,
                timezone_name=tz,
                email_consent=email_ok,
                sms_consent=sms_ok,
                bank_account=account,
                source="seed_demo",
            )
            created += 1
    return created


def logins() -> list[str]:
    lines = ["admin       superuser (Django admin at /admin/)"]
    for username, _, roles in USERS:
        described = ", ".join(f"{Role(role).label.lower()} of {code}" for code, role in roles.items())
        lines.append(f"{username:<11} {described}")
    return lines
