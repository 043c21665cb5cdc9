"""The NACHA reader: the shared moov-io samples, written files read back, damaged files refused.

Columns in comments are NACHA's, 1-based and inclusive, as in the record layouts.
"""

from __future__ import annotations

import io
import string
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.formats import Kind, Line, Notice, Statement, StatementError, Warning, nacha

from .write_nacha import REASON_WORDS, Batch, Entry, File, comparable, expected, records, write

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples" / "nacha"
OWN = "99887766"


def read(data: bytes, **options) -> list:
    return list(nacha.read(io.BytesIO(data), **options))


def of(items, kind) -> list:
    return [item for item in items if isinstance(item, kind)]


def refused(data: bytes, **options) -> StatementError:
    with pytest.raises(StatementError) as caught:
        read(data, **options)
    return caught.value


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


# -- the shared samples ---------------------------------------------------------------------


def test_ppd_debit_sample_is_one_debit_of_a_million_dollars_subject_to_return():
    data = sample("moov_ppd-debit.ach")
    assert nacha.sniff(data[:64])
    # Line 1 is 75 characters (short); columns 14-23 immediate origin "0121042882",
    # 24-29 creation date "190624", 34 file id modifier "A".
    # Line 2 (batch header): 2-4 service class "225", 41-50 company id "121042882 ",
    # 51-53 "PPD", 70-75 effective date "190625", 88-94 batch number "0000001".
    # Line 3 (entry): 2-3 transaction code "27" (checking debit), 13-29 account "12345678",
    # 30-39 amount "0100000000" = 1,000,000.00, 55-76 name "Receiver Account Name",
    # 80-94 trace "121042880000001". Line 5 (file control) is 55 characters (short).
    items = read(data)
    [statement] = of(items, Statement)
    assert statement.account == "121042882"
    assert statement.currency == "USD"
    assert statement.created == date(2019, 6, 24)
    assert statement.period_start == statement.period_end == date(2019, 6, 25)
    assert statement.sequence == "20190624A-0000001"
    [line] = of(items, Line)
    assert line.amount == Decimal("1000000.00")
    assert line.kind == Kind.CREDIT
    assert line.notes == ("ACH, subject to return",)
    assert line.value_date == date(2019, 6, 25)
    assert line.currency == "USD"
    assert line.payer_name == "Receiver Account Name"
    assert line.payer_account == "12345678"
    assert line.reference == "121042880000001"
    assert line.bank_transaction_id == "0121042882-190624A-121042880000001"
    assert line.bank_code == "PPD 27"
    assert line.where == "line 3"
    assert of(items, Notice) == [] and of(items, Warning) == []


def test_return_sample_reverses_a_debit_and_a_credit_by_their_original_trace():
    data = sample("moov_return-WEB.ach")
    assert nacha.sniff(data[:64])
    # Two WEB batches (lines 2 and 6), company id "123456789 " (41-50), effective date
    # "000101" (70-75) = 2000-01-01, creation date "181017" (24-29), origin " 691000134".
    # Line 3: code 26 (return of a checking debit), account "123456789", amount
    # "0000012354" = 123.54, name "Paul Jones", trace "091000017611242";
    # line 4 (99 addenda): 4-6 "R01", 7-21 original trace "091400600000001".
    # Line 7: code 21 (return of a checking credit), account "867530999999", amount
    # "0000004565" = 45.65, name "Bob Marley"; line 8: "R03", original "091400600000003".
    # File control (line 10): debit total 12354, credit total 4565.
    items = read(data)
    statements = of(items, Statement)
    assert [s.statement_id for s in statements] == ["691000134-181017A-0000001",
                                                    "691000134-181017A-0000002"]
    assert {s.account for s in statements} == {"123456789"}
    debit_return, credit_return = of(items, Line)
    assert debit_return.kind == credit_return.kind == Kind.REVERSAL
    assert debit_return.amount == Decimal("-123.54")
    assert debit_return.return_code == "R01"
    assert debit_return.reference == "091400600000001"
    assert debit_return.payer_account == "123456789"
    assert debit_return.payer_name == "Paul Jones"
    assert debit_return.value_date == date(2000, 1, 1)
    assert debit_return.bank_transaction_id == "691000134-181017A-091000017611242"
    assert credit_return.amount == Decimal("45.65")
    assert credit_return.return_code == "R03"
    assert credit_return.reference == "091400600000003"
    assert credit_return.payer_account == "867530999999"
    assert credit_return.payer_name == "Bob Marley"
    assert debit_return.notes == credit_return.notes == ()
    assert sum(line.amount for line in of(items, Line)) == Decimal("-77.89")


