"""The BAI2 reader: the real sample files, files written from random rows in every layout
banks use (records sharing lines, records over several lines, 88 continuations anywhere),
control records, damaged files and bad input."""

from __future__ import annotations

import contextlib
import io
import re
import string
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciliation.formats import bai2
from reconciliation.formats.base import Kind, Line, Statement, StatementError, Status, Warning

from .write_bai2 import Account, Detail, File, Group, Layout, Summary, comparable, expected, write

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "samples"
if not SAMPLES.is_dir():
    SAMPLES = Path("/work/shared/samples")
CITI = SAMPLES / "bai2" / "moj_citi_example.bai2"
SVB = SAMPLES / "bai2" / "moj_svb_us_example.bai2"


def read_bytes(data: bytes) -> list:
    return list(bai2.read(io.BytesIO(data)))


def read_path(path: Path) -> list:
    with path.open("rb") as stream:
        return list(bai2.read(stream))


def of(items, cls):
    return [item for item in items if isinstance(item, cls)]


# --- the real files ------------------------------------------------------------------------------

def test_citi_sample_gbp_credit_with_text_over_seven_continuations():
    items = read_path(CITI)
    # Line 3: "03,77777777,GBP,010,10000,,,015,10000,,,/": one GBP account, opening ledger (010)
    # and closing ledger (015) both 10000 pence.
    [statement] = of(items, Statement)
    assert statement.account == "77777777"
    assert statement.currency == "GBP"
    assert statement.opening_balance == Decimal("100.00")
    assert statement.closing_balance == Decimal("100.00")
    # Line 1: file created 150716; line 2: group as of 150715.
    assert statement.created == date(2015, 7, 16)
    assert statement.period_start == statement.period_end == date(2015, 7, 15)
    # Line 4: "16,191,001,V,150715,,1234567890,RP12312312312312/": type 191 (incoming internal
    # money transfer, a credit) of 001 pence, value-dated 150715, bank reference 1234567890,
    # customer reference RP12312312312312; lines 5-11 are seven 88 records of text.
    [line] = of(items, Line)
    assert line.amount == Decimal("0.01")
    assert line.currency == "GBP"
    assert line.kind is Kind.CREDIT
    assert line.status is Status.BOOKED
    assert line.bank_code == "191"
    assert line.value_date == line.booking_date == date(2015, 7, 15)
    assert line.bank_transaction_id == "1234567890"
    assert line.reference == "RP12312312312312"
    assert line.remittance.startswith("FR:FP SIP INCOMING ENDT:20150715 TRID:RP12312312312312 ")
    assert "A1234BC 22/03/66 BI:22222222" in line.remittance  # a "/" inside the text
    assert line.remittance.endswith("BO:11111111 BO1:DOE JO")
    assert line.where == "line 4, column 1"
    # 100.00 + 0.01 is not the closing 100.00: a warning, the file is still read (the 49 on
    # line 12 says 20001 = 10000 + 10000 + 1 over 10 records: 03, 16, seven 88s, 49).
    [warning] = of(items, Warning)
    assert "100.01" in warning.message and "100.00" in warning.message
    assert [type(item) for item in items] == [Statement, Line, Warning]


def test_svb_sample_two_days_of_one_usd_account():
    items = read_path(SVB)
    statements = of(items, Statement)
    lines = of(items, Line)
    # Two groups (lines 2 and 11), as of 220201 and 220202, one account 1234567890 in USD each.
    assert [s.period_start for s in statements] == [date(2022, 2, 1), date(2022, 2, 2)]
    assert {s.account for s in statements} == {"1234567890"}
    assert {s.currency for s in statements} == {"USD"}
    # Line 3: 010 34726979 and 015 35217175; line 12: 010 35217175 and 015 36122975 (cents).
    assert [s.opening_balance for s in statements] == [Decimal("347269.79"), Decimal("352171.75")]
    assert [s.closing_balance for s in statements] == [Decimal("352171.75"), Decimal("361229.75")]
    # Lines 7 and 16: "16,142,490196,,172629,/" and "16,142,905800,,150675,/", ACH credits
    # (type 142), their text in the 88 that follows each.
    assert [line.amount for line in lines] == [Decimal("4901.96"), Decimal("9058.00")]
    assert [line.bank_transaction_id for line in lines] == ["172629", "150675"]
    assert [line.value_date for line in lines] == [date(2022, 2, 1), date(2022, 2, 2)]
    assert {line.remittance for line in lines} == {"SOME PAYMENT ACH OFFSET"}
    assert {line.reference for line in lines} == {""}
    assert {line.kind for line in lines} == {Kind.CREDIT}
    assert {line.bank_code for line in lines} == {"142"}
    # Both days add up (347269.79 + 4901.96 = 352171.75; 352171.75 + 9058.00 = 361229.75).
    assert of(items, Warning) == []
    assert sum(line.amount for line in lines) == Decimal("13959.96")


