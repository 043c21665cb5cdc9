import datetime as dt
import enum
import json
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from bpo_ledger.audit import (
    GENESIS_HASH,
    PendingEvent,
    _canonical_of_batch,
    audit_record,
    audit_record_many,
    audit_verify,
    canonical_details,
    canonical_event,
    event_hash,
    normalize_details,
)
from bpo_ledger.events import UnknownEventError
from bpo_ledger.models import AuditEvent

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)


def record(client, n, actor="system:test"):
    return [
        audit_record(client=client, actor=actor, verb="client.policy_changed", subject=("client", i), details={"i": i})
        for i in range(n)
    ]


def test_events_form_one_chain_per_client(client_a, client_b):
    a_events = record(client_a, 3)
    b_events = record(client_b, 2)
    assert [e.seq for e in a_events] == [1, 2, 3]
    assert [e.seq for e in b_events] == [1, 2]
    assert a_events[0].prev_hash == GENESIS_HASH == b_events[0].prev_hash
    assert a_events[1].prev_hash == a_events[0].hash
    assert a_events[2].prev_hash == a_events[1].hash
    assert audit_verify(client=client_a).verified == 3


def test_stored_events_hash_the_same_after_reading_back(client_a, agent):
    from decimal import Decimal

    event = audit_record(
        client=client_a,
        actor=agent,
        verb="client.policy_changed",
        subject=client_a,
        details={"amount": Decimal("10.50"), "note": "naïve café"},
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.details == {"amount": "10.50", "note": "naïve café"}
    assert event_hash(stored) == stored.hash
    assert stored.actor_label == "agent"


def test_the_model_refuses_updates_and_deletes(client_a):
    (event,) = record(client_a, 1)
    event.verb = "changed"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(verb="changed")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).delete()


@on_postgresql
def test_postgresql_refuses_updates_and_deletes_from_raw_sql(client_a):
    from django.db.utils import ProgrammingError

    (event,) = record(client_a, 1)
    for sql in (
        "UPDATE bpo_ledger_auditevent SET verb = 'x' WHERE id = %s",
        "DELETE FROM bpo_ledger_auditevent WHERE id = %s",
    ):
        with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).verb == "client.policy_changed"