def test_notification_of_change_sample_is_a_notice_with_the_corrected_account_never_a_payment():
    data = sample("moov_cor-example.ach")
    assert nacha.sniff(data[:64])
    # Line 2: SEC "COR" (51-53), effective date "000000" (no date). Line 3: code 21, amount
    # "0000000000", account "744-5678-99", name "Best Co. #23". Line 4 (98 addenda): 4-6
    # change code "C01", 7-21 original trace "121042880000001", 36-64 corrected data
    # "1918171614".
    items = read(data)
    assert of(items, Line) == []
    [notice] = of(items, Notice)
    assert notice.code == "C01"
    assert notice.reference == "121042880000001"
    assert notice.payer_name == "Best Co. #23"
    assert notice.corrected == {"account": "1918171614"}
    assert "1918171614" in notice.message and "744-5678-99" in notice.message
    assert notice.account == "121042882"
    assert of(items, Warning) == []  # no entry needed the missing effective date


def test_the_samples_are_refused_when_an_amount_or_a_control_field_is_altered():
    data = bytearray(sample("moov_ppd-debit.ach"))
    at = data.index(b"0100000000")  # the entry's amount, line 3 columns 30-39
    data[at + 1] = ord("2")
    error = refused(bytes(data))
    assert error.where == "line 4, column 21"  # the batch control's total debit amount
    data = bytearray(sample("moov_return-WEB.ach"))
    at = data.index(b"9000002000001")  # the file control: batch count 2 becomes 3
    data[at + 6] = ord("3")
    assert refused(bytes(data)).where == "line 10, column 2"


# -- written files read back ----------------------------------------------------------------

NAME = st.text(string.ascii_uppercase + string.digits + " .&", min_size=1, max_size=22).map(
    str.strip).filter(lambda name: name and name != "OFFSET")
ACCOUNT = st.text(string.ascii_uppercase + string.digits + "-", min_size=1, max_size=17).filter(
    lambda account: account.lstrip("0") != OWN)
RDFI = st.integers(0, 99_999_999).map(lambda n: f"{n:08d}")
ROUTING = st.integers(0, 999_999_999).map(lambda n: f"{n:09d}")
TRACE = st.integers(0, 10**15 - 1).map(lambda n: f"{n:015d}")
CENTS = st.integers(1, 9_999_999_999)
TEXT = st.text(string.ascii_letters + string.digits + " */-", max_size=80).map(str.strip)