def test_samples_are_sniffed_as_bai2_and_other_formats_are_not():
    for path in (CITI, SVB):
        assert bai2.sniff(path.read_bytes()[:4096])
    assert bai2.sniff(b"\xef\xbb\xbf \r\n01,SENDER,RECEIVER,260101,0800,1,,,2/")
    others = [p for p in SAMPLES.glob("*/*") if p.parent.name != "bai2"]
    assert others, "the other formats' samples are there to be told apart"
    for path in others:
        assert not bai2.sniff(path.read_bytes()[:4096]), path.name


def _citi_records() -> list[str]:
    """The Citi sample's records, each text piece given its "/" (needed once records share a
    line: there the "/" ends a text)."""
    out = []
    for line in CITI.read_text().splitlines():
        out.append(line if line.endswith("/") else line + "/")
    return out


def test_samples_with_all_records_on_one_line_read_the_same():
    svb = SVB.read_bytes()
    one_line = b"".join(line.strip() + (b"" if line.strip().endswith(b"/") else b"/")
                        for line in svb.splitlines())
    assert one_line.count(b"\n") == 0
    assert [comparable(i) for i in read_bytes(one_line)] == [
        comparable(i) for i in read_path(SVB)]
    citi = "".join(_citi_records()).encode()
    assert [comparable(i) for i in read_bytes(citi)] == [comparable(i) for i in read_path(CITI)]
    # "/" inside the text that is not followed by a record stays text
    [line] = of(read_bytes(citi), Line)
    assert "A1234BC 22/03/66" in line.remittance


def test_samples_wrapped_at_any_width_read_the_same():
    import random

    from .write_bai2 import _wrap

    for path in (SVB, CITI):
        want = [comparable(i) for i in read_path(path)]
        for width in (7, 13, 30):
            lines = path.read_text().splitlines()
            wrapped = [p for line in lines for p in _wrap(line, width, random.Random(width))]
            assert len(wrapped) > len(lines)
            got = read_bytes("\n".join(wrapped).encode())
            assert [comparable(i) for i in got] == want, (path.name, width)


def test_sample_on_one_line_cut_into_blocks_of_any_width_reads_the_same():
    """The SVB file as one line, then cut every ``width`` characters wherever that falls: in a
    field, in a text, in a record code, or so that a block begins with "99," inside an account
    number."""
    want = [comparable(i) for i in read_path(SVB)]
    one_line = b"".join(line.strip() + (b"" if line.strip().endswith(b"/") else b"/")
                        for line in SVB.read_bytes().splitlines())
    for width in range(1, 120):
        blocks = b"\n".join(one_line[i:i + width] for i in range(0, len(one_line), width))
        assert [comparable(i) for i in read_bytes(blocks)] == want, width


def test_sample_with_crlf_and_cr_line_ends_reads_the_same():
    svb = SVB.read_bytes()
    want = [comparable(i) for i in read_bytes(svb)]
    assert [comparable(i) for i in read_bytes(svb.replace(b"\n", b"\r\n"))] == want
    assert [comparable(i) for i in read_bytes(svb.replace(b"\n", b"\r"))] == want


# The example file of the BAI2 specification, its first group, as the Informatica BAI2 library
# guide reproduces it, less a second 16 record and its two 88s that that copy shows in the first
# account without changing the 49, 98 controls (which agree without them): two accounts, 88
# continuations inside the 03 summaries (the second account's summary runs over two of them,
# the last one giving only the 040 amount), funds type S with an empty immediate amount, a text
# with no "/". Its controls are the bank's: the 49s total 9150000 = 4350000 + 2830000 +
# 1020000 + 500000 + 450000 over 4 records, and 4000000 = -500000 + 1000000 + 2000000 + 500000
# + 1000000 + 500000 + 500000 - 1500000 + 500000 over 5 records (03, two 88s, 16, 49); the 98
# says 13150000, 2 accounts, 11 records.
SPEC_EXAMPLE = b"""01,122099999,123456789,040621,0200,1,65,,2/
02,031001234,122099999,1,040620,2359,,2/
03,0123456789,,010,+4350000,,,040,2830000,,/
88,072,1020000,,,074,500000,,/
16,115,450000,S,100000,200000,150000,,,/
49,9150000,4/
03,9876543210,,010,-500000,,,100,1000000,,,400,2000000,,,190/
88,500000,,,110,1000000,,,072,500000,,,074,500000,,,040/
88,-1500000,,/
16,115,500000,S,,200000,300000,,,LOCK BOX NO.68751
49,4000000,5/
98,13150000,2,11/
99,13150000,1,13/
"""


