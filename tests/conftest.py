"""Role fixtures: client A with an agent, a supervisor and an auditor; an outsider who
belongs to client B only; an admin (superuser)."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connections, transaction

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True, scope="session")
def _flush_past_the_audit_truncate_guard():
    """Transactional tests end by emptying every table with one TRUNCATE, which the audit table
    refuses on PostgreSQL (bpo_ledger migration 0007). The test database's superuser empties it
    the way an operator would: with triggers off for that one transaction."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL session_replication_role = replica;", *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


def make_client(code: str, **fields):
    from bpo_ledger.models import Client

    defaults = {"name": f"{code.title()} Corp", "currency": "USD", "timezone": "America/New_York", "country": "US"}
    defaults.update(fields)
    client = Client(code=code, **defaults)
    client.full_clean()
    client.save()
    return client


def make_user(username: str, client=None, role=None, **fields):
    from django.contrib.auth import get_user_model

    from bpo_ledger.models import Membership

    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD, **fields)
    if client is not None:
        Membership.objects.create(user=user, client=client, role=role)
    return user


@pytest.fixture
def client_a(db):
    return make_client("ACME", name="Acme Utilities")


@pytest.fixture
def client_b(db):
    return make_client("GLOBEX", name="Globex Telecom", currency="EUR", timezone="Europe/Berlin", country="DE")


@pytest.fixture
def agent(client_a):
    return make_user("agent", client_a, "agent", first_name="Alice", last_name="Agent")


@pytest.fixture
def supervisor(client_a):
    return make_user("supervisor", client_a, "supervisor", first_name="Sam", last_name="Supervisor")


@pytest.fixture
def auditor(client_a):
    return make_user("auditor", client_a, "auditor", first_name="Audrey", last_name="Auditor")


@pytest.fixture
def outsider(client_b):
    return make_user("outsider", client_b, "agent", first_name="Otto", last_name="Outsider")


@pytest.fixture
def admin_user(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def roles(agent, supervisor, auditor, outsider, admin_user):
    """Every role by name, for tests that try one URL as each of them."""
    return {
        "agent": agent,
        "supervisor": supervisor,
        "auditor": auditor,
        "outsider": outsider,
        "admin": admin_user,
    }


@pytest.fixture
def customer_a(client_a):
    from bpo_ledger import services

    return services.customer_create(
        client=client_a,
        actor="system:test",
        external_ref="CRM-1",
        name="Maria Gonzalez",
        email="maria@example.com",
        email_consent=True,
        bank_account="GB29 NWBK 6016 1331 9268 19",
    )


@pytest.fixture
def customer_b(client_b):
    from bpo_ledger import services

    return services.customer_create(
        client=client_b, actor="system:test", external_ref="GX-1", name="Lena Fischer"
    )


@contextmanager
def held(lock):
    """Another transaction (a thread with its own connection) that has run `lock` and keeps
    what it locked until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                lock()
                locked.set()
                release.wait(60)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10), "the other transaction never got its lock"
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def wait_for(predicate, timeout: float = 30, every: float = 0.2) -> bool:
    """Whether `predicate()` came true within `timeout` seconds, asked every `every` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