@st.composite
def entries(draw) -> Entry:
    kind = draw(st.sampled_from(["debit", "debit", "credit", "offset", "prenote", "zero",
                                 "return", "noc"]))
    rdfi, account, name = draw(RDFI), draw(ACCOUNT), draw(NAME)
    ident = draw(st.text(string.ascii_uppercase + string.digits, max_size=15))
    if kind in ("debit", "credit"):
        code = draw(st.sampled_from([27, 37, 47, 55] if kind == "debit" else [22, 32, 42, 52]))
        remittance = draw(st.lists(TEXT.filter(bool), max_size=2))
        return Entry(kind, code, rdfi, account, draw(CENTS), name, ident, remittance)
    if kind == "offset":
        code = draw(st.sampled_from([27, 22, 37, 32]))
        if draw(st.booleans()):
            return Entry(kind, code, rdfi, account, draw(CENTS), "OFFSET")
        return Entry(kind, code, rdfi, "00" + OWN, draw(CENTS), name)
    if kind in ("prenote", "zero"):
        codes = [23, 28, 33, 38, 43, 48, 53] if kind == "prenote" else [24, 29, 34, 39, 54]
        return Entry(kind, draw(st.sampled_from(codes)), rdfi, account, 0, name, ident)
    code = draw(st.sampled_from([21, 26, 31, 36, 41, 46, 51, 56]))
    if kind == "return":
        cents = draw(st.one_of(CENTS, st.just(0)))
        return Entry(kind, code, rdfi, account, cents, name, reason=draw(st.sampled_from(
            sorted(REASON_WORDS))), original=draw(TRACE), data=draw(TEXT)[:44].strip())
    change = draw(st.sampled_from(["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C09"]))
    new_account, routing, new_name = draw(ACCOUNT), draw(ROUTING), draw(NAME)
    layouts = {  # NACHA Appendix Five: the corrected data field, 29 characters
        "C01": (new_account.ljust(29), {"account": new_account}),
        "C02": (routing.ljust(29), {"routing": routing}),
        "C03": (routing + "   " + new_account.ljust(17), {"routing": routing,
                                                           "account": new_account}),
        "C04": (new_name.ljust(29), {"name": new_name}),
        "C05": ("32".ljust(29), {"transaction_code": "32"}),
        "C06": (new_account.ljust(17) + "    " + "37" + " " * 6,
                {"account": new_account, "transaction_code": "37"}),
        "C07": (routing + new_account.ljust(17) + "22" + " ",
                {"routing": routing, "account": new_account, "transaction_code": "22"}),
        "C09": (ident.ljust(29), {"identification": ident} if ident else {}),
    }
    data, corrected = layouts[change]
    return Entry(kind, code, rdfi, account, 0, name, reason=change, original=draw(TRACE),
                 data=data, corrected=corrected)


COMPANY = st.integers(0, 999_999_999).map(lambda n: f"1{n:09d}")
DAY = st.dates(date(2000, 1, 1), date(2079, 12, 31))


@st.composite
def files(draw) -> File:
    batches = [Batch(company_id=draw(COMPANY), effective=draw(DAY),
                     entries=draw(st.lists(entries(), min_size=1, max_size=6)),
                     sec=draw(st.sampled_from(["PPD", "CCD", "WEB", "TEL"])),
                     service_class=draw(st.sampled_from(["200", "220", "225"])))
               for _ in range(draw(st.integers(1, 4)))]
    return File(batches=batches, created=draw(DAY), modifier=draw(st.sampled_from("A9Z")))


def wanted(nacha_file: File, style: dict) -> list:
    """``expected``, with places named as the reader names records cut from long lines."""
    items = expected(nacha_file)
    if style.get("newline") == "" or style.get("per_block"):
        items = [replace(item, where=item.where.replace("line", "record"))
                 if isinstance(item, Statement | Line) else item for item in items]
    return items


STYLE = st.sampled_from([
    dict(), dict(newline="\r\n"), dict(final_newline=False), dict(padding=False),
    dict(short=True), dict(short=True, newline="\r\n", final_newline=False),
    dict(newline=""), dict(newline="", padding=False), dict(per_block=True),
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), STYLE)
def test_a_written_file_reads_back_to_its_entries(nacha_file, style):
    data = write(nacha_file, **style)
    assert nacha.sniff(data[:64])
    items = read(data, own_accounts=[OWN])
    assert comparable(items) == wanted(nacha_file, style)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), st.data())
