"""Fixtures for statement imports: a CSV column mapping of client A and files written for it."""

import io

import pytest


@pytest.fixture
def mapping(client_a):
    from reconciliation.models import CsvMapping

    mapping = CsvMapping(
        client=client_a, name="Bank export", account="US-CHK-001", currency="USD",
        value_date_column="Date", amount_column="Amount", reference_column="Reference",
        payer_name_column="Payer", payer_account_column="Payer account",
    )
    mapping.full_clean()
    mapping.save()
    return mapping


def csv_file(*rows: str, header: str = "Date,Amount,Reference,Payer,Payer account") -> io.BytesIO:
    """A CSV statement of the mapping's layout: rows such as "2026-11-02,100.00,INV-1,Ann,GB11"."""
    return io.BytesIO(("\n".join([header, *rows]) + "\n").encode())


def import_csv(client, actor, stream, mapping, name="statement.csv", **kwargs):
    from reconciliation import services

    return services.statement_import(
        client=client, actor=actor, file_name=name, stream=stream, format="csv", mapping=mapping, **kwargs
    )