def test_the_specification_example_reads_with_its_own_controls():
    items = read_bytes(SPEC_EXAMPLE)
    statements = of(items, Statement)
    assert [(s.account, s.currency, s.opening_balance, s.closing_balance) for s in statements] == [
        ("0123456789", "USD", Decimal("43500.00"), None),
        ("9876543210", "USD", Decimal("-5000.00"), None),
    ]
    lines = of(items, Line)
    assert [(x.amount, x.kind, x.bank_code, x.remittance) for x in lines] == [
        (Decimal("4500.00"), Kind.CREDIT, "115", ""),
        (Decimal("5000.00"), Kind.CREDIT, "115", "LOCK BOX NO.68751"),
    ]
    assert lines[0].bank_transaction_id == "BAI2:0123456789:20040620:1:115:450000"
    assert of(items, Warning) == []
    # every record on one line, each ended by "/", reads the same
    one_line = b"".join(x if x.endswith(b"/") else x + b"/" for x in SPEC_EXAMPLE.splitlines())
    assert [comparable(i) for i in read_bytes(one_line)] == [comparable(i) for i in items]


def test_a_bank_reference_on_two_lines_keeps_both_lines_apart():
    data = _file("03,1,USD/", "16,142,250,,REF1/", "16,142,250,,REF1/", "16,142,100,,REF2/",
                 total=600, count=5)
    items = read_bytes(data)
    assert [x.bank_transaction_id for x in of(items, Line)] == ["REF1", "REF1#2", "REF2"]
    [warning] = of(items, Warning)
    assert "REF1" in warning.message and warning.where == "line 5, column 1"


# --- control records -----------------------------------------------------------------------------

SVB_CONTROLS = [
    # (line, field index after the record code, record)
    (9, 0, "49"), (9, 1, "49"), (10, 0, "98"), (10, 1, "98"), (10, 2, "98"),
    (18, 0, "49"), (18, 1, "49"), (19, 0, "98"), (19, 1, "98"), (19, 2, "98"),
    (20, 0, "99"), (20, 1, "99"), (20, 2, "99"),
]


@pytest.mark.parametrize(("number", "index", "code"), SVB_CONTROLS)
@pytest.mark.parametrize("delta", [1, -1])
def test_a_tampered_control_refuses_the_file_at_its_place(number, index, code, delta):
    lines = SVB.read_text().splitlines()
    line = lines[number - 1]
    assert line.startswith(code + ",")
    fields = line.rstrip("/").split(",")
    fields[index + 1] = str(int(fields[index + 1]) + delta)
    lines[number - 1] = ",".join(fields) + ("/" if line.endswith("/") else "")
    column = len(",".join(fields[: index + 1])) + 2
    with pytest.raises(StatementError) as caught:
        read_bytes("\n".join(lines).encode())
    assert caught.value.where == f"line {number}, column {column}"
    assert f"record {code}" in caught.value.message


def test_a_dropped_continuation_refuses_the_file_by_its_counts():
    lines = CITI.read_text().splitlines()
    del lines[6]  # one 88 of text: amounts still add up, the 49 count of 10 no longer does
    with pytest.raises(StatementError, match=r"record 49: account 77777777 states 10 records"):
        read_bytes("\n".join(lines).encode())


def test_a_missing_detail_refuses_the_file_by_its_totals():
    lines = SVB.read_text().splitlines()
    del lines[15:17]  # the second day's 16 and its 88
    with pytest.raises(StatementError, match="record 49: account control total 143145938"):
        read_bytes("\n".join(lines).encode())


# --- continuation and funds types ----------------------------------------------------------------