def test_a_corrupted_control_covered_field_is_refused_or_reads_back_the_same(nacha_file, data):
    written = records(nacha_file)
    places = []  # (record index, 0-based column) of the fields the control records cover
    done = False
    for index, record in enumerate(written):
        kind = record[0]
        columns = [0]
        if kind == "1":
            columns += range(34, 39)  # record size, blocking factor
        elif kind == "5":
            columns += [1, 2, 3, *range(40, 50), *range(87, 94)]
        elif kind == "6":
            columns += [2, *range(3, 11), *range(29, 39), 78]
        elif kind == "8":
            columns += [*range(1, 54), *range(87, 94)]
        elif kind == "9" and not done:
            columns += range(1, 55)
            done = True
        places += [(index, column) for column in columns]
    index, column = data.draw(st.sampled_from(places))
    old = written[index][column]
    new = data.draw(st.sampled_from(string.digits + string.ascii_uppercase + " ").filter(
        lambda char: char != old))
    written[index] = written[index][:column] + new + written[index][column + 1:]
    damaged = ("\n".join(written) + "\n").encode("ascii")
    original = expected(nacha_file)
    try:
        items = read(damaged, own_accounts=[OWN])
    except StatementError as error:
        assert error.where.startswith("line ")
    else:
        assert comparable(items) == original


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), st.data(), st.sampled_from([dict(), dict(newline="\r\n"), dict(newline="")]))
def test_a_truncated_file_is_refused_or_reads_back_the_same(nacha_file, data, style):
    written = write(nacha_file, **style)
    cut = data.draw(st.integers(0, len(written) - 1))
    try:
        items = read(written[:cut], own_accounts=[OWN])
    except StatementError:
        pass
    else:
        assert comparable(items) == wanted(nacha_file, style)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_raise_nothing_but_a_statement_error(data):
    try:
        read(data)
    except StatementError as error:
        assert error.message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), st.data())
def test_any_damaged_byte_raises_nothing_but_a_statement_error(nacha_file, data):
    written = bytearray(write(nacha_file))
    at = data.draw(st.integers(0, len(written) - 1))
    written[at] = data.draw(st.integers(0, 255))
    try:
        read(bytes(written), own_accounts=[OWN])
    except StatementError as error:
        assert error.where


# -- control records ------------------------------------------------------------------------


def one_batch(*entries: Entry, sec: str = "PPD") -> File:
    return File(batches=[Batch(company_id="1234567890", effective=date(2026, 12, 1), sec=sec,
                               entries=list(entries))])


def two_entry_file() -> File:
    """Line 1 header, 2 batch header, 3 debit of 10.00, 4 credit of 2.50, 5 batch control,
    6 file control, 7-10 padding."""
    return one_batch(Entry("debit", 27, "02100002", "111", 1000, "ALICE"),
        Entry("credit", 22, "03100003", "222", 250, "BOB"))


def altered(line: int, column: int, text: str, **style) -> bytes:
    lines = records(two_entry_file())
    record = lines[line - 1]
    lines[line - 1] = record[:column - 1] + text + record[column - 1 + len(text):]
    return ("\n".join(lines) + "\n").encode("ascii")


@pytest.mark.parametrize(("line", "column", "text", "words"), [
    (5, 5, "000003", "entry and addenda count of the batch"),
    (5, 11, "0005200006", "entry hash of the batch"),
    (5, 21, "000000001001", "total debit amount of the batch"),
    (5, 33, "000000000251", "total credit amount of the batch"),
    (5, 2, "225", "service class code"),
    (5, 45, "1234567891", "company identification"),
    (5, 88, "0000002", "batch number"),
    (6, 2, "000002", "batch count of the file"),
    (6, 8, "000002", "block count of the file"),
    (6, 14, "00000003", "entry and addenda count of the file"),
    (6, 22, "0005200006", "entry hash of the file"),
    (6, 32, "000000001001", "total debit amount of the file"),
    (6, 44, "000000000251", "total credit amount of the file"),
    (6, 32, "00000000100X", "must be 12 digits"),
])
def test_a_control_field_that_disagrees_refuses_the_file_at_that_field(line, column, text, words):
    assert read(altered(1, 1, "1"))  # the unaltered file reads
    error = refused(altered(line, column, text))
    assert error.where == f"line {line}, column {column}"
    assert words in error.message


def test_an_altered_entry_amount_is_refused_at_the_batch_control():
    error = refused(altered(3, 30, "0000001001"))
    assert error.where == "line 5, column 21"
    assert "10" in error.message and "1001" in error.message


def test_an_altered_receiving_dfi_is_refused_by_the_entry_hash():
    assert refused(altered(4, 4, "03100004")).where == "line 5, column 11"


