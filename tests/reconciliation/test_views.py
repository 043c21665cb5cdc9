"""The statement pages: every role against every view, uploads, the CSV preview, jobs, voiding."""

import pytest
from django.core.cache import caches
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bpo_ledger.models import ImportStatus, Payment, PaymentImport
from reconciliation import services
from reconciliation.models import ImportItem, ImportJob, ItemKind, JobStatus

from .conftest import csv_file, import_csv

pytestmark = pytest.mark.django_db

GOOD = b"Date,Amount,Reference,Payer,Payer account\n2026-11-02,10.00,R1,Ann,GB11\n2026-11-03,25.50,R2,Bo,GB22\n"
BAD = b"Date,Amount,Reference,Payer,Payer account\n2026-11-02,10.00,R1,Ann,GB11\n2026-11-03,2x,R2,,\n"
READERS = ("agent", "supervisor", "auditor", "admin")
WRITERS = ("agent", "supervisor", "admin")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def imported(client_a, agent, mapping):
    return import_csv(client_a, agent, csv_file("2026-11-02,10.00,R1,Ann,GB11"), mapping)


@pytest.fixture
def notice(client_a, imported):
    return ImportItem.objects.create(client=client_a, payment_import=imported, kind=ItemKind.NOTICE, code="C01",
                                     message="Correct account number", corrected={"account": "5555"})


@pytest.fixture
def job(client_a, agent):
    return ImportJob.objects.create(client=client_a, file_name="big.csv", path="statements/ACME/x", size=10,
                                    status=JobStatus.RUNNING, created_by=agent)


def upload(name="statement.csv", content=GOOD):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def as_role(client, roles, role):
    client.force_login(roles[role])
    return client


@pytest.mark.parametrize("role", [*READERS, "outsider"])
def test_every_member_reads_the_pages_an_outsider_finds_none(client, roles, role, imported, job):
    as_role(client, roles, role)
    urls = [
        reverse("import_list", args=["ACME"]),
        reverse("import_detail", args=["ACME", imported.pk]),
        reverse("import_job", args=["ACME", job.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == (404 if role == "outsider" else 200), url


@pytest.mark.parametrize("role", [*READERS, "outsider"])
def test_only_agents_supervisors_and_admins_upload(client, roles, role, mapping):
    as_role(client, roles, role)
    expected = {"auditor": 403, "outsider": 404}.get(role, 200)
    assert client.get(reverse("import_upload", args=["ACME"])).status_code == expected
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(), "mapping": mapping.pk, "import": "1"})
    assert response.status_code == {"auditor": 403, "outsider": 404}.get(role, 302)
    assert PaymentImport.objects.exists() == (role in WRITERS)


@pytest.mark.parametrize("role", [*READERS, "outsider"])
def test_only_supervisors_and_admins_void(client, roles, role, imported):
    as_role(client, roles, role)
    response = client.post(reverse("import_void", args=["ACME", imported.pk]), {"reason": "wrong client"})
    assert response.status_code == {"agent": 403, "auditor": 403, "outsider": 404}.get(role, 302)
    imported.refresh_from_db()
    assert (imported.status == ImportStatus.VOIDED) == (role in ("supervisor", "admin"))


@pytest.mark.parametrize("role", [*READERS, "outsider"])
def test_writers_mark_a_notice_applied(client, roles, role, notice):
    as_role(client, roles, role)
    response = client.post(reverse("notice_done", args=["ACME", notice.pk]))
    assert response.status_code == {"auditor": 403, "outsider": 404}.get(role, 302)
    notice.refresh_from_db()
    assert (notice.done_at is not None) == (role in WRITERS)


def test_an_upload_imports_and_shows_the_import(client, agent, mapping):
    client.force_login(agent)
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(), "mapping": mapping.pk, "import": "1"}, follow=True)
    page = response.content.decode()
    assert "statement.csv: 2 payments stored, 0 already known." in page
    assert "Stored as payments</dt><dd>2</dd>" in page
    assert "$35.50" in page or "35.50" in page
    payments = client.get(reverse("payment_list", args=["ACME"])).content.decode()
    assert "Bank file" in payments and "R2" in payments


