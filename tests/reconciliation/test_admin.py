"""Admins keep the CSV mappings and the bank accounts in the Django admin."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from reconciliation.models import CsvMapping

pytestmark = pytest.mark.django_db


def test_a_mapping_that_cannot_read_a_file_is_refused_in_words(client_a):
    mapping = CsvMapping(client=client_a, name="Broken", account="A", currency="USD", value_date_column="Date",
                         sign="debit_credit", debit_column="Soll")
    with pytest.raises(ValidationError, match="needs a debit column and a credit column"):
        mapping.full_clean()
    mapping = CsvMapping(client=client_a, name="Kinds", account="A", currency="USD", value_date_column="Date",
                         amount_column="Amount", kinds={"X": "gift"})
    with pytest.raises(ValidationError, match="Unknown kind gift"):
        mapping.full_clean()


def test_a_tab_delimiter_is_written_as_backslash_t(client_a):
    mapping = CsvMapping(client=client_a, name="Tabs", account="A", currency="USD", value_date_column="Date",
                         amount_column="Amount", delimiter="\\t")
    assert mapping.reader_options()["delimiter"] == "\t"


@pytest.mark.parametrize("model", ["csvmapping", "bankaccount", "importjob"])
def test_the_admin_lists_and_adds(client, admin_user, model, mapping):
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:reconciliation_{model}_changelist")).status_code == 200
    assert client.get(reverse(f"admin:reconciliation_{model}_add")).status_code == (403 if model == "importjob" else 200)


def test_the_admin_saves_a_mapping(client, admin_user, client_a):
    client.force_login(admin_user)
    response = client.post(reverse("admin:reconciliation_csvmapping_add"), {
        "client": client_a.pk, "name": "Chase", "account": "US-1", "currency": "USD", "encoding": "utf-8",
        "delimiter": ",", "quote": '"', "header_row": 1, "date_format": "%m/%d/%Y", "decimal_separator": ".",
        "thousands_separator": ",", "sign": "as_is", "amount_column": "Amount", "value_date_column": "Posting Date",
        "kinds": "{}",
    })
    assert response.status_code == 302
    assert CsvMapping.objects.get(name="Chase").reader_options()["value_date_column"] == "Posting Date"