def test_a_file_cut_before_its_file_control_is_refused_as_truncated():
    data = write(two_entry_file())
    cut = data[:data.index(b"\n9")]
    error = refused(cut)
    assert "truncated" in error.message and error.where == "line 5"
    error = refused(data[:data.index(b"\n8")])
    assert "truncated" in error.message and "line 2" in error.message


def test_a_file_cut_inside_its_file_control_totals_is_refused():
    data = write(two_entry_file())
    start = data.index(b"\n9") + 1
    error = refused(data[:start + 40])  # column 41 onwards of the debit total missing
    assert error.where == "line 6, column 32"


def test_a_wrong_block_count_with_padding_present_is_refused():
    nacha_file = one_batch(*(Entry("debit", 27, "02100002", f"{n}", 100, "X") for n in range(9)))
    lines = records(nacha_file)  # 1 + 1 + 9 + 1 + 1 = 13 records: 2 blocks
    assert lines[12][7:13] == "000002" and len(lines) == 20
    lines[12] = lines[12][:7] + "000003" + lines[12][13:]
    assert refused(("\n".join(lines)).encode()).where == "line 13, column 8"


# -- what each kind of entry becomes ------------------------------------------------------


def test_an_offset_to_the_clients_own_account_is_not_a_payment_but_counts_in_the_totals():
    nacha_file = one_batch(
        Entry("debit", 27, "02100002", "111", 1000, "ALICE"),
        Entry("debit", 27, "02100002", "112", 500, "CAROL"),
        Entry("offset", 22, "12104288", "0099887766", 1500, "ACME OPERATING"))
    data = write(nacha_file)
    items = read(data, own_accounts=["99887766"])
    assert [line.amount for line in of(items, Line)] == [Decimal("10.00"), Decimal("5.00")]
    assert of(items, Warning) == []
    # Without own_accounts the offset reads as a payment out, and a warning names it.
    items = read(data)
    assert [line.amount for line in of(items, Line)] == [Decimal("10.00"), Decimal("5.00"),
                                                         Decimal("-15.00")]
    [warning] = of(items, Warning)
    assert warning.where == "line 5" and "own_accounts" in warning.message


def test_an_entry_named_offset_is_recognised_without_own_accounts():
    nacha_file = one_batch(
        Entry("credit", 22, "02100002", "111", 1000, "PAYEE"),
        Entry("offset", 27, "12104288", "55555", 1000, "OFFSET"))
    items = read(write(nacha_file))
    assert [(line.amount, line.kind) for line in of(items, Line)] == [(Decimal("-10.00"),
                                                                       Kind.DEBIT)]


def test_prenotes_and_zero_dollar_entries_are_not_payments_and_are_counted_in_a_warning():
    nacha_file = one_batch(
        Entry("prenote", 28, "02100002", "111", 0, "ALICE"),
        Entry("prenote", 23, "02100002", "112", 0, "BOB"),
        Entry("zero", 24, "02100002", "113", 0, "CAROL"),
        Entry("debit", 27, "02100002", "114", 700, "DAN"))
    items = read(write(nacha_file))
    assert [line.payer_name for line in of(items, Line)] == ["DAN"]
    [warning] = of(items, Warning)
    assert "2 prenotifications" in warning.message and "1 zero-dollar entry" in warning.message
    assert "at line 3, line 4, line 5" in warning.message


def test_a_prenote_with_an_amount_is_refused():
    lines = records(one_batch(Entry("debit", 27, "02100002", "1", 5, "A")))
    lines[2] = lines[2][:1] + "28" + lines[2][3:]
    error = refused("\n".join(lines).encode())
    assert error.where == "line 3, column 30" and "prenotification" in error.message


def test_a_zero_dollar_entry_with_an_amount_is_refused():
    lines = records(one_batch(Entry("debit", 27, "02100002", "1", 5, "A")))
    lines[2] = lines[2][:1] + "29" + lines[2][3:]
    error = refused("\n".join(lines).encode())
    assert error.where == "line 3, column 30" and "zero-dollar" in error.message


