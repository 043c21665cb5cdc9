"""Demo CSV column mappings, one per demo client, so that `make run` can import a bank export."""

from django.db import transaction

from bpo_ledger.models import Client

from .models import CsvMapping

MAPPINGS = {
    "ACME": dict(name="Bank export (US)", account="US-CHK-0001", currency="USD", date_format="%m/%d/%Y",
                 thousands_separator=",", value_date_column="Date", amount_column="Amount",
                 reference_column="Description", payer_name_column="Payer", payer_account_column="Payer account",
                 transaction_id_column="Transaction ID"),
    "GLOBEX": dict(name="Kontoauszug (DE)", account="DE89370400440532013000", currency="EUR", delimiter=";",
                   encoding="cp1252", date_format="%d.%m.%Y", decimal_separator=",", thousands_separator=".",
                   sign="debit_credit", debit_column="Soll", credit_column="Haben", value_date_column="Valuta",
                   booking_date_column="Buchungstag", reference_column="Verwendungszweck",
                   payer_name_column="Auftraggeber", payer_account_column="IBAN"),
}


@transaction.atomic
def seed() -> int:
    created = 0
    for code, fields in MAPPINGS.items():
        client = Client.objects.filter(code=code).first()
        if client is None:
            continue
        _, made = CsvMapping.objects.get_or_create(client=client, name=fields["name"], defaults=fields)
        created += made
    return created
