"""A bank export previewed under its mapping, imported, seen on the Payments page, then voided."""

import pytest
from playwright.sync_api import expect

from bpo_ledger.models import Payment
from tests.conftest import PASSWORD

EXPORT = (
    "Date,Amount,Reference,Payer,Payer account\n"
    "2026-11-02,120.00,ACME-000001-01,Ann Lee,GB11AAAA1111\n"
    "2026-11-03,-4.50,Account fee,,\n"
)


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mapping(client_a):
    from reconciliation.models import CsvMapping

    return CsvMapping.objects.create(
        client=client_a, name="Bank export", account="US-CHK-001", currency="USD", value_date_column="Date",
        amount_column="Amount", reference_column="Reference", payer_name_column="Payer",
        payer_account_column="Payer account",
    )


@pytest.fixture
def export(tmp_path):
    path = tmp_path / "november.csv"
    path.write_text(EXPORT)
    return path


def test_agent_previews_a_csv_export_imports_it_and_a_supervisor_voids_it(login, page, agent, supervisor, mapping, export):
    login("agent", PASSWORD)
    page.goto("/clients/ACME/")
    page.get_by_role("navigation", name="ACME menu").get_by_role("link", name="Statements").click()
    page.get_by_role("link", name="Import a statement").click()
    page.get_by_label("File").set_input_files(str(export))
    page.get_by_label("CSV column mapping").select_option(label="Bank export (ACME)")
    page.get_by_role("button", name="Preview CSV lines").click()

    preview = page.get_by_role("region", name="The first lines of november.csv")
    expect(preview.get_by_role("row")).to_have_count(3)  # header + 2 lines
    expect(preview).to_contain_text("Ann Lee")
    assert not Payment.objects.exists()

    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("november.csv: 2 payments stored, 0 already known.")).to_be_visible()
    expect(page.get_by_text("USD 115.50", exact=True)).to_be_visible()

    page.get_by_role("navigation", name="ACME menu").get_by_role("link", name="Payments").click()
    expect(page.get_by_role("row", name="Ann Lee")).to_contain_text("Bank file")

    page.get_by_role("button", name="Log out").click()
    login("supervisor", PASSWORD)
    page.goto("/clients/ACME/imports/")
    page.get_by_role("link", name="november.csv").click()
    page.get_by_label("Reason").fill("Wrong client")
    page.get_by_role("button", name="Void the import").click()
    expect(page.get_by_text("its payments are gone")).to_be_visible()
    assert not Payment.objects.exists()