def test_a_bad_file_is_refused_on_the_page_with_its_place(client, agent, mapping):
    client.force_login(agent)
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(content=BAD), "mapping": mapping.pk, "import": "1"})
    assert response.status_code == 200
    assert "Refused at line 3, column Amount: &#x27;2x&#x27; is not an amount. Nothing of the file was kept." in response.content.decode()
    assert not Payment.objects.exists() and not PaymentImport.objects.exists()


def test_the_same_file_again_is_refused_on_the_page(client, agent, mapping, imported):
    client.force_login(agent)
    data = b"Date,Amount,Reference,Payer,Payer account\n2026-11-02,10.00,R1,Ann,GB11\n"
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(content=data), "mapping": mapping.pk, "import": "1"})
    assert f"as import #{imported.pk}" in response.content.decode()
    assert Payment.objects.count() == 1


def test_a_csv_preview_shows_the_first_lines_then_imports_the_same_file(client, agent, mapping):
    client.force_login(agent)
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(), "mapping": mapping.pk, "preview": "1"})
    page = response.content.decode()
    assert "The first lines of statement.csv" in page and "25.50" in page and "line 3" in page
    assert not Payment.objects.exists()
    held = response.context["form"].initial["held"]
    response = client.post(reverse("import_upload", args=["ACME"]), {"held": held, "mapping": mapping.pk, "import": "1"})
    assert response.status_code == 302
    assert Payment.objects.count() == 2 and PaymentImport.objects.get().file_name == "statement.csv"


def test_a_preview_shows_the_first_error_with_its_place(client, agent, mapping):
    client.force_login(agent)
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(content=BAD), "mapping": mapping.pk, "preview": "1"})
    page = response.content.decode()
    assert "At line 3, column Amount" in page and "10.00" in page


def test_a_held_file_of_another_client_or_forged_is_refused(client, agent, mapping):
    from reconciliation.forms import held_token

    client.force_login(agent)
    forged = held_token(client_code="GLOBEX", path="statements/GLOBEX/x", name="x.csv", size=1)
    response = client.post(reverse("import_upload", args=["ACME"]), {"held": forged, "mapping": mapping.pk, "import": "1"})
    assert "belongs to another client" in response.content.decode()
    response = client.post(reverse("import_upload", args=["ACME"]), {"held": "nonsense", "mapping": mapping.pk, "import": "1"})
    assert "no longer available" in response.content.decode()


def test_a_large_file_is_imported_by_a_job_whose_page_shows_progress(client, agent, mapping, settings, django_capture_on_commit_callbacks):
    settings.STATEMENT_ASYNC_BYTES = 10
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(), "mapping": mapping.pk, "import": "1"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("import_job", args=["ACME", job.pk])
    assert len(queued) == 1 and not Payment.objects.exists()
    page = client.get(response.url).content.decode()
    assert "Queued" in page and 'data-refresh="2"' in page
    # The worker reports progress while it runs.
    job.status = JobStatus.RUNNING
    job.save()
    caches["progress"].set(f"import-job:{job.pk}", (1234, 1000))
    page = client.get(response.url).content.decode()
    assert 'data-progress="read">1234<' in page and 'data-progress="stored">1000<' in page
    caches["progress"].delete(f"import-job:{job.pk}")
    job.status = JobStatus.QUEUED
    job.save()
    services.statement_import_job_run(job_id=job.pk)
    services.statement_import_job_run(job_id=job.pk)  # a second delivery does nothing
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.rows_stored == 2
    assert Payment.objects.count() == 2 and PaymentImport.objects.count() == 1
    assert client.get(response.url).url == reverse("import_detail", args=["ACME", job.payment_import_id])


def test_a_large_bad_file_fails_its_job_with_the_place(client, agent, mapping, settings, django_capture_on_commit_callbacks):
    settings.STATEMENT_ASYNC_BYTES = 10
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("import_upload", args=["ACME"]), {"file": upload(content=BAD), "mapping": mapping.pk, "import": "1"})
    job = ImportJob.objects.get()
    services.statement_import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "Refused at line 3, column Amount" in job.error
    page = client.get(reverse("import_job", args=["ACME", job.pk])).content.decode()
    assert "Refused at line 3, column Amount" in page and "data-refresh" not in page
    assert not Payment.objects.exists()