def test_an_addenda_after_an_entry_whose_indicator_says_none_is_refused():
    lines = records(one_batch(Entry("debit", 27, "02100002", "1", 5, "A", remittance=["INV 1"])))
    assert lines[2][78] == "1" and lines[3].startswith("705INV 1")
    assert [line.remittance for line in of(read("\n".join(lines).encode()), Line)] == ["INV 1"]
    lines[2] = lines[2][:78] + "0" + lines[2][79:]
    error = refused("\n".join(lines).encode())
    assert error.where == "line 4" and "indicator" in error.message


def test_a_returned_prenote_is_a_notice_not_a_reversal():
    nacha_file = one_batch(
        Entry("return", 26, "02100002", "111", 0, "EVE", reason="R03",
              original="021000020000007"))
    items = read(write(nacha_file))
    assert of(items, Line) == []
    [notice] = of(items, Notice)
    assert notice.code == "R03" and notice.reference == "021000020000007"
    assert "prenotification" in notice.message


def test_a_return_carries_its_addenda_information_and_settlement_date():
    nacha_file = one_batch(
        Entry("return", 36, "02100002", "111", 4200, "EVE", reason="R10",
              original="021000020000007", data="CUSTOMER DISPUTES"))
    lines = records(nacha_file)
    lines[1] = lines[1][:75] + "336" + lines[1][78:]  # settlement: day 336 = 2 December 2026
    [line] = of(read("\n".join(lines).encode()), Line)
    assert line.amount == Decimal("-42.00") and line.return_code == "R10"
    assert line.booking_date == date(2026, 12, 2) and line.value_date == date(2026, 12, 1)
    assert "CUSTOMER DISPUTES" in line.remittance and line.bank_code == "PPD 36"


def test_a_return_code_without_its_return_addenda_is_refused():
    lines = records(two_entry_file())
    lines[2] = lines[2][:1] + "26" + lines[2][3:]  # the debit becomes a return, with no 99
    error = refused("\n".join(lines).encode())
    assert error.where == "line 3" and "addenda" in error.message


def test_a_forward_entry_followed_by_a_return_addenda_is_refused():
    lines = records(two_entry_file())
    lines[2] = lines[2][:78] + "1" + lines[2][79:]
    lines.insert(3, "799R01021000020000001      02100002" + " " * 44 + lines[2][79:])
    error = refused("\n".join(lines).encode())
    assert error.where == "line 4, column 2" and "forward entry" in error.message


def test_an_addenda_indicator_without_an_addenda_record_is_refused():
    assert refused(altered(3, 79, "1")).where == "line 3, column 79"


@pytest.mark.parametrize(("code", "data", "corrected"), [
    ("C02", "021000021", {"routing": "021000021"}),
    ("C03", "021000021   12-34 56", {"routing": "021000021", "account": "12-34 56"}),
    ("C05", "37", {"transaction_code": "37"}),
    # C06: account 1-17, transaction code 22-23; moov-io writes the code at 28-29.
    ("C06", "98765".ljust(21) + "32", {"account": "98765", "transaction_code": "32"}),
    ("C06", "98765".ljust(27) + "32", {"account": "98765", "transaction_code": "32"}),
    # C07: routing 1-9, account 10-26, transaction code 27-28; moov-io: 28-29.
    ("C07", "021000021" + "98765".ljust(17) + "37", {"routing": "021000021", "account": "98765",
                                                   "transaction_code": "37"}),
    ("C07", "021000021" + "98765".ljust(18) + "37", {"routing": "021000021", "account": "98765",
                                                   "transaction_code": "37"}),
    ("C13", "SOMETHING ELSE", {"data": "SOMETHING ELSE"}),
])
def test_a_notification_of_change_gives_its_corrected_data_by_change_code(code, data, corrected):
    nacha_file = one_batch(
        Entry("noc", 21, "02100002", "111", 0, "ALICE", reason=code,
              original="121042880000001", data=data.ljust(29)), sec="COR")
    [notice] = of(read(write(nacha_file)), Notice)
    assert notice.corrected == corrected
    assert notice.code == code and notice.reference == "121042880000001"
    if "transaction_code" in corrected:
        assert "savings" in notice.message or "checking" in notice.message