def _file(*records: str, total: int, count: int) -> bytes:
    body = list(records)
    return "\n".join(
        ["01,BANK,CUST,261130,0800,1,,,2/", "02,CUST,BANK,1,261127,,USD,2/", *body,
         f"49,{total},{count}/", f"98,{total},1,{count + 2}/", f"99,{total},1,{count + 4}/"]
    ).encode()


def test_funds_types_s_v_d_line_up_the_references_and_text():
    data = _file(
        "03,12345,,010,+100000,,,015,-50000,,/",
        "16,115,10000,S,5000,4000,1000,BREF1,CREF1,LOCKBOX, NO.68751/X",
        "16,195,20000,V,261126,1200,BREF2,CREF2,WIRE",
        "16,175,30000,D,2,1,20000,2,10000,BREF3,CREF3,CHECKS",
        "16,698,400,Z,BREF4,CREF4/",
        "16,142,500,0/",
        total=100000 - 50000 + 10000 + 20000 + 30000 + 400 + 500, count=7)
    items = read_bytes(data)
    lines = of(items, Line)
    assert [(x.bank_transaction_id, x.reference, x.remittance) for x in lines] == [
        ("BREF1", "CREF1", "LOCKBOX, NO.68751/X"),
        ("BREF2", "CREF2", "WIRE"),
        ("BREF3", "CREF3", "CHECKS"),
        ("BREF4", "CREF4", ""),
        ("BAI2:12345:20261127:5:142:500", "", ""),
    ]
    assert lines[1].value_date == date(2026, 11, 26)  # V: its own value date
    assert lines[0].value_date == date(2026, 11, 27)  # else the as-of date
    assert [x.amount for x in lines] == [Decimal("100.00"), Decimal("200.00"), Decimal("300.00"),
                                         Decimal("-4.00"), Decimal("5.00")]
    assert lines[3].kind is Kind.FEE
    [statement] = of(items, Statement)
    assert statement.currency == "USD"  # 03 and 02 give none... 02 gives USD
    assert statement.opening_balance == Decimal("1000.00")
    assert statement.closing_balance == Decimal("-500.00")
    [warning] = of(items, Warning)  # 1000.00 + 601.00 is not -500.00
    assert "-500.00" in warning.message


def test_continuation_in_the_middle_of_a_summary_and_of_a_detail():
    data = _file(
        "03,12345,EUR,010,100/",  # amount given, item count and funds type in the 88
        "88,,,015,250,,/",
        "88,100,150,2,0,400",  # a record left without its "/": the next line begins a record
        "88,0,0,Z/",
        "16,142,100/",  # the amount, then the 88 goes on with the funds type
        "88,S,60,40,0,REF1/",
        "88,CUST1,first part, with comma/",
        "88,second part",
        "16,142,",
        "50,,REF2,CUST2/",  # a line that begins no record continues the record (the amount)
        total=100 + 250 + 150 + 0 + 100 + 50, count=10)
    items = read_bytes(data)
    [statement] = of(items, Statement)
    assert statement.currency == "EUR"
    assert (statement.opening_balance, statement.closing_balance) == (Decimal("1.00"),
                                                                       Decimal("2.50"))
    lines = of(items, Line)
    assert [(x.amount, x.bank_transaction_id, x.reference, x.remittance) for x in lines] == [
        (Decimal("1.00"), "REF1", "CUST1", "first part, with comma second part"),
        (Decimal("0.50"), "REF2", "CUST2", ""),
    ]
    assert of(items, Warning) == []


def test_comma_before_the_slash_and_empty_trailing_fields():
    data = _file(
        "03,12345,USD,010,1000,,,/",
        "88,015,1100,,,/",
        "16,142,100,,REF,,/",  # customer reference, then a comma before the "/": no text
        total=2200, count=4)
    items = read_bytes(data)
    [statement] = of(items, Statement)
    assert statement.closing_balance == Decimal("11.00")
    [line] = of(items, Line)
    assert (line.reference, line.remittance) == ("", "")


@pytest.mark.parametrize(("currency", "amount"), [
    ("JPY", Decimal("-12345")), ("KWD", Decimal("-12.345")), ("GBP", Decimal("-123.45")),
    ("", Decimal("-123.45")),
])
def test_implied_decimals_follow_the_currency(currency, amount):
    data = _file(f"03,12345,{currency}/", "16,475,12345,,CHK1/", total=12345, count=3)
    [line] = of(read_bytes(data), Line)
    assert line.amount == amount
    assert line.currency == (currency or "USD")
    assert line.kind is Kind.DEBIT


