"""The MT940/MT942 reader: the real sample files, the :61: grammar, control records, and
property tests against the writer in write_mt940.py. No database."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciliation.formats import Kind, Line, Statement, StatementError, Status, Warning, mt940

from .write_mt940 import Message, Row, amount_text, write

SAMPLES = Path("/work/shared/samples")  # see SOURCES.md there


def read_bytes(data: bytes) -> list:
    return list(mt940.read(io.BytesIO(data)))


def read_sample(name: str) -> list:
    with open(SAMPLES / "mt940" / name, "rb") as f:
        return list(mt940.read(f))


def kinds(items, kind):
    return [i for i in items if isinstance(i, kind)]


def refused(data: bytes) -> StatementError:
    with pytest.raises(StatementError) as caught:
        read_bytes(data)
    return caught.value


# ------------------------------------------------------------------------- the real files

# Expected values read from the files by hand (line numbers of the file in the comments).
SAMPLE_FACTS = {
    # lines 4-27 and 32-40; :28:/:28C: on lines 6 and 34; amounts on the :61: lines
    "jejik_abnamro.sta": dict(
        accounts={"517852257"}, currency="EUR", sequences=["19321/1", "19322/1"],
        openings=[Decimal("3236.28"), Decimal("2876.84")],
        closings=[Decimal("876.84"), Decimal("1849.75")],
        lines=[8, 2], debits=Decimal("345.93"), credits=Decimal("0"),
        # 3236.28 - 321.44 != 876.84; 2876.84 opens after 876.84; 2876.84 - 24.49 != 1849.75
        warnings=3,
    ),
    # two statements, :61: on lines 5 and 13, 10,00 each; 100 -> 90 -> 80 adds up
    "jejik_generic.sta": dict(
        accounts={"11111111"}, currency="EUR", sequences=["1", "2"],
        openings=[Decimal("100.00"), Decimal("90.00")], closings=[Decimal("90.00"), Decimal("80.00")],
        lines=[1, 1], debits=Decimal("20.00"), credits=Decimal("0"), warnings=0,
    ),
    # lines 8-22: debits 25,03 3,03 1,11 20,00 1,10; credits 3,68 1,00; 0,00 + -45,59 != 3,47
    "jejik_ing.sta": dict(
        accounts={"0001234567"}, currency="EUR", sequences=["000"],
        openings=[Decimal("0.00")], closings=[Decimal("3.47")],
        lines=[7], debits=Decimal("50.27"), credits=Decimal("4.68"), warnings=1,
    ),
    # 0 + 500 = 500; then 3058,98 - 7260 + 500 != 798,98 and 3058,98 opens after 500
    "jejik_knab.sta": dict(
        accounts={"123456789"}, currency="EUR", sequences=["998/1", "999/1"],
        openings=[Decimal("0"), Decimal("3058.98")], closings=[Decimal("500"), Decimal("798.98")],
        lines=[1, 2], debits=Decimal("7260"), credits=Decimal("1000"), warnings=2,
    ),
    # CHF; 0 + 79,7 + 149,5 = 229,2; 229,2 - 79,9 + 10,1 = 159,4 != 159,6 (line 27)
    "jejik_postfinance.sta": dict(
        accounts={"123456789"}, currency="CHF", sequences=["999/1", "999/2"],
        openings=[Decimal("0"), Decimal("229.2")], closings=[Decimal("229.2"), Decimal("159.6")],
        lines=[2, 2], debits=Decimal("79.9"), credits=Decimal("239.3"), warnings=1,
    ),
    # 1000 - 25 - 10 = 965; 965 - 25 - 10 = 930
    "jejik_rabobank-iban.sta": dict(
        accounts={"NL71RABO0123456789"}, currency="EUR", sequences=["0", "0"],
        openings=[Decimal("1000"), Decimal("965")], closings=[Decimal("965"), Decimal("930")],
        lines=[2, 2], debits=Decimal("70.00"), credits=Decimal("0"), warnings=0,
    ),
    # four statements (the second empty), two accounts; 473,17 - 1213,28 != 395,82;
    # 1000,89 opens after 395,82; 1295,82 opens after 1000,89; 1295,82 - 281,51 != 1250,87;
    # 4196,12 - 94,30 = 4101,82
    "jejik_rabobank.sta": dict(
        accounts={"1291.99.348", "1526.89.184"}, currency="EUR", sequences=["00000/00"] * 4,
        openings=[Decimal("473.17"), Decimal("1000.89"), Decimal("1295.82"), Decimal("4196.12")],
        closings=[Decimal("395.82"), Decimal("1000.89"), Decimal("1250.87"), Decimal("4101.82")],
        lines=[1, 0, 2, 2], debits=Decimal("1589.09"), credits=Decimal("0"), warnings=4,
    ),
    # 1234,56 - 20 - 5 = 1209,56, then an empty statement at 1209,56
    "jejik_sns.sta": dict(
        accounts={"0123456789"}, currency="EUR", sequences=["160/1", "161/1"],
        openings=[Decimal("1234.56"), Decimal("1209.56")],
        closings=[Decimal("1209.56"), Decimal("1209.56")],
        lines=[2, 0], debits=Decimal("25.00"), credits=Decimal("0"), warnings=0,
    ),
    # :25:TRIODOSBANK/0390123456; 4975,09 - 15,70 - 700,00 != 4370,79
    "jejik_triodos.sta": dict(
        accounts={"0390123456"}, currency="EUR", sequences=["1"],
        openings=[Decimal("4975.09")], closings=[Decimal("4370.79")],
        lines=[2], debits=Decimal("715.70"), credits=Decimal("0"), warnings=1,
    ),
}


def test_every_mt940_sample_is_covered():
    assert sorted(p.name for p in (SAMPLES / "mt940").iterdir()) == sorted(SAMPLE_FACTS)


@pytest.mark.parametrize("name", sorted(SAMPLE_FACTS))
def test_it_reads_the_sample_files_whole(name):
    facts = SAMPLE_FACTS[name]
    items = read_sample(name)
    statements = kinds(items, Statement)
    lines = kinds(items, Line)
    assert {s.account for s in statements} == facts["accounts"]
    assert {s.currency for s in statements} | {ln.currency for ln in lines} == {facts["currency"]}
    assert [s.sequence for s in statements] == facts["sequences"]
    assert [s.opening_balance for s in statements] == facts["openings"]
    assert [s.closing_balance for s in statements] == facts["closings"]
    per_statement = []
    for item in items:
        if isinstance(item, Statement):
            per_statement.append(0)
        elif isinstance(item, Line):
            per_statement[-1] += 1
    assert per_statement == facts["lines"]
    assert -sum((ln.amount for ln in lines if ln.amount < 0), Decimal(0)) == facts["debits"]
    assert sum((ln.amount for ln in lines if ln.amount > 0), Decimal(0)) == facts["credits"]
    assert len(kinds(items, Warning)) == facts["warnings"]
    assert all(ln.status is Status.BOOKED for ln in lines)
    ids = [ln.bank_transaction_id for ln in lines]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", sorted(SAMPLE_FACTS))
def test_it_detects_the_sample_files(name):
    head = (SAMPLES / "mt940" / name).read_bytes()[:65536]
    assert mt940.sniff(head)


@pytest.mark.parametrize("folder", ["camt053", "camt054", "ofx", "bai2", "nacha", "csv"])
def test_it_does_not_claim_other_formats(folder):
    for path in (SAMPLES / folder).iterdir():
        assert not mt940.sniff(path.read_bytes()[:65536]), path.name


def test_abnamro_header_lines_entry_dates_and_intermediate_balances():
    items = read_sample("jejik_abnamro.sta")
    first = kinds(items, Line)[0]
    # line 8 :61:1105240524D9,N192NONREF -> value and entry date 24 May 2011, 9,00 out
    assert (first.value_date, first.booking_date, first.amount) == (
        date(2011, 5, 24), date(2011, 5, 24), Decimal("-9.00"))
    assert first.kind is Kind.DEBIT and first.bank_code == "N192" and first.reference == ""
    # lines 9-11: the :86: text on three lines is the remittance
    assert first.remittance.startswith("GIRO 428428 KPN - DIGITENNE BETALINGSKENM.")
    assert first.remittance.endswith("BETREFT FACTUUR D.D. 20-05-2011 INCL. 1,44 BTW")
    second = kinds(items, Statement)[1]
    # line 35 :60M: and line 40 :62M: (an intermediate page)
    assert (second.period_start, second.period_end) == (date(2011, 5, 23), date(2011, 5, 24))


def test_ing_soft_hyphens_tabs_and_statement_level_information():
    lines = kinds(read_sample("jejik_ing.sta"), Line)
    # line 17: "22<U+00AD>07<U+00AD>2010 09:57 002<TAB>5595781"
    assert lines[3].remittance == "ABN AMRO BANK>AMSTERDAM 22-07-2010 09:57 002 5595781"
    # line 14: :61:100722D1,11NTRFTMG TANGO -> reference "TMG TANGO"
    assert lines[2].reference == "TMG TANGO"
    # lines 22-25: credit of 1,00 with three lines of text
    assert lines[6].amount == Decimal("1.00") and lines[6].kind is Kind.CREDIT
    assert lines[6].remittance == (
        "0111111111 Hr S Marechal ROSMALEN Hr S Marechal ROSMALEN "
        "Betaling transactiedatum: 22-07-2010")


def test_knab_bank_references_labelled_payer_and_an_amount_without_its_comma():
    lines = kinds(read_sample("jejik_knab.sta"), Line)
    # line 5 ...C500,NTRFNONREF//B4E07XM00J000023
    assert lines[0].bank_transaction_id == "B4E07XM00J000023"
    assert lines[0].amount == Decimal("500.00")
    # lines 14-16: D7260, and REK: NL65INGB0123456789/NAAM: PICQER
    assert (lines[1].amount, lines[1].payer_account, lines[1].payer_name) == (
        Decimal("-7260.00"), "NL65INGB0123456789", "PICQER")
    # line 17: C500NTRF29-07-2014 10:05//B4G29PGDCK1QFV3E (no decimal comma: a harmless stray)
    assert (lines[2].amount, lines[2].reference, lines[2].bank_transaction_id) == (
        Decimal("500.00"), "29-07-2014 10:05", "B4G29PGDCK1QFV3E")
    assert lines[2].payer_name == "MMS ONLINE NEDERLAND B.V."


def test_rabobank_structured_information_wrapped_mid_word():
    lines = kinds(read_sample("jejik_rabobank-iban.sta"), Line)
    # lines 6-9: supplementary details NL70ABNA0987654321, /EREF/.../BENM//NAME/CONTRA ACCOUN|T HOLDER
    assert lines[0].payer_name == "CONTRA ACCOUNT HOLDER"
    assert lines[0].payer_account == "NL70ABNA0987654321"
    assert lines[0].reference == "01-01-2013 12:00 0030000987654321"
    assert lines[0].remittance == ""  # /REMI//
    # line 12: /BENM//NAME/JOHN DOE/REMI/Reference 201301234/ISDT/2013-01-02
    assert lines[1].payer_name == "JOHN DOE"
    assert "Reference 201301234" in lines[1].remittance


def test_old_rabobank_repeated_information_fields_and_account_currency_suffix():
    items = read_sample("jejik_rabobank.sta")
    lines = kinds(items, Line)
    # line 6: counterparty account as reference, the name after the 16 characters; lines 7-10
    assert lines[0].amount == Decimal("-1213.28")
    assert lines[0].reference == "0121470966"
    assert lines[0].remittance == (
        "W.P. Jansen Terugboeking NIET AKKOORD MET AFSCHRIJVING KOSTEN KINDEROPVANG JUNI 20095731")
    # line 26: value date 110721 in the statement of 110617
    assert lines[2].value_date == date(2011, 7, 21)


def test_triodos_subfields_and_account_after_the_bank_name():
    lines = kinds(read_sample("jejik_triodos.sta"), Line)
    # lines 6-8: >20ALGEMENE TUSSENREKENING KOS>21TEN VAN 01-10-2010 TOT EN M>22ET 31-12-2010
    assert lines[0].remittance == "ALGEMENE TUSSENREKENING KOSTEN VAN 01-10-2010 TOT EN MET 31-12-2010"
    assert lines[0].payer_account == ""  # >31 names the statement's own account
    assert lines[1].remittance == "HUUR KANTOOR - FEB 2010"


def test_postfinance_supplementary_details_and_wrapped_text():
    lines = kinds(read_sample("jejik_postfinance.sta"), Line)
    # lines 19-23: the word STRASSE and SONNENGLAESER are wrapped at 65 characters
    assert "XXXXXXXXSTRASSE 111" in lines[2].remittance
    assert lines[2].remittance.endswith("MITTEILUNGEN: 1 SONNENGLAESER")
    assert lines[2].remittance.startswith("20131216007602112345678000000012 ")
    # //NONREF is no bank reference: the stable key is used
    assert lines[0].bank_transaction_id == "123456789/999/1/20131130/1/20131209/79.70"


def _one_line(info: bytes, mark: bytes = b"C") -> Line:
    data = (b":20:R\n:25:NL91ABNA0417164300\n:28C:1\n:60F:C240101EUR0,\n:61:240101" + mark
            + b"1,NTRFNONREF\n:86:" + info + b"\n:62F:" + (b"C" if mark == b"C" else b"D")
            + b"240101EUR1,\n")
    (line,) = kinds(read_bytes(data), Line)
    return line


def test_a_sepa_return_reason_makes_a_reversal():
    line = _one_line(b"/RTRN/MS03/EREF/E2E-7/BENM//NAME/ACME/IBAN/NL91ABNA0417164300/REMI/USTD//X/", b"D")
    assert (line.kind, line.return_code, line.reference, line.payer_name) == (
        Kind.REVERSAL, "MS03", "E2E-7", "ACME")
    assert line.payer_account == ""  # the statement's own account is nobody's payer


def test_a_structured_creditor_reference_is_the_reference():
    line = _one_line(b"/EREF/NOTPROVIDED/ORDP//NAME/B. CUSTOMER/REMI/STRD/CUR/RF18539007547034/")
    assert (line.reference, line.remittance, line.payer_name) == (
        "RF18539007547034", "RF18539007547034", "B. CUSTOMER")


def test_the_german_question_mark_layout_with_sepa_keys():
    line = _one_line(b"166?00GUTSCHRIFT?109075?20EREF+E2E1?21SVWZ+Rechnung 4\n2 Danke?30COBADEFFXXX"
                     b"?31DE89370400440532013000?32Max Mustermann")
    assert (line.reference, line.remittance, line.payer_name, line.payer_account) == (
        "E2E1", "Rechnung 42 Danke", "Max Mustermann", "DE89370400440532013000")


# -------------------------------------------------------------------------------- grammar

GENERIC = (SAMPLES / "mt940" / "jejik_generic.sta").read_bytes()


def test_a_decimal_point_is_refused_with_its_line_and_column():
    # line 5 of the generic sample is :61:110101D10,00N000NONREF; the point is column 14
    error = refused(GENERIC.replace(b":61:110101D10,00N000", b":61:110101D10.00N000", 1))
    assert error.where == "line 5, column 14"
    assert "decimal point" in error.message


def test_a_decimal_point_in_a_balance_is_refused():
    error = refused(GENERIC.replace(b":62F:C110201EUR90,00", b":62F:C110201EUR90.00", 1))
    assert error.where == "line 7, column 18"


@pytest.mark.parametrize("bad, where, words", [
    (b":61:110101X10,00N000NONREF", "line 5, column 11", "debit/credit mark"),
    (b":61:110101D10,00X000NONREF", "line 5, column 17", "transaction type"),
    (b":61:111301D10,00N000NONREF", "line 5, column 5", "not a date"),
    (b":61:110101DQ10,00N000NONREF", "line 5, column 12", "funds code"),
    (b":61:110101D,00N000NONREF", "line 5, column 12", "amount of :61: expected"),
    (b":61:110101D10,001N000NONREF", "line 5, column 12", "more decimals"),
    (b":61:110101EC10,00N000NONREF", "line 5, column 11", "MT942 only"),
])
def test_a_statement_line_against_its_grammar_is_refused_where_it_goes_wrong(bad, where, words):
    error = refused(GENERIC.replace(b":61:110101D10,00N000NONREF", bad, 1))
    assert error.where == where
    assert words in error.message


def test_reversals_fees_funds_codes_and_charges():
    data = b"\n".join([
        b":20:REF", b":25:NL91ABNA0417164300", b":28C:7/1", b":60F:C240101EUR100,00",
        b":61:240102RC5,NTRFNONREF", b":61:240102RD6,NTRFNONREF", b":61:240102D1,50NCHGNONREF",
        b":61:240102DR2,FCHGNONREF", b":61:240102CR10,S103NONREF//BANK1",
        b":61:240102D3,NRTINONREF", b":62F:C240102EUR104,50", b"",
    ])
    lines = kinds(read_bytes(data), Line)
    assert [(ln.amount, ln.kind) for ln in lines] == [
        (Decimal("-5.00"), Kind.REVERSAL), (Decimal("6.00"), Kind.REVERSAL),
        (Decimal("-1.50"), Kind.FEE), (Decimal("-2.00"), Kind.FEE),
        (Decimal("10.00"), Kind.CREDIT), (Decimal("-3.00"), Kind.REVERSAL),
    ]
    assert not kinds(read_bytes(data), Warning)  # 100 - 5 + 6 - 1.5 - 2 + 10 - 3 = 104.50


def test_balances_that_do_not_add_up_warn_and_keep_the_lines():
    data = b"\n".join([
        b":20:REF", b":25:ACC", b":28C:7", b":60F:C240101EUR100,00",
        b":61:240102C5,NTRFNONREF", b":62F:C240102EUR106,00", b"-", b"",
    ])
    items = read_bytes(data)
    assert len(kinds(items, Line)) == 1
    (warning,) = kinds(items, Warning)
    assert "100.00 + entries 5.00 = 105.00" in warning.message and warning.where == "line 6, column 6"


@pytest.mark.parametrize("value, entry, booked", [
    ("231231", "0102", date(2024, 1, 2)),
    ("240102", "1231", date(2023, 12, 31)),
    ("240229", "0301", date(2024, 3, 1)),
])
def test_the_entry_date_takes_the_year_nearest_the_value_date(value, entry, booked):
    data = (f":20:R\n:25:A\n:28C:1\n:60F:C231231EUR0,\n:61:{value}{entry}C1,NTRFNONREF\n"
            ":62F:C240102EUR1,\n").encode()
    (line,) = kinds(read_bytes(data), Line)
    assert line.booking_date == booked


def test_two_identical_payments_keep_apart_and_keep_their_keys():
    data = b"\n".join([
        b":20:REF", b":25:ACC", b":28C:12/1", b":60F:C240101EUR0,",
        b":61:240102C5,NTRFNONREF", b":86:SAME", b":61:240102C5,NTRFNONREF", b":86:SAME",
        b":62F:C240102EUR10,", b"",
    ])
    first = [ln.bank_transaction_id for ln in kinds(read_bytes(data), Line)]
    again = [ln.bank_transaction_id for ln in kinds(read_bytes(data), Line)]
    assert first == again == ["ACC/12/1/20240101/1/20240102/5.00", "ACC/12/1/20240101/2/20240102/5.00"]


def test_lines_that_share_a_bank_reference_keep_apart_with_a_warning():
    data = b"\n".join([
        b":20:REF", b":25:ACC", b":28C:12/1", b":60F:C240101EUR0,",
        b":61:240102C5,NTRFNONREF//BATCH1", b":61:240102C6,NTRFNONREF//BATCH1",
        b":61:240102C7,NTRFNONREF//BATCH1", b":62F:C240102EUR18,", b"",
    ])
    items = read_bytes(data)
    assert [ln.bank_transaction_id for ln in kinds(items, Line)] == ["BATCH1", "BATCH1#2", "BATCH1#3"]
    (warning,) = kinds(items, Warning)
    assert "BATCH1" in warning.message and warning.where == "line 6"


@pytest.mark.parametrize("data, words", [
    (b":25:ACC\n:28C:1\n:60F:C240101EUR0,\n:62F:C240101EUR0,\n", "outside a statement"),
    (b":20:R\n:28C:1\n:60F:C240101EUR0,\n:62F:C240101EUR0,\n", ":25:"),
    (b":20:R\n:25:A\n:60F:C240101EUR0,\n:62F:C240101EUR0,\n", ":28C:"),
    (b":20:R\n:25:A\n:28C:1\n:61:240101C1,NTRFNONREF\n:62F:C240101EUR1,\n", "opening balance"),
    (b":20:R\n:25:A\n:28C:1\n:60F:C240101EUR0,\n:61:240101C1,NTRFNONREF\n", "closing balance"),
    (b":20:R\n:25:A\n:28C:1\n:60F:C240101EUR0,\n:62F:C240101EUR0,\n:61:240101C1,NTRFNONREF\n",
     "after the closing"),
    (b":20:R\n:25:A\n:28C:1\n:60F:C240101EUR0,\n:62F:C240101USD0,\n", "USD"),
    (b":20:R\n:25:A\n:28C:1\n:60F:C240101EUR0,\nSTRAY TEXT\n:62F:C240101EUR0,\n", "no field"),
    (b":20:R\n:25:A\n:28C:1\n:60F:C240101EUR0,\n:61:240101C1,NTRFNONREF\nDETAILS\nMORE\n"
     b":62F:C240101EUR1,\n", "supplementary"),
    (b":20:R\n:25:A\n:28C:1\n:60F:C240101EUR0,\n:23:X\n:62F:C240101EUR0,\n", ":23:"),
    (b"", "no MT940"),
    (b"hello\n", "no MT940"),
])
def test_a_file_it_cannot_account_for_is_refused_with_a_reason(data, words):
    error = refused(data)
    assert words in str(error)
    assert error.where.startswith("line ")


@pytest.mark.parametrize("old, new, where", [
    (b"\n:20:GENERIC\n:25:11111111\n:28:2", b"\n  :20:GENERIC", "line 9, column 1"),
    (b"\n:61:110201D10,00N000NONREF", b"\n :61:110201D10,00N000NONREF", "line 13, column 1"),
    (b"\n:62F:C110201EUR90,00", b"\n :62F:C110201EUR90,00", "line 7, column 1"),  # after :86:
])
def test_an_indented_field_is_refused_not_taken_for_text(old, new, where):
    error = refused(GENERIC.replace(old, new, 1))
    assert "beginning of its line" in error.message and error.where == where


# ------------------------------------------------------------------- SWIFT blocks and MT942

def _mt942(d90: bytes = b":90D:1EUR5,\n", c90: bytes = b":90C:2EUR30,\n", lines: bytes = b"") -> bytes:
    return (b"{1:F01BANKNL2AAXXX0000000000}{2:O9421200240102BANKNL2AAXXX00000000002401021200N}{4:\n"
            b":20:INTRADAY\n:25:NL91ABNA0417164300EUR\n:28C:3/1\n:34F:EURD0,\n:34F:EURC0,\n"
            b":13D:2401021200+0100\n"
            b":61:2401020102C10,NTRFNONREF//B1\n:86:/EREF/E1/ORDP//NAME/ACME/IBAN/DE89370400440532013000/REMI/USTD//INV 1/\n"
            b":61:240102C20,NTRFNONREF//B2\n:61:240102D5,NCHGNONREF//B3\n"
            + lines + d90 + c90 + b":86:END OF REPORT\n-}{5:{CHK:0123456789AB}}\n")


def test_an_interim_report_is_read_and_its_control_records_checked():
    items = read_bytes(_mt942())
    (statement,) = kinds(items, Statement)
    assert (statement.account, statement.currency, statement.created, statement.opening_balance) == (
        "NL91ABNA0417164300", "EUR", date(2024, 1, 2), None)
    lines = kinds(items, Line)
    assert [(ln.amount, ln.kind, ln.bank_transaction_id) for ln in lines] == [
        (Decimal("10.00"), Kind.CREDIT, "B1"), (Decimal("20.00"), Kind.CREDIT, "B2"),
        (Decimal("-5.00"), Kind.FEE, "B3")]
    assert (lines[0].payer_name, lines[0].payer_account, lines[0].reference, lines[0].remittance) == (
        "ACME", "DE89370400440532013000", "E1", "INV 1")
    assert not kinds(items, Warning)


@pytest.mark.parametrize("d90, c90, where", [
    (b":90D:2EUR5,\n", b":90C:2EUR30,\n", "line 12"),
    (b":90D:1EUR5,\n", b":90C:2EUR31,\n", "line 13"),
    (b":90D:1EUR5,\n", b":90C:1EUR10,\n", "line 13"),
])
def test_an_interim_report_whose_control_records_disagree_is_refused(d90, c90, where):
    error = refused(_mt942(d90, c90))
    assert error.where.startswith(where + ",")
    assert "control record" in error.message


def test_expected_entries_are_pending_and_outside_the_control_records():
    items = read_bytes(_mt942(lines=b":61:240103EC7,NTRFNONREF//B4\n:61:240103ED8,NTRFNONREF//B5\n"))
    lines = kinds(items, Line)
    assert [(ln.status, ln.amount) for ln in lines[3:]] == [
        (Status.PENDING, Decimal("7.00")), (Status.PENDING, Decimal("-8.00"))]


def test_an_interim_report_without_control_records_warns():
    items = read_bytes(_mt942(b"", b""))
    assert len(kinds(items, Line)) == 3
    assert len(kinds(items, Warning)) == 2


@pytest.mark.parametrize("change, words", [
    ((b"-}{5:{CHK:0123456789AB}}\n", b""), "ends inside"),
    ((b"{2:O942", b"{2:O103"), "MT103"),
    ((b"{1:F01BANKNL2AAXXX0000000000}", b"{1:F01BANKNL2AAXXX0000000000"), "not closed"),
])
def test_broken_swift_blocks_are_refused(change, words):
    assert words in str(refused(_mt942().replace(*change)))


def test_it_sniffs_blocks_and_bare_interim_reports():
    assert mt940.sniff(_mt942())
    assert mt940.sniff(b":20:X\r\n:25:Y\r\n:28C:1\r\n:34F:EUR0,\r\n")
    assert not mt940.sniff(b"01,SENDER,RECEIVER,240101,1200,1,,,2/\n")
    assert not mt940.sniff(b"{1:F01BANKNL2AAXXX0000000000}{2:O1031200}{4:\n:20:X\n")


# ----------------------------------------------------------------------------- encodings

def test_latin1_and_cp1252_narrative_is_decoded():
    data = (b":20:R\n:25:A\n:28C:1\n:60F:C240101EUR0,\n:61:240101C1,NTRFNONREF\n:86:") + \
        "Müller ".encode("latin-1") + "€ 1".encode("cp1252") + b"\n:62F:C240101EUR1,\n"
    (line,) = kinds(read_bytes(data), Line)
    assert line.remittance == "Müller € 1"


def test_soh_and_etx_around_swift_messages_are_read():
    wrapped = b"\x01" + _mt942().replace(b"-}{5:", b"-}{5:", 1).rstrip(b"\n") + b"\x03\n"
    assert kinds(read_bytes(wrapped), Line) == kinds(read_bytes(_mt942()), Line)


def test_a_utf8_byte_order_mark_and_cr_only_lines_are_read():
    data = "\ufeff".encode() + GENERIC.replace(b"\n", b"\r")
    assert kinds(read_bytes(data), Line) == kinds(read_bytes(GENERIC), Line)


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes):
        self._inner = io.BytesIO(data)

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, buffer):
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("name", sorted(SAMPLE_FACTS))
def test_an_unseekable_stream_gives_the_same_items(name):
    data = (SAMPLES / "mt940" / name).read_bytes()
    unseekable = list(mt940.read(io.BufferedReader(_Unseekable(data))))
    assert unseekable == read_bytes(data)


# -------------------------------------------------------------------------- property tests

TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,'+()",
               min_size=1, max_size=150).map(lambda s: " ".join(s.split())).filter(bool)
REF = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", min_size=1, max_size=16).filter(
    lambda s: s.upper() not in ("NONREF", "NOTPROVIDED", "NONE") and not s.startswith("-"))
IBANS = st.sampled_from(["NL91ABNA0417164300", "DE89370400440532013000", "GB29NWBK60161331926819"])
CURRENCIES = st.sampled_from(["EUR", "USD", "CHF", "JPY", "KWD"])


@st.composite
def rows(draw, currency: str, interim: bool):
    value = draw(st.dates(min_value=date(1995, 1, 1), max_value=date(2060, 12, 31)))
    booking = draw(st.none() | st.integers(-4, 4).map(lambda d: value + timedelta(days=d)))
    marks = ["C", "D", "RC", "RD"] + (["EC", "ED"] if interim else [])
    places = {"JPY": 0, "KWD": 3}.get(currency, 2)
    amount = Decimal(draw(st.integers(1, 10**12))).scaleb(-places)
    structured = draw(st.booleans())
    return Row(
        value_date=value, booking_date=booking, mark=draw(st.sampled_from(marks)), amount=amount,
        code=draw(st.sampled_from(["NTRF", "NCHG", "FCHG", "NMSC", "S103", "FTRF", "NRTI", "NCOM"])),
        funds_code=draw(st.booleans()), reference=draw(st.just("") | REF),
        bank_reference=draw(st.just("") | REF.filter(lambda s: "//" not in s)),
        structured=structured,
        payer_name=draw(st.just("") | TEXT.map(lambda s: s[:60])) if structured else "",
        payer_account=draw(st.just("") | IBANS),
        remittance=draw(TEXT.map(lambda s: s[:300])) if not structured else draw(st.just("") | TEXT),
    )


def _unique_bank_references(drawn: list[Row]) -> list[Row]:
    """A bank's reference is the line's own (a shared one is tested apart)."""
    return [replace(row, bank_reference=f"{row.bank_reference[:10]}X{i}") if row.bank_reference else row
            for i, row in enumerate(drawn)]


@st.composite
def files(draw):
    count = draw(st.integers(1, 3))
    messages = []
    balances: dict[str, Decimal] = {}
    for n in range(count):
        interim = draw(st.booleans())
        currency = draw(CURRENCIES)
        account = draw(st.sampled_from(["NL91ABNA0417164300", "123456789", "DE89370400440532013000"]))
        places = {"JPY": 0, "KWD": 3}.get(currency, 2)
        opening = balances.get(account + currency)
        if opening is None:
            opening = Decimal(draw(st.integers(-10**9, 10**9))).scaleb(-places)
        message = Message(
            account=account, currency=currency, reference=draw(REF), number=f"{n + 1}/1",
            rows=tuple(_unique_bank_references(draw(st.lists(rows(currency, interim), max_size=6)))),
            opening=opening,
            interim=interim, intermediate=draw(st.booleans()),
            info=draw(st.just("") | TEXT.map(lambda s: s[:60])),
        )
        if not interim:
            balances[account + currency] = message.closing
        messages.append(message)
    return messages, dict(blocks=draw(st.booleans()), newline=draw(st.sampled_from(["\r\n", "\n"])),
                          terminator=draw(st.booleans()),
                          header=draw(st.sampled_from(["", "ABNANL2A", ":940:"])))


def expected_rows(messages: list[Message]) -> list[tuple]:
    out = []
    for message in messages:
        for row in message.rows:
            code = row.code[1:]
            if row.mark in ("RC", "RD"):
                kind = Kind.REVERSAL
            elif row.signed > 0:
                kind = Kind.CREDIT
            elif code in ("CHG", "COM", "BRF"):
                kind = Kind.FEE
            elif code == "RTI":
                kind = Kind.REVERSAL
            else:
                kind = Kind.DEBIT
            if row.structured:
                remittance = row.remittance
                name, account = row.payer_name, row.payer_account
            else:
                remittance = row.remittance
                name, account = "", row.payer_account
            if account == message.account:
                account = ""
            out.append((
                message.account, message.currency, row.value_date, row.booking_date, row.signed,
                kind, Status.BOOKED if row.booked else Status.PENDING, row.reference, remittance,
                name, account, row.code, row.bank_reference or None,
            ))
    return out


def actual_rows(items) -> list[tuple]:
    return [(
        ln.account, ln.currency, ln.value_date, ln.booking_date, ln.amount, ln.kind, ln.status,
        ln.reference, ln.remittance, ln.payer_name, ln.payer_account, ln.bank_code,
        ln.bank_transaction_id if "/" not in ln.bank_transaction_id else None,
    ) for ln in kinds(items, Line)]


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(files())
def test_written_statements_read_back_the_same_rows(generated):
    messages, options = generated
    items = read_bytes(write(messages, **options))
    assert actual_rows(items) == expected_rows(messages)
    assert not kinds(items, Warning)
    statements = kinds(items, Statement)
    assert [(s.account, s.currency, s.sequence) for s in statements] == [
        (m.account, m.currency, m.number) for m in messages]
    assert [s.closing_balance for s in statements] == [
        None if m.interim else m.closing for m in messages]
    keys = [ln.bank_transaction_id for ln in kinds(items, Line) if "/" in ln.bank_transaction_id]
    assert len(set(keys)) == len(keys)
    assert keys == [ln.bank_transaction_id for ln in kinds(read_bytes(write(messages, **options)), Line)
                    if "/" in ln.bank_transaction_id]


def _money(items) -> list[tuple]:
    """The booked money: expected entries (MT942 EC/ED) are outside the control records."""
    return sorted((ln.amount, ln.currency) for ln in kinds(items, Line) if ln.status is Status.BOOKED)


def _accepted(damaged: bytes) -> list | None:
    """The items of a damaged file, or None when it is refused."""
    try:
        return read_bytes(damaged)
    except StatementError:
        return None


@PROPERTY
@given(files(), st.data())
def test_a_truncated_file_is_refused_or_reads_a_prefix_of_whole_statements(generated, data):
    messages, options = generated
    written = write(messages, **options)
    items = _accepted(written[:data.draw(st.integers(0, len(written) - 1))])
    if items is None:
        return
    original = actual_rows(read_bytes(written))
    got = actual_rows(items)
    # a statement that ends too early is a warning only where the format gives no check:
    # an MT942 without its control records
    prefixes = []
    total = 0
    for message in messages:
        prefixes.append(total)
        total += len(message.rows)
    prefixes.append(total)
    if len(got) in prefixes and got == original[:len(got)]:
        return
    assert any("control record" in w.message for w in kinds(items, Warning))
    assert [r[:8] for r in got[:-1]] == [r[:8] for r in original[:len(got) - 1]]


@PROPERTY
@given(files(), st.data())
def test_a_corrupted_byte_is_refused_warned_about_or_leaves_the_money_as_it_was(generated, data):
    messages, options = generated
    written = write(messages, **options)
    position = data.draw(st.integers(0, len(written) - 1))
    byte = data.draw(st.sampled_from(b"0123456789,.:-/CDRENSFX \n{}"))
    assume(written[position] != byte)
    items = _accepted(written[:position] + bytes([byte]) + written[position + 1:])
    if items is None or kinds(items, Warning):
        return
    # MT940/MT942 protect amounts, signs and counts (balances, :90D:/:90C:), not dates,
    # references or text: those may differ, the money may not
    assert _money(items) == _money(read_bytes(written))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_statement_errors(data):
    with contextlib.suppress(StatementError):
        read_bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    b":20:R", b":25:A", b":28C:1", b":60F:C240101EUR0,", b":60M:D240101EUR1,5", b":61:240101C1,NTRFNONREF",
    b":61:2401010102RD1,NTRFX//Y", b":86:TEXT", b"/EREF/X/REMI/Y", b"000?20A?31B", b":62F:C240101EUR1,",
    b":62M:C240101EUR0,", b":64:C240101EUR0,", b":90D:1EUR1,", b":90C:0EUR0,", b":34F:EUR0,",
    b":13D:2401011200+0100", b"-", b"-}", b"{1:F01X}{2:O940X}{4:", b"{5:{CHK:1}}", b"", b"  ",
    b":940:", b"HEADER", b"\xff\xfe", b":21:R",
]), max_size=30))
def test_random_arrangements_of_fields_raise_only_statement_errors(parts):
    with contextlib.suppress(StatementError):
        read_bytes(b"\n".join(parts))


def test_the_writer_writes_what_the_reader_expects():
    row = Row(value_date=date(2024, 1, 2), mark="C", amount=Decimal("12.30"), reference="R1")
    text = write([Message(account="A", currency="EUR", reference="X", number="1", rows=(row,))])
    assert b":61:240102C12,3NTRFR1" in text and amount_text(Decimal("5")) == "5,"
