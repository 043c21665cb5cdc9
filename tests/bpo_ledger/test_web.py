import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from config.celery import app as celery_app
from tests.conftest import PASSWORD

TEMPLATES = Path(settings.BASE_DIR, "templates")


def test_healthz_reports_database_and_broker(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_when_the_broker_is_down(client, db, monkeypatch):
    # A broker that refuses connections: nothing listens on port 1.
    dead = celery_app.connection_for_write
    monkeypatch.setattr(celery_app, "connection_for_write", lambda: dead(url="redis://127.0.0.1:1/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error:")


def test_pages_carry_a_content_security_policy_without_inline_script(client, agent):
    client.force_login(agent)
    response = client.get(reverse("home"))
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_script_or_style(path):
    text = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script> is blocked by the CSP"
    assert " style=" not in text and "<style" not in text
    assert not re.search(r"\son[a-z]+=", text), "inline event handlers are blocked by the CSP"


def test_login_then_logout(client, agent):
    response = client.post(reverse("login"), {"username": "agent", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("home")
    assert "Good to see you, Alice" in client.get(reverse("home")).content.decode()
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_five_wrong_passwords_lock_the_account_out(client, agent):
    for _ in range(4):
        response = client.post(reverse("login"), {"username": "agent", "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    response = client.post(reverse("login"), {"username": "agent", "password": "wrong"})
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed logins" in body
    assert "locked for 15 minutes" in body
    # Even the right password is refused while locked out.
    response = client.post(reverse("login"), {"username": "agent", "password": PASSWORD})
    assert response.status_code == 429


def login_through_proxy(client, forwarded_for, password):
    """A login that reached us through one reverse proxy at 10.0.0.2, which appended the address
    it was called from to X-Forwarded-For."""
    data = {"username": "agent", "password": password}
    return client.post(reverse("login"), data, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)


def test_behind_a_proxy_each_address_is_locked_out_on_its_own(client, agent, settings):
    settings.AXES_IPWARE_PROXY_COUNT = 1
    for _ in range(5):
        login_through_proxy(client, "203.0.113.7", "wrong")
    assert login_through_proxy(client, "203.0.113.7", PASSWORD).status_code == 429
    # An address the attacker writes in front is not believed: the proxy's own entry counts.
    assert login_through_proxy(client, "198.51.100.9, 203.0.113.7", PASSWORD).status_code == 429
    # The user, behind the same proxy at another address, is not locked out by the attacker.
    response = login_through_proxy(client, "198.51.100.9", PASSWORD)
    assert response.status_code == 302 and response.url == reverse("home")


def test_without_a_proxy_x_forwarded_for_is_not_believed(client, agent, settings):
    settings.AXES_IPWARE_PROXY_COUNT = 0
    for n in range(5):
        login_through_proxy(client, f"203.0.113.{n}", "wrong")
    assert login_through_proxy(client, "198.51.100.9", PASSWORD).status_code == 429


def test_seed_demo_is_idempotent(db, capsys):
    from django.apps import apps

    call_command("seed_demo")
    first = capsys.readouterr().out
    counts = {m._meta.label: m.objects.count() for m in apps.get_models()}
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert counts == {m._meta.label: m.objects.count() for m in apps.get_models()}
    assert "rows created" in first
    assert "nothing changed" in second
    assert "agent       agent of ACME, agent of GLOBEX" in second
    assert counts["bpo_ledger.Client"] == 3
    call_command("verify_audit")