def test_group_currency_is_the_default_and_usd_the_last_default():
    data = _file("03,1/", "16,142,100/", total=100, count=3)
    data = data.replace(b"02,CUST,BANK,1,261127,,USD,2/", b"02,CUST,BANK,1,261127,,JPY,2/")
    [line] = of(read_bytes(data), Line)
    assert (line.currency, line.amount) == ("JPY", Decimal("100"))
    data = data.replace(b",JPY,2/", b",,2/")
    [line] = of(read_bytes(data), Line)
    assert (line.currency, line.amount) == ("USD", Decimal("1.00"))


@pytest.mark.parametrize(("code", "kind", "sign", "status"), [
    ("142", Kind.CREDIT, 1, Status.BOOKED),
    ("257", Kind.CREDIT, 1, Status.BOOKED),
    ("935", Kind.CREDIT, 1, Status.BOOKED),
    ("475", Kind.DEBIT, -1, Status.BOOKED),
    ("699", Kind.DEBIT, -1, Status.BOOKED),
    ("975", Kind.DEBIT, -1, Status.BOOKED),
    ("555", Kind.REVERSAL, -1, Status.BOOKED),
    ("557", Kind.REVERSAL, -1, Status.BOOKED),
    ("552", Kind.REVERSAL, -1, Status.BOOKED),
    ("698", Kind.FEE, -1, Status.BOOKED),
    ("661", Kind.FEE, -1, Status.BOOKED),
    ("890", Kind.CREDIT, 1, Status.INFO),
])
def test_type_code_gives_sign_kind_and_status(code, kind, sign, status):
    data = _file("03,1,USD/", f"16,{code},250/", total=250, count=3)
    [line] = of(read_bytes(data), Line)
    assert (line.kind, line.amount, line.status, line.bank_code) == (
        kind, sign * Decimal("2.50"), status, code)


@pytest.mark.parametrize("status", ["2", "4"])
def test_deleted_and_test_groups_move_no_money(status):
    data = _file("03,1,USD/", "16,142,250/", total=250, count=3)
    data = data.replace(b"02,CUST,BANK,1,", f"02,CUST,BANK,{status},".encode())
    items = read_bytes(data)
    [line] = of(items, Line)
    assert line.status is Status.INFO
    [warning] = of(items, Warning)
    assert f"status {status}" in warning.message


def test_two_identical_payments_without_bank_reference_keep_apart():
    data = _file("03,1,USD/", "16,142,250/", "16,142,250/", total=500, count=4)
    lines = of(read_bytes(data), Line)
    assert len({x.bank_transaction_id for x in lines}) == 2
    assert lines[0].bank_transaction_id == "BAI2:1:20261127:1:142:250"
    # the same file read again gives the same keys
    assert [x.bank_transaction_id for x in of(read_bytes(data), Line)] == [
        x.bank_transaction_id for x in lines]


def test_harmless_strays_are_read_when_the_controls_agree():
    """A creation time written HH:MM:SS, an empty account with a blank control total, a
    summary ending with ",/", a text split over two 88s in the middle of a word."""
    data = b"""01,BANKGB2L,9876543,261130,14:59:35,7,,,2/
02,9876543,BANKGB2L,1,261127,2400,,/
03,11111111 600004,GBP,010,500,,,015,411,,,072,0,,/
88,400,100,1,,100,11,1,/
16,699,100,,,/
88,TFR XBANK CAT GBP 2 JPY INTERNATI
88,ONAL TFR
16,399,11,,,/
49,1133,7/
03,22222222,/
49,,2/
98,1133,2,11/
99,1133,1,13/"""
    items = read_bytes(data)
    lines = of(items, Line)
    assert [(x.account, x.amount, x.currency) for x in lines] == [
        ("11111111 600004", Decimal("-1.00"), "GBP"), ("11111111 600004", Decimal("0.11"), "GBP")]
    assert lines[0].remittance == "TFR XBANK CAT GBP 2 JPY INTERNATI ONAL TFR"
    assert [s.account for s in of(items, Statement)] == ["11111111 600004", "22222222"]
    assert of(items, Warning) == []  # 5.00 - 1.00 + 0.11 = 4.11
    with pytest.raises(StatementError, match="record 49: account control total 0"):
        read_bytes(data.replace(b"49,1133,7/", b"49,,7/"))


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("records", "where", "message"), [
    (["03,1,USD/", "16,142,12.50/"], "line 4, column 8", "not an unsigned whole number"),
    (["03,1,USD/", "16,010,100/"], "line 4, column 4", "not a transaction code"),
    (["03,1,USD/", "16,142,100,X/"], "line 4, column 12", "funds type 'X'"),
    (["03,1,USD/", "16,142,100,D,2,1,50/"], "line 4", "distributions"),
    (["03,1,USD,01O,100/"], "line 3, column 10", "not three digits"),
    (["03,1,USD,010,1O0/"], "line 3, column 14", "not a signed whole number"),
    (["03,1,US/"], "line 3, column 6", "currency code"),
    (["16,142,100/"], "line 3, column 1", "out of place"),
    (["03,1,USD/", "17,142,100/"], "line 4, column 1", "expected a record code"),
])
def test_bad_input_is_refused_with_its_place(records, where, message):
    data = _file(*records, total=0, count=len(records) + 1)
    with pytest.raises(StatementError) as caught:
        read_bytes(data)
    assert caught.value.where.startswith(where)
    assert message in caught.value.message