def test_a_notification_of_change_with_an_amount_is_refused():
    nacha_file = one_batch(
        Entry("noc", 21, "02100002", "111", 5, "ALICE", reason="C01",
              original="121042880000001", data="12345".ljust(29)), sec="COR")
    assert refused(write(nacha_file)).where == "line 3, column 30"


def test_a_repeated_trace_number_is_refused():
    lines = records(two_entry_file())
    lines[3] = lines[3][:79] + lines[2][79:]
    error = refused("\n".join(lines).encode())
    assert error.where == "line 4, column 80" and "twice" in error.message


def test_an_iat_batch_is_refused_by_name():
    lines = records(two_entry_file())
    lines[1] = lines[1][:50] + "IAT" + lines[1][53:]
    error = refused("\n".join(lines).encode())
    assert error.where == "line 2, column 51" and "IAT" in error.message


def test_a_batch_without_an_effective_date_is_dated_by_the_file_with_a_warning():
    lines = records(two_entry_file())
    lines[1] = lines[1][:69] + "000000" + lines[1][75:]
    items = read("\n".join(lines).encode())
    assert {line.value_date for line in of(items, Line)} == {date(2026, 11, 30)}
    assert any(warning.where == "line 2, column 70" for warning in of(items, Warning))


def test_payer_names_are_read_where_the_sec_code_puts_them():
    lines = records(two_entry_file())
    lines[1] = lines[1][:50] + "CTX" + lines[1][53:]
    # CTX entry: 40-54 identification number, 55-58 number of addenda, 59-74 company name.
    lines[2] = lines[2][:39] + "INV-7".ljust(15) + "0000" + "GLOBEX CORP".ljust(16) + "  " \
        + lines[2][76:]
    first = of(read("\n".join(lines).encode()), Line)[0]
    assert first.payer_name == "GLOBEX CORP" and first.remittance == "INV-7"


def test_a_name_in_utf8_keeps_the_columns_of_its_bytes():
    lines = records(two_entry_file())
    raw = [line.encode("ascii") for line in lines]
    # "JOSÉ" is 5 bytes in UTF-8: the name field (columns 55-76) stays 22 bytes wide.
    raw[2] = raw[2][:54] + "JOSÉ".encode().ljust(22) + raw[2][76:]
    assert len(raw[2]) == 94
    first = of(read(b"\n".join(raw)), Line)[0]
    assert first.payer_name == "JOSÉ" and first.amount == Decimal("10.00")


def test_two_files_one_after_the_other_are_both_read():
    one, two = two_entry_file(), two_entry_file()
    two.modifier = "B"
    items = read(write(one) + write(two))
    ids = [line.bank_transaction_id for line in of(items, Line)]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_records_after_the_file_control_that_are_not_padding_are_refused():
    data = write(two_entry_file()) + b"6" + b"0" * 93 + b"\n"
    assert refused(data).where == "line 11"


def test_a_line_of_the_wrong_length_is_refused():
    data = write(two_entry_file()).replace(b"ALICE", b"ALICE" + b"X" * 30, 1)
    assert refused(data).where == "line 3"


@pytest.mark.parametrize("head", [
    b"01,BANKID,CUSTID,260101,0000,1,,,2/",
    b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">',
    b":20:STATEMENT\r\n:25:12345\r\n",
    b"OFXHEADER:100\r\nDATA:OFXSGML\r\n",
    b"101 23138010401210428821906240000A093101",  # record size 093
    b"5225Name on Account",
    b"",
])
def test_sniff_recognises_only_a_nacha_file_header(head):
    assert not nacha.sniff(head)


def test_unknown_options_are_ignored_and_own_accounts_may_be_one_string():
    data = write(two_entry_file())
    assert read(data, own_accounts="111", currency="EUR")[1].amount == Decimal("-2.50")
    assert len(of(read(data, own_accounts=None), Line)) == 2
