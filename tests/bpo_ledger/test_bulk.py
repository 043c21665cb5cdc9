"""Bulk inserts: COPY of plain rows, with what Model.save() would do to the values."""

import datetime as dt

import pytest
from django.db import connection

from bpo_ledger.bulk import reserve_ids, row_inserter, row_writer
from bpo_ledger.models import Customer

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)


def stored_column(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


@on_postgresql
def test_reserved_ids_are_new_and_distinct(client_a, customer_a):
    ids = reserve_ids(Customer, 3)
    assert len(set(ids)) == 3 and min(ids) > customer_a.pk
    later = Customer.objects.create(client=client_a, external_ref="CRM-2", name="Later")
    assert later.pk > max(ids)


def test_row_inserter_encrypts_and_takes_the_values_save_would_store(client_a):
    customers = [
        Customer(client=client_a, external_ref=f"CRM-{i}", name=f"C{i}", email=f"c{i}@example.com", bank_account=f"DE89 3704 0044 0532 0130 0{i}")
        for i in range(3)
    ]
    fields = Customer._meta.concrete_fields
    with row_inserter(Customer, len(customers)) as insert:
        ids = [insert([field.pre_save(customer, True) for field in fields]) for customer in customers]
    stored = {c.pk: c for c in Customer.objects.filter(client=client_a)}
    assert sorted(stored) == sorted(ids)
    for customer, pk in zip(customers, ids, strict=True):
        again = stored[pk]
        assert (again.name, again.email, again.bank_account) == (customer.name, customer.email, customer.bank_account)
        assert again.created_at is not None and again.updated_at is not None
        assert "0532" not in stored_column("bpo_ledger_customer", "bank_account", pk)


def test_row_inserter_returns_the_ids_and_stores_the_rows_by_the_end_of_the_block(client_a):
    fields = Customer._meta.concrete_fields
    template = {f.attname: f.get_default() for f in fields}
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    with row_inserter(Customer, 2) as insert:
        ids = [
            insert([
                {**template, "client_id": client_a.pk, "external_ref": ref, "name": ref, "bank_account": "NL91ABNA0417164300",
                 "created_at": now, "updated_at": now}[f.attname]
                for f in fields
            ])
            for ref in ("CRM-7", "CRM-8")
        ]
    stored = Customer.objects.in_bulk(ids)
    assert [stored[pk].external_ref for pk in ids] == ["CRM-7", "CRM-8"]
    assert stored[ids[0]].bank_account == "NL91ABNA0417164300"
    assert stored_column("bpo_ledger_customer", "bank_account", ids[0]) != "NL91ABNA0417164300"


def test_row_writer_stores_the_rows_by_the_end_of_the_block(client_a):
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    values = {
        "client_id": client_a.pk, "name": "Plain", "email": "", "phone": "", "timezone": "", "email_consent": False,
        "sms_consent": False, "bank_account": "", "bank_account_last4": "", "bank_account_hash": "", "version": 1,
        "created_at": now, "updated_at": now,
    }
    with row_writer(Customer, ("external_ref", *values)) as write:
        for ref in ("CRM-7", "CRM-8"):
            write((ref, *values.values()))
    assert list(Customer.objects.order_by("external_ref").values_list("external_ref", "name", "created_at")) == [
        ("CRM-7", "Plain", now), ("CRM-8", "Plain", now),
    ]
