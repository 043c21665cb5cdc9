"""An evidence file larger than the limit is refused (413) from its declared length, before the
body is read: nothing is parsed, stored or logged."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import multipartparser
from django.urls import reverse

from bpo_ledger.models import AuditEvent
from discrepancies.models import Attachment


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.ATTACHMENT_MAX_BYTES = 100_000
    return tmp_path / "media"


@pytest.fixture
def parsed(monkeypatch):
    """How many request bodies Django parsed as multipart."""
    calls = []
    parse = multipartparser.MultiPartParser.parse

    def counting(self):
        calls.append(self)
        return parse(self)

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", counting)
    return calls


def attach_url(item):
    return reverse("discrepancy_action", args=[item.client.code, item.pk, "attach"])


def test_an_evidence_file_over_the_limit_is_refused_unread(client, agent, open_item, parsed, media):
    client.force_login(agent)
    upload = SimpleUploadedFile("statement.pdf", b"%PDF-1.7 " + b"x" * 300_000, content_type="application/pdf")
    response = client.post(attach_url(open_item), {"version": open_item.version, "file": upload},
                           HTTP_REFERER=f"http://testserver{open_item.get_absolute_url()}")
    assert response.status_code == 413
    body = response.content.decode()
    assert "Too large: nothing was stored" in body
    assert "evidence files may be up to 97.7\xa0KB" in body
    assert f'href="http://testserver{open_item.get_absolute_url()}"' in body
    assert parsed == []
    assert not Attachment.objects.exists()
    assert not AuditEvent.objects.filter(verb="discrepancy.attachment_added").exists()
    assert not media.exists() or not any(media.rglob("*.pdf"))


def test_a_declared_length_over_the_limit_is_refused_whatever_follows(client, agent, open_item, parsed):
    client.force_login(agent)
    upload = SimpleUploadedFile("small.txt", b"small", content_type="text/plain")
    response = client.post(attach_url(open_item), {"version": open_item.version, "file": upload}, CONTENT_LENGTH="5000000000")
    assert response.status_code == 413
    assert parsed == []


def test_a_file_within_the_limit_is_still_attached(client, agent, open_item, parsed):
    client.force_login(agent)
    upload = SimpleUploadedFile("statement.pdf", b"%PDF-1.7 " + b"x" * 90_000, content_type="application/pdf")
    assert client.post(attach_url(open_item), {"version": open_item.version, "file": upload}).status_code == 302
    assert Attachment.objects.get().size == 90_009
    assert len(parsed) == 1


def test_a_file_just_over_the_limit_gets_the_forms_error(client, agent, open_item, settings):
    # Within the room left for the form's other fields, the service measures the file itself.
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    client.force_login(agent)
    upload = SimpleUploadedFile("statement.pdf", b"%PDF-1.7 " + b"x" * 1024 * 1024, content_type="application/pdf")
    response = client.post(attach_url(open_item), {"version": open_item.version, "file": upload})
    assert response.status_code == 200
    assert "statement.pdf is 1.0 MB; the limit is 1 MB." in response.content.decode()
    assert not Attachment.objects.exists()


def test_a_page_that_takes_no_file_takes_no_large_body(client, agent, client_a, parsed, settings):
    client.force_login(agent)
    upload = SimpleUploadedFile("big.csv", b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))
    response = client.post(reverse("customer_create", args=["ACME"]), {"name": "Ann", "external_ref": "C-1", "file": upload})
    assert response.status_code == 413
    assert "a form may be up to 2.0\xa0MB" in response.content.decode()
    assert parsed == []
