"""Every write to the core ledger; each writes its AuditEvent in the same transaction."""

from django.db import transaction
from django.utils import timezone

from . import locks
from .access import require_role
from .audit import Actor, PendingEvent, audit_record, audit_record_many
from .crypto import account_lookup_hash, normalize_account
from .errors import StaleError
from .models import Client, Customer, Membership

CUSTOMER_FIELDS = (
    "external_ref",
    "name",
    "email",
    "phone",
    "timezone",
    "email_consent",
    "sms_consent",
)


def _customer_snapshot(customer: Customer) -> dict:
    snapshot = {field: getattr(customer, field) for field in CUSTOMER_FIELDS}
    snapshot["bank_account"] = customer.bank_account_masked
    return snapshot


def _set_bank_account(customer: Customer, bank_account: str) -> None:
    normalized = normalize_account(bank_account)
    customer.bank_account = normalized
    customer.bank_account_last4 = normalized[-4:]
    customer.bank_account_hash = account_lookup_hash(normalized)


def _set_consent(customer: Customer, channel: str, consent: bool, now) -> None:
    if getattr(customer, f"{channel}_consent") == consent:
        return
    setattr(customer, f"{channel}_consent", consent)
    setattr(customer, f"{channel}_consent_at", now if consent else None)


def customer_new(
    *,
    client: Client,
    external_ref: str,
    name: str,
    email: str = "",
    phone: str = "",
    timezone_name: str = "",
    email_consent: bool = False,
    sms_consent: bool = False,
    bank_account: str = "",
    looked_up: bool = False,
) -> Customer:
    """The unsaved customer customer_create would store, validated; raises ValidationError.

    Saves and locks nothing, so that a batch (an import) can check all its customers first.
    looked_up=True: the caller has looked external_ref up among the client's customers itself,
    so the checks ask the database nothing (the consent rules hold by construction, and the
    database keeps both as constraints).
    """
    now = timezone.now()
    customer = Customer(
        client=client,
        external_ref=external_ref.strip(),
        name=name.strip(),
        email=email.strip(),
        phone=phone.strip(),
        timezone=timezone_name,
    )
    _set_consent(customer, "email", email_consent, now)
    _set_consent(customer, "sms", sms_consent, now)
    if bank_account:
        _set_bank_account(customer, bank_account)
    if looked_up:
        customer.full_clean(exclude=["client"], validate_constraints=False)
    else:
        customer.full_clean()
    return customer


@transaction.atomic
def customer_create(*, client: Client, actor: Actor, source: str = "manual", **fields) -> Customer:
    """Create a customer of the client (`fields` as customer_new takes them), consent timestamped
    now; raises ValidationError on bad fields."""
    require_role(actor, client)
    customer = customer_new(client=client, **fields)
    customer.save()
    audit_record(
        client=client,
        actor=actor,
        verb="customer.created",
        subject=customer,
        details={"after": _customer_snapshot(customer), "source": source},
    )
    return customer


@transaction.atomic
def customers_store_many(*, client: Client, actor: Actor, customers: list[Customer], source: str) -> list[Customer]:
    """Save many new customers that customer_new built and checked, with one insert and one
    append to the log (an import of thousands holds the client's row for a moment)."""
    require_role(actor, client)
    Customer.objects.bulk_create(customers, batch_size=1000)
    audit_record_many(client=client, actor=actor, events=[
        PendingEvent("customer.created", customer, {"after": _customer_snapshot(customer), "source": source})
        for customer in customers
    ])
    return customers


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    actor: Actor,
    version: int | None,
    reason: str = "",
    bank_account: str | None = None,
    **changes,
) -> Customer:
    """Change a customer's details; the log keeps before and after of each changed field.

    version is the one the user saw (None for jobs that change the row as it is now): a change
    to an older version is refused with StaleError. bank_account=None keeps the account, ""
    removes it.
    """
    unknown = set(changes) - set(CUSTOMER_FIELDS)
    if unknown:
        raise TypeError(f"customer_update() got unknown fields {sorted(unknown)}")
    require_role(actor, customer.client)
    customer = locks.customer_locked(pk=customer.pk)
    if version is not None and customer.version != version:
        raise StaleError(
            f"{customer.name} was changed by someone else since you opened the page: "
            "reload it and make your change again. Nothing was overwritten."
        )
    before = _customer_snapshot(customer)
    now = timezone.now()
    for field, value in changes.items():
        if field in ("email_consent", "sms_consent"):
            _set_consent(customer, field.removesuffix("_consent"), value, now)
        else:
            setattr(customer, field, value.strip() if isinstance(value, str) else value)
    before_hash = customer.bank_account_hash
    if bank_account is not None:
        if bank_account:
            _set_bank_account(customer, bank_account)
        else:
            customer.bank_account = customer.bank_account_last4 = customer.bank_account_hash = ""
    customer.full_clean()
    after = _customer_snapshot(customer)
    changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if customer.bank_account_hash != before_hash:
        # Two accounts may end in the same four digits: the log still shows that it changed.
        changed["bank_account"] = {"before": before["bank_account"], "after": after["bank_account"]}
    if not changed:
        return customer
    customer.version += 1
    customer.save()
    audit_record(
        client=customer.client,
        actor=actor,
        verb="customer.updated",
        subject=customer,
        details={"changes": changed, "reason": reason},
    )
    return customer


@transaction.atomic
def client_policy_record(*, client: Client, actor: Actor, created: bool, changes: dict) -> None:
    """Put an admin's creation or change of a client's policy on the client's log."""
    audit_record(
        client=client,
        actor=actor,
        verb="client.created" if created else "client.policy_changed",
        subject=client,
        details={"changes": changes},
    )


@transaction.atomic
def membership_record(*, membership: Membership, actor: Actor, verb: str) -> None:
    """Put a granted, changed or revoked role on the client's log."""
    audit_record(
        client=membership.client,
        actor=actor,
        verb=verb,
        subject=("user", membership.user_id),
        details={"user": membership.user.get_username(), "role": membership.role},
    )