def test_an_upload_over_the_statement_limit_is_refused_unread(client, agent, mapping, settings):
    settings.STATEMENT_MAX_BYTES = 100
    client.force_login(agent)
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(content=GOOD * 1000), "mapping": mapping.pk, "import": "1"})
    assert response.status_code == 413
    assert "bank statements may be up to 100" in response.content.decode()
    assert not PaymentImport.objects.exists()


def test_the_detail_page_lists_statements_gaps_notices_and_the_void_form(client, supervisor, auditor, imported, notice):
    from reconciliation.models import ImportedStatement

    ImportedStatement.objects.create(client=imported.client, payment_import=imported, account="US-CHK-001",
                                     sequence="44", previous_sequence="42", sequence_gap=True)
    client.force_login(supervisor)
    page = client.get(reverse("import_detail", args=["ACME", imported.pk])).content.decode()
    assert "gap: the last was 42" in page and "C01" in page and "account: 5555" in page
    assert "Void the import" in page
    client.force_login(auditor)
    page = client.get(reverse("import_detail", args=["ACME", imported.pk])).content.decode()
    assert "Void the import" not in page and "Mark applied" not in page


def test_the_menu_has_the_statements_page(client, auditor):
    client.force_login(auditor)
    page = client.get(reverse("client_overview", args=["ACME"])).content.decode()
    assert reverse("import_list", args=["ACME"]) in page


def test_a_nacha_file_uploaded_is_detected_and_imported(client, supervisor):
    from .test_command import NACHA

    client.force_login(supervisor)
    data = (NACHA / "moov_ppd-debit.ach").read_bytes()
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload("ppd.ach", data), "import": "1"}, follow=True)
    page = response.content.decode()
    assert "ppd.ach: 1 payments stored" in page and "NACHA" in page
    assert Payment.objects.get().amount == 1000000


def test_a_refused_preview_file_stays_to_try_another_mapping_and_goes_once_imported(client, agent, mapping, settings):
    from pathlib import Path

    from reconciliation.models import CsvMapping

    client.force_login(agent)
    semicolons = GOOD.replace(b",", b";")
    response = client.post(reverse("import_upload", args=["ACME"]), {"file": upload(content=semicolons), "mapping": mapping.pk, "preview": "1"})
    held = response.context["form"].initial["held"]
    refused = client.post(reverse("import_upload", args=["ACME"]), {"held": held, "mapping": mapping.pk, "import": "1"})
    assert "Refused at line 1" in refused.content.decode()
    other = CsvMapping.objects.create(client=mapping.client, name="Semicolons", account="US-CHK-001", currency="USD", delimiter=";",
                                      value_date_column="Date", amount_column="Amount", reference_column="Reference")
    response = client.post(reverse("import_upload", args=["ACME"]), {"held": held, "mapping": other.pk, "import": "1"})
    assert response.status_code == 302, response.context["form"].errors
    assert Payment.objects.count() == 2
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("held-*")]
    gone = client.post(reverse("import_upload", args=["ACME"]), {"held": held, "mapping": other.pk, "import": "1"})
    assert "no longer available" in gone.content.decode()


def test_a_job_whose_worker_died_is_taken_again_when_delivered_anew(client, agent, mapping, settings, django_capture_on_commit_callbacks):
    import datetime as dt

    from django.utils import timezone

    settings.STATEMENT_ASYNC_BYTES = 10
    client.force_login(agent)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("import_upload", args=["ACME"]), {"file": upload(), "mapping": mapping.pk, "import": "1"})
    job = ImportJob.objects.get()
    # Claimed by a worker that then died: "running", nothing stored.
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    services.statement_import_job_run(job_id=job.pk)  # a second delivery while it may still run: nothing
    assert not Payment.objects.exists()
    ImportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - dt.timedelta(hours=3))
    services.statement_import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and Payment.objects.count() == 2