def test_a_truncated_file_says_so():
    with pytest.raises(StatementError, match="ends early: no 99 file trailer"):
        read_bytes(b"\n".join(SVB.read_bytes().splitlines()[:-1]))
    with pytest.raises(StatementError, match="no 01 file header"):
        read_bytes(b"")


def test_records_after_the_file_trailer_are_refused():
    with pytest.raises(StatementError, match="after the 99 file trailer"):
        read_bytes(SVB.read_bytes() + b"\n02,1,2,1,220203,,USD,2/")


def test_a_bad_date_is_refused_with_its_place():
    data = SVB.read_bytes().replace(b"220201", b"221301")
    with pytest.raises(StatementError) as caught:
        read_bytes(data)
    assert caught.value.where == "line 2, column 26"
    assert "as-of date '221301'" in caught.value.message


# --- files from random rows ----------------------------------------------------------------------

SAFE = string.ascii_letters + string.digits + "-.:'#&()*+;=?@"
refs = st.text(SAFE, max_size=12)
TEXT_CHARS = SAFE + " ,/éü"
DETAIL_CODES = ["108", "115", "142", "165", "175", "195", "257", "301", "399", "935",
                "409", "451", "475", "495", "524", "555", "557", "564", "567", "661", "694",
                "698", "699", "975", "890"]
CURRENCIES = ["", "USD", "EUR", "GBP", "JPY", "KWD", "CAD"]


@st.composite
def text_pieces(draw):
    pieces = draw(st.lists(st.text(TEXT_CHARS, min_size=1, max_size=30), max_size=3))
    pieces = [p.strip() for p in pieces]
    pieces = [p for p in pieces if p and not p.endswith("/") and not bai2._TEXT_END.search(p)]
    return pieces


@st.composite
def funds(draw, value_dated=True):
    kind = draw(st.sampled_from(["", "", "Z", "0", "1", "2", "S", "V", "D"]))
    small = st.integers(0, 10**6)
    if kind == "S":
        return ("S", *(str(draw(small)) for _ in range(3)))
    if kind == "V":
        d = draw(st.dates(date(2001, 1, 1), date(2079, 12, 31)))
        return ("V", d.strftime("%y%m%d"), draw(st.sampled_from(["", "0930", "2400"])))
    if kind == "D":
        n = draw(st.integers(0, 3))
        out = ["D", str(n)]
        for _ in range(n):
            out += [str(draw(st.integers(0, 9))), str(draw(small))]
        return tuple(out)
    return (kind,)


@st.composite
def details(draw):
    return Detail(
        type_code=draw(st.sampled_from(DETAIL_CODES)),
        amount=draw(st.integers(0, 10**11)),
        funds=draw(funds()),
        bank_ref=draw(refs),
        customer_ref=draw(refs),
        text=draw(text_pieces()),
    )


@st.composite
def summaries(draw):
    out = []
    for code in draw(st.lists(st.sampled_from(["010", "015", "040", "045", "072", "100", "400",
                                               "905", "930", "965"]), unique=True, max_size=6)):
        if bai2.type_class(code) == "status":
            amount = draw(st.one_of(st.none(), st.integers(-10**12, 10**12)))
            out.append(Summary(code, amount))
        else:
            out.append(Summary(code, draw(st.integers(0, 10**12)),
                               draw(st.one_of(st.none(), st.integers(0, 999))), draw(funds())))
    return out


