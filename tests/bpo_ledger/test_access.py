"""Every URL of the core app, tried by every role: outsiders get 404, read-only roles 403 on writes."""

import pytest
from django.urls import reverse

from bpo_ledger.models import AuditEvent, Customer

# url name -> expected status per role, for client A's pages.
READ_PAGES = {
    "client_overview": {"agent": 200, "supervisor": 200, "auditor": 200, "outsider": 404, "admin": 200},
    "customer_list": {"agent": 200, "supervisor": 200, "auditor": 200, "outsider": 404, "admin": 200},
    "payment_list": {"agent": 200, "supervisor": 200, "auditor": 200, "outsider": 404, "admin": 200},
    "audit_trail": {"agent": 403, "supervisor": 200, "auditor": 200, "outsider": 404, "admin": 200},
    "customer_detail": {"agent": 200, "supervisor": 200, "auditor": 200, "outsider": 404, "admin": 200},
}
WRITE_PAGES = {
    "customer_create": {"agent": 200, "supervisor": 200, "auditor": 403, "outsider": 404, "admin": 200},
    "customer_edit": {"agent": 200, "supervisor": 200, "auditor": 403, "outsider": 404, "admin": 200},
}
ROLES = ["agent", "supervisor", "auditor", "outsider", "admin"]


def url_for(name, client, customer):
    args = [client.code]
    if name in ("customer_detail", "customer_edit"):
        args.append(customer.pk)
    return reverse(name, args=args)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", [*READ_PAGES, *WRITE_PAGES])
def test_each_role_gets_what_its_role_allows(client, roles, client_a, customer_a, name, role):
    expected = {**READ_PAGES, **WRITE_PAGES}[name][role]
    client.force_login(roles[role])
    response = client.get(url_for(name, client_a, customer_a))
    assert response.status_code == expected


@pytest.mark.parametrize("name", [*READ_PAGES, *WRITE_PAGES, "home"])
def test_it_requires_login(client, client_a, customer_a, name):
    url = reverse("home") if name == "home" else url_for(name, client_a, customer_a)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", ["customer_detail", "customer_edit"])
def test_another_clients_customer_is_not_found_through_my_client(client, agent, client_a, customer_b, name):
    client.force_login(agent)
    response = client.get(reverse(name, args=[client_a.code, customer_b.pk]))
    assert response.status_code == 404


def test_an_unknown_client_is_not_found(client, agent):
    client.force_login(agent)
    assert client.get(reverse("client_overview", args=["NOPE"])).status_code == 404


def test_an_inactive_client_is_not_found(client, agent, client_a):
    client_a.is_active = False
    client_a.save()
    client.force_login(agent)
    assert client.get(reverse("client_overview", args=[client_a.code])).status_code == 404


NEW_CUSTOMER = {
    "external_ref": "CRM-77",
    "name": "James Carter",
    "email": "james@example.com",
    "phone": "+13125550102",
    "timezone": "America/Chicago",
    "email_consent": "on",
    "bank_account": "026009593 9876543210",
}


def test_auditor_cannot_create_a_customer(client, auditor, client_a):
    client.force_login(auditor)
    response = client.post(reverse("customer_create", args=[client_a.code]), NEW_CUSTOMER)
    assert response.status_code == 403
    assert not Customer.objects.filter(external_ref="CRM-77").exists()
    assert not AuditEvent.objects.filter(verb="customer.created").exists()


def test_outsider_cannot_create_a_customer_in_a_client_they_do_not_belong_to(client, outsider, client_a):
    client.force_login(outsider)
    response = client.post(reverse("customer_create", args=[client_a.code]), NEW_CUSTOMER)
    assert response.status_code == 404
    assert not Customer.objects.filter(external_ref="CRM-77").exists()


def test_auditor_cannot_edit_a_customer(client, auditor, client_a, customer_a):
    client.force_login(auditor)
    response = client.post(
        reverse("customer_edit", args=[client_a.code, customer_a.pk]),
        {**NEW_CUSTOMER, "name": "Changed"},
    )
    assert response.status_code == 403
    customer_a.refresh_from_db()
    assert customer_a.name == "Maria Gonzalez"


def test_home_lists_only_my_clients_with_my_role(client, agent, client_a, client_b):
    client.force_login(agent)
    response = client.get(reverse("home"))
    body = response.content.decode()
    assert "Acme Utilities" in body
    assert "Globex" not in body
    assert 'data-role="agent"' in body


def test_a_user_of_several_clients_sees_each_with_its_role(client, agent, client_b):
    from bpo_ledger.models import Membership

    Membership.objects.create(user=agent, client=client_b, role="auditor")
    client.force_login(agent)
    body = client.get(reverse("home")).content.decode()
    assert "Acme Utilities" in body and "Globex Telecom" in body
    # The switcher offers both clients.
    assert body.count('class="switcher"') == 1
    assert reverse("client_overview", args=["GLOBEX"]) in body
    # Within Globex the agent is an auditor: no "New customer" button.
    body = client.get(reverse("customer_list", args=["GLOBEX"])).content.decode()
    assert "New customer" not in body
