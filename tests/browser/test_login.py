import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def menu(page):
    return page.get_by_role("navigation", name="ACME menu")


def test_agent_sees_the_work_menu_but_no_audit_trail_or_admin(login, page, agent, client_a, customer_a):
    login("agent", PASSWORD)
    expect(page.get_by_role("heading", name="Good to see you, Alice")).to_be_visible()
    page.get_by_role("link", name="ACME · Acme Utilities").click()
    expect(menu(page).get_by_role("link", name="Customers")).to_be_visible()
    expect(menu(page).get_by_role("link", name="Payments")).to_be_visible()
    expect(menu(page).get_by_role("link", name="Audit trail")).to_have_count(0)
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    menu(page).get_by_role("link", name="Customers").click()
    expect(page.get_by_role("link", name="New customer")).to_be_visible()
    page.get_by_role("link", name="Maria Gonzalez").click()
    expect(page.get_by_text("•••• 6819")).to_be_visible()


def test_supervisor_sees_the_audit_trail(login, page, supervisor, client_a, customer_a):
    login("supervisor", PASSWORD)
    page.get_by_role("link", name="ACME · Acme Utilities").click()
    menu(page).get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.get_by_role("cell", name="Customer created by system:test: Maria Gonzalez (CRM-1)")).to_be_visible()


def test_auditor_reads_but_is_offered_no_changes(login, page, auditor, client_a, customer_a):
    login("auditor", PASSWORD)
    page.get_by_role("link", name="ACME · Acme Utilities").click()
    expect(page.locator(".whoami .role")).to_have_text("Auditor")
    expect(menu(page).get_by_role("link", name="Audit trail")).to_be_visible()
    menu(page).get_by_role("link", name="Customers").click()
    expect(page.get_by_role("link", name="New customer")).to_have_count(0)
    page.get_by_role("link", name="Maria Gonzalez").click()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)


def test_admin_sees_every_client_and_the_admin_link(login, page, admin_user, client_a, client_b):
    login("admin", PASSWORD)
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    switcher = page.get_by_role("navigation", name="Clients")
    switcher.get_by_text("Choose a client").click()
    switcher.get_by_role("link", name="GLOBEX · Globex Telecom Admin").click()
    expect(page.get_by_role("heading", name="Globex Telecom")).to_be_visible()
    expect(page.locator(".whoami .role")).to_have_text("Admin")


def test_an_outsiders_url_guess_is_not_found(login, page, outsider, client_a):
    login("outsider", PASSWORD)
    response = page.goto("/clients/ACME/customers/")
    assert response.status == 404


def test_five_wrong_passwords_show_the_lockout(login, page, agent):
    for attempt in range(4):
        login("agent", "not-the-password")
        expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    login("agent", "not-the-password")
    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()
    expect(page.get_by_text("locked for 15 minutes")).to_be_visible()
    login("agent", PASSWORD)
    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()


def test_agent_creates_a_customer_in_the_browser(login, page, agent, client_a):
    login("agent", PASSWORD)
    page.goto("/clients/ACME/customers/new/")
    page.get_by_label("CRM reference").fill("CRM-42")
    page.get_by_label("Name").fill("Hiro Tanaka")
    page.get_by_label("Email", exact=True).fill("hiro@example.com")
    page.get_by_label("Email consent").check()
    page.get_by_label("Bank account (IBAN or account number)").fill("021000021 1234567890")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Hiro Tanaka")).to_be_visible()
    expect(page.get_by_text("Customer Hiro Tanaka created.")).to_be_visible()
    expect(page.get_by_text("•••• 7890")).to_be_visible()
    expect(page.get_by_text("Customer created by Alice Agent: Hiro Tanaka")).to_be_visible()