@st.composite
def accounts(draw):
    number = draw(st.text(string.digits + string.ascii_uppercase + "-", min_size=1, max_size=17))
    return Account(number=number, currency=draw(st.sampled_from(CURRENCIES)),
                   summaries=draw(summaries()), details=draw(st.lists(details(), max_size=5)))


@st.composite
def files(draw):
    groups = draw(st.lists(st.builds(
        Group,
        as_of=st.dates(date(2001, 1, 1), date(2079, 12, 31)),
        currency=st.sampled_from(CURRENCIES),
        status=st.sampled_from(["1", "1", "1", "2", "3", "4"]),
        modifier=st.sampled_from(["", "1", "2", "3", "4"]),
        accounts=st.lists(accounts(), min_size=1, max_size=3),
    ), min_size=1, max_size=3))
    return File(groups=groups)


layouts = st.builds(
    Layout,
    cuts=st.sampled_from([0.0, 0.0, 0.2, 0.5, 1.0]),
    shared=st.booleans(),
    comma_slash=st.booleans(),
    wrap=st.sampled_from([0, 0, 9, 25, 80]),
    slash_after_text=st.booleans(),
    crlf=st.booleans(),
    seed=st.integers(0, 2**32),
)


def test_the_writer_writes_what_the_samples_show():
    f = File(groups=[Group(as_of=date(2022, 2, 1), currency="USD", accounts=[Account(
        "1234567890", "USD", [Summary("010", 34726979), Summary("015", 35217175)],
        [Detail("142", 490196, ("",), "172629", "", ["SOME PAYMENT ACH OFFSET"])])])])
    assert write(f).decode().splitlines() == [
        "01,121000248,CUSTOMER1,261130,0800,1,,,2/",
        "02,CUSTOMER1,121000248,1,220201,0800,USD,2/",
        "03,1234567890,USD,010,34726979,,,015,35217175,,/",
        "16,142,490196,,172629,,SOME PAYMENT ACH OFFSET",
        f"49,{34726979 + 35217175 + 490196},3/",
        f"98,{34726979 + 35217175 + 490196},1,5/",
        f"99,{34726979 + 35217175 + 490196},1,7/",
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), layouts)
def test_written_files_read_back_the_same(f, layout):
    data = write(f, layout)
    got = read_bytes(data)
    assert [comparable(i) for i in got] == [comparable(i) for i in expected(f)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), layouts, st.data())
def test_a_truncated_file_is_refused_or_reads_the_same(f, layout, data):
    blob = write(f, layout)
    cut = data.draw(st.integers(0, len(blob) - 1))
    want = [comparable(i) for i in expected(f)]
    try:
        got = [comparable(i) for i in read_bytes(blob[:cut])]
    except StatementError:
        return
    assert got == want


def _money(items):
    """The amounts a reading gives, in minor units and in file order: what BAI2's controls
    cover."""
    return [int(abs(item.amount).scaleb(bai2.decimals(item.currency)))
            for item in items if isinstance(item, Line)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files(), layouts, st.data())
def test_a_corrupted_file_is_refused_or_reads_the_same_amounts(f, layout, data):
    """BAI2's controls cover every amount and every record, nothing else (not the account
    number, the text, the references, the dates, the currency or which credit or debit code):
    a damaged file is refused, or reads the same number of lines with the same amounts."""
    blob = bytearray(write(f, layout))
    position = data.draw(st.integers(0, len(blob) - 1))
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    byte = data.draw(st.sampled_from(list(b"0123456789,/\n 8Z")))
    if how == "replace":
        assume(blob[position] != byte)
        blob[position] = byte
    elif how == "insert":
        blob.insert(position, byte)
    else:
        del blob[position]
    try:
        got = read_bytes(bytes(blob))
    except StatementError:
        return
    want = expected(f)
    assert _money(got) == _money(want)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_statement_errors(blob):
    with contextlib.suppress(StatementError):
        read_bytes(blob)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_samples_raise_only_statement_errors(data):
    blob = bytearray(data.draw(st.sampled_from([CITI, SVB])).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(blob) - 1))
        blob[position] = data.draw(st.integers(0, 255))
    try:
        read_bytes(bytes(blob))
    except StatementError as error:
        assert re.match(r"line \d+, column \d+$", error.where)
