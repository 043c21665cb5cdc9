"""python manage.py import_statement: the same service as the pages, errors with their place."""

import io
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bpo_ledger.models import AuditEvent, Payment, PaymentImport

pytestmark = pytest.mark.django_db

GOOD = "Date,Amount,Reference,Payer,Payer account\n2026-11-02,10.00,R1,Ann,GB11\n2026-11-03,25.50,R2,Bo,GB22\n"
BAD = "Date,Amount,Reference,Payer,Payer account\n2026-11-02,10.00,R1,Ann,GB11\n2026-11-03,2x,R2,,\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "bad.csv").write_text(BAD)
    return tmp_path


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_statement", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_a_csv_file_with_a_mapping(client_a, mapping, files):
    out, _ = run("--client", "ACME", "--mapping", "Bank export", str(files / "good.csv"))
    imported = PaymentImport.objects.get()
    assert f"good.csv: import #{imported.pk} (CSV): 2 entries, 2 stored, 0 already known" in out
    assert "totals USD 35.50" in out
    assert imported.source == "command"
    assert AuditEvent.objects.filter(verb="statement.imported", actor_label="system:import_statement").exists()


def test_a_bad_file_exits_non_zero_with_its_place_and_keeps_nothing(client_a, mapping, files):
    with pytest.raises(CommandError, match="1 of 2 files refused"):
        run("--client", "ACME", "--mapping", "Bank export", str(files / "bad.csv"), str(files / "good.csv"))
    assert Payment.objects.filter(payment_import__file_name="bad.csv").count() == 0
    assert PaymentImport.objects.get().file_name == "good.csv"


def test_the_error_names_the_line_and_column(client_a, mapping, files):
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_statement", "--client", "ACME", "--mapping", "Bank export", str(files / "bad.csv"),
                     stdout=io.StringIO(), stderr=err)
    assert "bad.csv: refused at line 3, column Amount: '2x' is not an amount" in err.getvalue()


def test_the_same_file_again_is_refused_and_says_when(client_a, mapping, files):
    run("--client", "ACME", "--mapping", "Bank export", str(files / "good.csv"))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_statement", "--client", "ACME", "--mapping", "Bank export", str(files / "good.csv"),
                     stdout=io.StringIO(), stderr=err)
    assert "was already imported on" in err.getvalue()
    assert Payment.objects.count() == 2


def test_unknown_client_mapping_or_file_are_told(client_a, mapping, files):
    with pytest.raises(CommandError, match="No client with code 'NOPE'"):
        run("--client", "NOPE", str(files / "good.csv"))
    with pytest.raises(CommandError, match="no CSV mapping named 'Other' .*Bank export"):
        run("--client", "ACME", "--mapping", "Other", str(files / "good.csv"))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_statement", "--client", "ACME", str(files / "missing.csv"), stdout=io.StringIO(), stderr=err)
    assert "no such file" in err.getvalue()


def test_a_csv_file_without_a_mapping_is_told_to_choose_one(client_a, mapping, files):
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_statement", "--client", "ACME", "--format", "csv", str(files / "good.csv"),
                     stdout=io.StringIO(), stderr=err)
    assert "needs one of the client's column mappings" in err.getvalue()


def test_a_file_of_no_known_format_is_refused_in_words(client_a, files):
    (files / "notes.txt").write_text("hello\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_statement", "--client", "ACME", str(files / "notes.txt"), stdout=io.StringIO(), stderr=err)
    assert "not a bank statement this application reads" in err.getvalue()


def test_on_a_terminal_it_shows_rows_read_and_stored(client_a, mapping, files, monkeypatch):
    out = io.StringIO()
    out.isatty = lambda: True
    call_command("import_statement", "--client", "ACME", "--mapping", "Bank export", str(files / "good.csv"), stdout=out)
    assert "\rgood.csv: 3 rows read, 2 stored" in out.getvalue()


NACHA = Path(os.environ.get("BPO_SAMPLES", "/work/shared/samples")) / "nacha"


def test_the_nacha_samples_import_end_to_end(client_a):
    """Counts and totals read from the files themselves (moov-io/ach samples, see SOURCES.md)."""
    from reconciliation.models import ImportItem

    out, _ = run("--client", "ACME", str(NACHA / "moov_ppd-debit.ach"), str(NACHA / "moov_return-WEB.ach"),
                 str(NACHA / "moov_cor-example.ach"))
    debit, returns, changes = PaymentImport.objects.order_by("id")
    # ppd-debit: one 627 entry (a debit to the receiver's checking account: money in), amount
    # 0100000000 = 1,000,000.00, trace 121042880000001.
    assert (debit.format, debit.entries_count, debit.created_count, debit.totals) == ("nacha", 1, 1, {"USD": "1000000.00"})
    assert Payment.objects.get(payment_import=debit).reference == "121042880000001"
    # return-WEB: two returned entries, 626 of 123.54 (R01) and 621 of 45.65 (R03): -123.54 + 45.65.
    assert (returns.entries_count, returns.created_count, returns.totals) == (2, 2, {"USD": "-77.89"})
    assert sorted(Payment.objects.filter(payment_import=returns).values_list("return_code", flat=True)) == ["R01", "R03"]
    # cor-example: one notification of change C01, no money.
    assert (changes.created_count, changes.notices_count) == (0, 1)
    notice = ImportItem.objects.get(payment_import=changes, kind="notice")
    assert notice.code == "C01" and notice.deadline is not None
    assert "moov_cor-example.ach: import #" in out


SAMPLES = Path(os.environ.get("BPO_SAMPLES", "/work/shared/samples"))
READ_SAMPLES = sorted(
    [*SAMPLES.glob("camt05*/*.xml"), *SAMPLES.glob("mt940/*.sta"), *SAMPLES.glob("nacha/*.ach"),
     *SAMPLES.glob("ofx/*.ofx"), *SAMPLES.glob("bai2/*.bai2")],
    key=lambda p: p.name,
)


@pytest.mark.parametrize("sample", READ_SAMPLES, ids=lambda p: p.name)
def test_every_sample_imports_once_and_again_stores_nothing(client_a, sample, tmp_path):
    """The service stores exactly the booked lines its reader gives (never one twice): the same
    statement again under another name (a newline added, so another sha256) stores nothing."""
    from reconciliation import formats
    from reconciliation.formats import Line, Status

    with sample.open("rb") as f:
        head = f.read(formats.HEAD_BYTES)
        f.seek(0)
        booked = sum(1 for item in formats.reader(formats.detect(head)).read(f)
                     if isinstance(item, Line) and item.status == Status.BOOKED and item.amount)
    out, _ = run("--client", "ACME", str(sample))
    first = PaymentImport.objects.get()
    assert first.created_count == booked == Payment.objects.count()
    again = tmp_path / sample.name
    again.write_bytes(sample.read_bytes() + b"\n")
    run("--client", "ACME", str(again))
    second = PaymentImport.objects.exclude(pk=first.pk).get()
    assert (second.created_count, second.skipped_count) == (0, booked)
    assert Payment.objects.count() == booked