def tamper(event_id, **fields):
    """Alter a stored event the way someone with database access could."""
    sets = ", ".join(f"{field} = %s" for field in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # bypasses triggers
        cursor.execute(f"UPDATE bpo_ledger_auditevent SET {sets} WHERE id = %s", [*fields.values(), event_id])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


def test_verify_audit_passes_an_intact_chain(client_a, client_b, capsys):
    record(client_a, 4)
    record(client_b, 2)
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "ACME: 4 events verified" in out
    assert "OK: 6 events verified in 2 chain(s)" in out


def test_verify_audit_names_the_first_altered_event(client_a, client_b, capsys):
    events = record(client_a, 5)
    record(client_b, 2)
    tamper(events[2].pk, verb="test.forged")
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit")
    assert f"event id {events[2].pk} (seq 3)" in str(excinfo.value)
    err = capsys.readouterr().err
    assert "the row was altered" in err
    assert "2 events before it verified" in err
    # The other client's chain is untouched.
    call_command("verify_audit", client="GLOBEX")


def test_verify_audit_detects_a_rewritten_hash(client_a):
    events = record(client_a, 3)
    # Recomputing a forged event's own hash still breaks the link to the next event.
    tamper(events[0].pk, details='{"i": 99}')
    forged = AuditEvent.objects.get(pk=events[0].pk)
    tamper(events[0].pk, hash=event_hash(forged))
    report = audit_verify(client=client_a)
    assert not report.ok
    assert report.broken_seq == 2
    assert "prev_hash" in report.reason


def test_verify_audit_detects_a_removed_event(client_a):
    events = record(client_a, 3)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # bypasses triggers
        cursor.execute("DELETE FROM bpo_ledger_auditevent WHERE id = %s", [events[1].pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    report = audit_verify(client=client_a)
    assert report.broken_seq == 3
    assert "missing" in report.reason


def test_verify_audit_rejects_an_unknown_client(db):
    with pytest.raises(CommandError, match="No client with code 'NOPE'"):
        call_command("verify_audit", client="NOPE")


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_linear_chain(client_a):
    per_thread, threads = 25, 4
    errors = []
    start = threading.Barrier(threads)

    def writer(n):
        try:
            start.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    audit_record(client=client_a, actor=f"system:writer{n}", verb="client.policy_changed", subject=("client", i))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    seqs = list(AuditEvent.objects.filter(client=client_a).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, per_thread * threads + 1))
    report = audit_verify(client=client_a)
    assert report.ok and report.verified == per_thread * threads


def test_the_audit_trail_page_reads_in_words_and_filters_by_what_happened(client, supervisor, client_a, customer_a):
    from bpo_ledger import services

    services.customer_update(customer=customer_a, actor=supervisor, version=1, phone="+12125550199", reason="New phone")
    client.force_login(supervisor)
    url = reverse("audit_trail", args=[client_a.code])
    body = client.get(url).content.decode()
    assert "Customer changed by Sam Supervisor: phone from none to +12125550199. Reason: New phone" in body
    assert "Customer created by system:test: Maria Gonzalez (CRM-1)" in body
    assert '<option value="customer.updated">Customer changed</option>' in body
    filtered = client.get(url, {"verb": "customer.updated"}).content.decode()
    assert "Customer changed by Sam Supervisor" in filtered
    assert "Customer created by" not in filtered

# A batch: each event's canonical JSON is built from parts; it must be the very text verify rebuilds


class Kind(enum.StrEnum):
    RECURRING = "recurring"


BATCH_DETAILS = [
    None,
    {},
    {"amount": Decimal("10.50"), "due": dt.date(2027, 1, 31), "at": dt.datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)},
    {"note": 'naïve café "quoted" \\ back\nslash', "kind": Kind.RECURRING, "flag": True, "none": None, "ratio": 0.1},
    {"moved": {"ACME-000001-01": {"before": dt.date(2026, 12, 10), "after": dt.date(2027, 2, 10)}}, "refs": ["a", ("b", 2)]},
    # Keys that are not text become text on the way through JSON, in another order: the long way.
    {10: "ten", 9: "nine", "8": "eight"},
    {"nested": [{2: "b", 1: "a"}]},
]


def test_a_batch_hashes_each_event_as_verify_recomputes_it(client_a, agent):
    events = [PendingEvent("client.policy_changed", ("client", i), details) for i, details in enumerate(BATCH_DETAILS)]
    assert audit_record_many(client=client_a, actor=agent, events=events) == len(events)
    stored = list(AuditEvent.objects.filter(client=client_a).order_by("seq"))
    assert [e.details for e in stored] == [normalize_details(d) for d in BATCH_DETAILS]
    assert all(event_hash(e) == e.hash for e in stored)
    assert [e.actor for e in stored] == [agent] * len(events)
    assert audit_verify(client=client_a).verified == len(events)


def test_a_batch_continues_the_chain_of_single_events(client_a):
    (first,) = record(client_a, 1)
    audit_record_many(client=client_a, actor="system:test", events=[PendingEvent("client.policy_changed", client_a, {"i": 1})])
    second = AuditEvent.objects.get(client=client_a, seq=2)
    assert second.prev_hash == first.hash
    assert audit_verify(client=client_a).ok


def test_a_batch_with_an_unknown_verb_writes_nothing(client_a):
    with pytest.raises(UnknownEventError):
        audit_record_many(client=client_a, actor="system:test", events=[
            PendingEvent("client.policy_changed", client_a), PendingEvent("no.such_verb", client_a),
        ])
    assert not AuditEvent.objects.exists()


json_keys = st.text(max_size=8)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False) | st.dates()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys | st.integers(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(json_keys, json_values, max_size=6))
def test_canonical_details_are_those_of_the_details_as_stored(details):
    expected = json.dumps(normalize_details(details), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_details(details) == expected


@given(
    seq=st.integers(min_value=1), subject_id=st.text(), verb=st.text(), subject_type=st.text(),
    actor_id=st.none() | st.integers(min_value=1), actor_label=st.text(), details=st.dictionaries(json_keys, json_scalars, max_size=4),
)
def test_a_batchs_canonical_text_is_canonical_event(seq, subject_id, verb, subject_type, actor_id, actor_label, details):
    created_at = dt.datetime(2026, 11, 23, 15, 0, 0, 42, tzinfo=dt.UTC)
    canonical = _canonical_of_batch(client_id=7, created_at=created_at, actor_id=actor_id, actor_label=actor_label)
    assert canonical(seq, verb, subject_type, subject_id, canonical_details(details)) == canonical_event(
        client_id=7, seq=seq, created_at=created_at, actor_id=actor_id, actor_label=actor_label, verb=verb,
        subject_type=subject_type, subject_id=subject_id, details=normalize_details(details),
    )


# --- The audit table cannot be emptied ---------------------------------------------------------


@on_postgresql
@pytest.mark.parametrize(
    "sql",
    ["TRUNCATE bpo_ledger_auditevent", "TRUNCATE bpo_ledger_client, bpo_ledger_auditevent CASCADE"],
)
def test_postgresql_refuses_to_truncate_the_audit_table(client_a, sql):
    from django.db.utils import ProgrammingError

    events = record(client_a, 3)
    with connection.cursor() as cursor:
        # The test's own inserts leave deferred foreign-key checks pending, which TRUNCATE minds.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(ProgrammingError, match="append-only: TRUNCATE refused"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    assert list(AuditEvent.objects.filter(client=client_a).order_by("seq").values_list("pk", flat=True)) == [
        e.pk for e in events
    ]
    assert audit_verify(client=client_a).verified == 3


def empty_the_audit_table():
    """What a TRUNCATE would have done, past the triggers (as a superuser can)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM bpo_ledger_auditevent")
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


def test_verify_audit_fails_a_client_whose_records_have_no_audit_events(client_a, client_b, customer_a, capsys):
    from bpo_ledger import services

    services.customer_create(client=client_b, actor="system:test", external_ref="GX-1", name="Lena Fischer")
    empty_the_audit_table()
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit")
    assert "client ACME" in str(excinfo.value)
    err = capsys.readouterr().err
    assert "ACME: no audit events, yet the client has customers" in err
    assert "GLOBEX: no audit events, yet the client has customers" in err
    assert not audit_verify(client=client_a).ok


def test_verify_audit_fails_a_client_with_only_payments_and_no_events(client_a):
    from bpo_ledger.models import Payment

    Payment.objects.create(
        client=client_a, amount=Decimal("10.00"), currency="USD", value_date=dt.date(2026, 1, 5), bank_transaction_id="T-1"
    )
    with pytest.raises(CommandError, match="client ACME, no audit events, yet the client has payments"):
        call_command("verify_audit", client="ACME")


def test_verify_audit_passes_a_new_client_with_nothing_yet(client_a, agent, capsys):
    # A membership alone (an admin may add one by hand) is no record that needs an event.
    call_command("verify_audit", client="ACME")
    assert "ACME: 0 events verified" in capsys.readouterr().out
