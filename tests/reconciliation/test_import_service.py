"""statement_import: a file whole or nothing, never a payment twice; voiding; manual payments."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connections

from bpo_ledger.errors import DomainError
from bpo_ledger.models import AuditEvent, ImportStatus, Payment, PaymentImport, PaymentSource
from reconciliation import services
from reconciliation.formats import StatementError
from reconciliation.models import BankAccount, ImportedStatement

from .conftest import csv_file, import_csv

pytestmark = pytest.mark.django_db

ROWS = (
    "2026-11-02,100.00,ACME-000001-01,Ann Lee,GB11 AAAA 1111",
    "2026-11-02,100.00,ACME-000001-01,Ann Lee,GB11 AAAA 1111",  # the same payment twice that day
    "2026-11-03,-2.50,Monthly fee,,",
    "2026-11-03,250.00,ACME-000002-01,Bo Chen,GB22 BBBB 2222",
)


def test_it_stores_every_line_with_counts_totals_and_the_account(client_a, agent, mapping):
    imported = import_csv(client_a, agent, csv_file(*ROWS), mapping)
    assert imported.format == "csv" and imported.mapping_name == "Bank export"
    assert (imported.entries_count, imported.created_count, imported.skipped_count) == (4, 4, 0)
    assert imported.totals == {"USD": "447.50"}
    assert imported.accounts == ["US-CHK-001"]
    payments = Payment.objects.filter(client=client_a).order_by("id")
    assert [p.amount for p in payments] == [Decimal("100.00"), Decimal("100.00"), Decimal("-2.50"), Decimal("250.00")]
    assert [p.kind for p in payments] == ["credit", "credit", "debit", "credit"]
    assert {p.source for p in payments} == {PaymentSource.BANK_FILE}
    assert payments[0].payer_account_last4 == "1111" and payments[0].payer_account == "GB11 AAAA 1111"
    assert BankAccount.objects.get(client=client_a).account == "US-CHK-001"
    verbs = list(AuditEvent.objects.filter(client=client_a).values_list("verb", flat=True))
    assert verbs == ["bank_account.added", "statement.imported"]


def test_the_same_file_twice_is_refused_and_stores_nothing_more(client_a, agent, mapping):
    first = import_csv(client_a, agent, csv_file(*ROWS), mapping)
    with pytest.raises(DomainError, match=rf"already imported on .* as import #{first.pk}"):
        import_csv(client_a, agent, csv_file(*ROWS), mapping, name="again.csv")
    assert Payment.objects.filter(client=client_a).count() == 4
    assert PaymentImport.objects.filter(client=client_a).count() == 1


def test_an_overlapping_statement_stores_only_what_is_new(client_a, agent, mapping):
    import_csv(client_a, agent, csv_file(*ROWS[:3]), mapping)
    later = import_csv(client_a, agent, csv_file(*ROWS), mapping, name="later.csv")
    assert (later.created_count, later.skipped_count) == (1, 3)
    assert Payment.objects.filter(client=client_a).count() == 4


def test_a_bad_file_is_refused_with_its_place_and_nothing_is_kept(client_a, agent, mapping):
    bad = csv_file(ROWS[0], ROWS[1], "2026-11-03,12.3.4,X,,", ROWS[3])
    with pytest.raises(StatementError) as refused:
        import_csv(client_a, agent, bad, mapping)
    assert refused.value.where == "line 4, column Amount"
    assert not Payment.objects.exists()
    assert not PaymentImport.objects.exists()
    assert not BankAccount.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_client_restricted_to_listed_accounts_refuses_another_by_name(client_a, agent, mapping):
    client_a.statement_accounts_listed_only = True
    client_a.save()
    with pytest.raises(DomainError, match="account US-CHK-001, which is not listed for ACME"):
        import_csv(client_a, agent, csv_file(*ROWS), mapping)
    BankAccount.objects.create(client=client_a, account="US-CHK-001", currency="USD")
    assert import_csv(client_a, agent, csv_file(*ROWS), mapping).created_count == 4


def test_an_auditor_may_not_import_and_an_outsider_is_no_member(client_a, auditor, outsider, mapping):
    with pytest.raises(PermissionDenied):
        import_csv(client_a, auditor, csv_file(*ROWS), mapping)
    with pytest.raises(PermissionDenied):
        import_csv(client_a, outsider, csv_file(*ROWS), mapping)


def test_a_mapping_of_another_client_is_refused(client_a, client_b, agent, mapping):
    from reconciliation.models import CsvMapping

    other = CsvMapping.objects.create(client=client_b, name="Other", account="X", currency="EUR",
                                      value_date_column="Date", amount_column="Amount")
    with pytest.raises(DomainError, match="another client"):
        import_csv(client_a, agent, csv_file(*ROWS), other)


def test_a_statement_sequence_gap_is_flagged(client_a, agent, mapping, monkeypatch):
    from reconciliation import formats
    from reconciliation.formats import Line, Statement

    def fake_reader(sequence):
        class Reader:
            @staticmethod
            def read(stream, **options):
                yield Statement(account="DE01", currency="EUR", statement_id=f"S{sequence}", sequence=sequence)
                yield Line(account="DE01", statement_id=f"S{sequence}", value_date=dt.date(2026, 11, 2),
                           amount=Decimal("5.00"), currency="EUR", bank_transaction_id=f"T{sequence}")
        return Reader

    for sequence, content in (("41", b"a"), ("42", b"b"), ("44", b"c")):
        monkeypatch.setattr(formats, "reader", lambda name, s=sequence: fake_reader(s))
        services.statement_import(client=client_a, actor=agent, file_name=f"{sequence}.xml",
                                  stream=__import__("io").BytesIO(content), format="camt053")
    statements = list(ImportedStatement.objects.order_by("id").values_list("sequence", "previous_sequence", "sequence_gap"))
    assert statements == [("41", "", False), ("42", "41", False), ("44", "42", True)]
    assert BankAccount.objects.get(account="DE01").last_sequence == "44"


def test_a_hand_recorded_payment_is_confirmed_by_its_bank_line_not_counted_twice(client_a, agent, mapping, customer_a):
    manual = Payment.objects.create(
        client=client_a, customer=customer_a, source=PaymentSource.MANUAL, amount=Decimal("100.00"), currency="USD",
        value_date=dt.date(2026, 11, 1), source_account="manual", bank_transaction_id="manual-1",
        reference="ACME-000009-01 (bank transfer)",
    )
    # customer_a's account on file is GB29 NWBK 6016 1331 9268 19.
    stream = csv_file("2026-11-02,100.00,Invoice,Maria Gonzalez,GB29NWBK60161331926819", ROWS[3])
    imported = import_csv(client_a, agent, stream, mapping)
    assert (imported.created_count, imported.confirmed_count) == (1, 1)
    manual.refresh_from_db()
    assert manual.confirmed_import == imported and manual.confirmed_source_account == "US-CHK-001"
    assert Payment.objects.filter(client=client_a).count() == 2
    # The same line in a later, overlapping file is known: still no second payment.
    again = import_csv(client_a, agent, csv_file("2026-11-02,100.00,Invoice,Maria Gonzalez,GB29NWBK60161331926819",
                                                 ROWS[3], "2026-11-04,1.00,X,,"), mapping, name="b.csv")
    assert (again.created_count, again.skipped_count, again.confirmed_count) == (1, 2, 0)


def test_a_supervisor_voids_an_import_and_its_payments_go(client_a, agent, supervisor, mapping):
    imported = import_csv(client_a, agent, csv_file(*ROWS), mapping)
    with pytest.raises(PermissionDenied):
        services.statement_import_void(payment_import=imported, actor=agent, reason="wrong client")
    with pytest.raises(DomainError, match="Say why"):
        services.statement_import_void(payment_import=imported, actor=supervisor, reason=" ")
    services.statement_import_void(payment_import=imported, actor=supervisor, reason="wrong client")
    imported.refresh_from_db()
    assert imported.status == ImportStatus.VOIDED and imported.void_reason == "wrong client"
    assert not Payment.objects.filter(client=client_a).exists()
    event = AuditEvent.objects.filter(client=client_a).last()
    assert event.verb == "statement.voided" and event.details["payments"] == 4
    with pytest.raises(DomainError, match="already voided"):
        services.statement_import_void(payment_import=imported, actor=supervisor, reason="again")
    # Voided, the file may come in again.
    assert import_csv(client_a, agent, csv_file(*ROWS), mapping).created_count == 4


def test_voiding_takes_allocations_back_off_the_scheduled_payments(client_a, agent, supervisor, mapping, customer_a):
    from schedules.models import PaymentStatus
    from schedules.services import scheduled_payment_record
    from tests.schedules.conftest import first_payment, make_schedule

    today = dt.date(2026, 11, 20)
    schedule = make_schedule(client_a, customer_a, due=dt.date(2026, 11, 16), today=today, amount="100.00")
    due = first_payment(schedule)
    imported = import_csv(client_a, agent, csv_file("2026-11-02,100.00,Invoice,Someone,"), mapping)
    received = Payment.objects.get(payment_import=imported)
    scheduled_payment_record(scheduled_payment=due, actor=agent, amount=Decimal("100.00"), paid_on=dt.date(2026, 11, 2),
                             method="bank_transfer", note="matched", received=received, today=today)
    due.refresh_from_db()
    assert due.status == PaymentStatus.PAID
    services.statement_import_void(payment_import=imported, actor=supervisor, reason="wrong file")
    due.refresh_from_db()
    assert due.amount_paid == 0 and due.status != PaymentStatus.PAID and due.paid_at is None
    assert not due.allocations.exists()


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_file_at_once_one_wins_the_other_is_told(client_a, agent, mapping):
    data = "\n".join(["Date,Amount,Reference,Payer,Payer account", *[f"2026-11-02,{i}.00,R{i},P,A{i}" for i in range(1, 400)]])
    results, start = [], threading.Barrier(2)

    def run():
        try:
            start.wait(5)
            import io

            results.append(import_csv(client_a, agent, io.BytesIO(data.encode()), mapping))
        except DomainError as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stored = [r for r in results if isinstance(r, PaymentImport)]
    told = [r for r in results if isinstance(r, DomainError)]
    assert len(stored) == 1 and len(told) == 1
    assert f"as import #{stored[0].pk}" in str(told[0])
    assert Payment.objects.filter(client=client_a).count() == 399


def _fake_format(monkeypatch, items):
    """Stand in for a format's reader: the service reads `items` as the file's content."""
    from reconciliation import formats

    class Reader:
        @staticmethod
        def read(stream, **options):
            yield from items

    monkeypatch.setattr(formats, "reader", lambda name: Reader)


def _line(txid, amount, **fields):
    from reconciliation.formats import Line

    values = {"account": "DE01", "statement_id": "S1", "value_date": dt.date(2026, 11, 2), "amount": Decimal(amount),
              "currency": "EUR", "bank_transaction_id": txid}
    values.update(fields)
    return Line(**values)


def _import(client, actor, content: bytes, fmt="camt053"):
    import io

    return services.statement_import(client=client, actor=actor, file_name=f"{fmt}.xml", stream=io.BytesIO(content), format=fmt)


@pytest.mark.parametrize("order", ["batch line first", "details first"])
def test_a_batch_entry_is_replaced_by_its_details_in_either_order(client_a, agent, monkeypatch, order):
    batch_line = [_line("NTRY-1", "300.00", entry_ref="B-77")]
    details = [_line("TX-1", "100.00", entry_ref="B-77", batch=True), _line("TX-2", "200.00", entry_ref="B-77", batch=True)]
    files = [(batch_line, b"053", "camt053"), (details, b"054", "camt054")]
    if order == "details first":
        files.reverse()
    imports = []
    for items, content, fmt in files:
        _fake_format(monkeypatch, items)
        imports.append(_import(client_a, agent, content, fmt))
    stored = sorted(Payment.objects.filter(client=client_a).values_list("bank_transaction_id", "amount"))
    assert stored == [("TX-1", Decimal("100.00")), ("TX-2", Decimal("200.00"))]
    assert imports[1].replaced_count == 1


def test_voiding_the_details_puts_the_batch_line_back(client_a, agent, supervisor, monkeypatch):
    _fake_format(monkeypatch, [_line("NTRY-1", "300.00", entry_ref="B-77")])
    _import(client_a, agent, b"053")
    _fake_format(monkeypatch, [_line("TX-1", "300.00", entry_ref="B-77", batch=True)])
    details = _import(client_a, agent, b"054", "camt054")
    services.statement_import_void(payment_import=details, actor=supervisor, reason="sent twice")
    assert list(Payment.objects.filter(client=client_a).values_list("bank_transaction_id", flat=True)) == ["NTRY-1"]


def test_a_return_is_linked_to_its_original_by_trace_else_by_account_amount_and_date(client_a, agent, monkeypatch):
    from reconciliation.formats import Kind

    _fake_format(monkeypatch, [
        _line("091000010000001", "120.00", payer_account="12345678"),
        _line("091000010000002", "75.00", payer_account="99990000"),
    ])
    _import(client_a, agent, b"forward", "nacha")
    _fake_format(monkeypatch, [
        _line("R-1", "-120.00", kind=Kind.REVERSAL, reference="091000010000001", return_code="R01",
              value_date=dt.date(2026, 11, 5)),
        _line("R-2", "-75.00", kind=Kind.REVERSAL, reference="000000000000999", return_code="R03",
              payer_account="99990000", value_date=dt.date(2026, 11, 6)),
    ])
    _import(client_a, agent, b"returns", "nacha")
    links = dict(Payment.objects.filter(client=client_a, kind="reversal").values_list("bank_transaction_id", "reverses__bank_transaction_id"))
    assert links == {"R-1": "091000010000001", "R-2": "091000010000002"}
    assert Payment.objects.get(bank_transaction_id="R-1").return_code == "R01"


def test_notices_pending_lines_and_warnings_are_listed_never_payments(client_a, agent, monkeypatch):
    from reconciliation.formats import Notice, Status, Warning
    from reconciliation.models import ImportItem

    _fake_format(monkeypatch, [
        _line("T1", "10.00"),
        _line("T2", "20.00", status=Status.PENDING),
        Notice(account="DE01", code="C01", message="Correct account number: 5555", reference="0910000100007",
               payer_name="Ann", corrected={"account": "5555"}),
        Warning("opening 10.00 + entries 30.00 is not the closing 45.00", "line 9"),
    ])
    imported = _import(client_a, agent, b"x", "nacha")
    assert (imported.created_count, imported.pending_count, imported.notices_count, imported.warnings_count) == (1, 1, 1, 1)
    notice = ImportItem.objects.get(kind="notice")
    # Imported on the client's today; six banking days later, weekends and US holidays skipped.
    assert notice.deadline == services.notice_deadline(client_a, __import__("schedules.services.planning", fromlist=["x"]).client_today(client_a))
    assert notice.corrected == {"account": "5555"}
    assert ImportItem.objects.get(kind="pending").amount == Decimal("20.00")


def test_six_banking_days_skip_weekends_and_holidays(client_a):
    # Wed 2026-11-25; Thu 26 is Thanksgiving (US): 27, 30, Dec 1, 2, 3, 4.
    assert services.notice_deadline(client_a, dt.date(2026, 11, 25)) == dt.date(2026, 12, 4)


def test_one_file_naming_a_transaction_twice_is_refused(client_a, agent, monkeypatch):
    _fake_format(monkeypatch, [_line("T1", "10.00", where="line 3"), _line("T1", "11.00", where="line 7")])
    with pytest.raises(StatementError, match="appears twice"):
        _import(client_a, agent, b"x")
    assert not Payment.objects.exists()


def test_a_payment_from_a_customers_account_on_file_names_the_customer(client_a, agent, mapping, customer_a):
    # customer_a's account on file is GB29 NWBK 6016 1331 9268 19; written here without spaces.
    import_csv(client_a, agent, csv_file("2026-11-02,70.00,Invoice,M Gonzalez,GB29NWBK60161331926819", ROWS[3]), mapping)
    named = dict(Payment.objects.filter(client=client_a).values_list("amount", "customer"))
    assert named == {Decimal("70.00"): customer_a.pk, Decimal("250.00"): None}


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_files_of_a_new_account_at_once_store_each_payment_once(client_a, agent, mapping):
    import io

    header = "Date,Amount,Reference,Payer,Payer account"
    first = "\n".join([header, *[f"2026-11-02,{i}.00,R{i},P,A{i}" for i in range(1, 300)]])
    second = "\n".join([header, *[f"2026-11-02,{i}.00,R{i},P,A{i}" for i in range(200, 500)]])
    results, start = [], threading.Barrier(2)

    def run(data):
        try:
            start.wait(5)
            results.append(import_csv(client_a, agent, io.BytesIO(data.encode()), mapping, name=data[-12:]))
        except Exception as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(data,)) for data in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(isinstance(r, PaymentImport) for r in results), results
    assert Payment.objects.filter(client=client_a).count() == 499
    assert sum(r.created_count for r in results) == 499 and sum(r.skipped_count for r in results) == 100
    assert BankAccount.objects.filter(client=client_a).count() == 1
