import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse

from bpo_ledger import services
from bpo_ledger.crypto import account_lookup_hash
from bpo_ledger.models import AuditEvent, Customer


def test_agent_creates_a_customer_and_it_is_on_the_log(client, agent, client_a):
    client.force_login(agent)
    response = client.post(
        reverse("customer_create", args=[client_a.code]),
        {
            "external_ref": "CRM-77",
            "name": "James Carter",
            "email": "james@example.com",
            "phone": "+13125550102",
            "timezone": "America/Chicago",
            "email_consent": "on",
            "bank_account": "026009593 9876543210",
        },
    )
    customer = Customer.objects.get(client=client_a, external_ref="CRM-77")
    assert response.status_code == 302
    assert response.url == customer.get_absolute_url()
    assert customer.email_consent and customer.email_consent_at is not None
    assert not customer.sms_consent and customer.sms_consent_at is None
    event = AuditEvent.objects.get(client=client_a, verb="customer.created")
    assert event.actor == agent
    assert event.subject_id == str(customer.pk)
    assert event.details["after"]["bank_account"] == "•••• 3210"
    # The log never holds the full account number.
    assert "9876543210" not in str(event.details)


def test_bad_fields_are_named_and_nothing_is_saved(client, agent, client_a):
    client.force_login(agent)
    response = client.post(
        reverse("customer_create", args=[client_a.code]),
        {"external_ref": "CRM-9", "name": "X", "phone": "555-1234", "timezone": "Mars/Olympus"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "international format" in str(form.errors["phone"]).lower()
    assert "Mars/Olympus is not an IANA time zone" in str(form.errors["timezone"])
    assert not Customer.objects.filter(external_ref="CRM-9").exists()
    assert not AuditEvent.objects.exists()


def test_a_duplicate_crm_reference_is_refused(client, agent, client_a, customer_a):
    client.force_login(agent)
    response = client.post(
        reverse("customer_create", args=[client_a.code]),
        {"external_ref": customer_a.external_ref, "name": "Someone Else"},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Customer.objects.filter(client=client_a).count() == 1


def test_the_same_crm_reference_may_exist_in_another_client(client_a, client_b, customer_a):
    other = services.customer_create(
        client=client_b, actor="system:test", external_ref=customer_a.external_ref, name="Other"
    )
    assert other.pk != customer_a.pk


def test_bank_account_is_encrypted_at_rest_and_shown_masked(client, agent, client_a, customer_a):
    with connection.cursor() as cursor:
        cursor.execute("SELECT bank_account FROM bpo_ledger_customer WHERE id = %s", [customer_a.pk])
        stored = cursor.fetchone()[0]
    assert "1331926819" not in stored
    assert Customer.objects.get(pk=customer_a.pk).bank_account == "GB29NWBK60161331926819"
    client.force_login(agent)
    body = client.get(customer_a.get_absolute_url()).content.decode()
    assert "•••• 6819" in body
    assert "1331926819" not in body
    edit = client.get(reverse("customer_edit", args=[client_a.code, customer_a.pk])).content.decode()
    assert "1331926819" not in edit


def test_the_lookup_hash_finds_the_account_however_it_is_written(customer_a):
    assert customer_a.bank_account_hash == account_lookup_hash("gb29-nwbk-6016-1331-9268-19")
    assert Customer.objects.filter(
        client=customer_a.client, bank_account_hash=account_lookup_hash("GB29NWBK60161331926819")
    ).get() == customer_a


def test_edit_records_before_and_after_with_the_reason(client, supervisor, client_a, customer_a):
    client.force_login(supervisor)
    response = client.post(
        reverse("customer_edit", args=[client_a.code, customer_a.pk]),
        {
            "external_ref": "CRM-1",
            "name": "Maria Gonzalez",
            "email": "maria.g@example.com",
            "sms_consent": "on",
            "email_consent": "on",
            "phone": "+12125550101",
            "reason": "Customer called with new contact details",
            "version": 1,
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(client=client_a, verb="customer.updated")
    changes = event.details["changes"]
    assert changes["email"] == {"before": "maria@example.com", "after": "maria.g@example.com"}
    assert changes["sms_consent"] == {"before": False, "after": True}
    assert "bank_account" not in changes  # blank field keeps the stored account
    assert event.details["reason"] == "Customer called with new contact details"
    body = client.get(customer_a.get_absolute_url()).content.decode()
    assert "Customer called with new contact details" in body
    customer_a.refresh_from_db()
    assert customer_a.sms_consent_at is not None
    assert customer_a.bank_account_last4 == "6819"


def test_withdrawing_consent_clears_its_timestamp(customer_a):
    services.customer_update(customer=customer_a, actor="system:test", version=None, email_consent=False)
    customer_a.refresh_from_db()
    assert customer_a.email_consent is False and customer_a.email_consent_at is None


def test_replacing_the_account_with_one_of_the_same_last_digits_is_still_logged(customer_a):
    services.customer_update(customer=customer_a, actor="system:test", version=None, bank_account="DE00 1234 5678 0000 6819")
    event = AuditEvent.objects.get(verb="customer.updated")
    assert event.details["changes"]["bank_account"] == {"before": "•••• 6819", "after": "•••• 6819"}


def test_saving_without_changes_writes_nothing(customer_a):
    services.customer_update(customer=customer_a, actor="system:test", version=None, name="Maria Gonzalez")
    assert not AuditEvent.objects.filter(verb="customer.updated").exists()


@pytest.mark.parametrize("query,expected", [("maria", ["Maria Gonzalez"]), ("CRM-2", ["James Carter"])])
def test_customer_list_filters(client, agent, client_a, customer_a, query, expected):
    services.customer_create(client=client_a, actor="system:test", external_ref="CRM-2", name="James Carter")
    client.force_login(agent)
    response = client.get(reverse("customer_list", args=[client_a.code]), {"q": query})
    names = [row.record.name for row in response.context["table"].page.object_list]
    assert names == expected


EDIT = {
    "external_ref": "CRM-1",
    "name": "Maria Gonzalez",
    "email": "maria@example.com",
    "email_consent": "on",
    "phone": "+12125550101",
    "reason": "Customer called",
}


def test_a_stale_edit_is_refused_with_409_and_overwrites_nothing(client, agent, supervisor, client_a, customer_a):
    url = reverse("customer_edit", args=[client_a.code, customer_a.pk])
    client.force_login(supervisor)
    assert client.post(url, {**EDIT, "name": "Maria G. Gonzalez", "version": 1}).status_code == 302
    client.force_login(agent)
    # The agent's page was opened before the supervisor saved: it still says version 1.
    response = client.post(url, {**EDIT, "email": "other@example.com", "version": 1})
    assert response.status_code == 409
    assert "changed by someone else" in response.content.decode()
    customer_a.refresh_from_db()
    assert (customer_a.name, customer_a.email, customer_a.version) == ("Maria G. Gonzalez", "maria@example.com", 2)
    assert AuditEvent.objects.filter(verb="customer.updated").count() == 1


def test_the_edit_page_carries_the_version_it_shows(client, agent, client_a, customer_a):
    client.force_login(agent)
    body = client.get(reverse("customer_edit", args=[client_a.code, customer_a.pk])).content.decode()
    assert 'name="version" value="1"' in body


def test_the_service_refuses_an_auditor_and_an_outsider(auditor, outsider, customer_a):
    for user in (auditor, outsider):
        with pytest.raises(PermissionDenied):
            services.customer_update(customer=customer_a, actor=user, version=1, name="Changed")
    customer_a.refresh_from_db()
    assert customer_a.name == "Maria Gonzalez"


def test_the_customer_log_reads_in_words(client, agent, client_a, customer_a):
    services.customer_update(customer=customer_a, actor=agent, version=1, email="maria.g@example.com", reason="New address")
    client.force_login(agent)
    body = client.get(customer_a.get_absolute_url()).content.decode()
    assert "Customer changed by Alice Agent: email from maria@example.com to maria.g@example.com. Reason: New address" in body
