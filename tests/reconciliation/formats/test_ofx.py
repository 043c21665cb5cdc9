"""The OFX reader: the shared samples, written statements read back, and damaged files refused."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconciliation.formats import (
    Kind,
    Line,
    Notice,
    Statement,
    StatementError,
    Status,
    Warning,
    ofx,
)

from .write_ofx import write_sgml, write_xml

# The real files of ../shared/samples (see SOURCES.md there), beside the repository.
SAMPLES = Path(os.environ.get("BPO_SAMPLES", Path(__file__).resolve().parents[3].parent / "shared" / "samples")) / "ofx"


def read(data: bytes) -> list:
    return list(ofx.read(io.BytesIO(data)))


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def kinds(items: list, kind: type) -> list:
    return [item for item in items if isinstance(item, kind)]


def refused(data: bytes) -> StatementError:
    with pytest.raises(StatementError) as caught:
        read(data)
    return caught.value


# ---- the shared samples: every value below was read off the file by eye ----------------------


def test_bank_medium_sgml_with_time_zone_offsets():
    items = read(sample("ofxparse_bank_medium.ofx"))
    (statement,) = kinds(items, Statement)
    lines = kinds(items, Line)
    # line 13: <CURDEF>CAD<BANKACCTFROM><BANKID>160000100<BRANCHID>00<ACCTID>12300 000012345678
    assert (statement.account, statement.currency, statement.bank_id, statement.branch_id) == (
        "12300 000012345678", "CAD", "160000100", "00")
    assert statement.account_type == "CHECKING"
    # line 14: <DTSTART>20090401<DTEND>20090523122017; line 12: <TRNUID>20090523122017
    assert (statement.period_start, statement.period_end) == (dt.date(2009, 4, 1), dt.date(2009, 5, 23))
    assert statement.statement_id == "20090523122017/20090523122017"
    assert statement.sequence == "" and statement.opening_balance is None
    # line 18: <LEDGERBAL><BALAMT>382.34 (AVAILBAL 682.34 is not the closing balance)
    assert statement.closing_balance == Decimal("382.34")
    assert statement.created == dt.date(2009, 5, 23)  # DTSERVER on line 11
    # lines 15-17: three STMTTRN, -6.60 + -316.67 + -22.00
    assert [line.amount for line in lines] == [Decimal("-6.60"), Decimal("-316.67"), Decimal("-22.00")]
    assert sum(line.amount for line in lines) == Decimal("-345.27")
    assert [line.bank_code for line in lines] == ["POS", "CHECK", "POS"]
    assert [line.kind for line in lines] == [Kind.DEBIT] * 3
    # DTPOSTED 20090401122017.000[-5:EST]: the date in the file's own offset
    assert [line.booking_date for line in lines] == [dt.date(2009, 4, 1), dt.date(2009, 4, 2), dt.date(2009, 4, 3)]
    assert [line.value_date for line in lines] == [line.booking_date for line in lines]  # no DTUSER
    assert [line.bank_transaction_id for line in lines] == [
        "0000123456782009040100001", "0000123456782009040200004", "0000123456782009040300005"]
    assert lines[0].payer_name == "MCDONALD'S #112"
    assert lines[0].remittance == "POS MERCHANDISE;MCDONALD'S #112"
    assert lines[1].payer_name == "Joe's Bald Hairstyles" and lines[1].reference == "0"  # <CHECKNUM>0
    assert {line.currency for line in lines} == {"CAD"}
    assert {line.status for line in lines} == {Status.BOOKED}
    assert lines[0].where.startswith("line 15")
    assert not kinds(items, Warning)


def test_checking_sgml_with_an_overlong_bankid_and_no_final_newline():
    data = sample("ofxparse_checking.ofx")
    assert not data.endswith(b"\n")
    items = read(data)
    (statement,) = kinds(items, Statement)
    lines = kinds(items, Line)
    # <BANKID>5472369148 is 10 characters where the spec allows 9: a harmless stray, kept as written
    assert statement.bank_id == "5472369148"
    assert (statement.account, statement.currency) == ("1452687~7", "USD")
    assert statement.closing_balance == Decimal("100.99")  # LEDGERBAL, line 73
    assert statement.statement_id == "0/20130525060000.000"  # TRNUID 0, DTEND line 44
    assert (statement.period_start, statement.period_end) == (dt.date(2000, 1, 1), dt.date(2013, 5, 25))
    # three STMTTRN: CREDIT 0.01, DEBIT -34.51, CHECK -25.00
    assert [(line.bank_code, line.amount, line.kind) for line in lines] == [
        ("CREDIT", Decimal("0.01"), Kind.CREDIT),
        ("DEBIT", Decimal("-34.51"), Kind.DEBIT),
        ("CHECK", Decimal("-25.00"), Kind.DEBIT),
    ]
    assert sum(line.amount for line in lines) == Decimal("-59.50")
    assert [line.bank_transaction_id for line in lines] == ["0000486", "0000487", "0000488"]
    assert [line.booking_date for line in lines] == [dt.date(2011, 3, 31), dt.date(2011, 4, 5), dt.date(2011, 4, 7)]
    assert lines[2].reference == "319"  # <CHECKNUM>319
    assert lines[2].remittance == "RETURNED CHECK FEE, CHECK # 319 FOR $45.33 ON 04/07/11"
    assert lines[1].payer_name == "AUTOMATIC WITHDRAWAL, ELECTRIC BILL"


def test_multiple_accounts_xml_with_two_statements_and_no_transactions():
    items = read(sample("ofxparse_multiple_accounts.ofx"))
    statements = kinds(items, Statement)
    assert not kinds(items, Line)
    # two STMTTRNRS: TRNUID 1001 ACCTID 9100 CHECKING BALAMT 111; TRNUID 1002 ACCTID 9200 SAVINGS BALAMT 222
    assert [(s.account, s.account_type, s.currency, s.closing_balance, s.bank_id, s.branch_id)
            for s in statements] == [
        ("9100", "CHECKING", "USD", Decimal("111"), "123", "00"),
        ("9200", "SAVINGS", "USD", Decimal("222"), "123", "00"),
    ]
    # no BANKTRANLIST, so the ledger balance's DTASOF stands in for DTEND
    assert [s.statement_id for s in statements] == [
        "1001/20120603133220.000[-7:PDT]", "1002/20120603133220.000[-7:PDT]"]
    assert [s.period_end for s in statements] == [None, None]
    assert statements[0].created == dt.date(2012, 6, 3)


def test_suncorp_xml_with_crlf_and_cdata():
    data = sample("ofxparse_suncorp.ofx")
    assert b"\r\n" in data and not data.endswith(b"\n")
    items = read(data)
    (statement,) = kinds(items, Statement)
    (line,) = kinds(items, Line)
    assert (statement.account, statement.currency, statement.bank_id) == ("123456789", "AUD", "SUNCORP")
    assert (statement.period_start, statement.period_end) == (dt.date(2013, 6, 18), dt.date(2013, 12, 15))
    assert statement.closing_balance == Decimal("1234.12")
    assert (line.amount, line.kind, line.bank_code, line.bank_transaction_id) == (
        Decimal("-16.85"), Kind.DEBIT, "DEBIT", "1")
    assert line.booking_date == line.value_date == dt.date(2013, 12, 15)
    # <NAME><![CDATA[EFTPOS WDL HANDYWAY ALDI STORE  ]]>: CDATA read, surrounding blanks dropped
    assert line.payer_name == "EFTPOS WDL HANDYWAY ALDI STORE"
    assert line.remittance == "EFTPOS WDL HANDYWAY ALDI STORE   GEELONG WEST VICAU"
    assert line.where.startswith("line 35")


@pytest.mark.parametrize("name", ["ofxparse_bank_medium.ofx", "ofxparse_checking.ofx",
                                  "ofxparse_multiple_accounts.ofx", "ofxparse_suncorp.ofx"])
def test_samples_are_detected_as_ofx(name):
    assert ofx.sniff(sample(name)[:65536])


def test_sniff_refuses_other_files():
    assert not ofx.sniff(b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">')
    assert not ofx.sniff(b":20:STARTUMS\r\n:25:12345678\r\n")
    assert ofx.sniff(b"\xef\xbb\xbf  <OFX><SIGNONMSGSRSV1>")


# ---- spec points, each on a small written file ------------------------------------------------

V1_HEAD = ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
           "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n")


# The transactions start on line 16: 10 header lines, <OFX>, sign-on, message set, statement, list.
def v1(transactions: str, *, head: str = V1_HEAD, statement: str = "", tail: str = "</OFX>\n",
       rs: str = "STMTRS", acct: str = "<BANKACCTFROM><BANKID>1<ACCTID>777<ACCTTYPE>CHECKING</BANKACCTFROM>",
       msgs: str = "BANKMSGSRSV1", trnrs: str = "STMTTRNRS", extra: str = "") -> bytes:
    text = (head + "<OFX>\n<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>"
            "<DTSERVER>20240131<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>\n"
            f"<{msgs}><{trnrs}><TRNUID>9<STATUS><CODE>0<SEVERITY>INFO</STATUS>\n"
            f"<{rs}><CURDEF>USD{acct}\n"
            "<BANKTRANLIST><DTSTART>20240101<DTEND>20240131\n"
            + transactions +
            f"</BANKTRANLIST>{statement}<LEDGERBAL><BALAMT>10.00<DTASOF>20240131</LEDGERBAL>\n"
            f"</{rs}></{trnrs}></{msgs}>{extra}\n" + tail)
    return text.encode("cp1252")


def trn(amount: str = "-1.00", *, trntype: str = "DEBIT", fitid: str | None = "F1",
        posted: str = "20240105", more: str = "") -> str:
    fid = f"<FITID>{fitid}" if fitid is not None else ""
    return f"<STMTTRN><TRNTYPE>{trntype}<DTPOSTED>{posted}<TRNAMT>{amount}{fid}{more}</STMTTRN>\n"


def test_a_late_evening_time_keeps_the_date_written_in_its_own_offset():
    # 22:30 at -5 hours is 03:30 the next day in UTC; the bank's date is the 5th.
    (line,) = kinds(read(v1(trn(posted="20240105223000.000[-5:EST]"))), Line)
    assert line.booking_date == dt.date(2024, 1, 5)
    for posted in ("20240105013000[+5.30:IST]", "20240105013000[-0500]", "202401050130", "20240105013000.5[0]"):
        (line,) = kinds(read(v1(trn(posted=posted))), Line)
        assert line.booking_date == dt.date(2024, 1, 5)


def test_dtuser_is_the_value_date_and_dtposted_the_booking_date():
    (line,) = kinds(read(v1(trn(more="<DTUSER>20240103"))), Line)
    assert (line.booking_date, line.value_date) == (dt.date(2024, 1, 5), dt.date(2024, 1, 3))


def test_a_comma_is_the_radix_as_the_spec_allows():
    (line,) = kinds(read(v1(trn("1234,56", trntype="CREDIT"))), Line)
    assert line.amount == Decimal("1234.56")
    (line,) = kinds(read(v1(trn("+12", trntype="CREDIT"))), Line)
    assert line.amount == Decimal("12")


@pytest.mark.parametrize("amount", ["1,234.56", "1.234,56", "1 234.56", "12-", "1 2x", "", "--1", "1e5", "."])
def test_an_amount_with_grouping_or_garbage_is_refused_with_its_line(amount):
    error = refused(v1(trn(amount)))
    assert "TRNAMT" in error.message and error.where.startswith("line 16")


def test_a_transaction_without_an_amount_is_refused_never_skipped():
    error = refused(v1(trn() + "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240106<FITID>F2</STMTTRN>\n"))
    assert error.message == "TRNAMT is missing" and error.where.startswith("line 17")


@pytest.mark.parametrize("posted", ["20241305", "2024010", "20240230", "yesterday", "20240105256000"])
def test_a_bad_date_is_refused_with_its_line(posted):
    error = refused(v1(trn(posted=posted)))
    assert "DTPOSTED" in error.message and error.where.startswith("line 16")


def test_entities_and_windows_1252_text_are_decoded():
    more = "<NAME>Caf\u00e9 &amp; Bar &lt;1&gt;<MEMO>r\u00e9f 12"
    (line,) = kinds(read(v1(trn(trntype="CREDIT", amount="5", more=more))), Line)
    assert (line.payer_name, line.remittance) == ("Caf\u00e9 & Bar <1>", "r\u00e9f 12")


def test_an_escaped_or_plain_greater_than_is_data_but_a_tag_that_lost_its_opening_is_damage():
    (line,) = kinds(read(v1(trn(more="<NAME>FI&gt;<MEMO>A > B"))), Line)
    assert (line.payer_name, line.remittance) == ("FI>", "A > B")
    error = refused(v1(trn(more="<NAME>SHOP</NAME><MEMO>rent/MEMO>")))
    assert "damaged tag" in error.message and error.where == "line 16"


def test_utf8_encoding_header_is_honoured():
    head = V1_HEAD.replace("ENCODING:USASCII", "ENCODING:UTF-8")
    data = v1(trn(amount="5", more="<NAME>PLACEHOLDER"), head=head).replace(
        b"PLACEHOLDER", "Zo\u00eb \u20ac".encode())
    (line,) = kinds(read(data), Line)
    assert line.payer_name == "Zo\u00eb \u20ac"


def test_text_that_is_not_in_the_declared_character_set_is_refused():
    head = V1_HEAD.replace("ENCODING:USASCII", "ENCODING:UTF-8")
    data = v1(trn(amount="5", more="<NAME>PLACEHOLDER"), head=head).replace(b"PLACEHOLDER", b"\xe9t\xe9")
    assert refused(data).where == "line 16"


def test_a_truncated_file_is_refused():
    data = sample("ofxparse_checking.ofx")
    error = refused(data[: data.rindex(b"</OFX>")])
    assert "truncated" in error.message
    error = refused(data[: data.index(b"</BANKTRANLIST>")])
    assert "truncated" in error.message and "BANKTRANLIST" in error.message


def test_an_unclosed_transaction_is_refused_with_its_line():
    data = v1(trn() + "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105<TRNAMT>-2<FITID>F2\n")
    error = refused(data)
    assert "<STMTTRN> opened at line 17 is not closed before </BANKTRANLIST>" in error.message


def test_a_closing_tag_for_nothing_open_is_refused():
    assert "closes nothing" in refused(v1(trn() + "</STMTTRNX>\n")).message


def test_a_transaction_hidden_from_the_parse_is_caught_by_the_count():
    # The comment hides a whole STMTTRN from the parser; the byte scan still counts it.
    error = refused(v1(trn() + "<!-- " + trn(fitid="F2") + " -->\n"))
    assert "2 <STMTTRN>/<STMTTRNP> opened in this statement but 1 read" in error.message


def test_an_xml_transaction_hidden_in_a_comment_is_caught_by_the_count():
    good = write_xml([_statement([_row(fitid="A"), _row(fitid="B")])])
    start, end = good.index(b"<STMTTRN>"), good.index(b"</STMTTRN>") + len(b"</STMTTRN>")
    error = refused(good[:start] + b"<!--" + good[start:end] + b"-->" + good[end:])
    assert "2 <STMTTRN>/<STMTTRNP> opened in this statement but 1 read" in error.message


def test_an_unknown_element_in_a_transaction_is_refused_and_an_extension_accepted():
    error = refused(v1(trn(more="<MEMX>hello")))
    assert "<MEMX> has no place in <STMTTRN>" in error.message and error.where.startswith("line 16")
    (line,) = kinds(read(v1(trn(more="<INTU.XID>42<MEMO>hello"))), Line)
    assert line.remittance == "hello"


def test_a_field_given_twice_is_refused():
    assert "appears twice" in refused(v1(trn(more="<NAME>A<NAME>B"))).message


def test_elements_may_carry_their_optional_end_tags_and_be_empty():
    (line,) = kinds(read(v1(trn(more="<NAME>Shop</NAME><MEMO></STMTTRN>".replace("</STMTTRN>", "")))), Line)
    assert (line.payer_name, line.remittance) == ("Shop", "")


@pytest.mark.parametrize(("trntype", "amount", "kind"), [
    ("CREDIT", "10", Kind.CREDIT), ("DEP", "10", Kind.CREDIT), ("DIRECTDEP", "10", Kind.CREDIT),
    ("XFER", "10", Kind.CREDIT), ("INT", "0.10", Kind.CREDIT), ("FEE", "2", Kind.CREDIT),
    ("XFER", "-10", Kind.DEBIT), ("DEBIT", "-10", Kind.DEBIT), ("CHECK", "-10", Kind.DEBIT),
    ("PAYMENT", "-10", Kind.DEBIT), ("POS", "-10", Kind.DEBIT), ("ATM", "-10", Kind.DEBIT),
    ("FEE", "-2", Kind.FEE), ("SRVCHG", "-2", Kind.FEE),
    ("CREDIT", "-10", Kind.REVERSAL), ("DEP", "-10", Kind.REVERSAL),
])
def test_kind_follows_the_sign_and_the_type(trntype, amount, kind):
    (line,) = kinds(read(v1(trn(amount, trntype=trntype))), Line)
    assert (line.kind, line.bank_code, line.amount) == (kind, trntype, Decimal(amount))


def test_credit_card_statement_purchases_are_debits_and_refunds_credits():
    data = v1(trn("-25.00", trntype="DEBIT", fitid="C1") + trn("25.00", trntype="CREDIT", fitid="C2"),
              rs="CCSTMTRS", acct="<CCACCTFROM><ACCTID>4111XXXX1111</CCACCTFROM>",
              msgs="CREDITCARDMSGSRSV1", trnrs="CCSTMTTRNRS")
    items = read(data)
    (statement,) = kinds(items, Statement)
    assert (statement.account, statement.account_type, statement.bank_id) == ("4111XXXX1111", "CREDITCARD", "")
    assert [(line.amount, line.kind) for line in kinds(items, Line)] == [
        (Decimal("-25.00"), Kind.DEBIT), (Decimal("25.00"), Kind.CREDIT)]


def test_names_accounts_and_references():
    more = ("<REFNUM>INV-7<CHECKNUM>1001<PAYEE><NAME>ACME INC<ADDR1>1 Main<CITY>X<STATE>NY"
            "<POSTALCODE>1<PHONE>2</PAYEE><BANKACCTTO><BANKID>021000021<ACCTID>55501<ACCTTYPE>SAVINGS"
            "</BANKACCTTO><MEMO>invoice 7")
    (line,) = kinds(read(v1(trn("99.50", trntype="XFER", more=more))), Line)
    assert (line.payer_name, line.payer_account, line.reference, line.remittance) == (
        "ACME INC", "55501", "INV-7", "invoice 7")
    assert line.notes == ("counterparty bank 021000021", "check 1001")
    (line,) = kinds(read(v1(trn(more="<NAME>SHORT NAME<EXTDNAME>THE FULL NAME OF THE PAYER"))), Line)
    assert line.payer_name == "THE FULL NAME OF THE PAYER"


def test_currency_and_original_currency():
    conv = "<CURRENCY><CURRATE>1.10<CURSYM>EUR</CURRENCY>"
    (line,) = kinds(read(v1(trn("100.00", trntype="CREDIT", more=conv))), Line)
    # CURRENCY: the amount is in EUR; 1 EUR = 1.10 USD (CURRATE is CURDEF per CURSYM)
    assert (line.amount, line.currency) == (Decimal("100.00"), "EUR")
    assert line.notes == ("amount in EUR; USD equivalent 110.0000 at rate 1.10",)
    orig = "<ORIGCURRENCY><CURRATE>1.10<CURSYM>EUR</ORIGCURRENCY>"
    (line,) = kinds(read(v1(trn("110.00", trntype="CREDIT", more=orig))), Line)
    assert (line.amount, line.currency) == (Decimal("110.00"), "USD")
    assert line.notes == ("originally in EUR, converted to USD at rate 1.10",)
    assert "both CURRENCY and ORIGCURRENCY" in refused(v1(trn(more=conv + orig))).message


def test_transactions_without_fitid_get_stable_keys_that_keep_equal_payments_apart():
    data = v1(trn("5", trntype="CREDIT", fitid=None) + trn("5", trntype="CREDIT", fitid=None)
              + trn("5", trntype="CREDIT", fitid=None, more="<SRVRTID>S9"))
    items = read(data)
    keys = [line.bank_transaction_id for line in kinds(items, Line)]
    assert keys[0].startswith("ofx-key:") and keys[0].endswith(":1") and keys[1].endswith(":2")
    assert keys[0][:-2] == keys[1][:-2] and keys[2] == "SRVRTID:S9"
    assert keys == [line.bank_transaction_id for line in kinds(read(data), Line)]  # stable
    assert any("2 transaction(s) without FITID" in w.message for w in kinds(items, Warning))


def test_a_fitid_used_twice_in_a_statement_is_a_warning():
    items = read(v1(trn(fitid="A") + trn(fitid="A", amount="-2")))
    assert len(kinds(items, Line)) == 2
    (warning,) = kinds(items, Warning)
    assert "FITID A was already used at line 16" in warning.message and warning.where.startswith("line 17")


@pytest.mark.parametrize("action", ["REPLACE", "DELETE"])
def test_a_correction_is_a_notice_never_a_payment(action):
    more = f"<CORRECTFITID>F0<CORRECTACTION>{action}"
    items = read(v1(trn() + trn("-3.00", fitid="F2", more=more)))
    assert [line.bank_transaction_id for line in kinds(items, Line)] == ["F1"]
    (notice,) = kinds(items, Notice)
    assert (notice.code, notice.reference, notice.account) == (f"OFX {action}", "F0", "777")
    assert notice.corrected["amount"] == "-3.00" and "F0" in notice.message
    assert "CORRECTACTION" in refused(v1(trn(more="<CORRECTFITID>F0<CORRECTACTION>MOVE"))).message


def test_pending_transactions_are_pending_lines():
    pending = ("<BANKTRANLISTP><DTASOF>20240131<STMTTRNP><TRNTYPE>HOLD<DTTRAN>20240130<TRNAMT>-7.00"
               "<NAME>HOTEL</STMTTRNP></BANKTRANLISTP>")
    items = read(v1(trn(), statement=pending))
    first, held = kinds(items, Line)
    assert first.status == Status.BOOKED
    assert (held.status, held.amount, held.value_date, held.booking_date) == (
        Status.PENDING, Decimal("-7.00"), dt.date(2024, 1, 30), None)
    assert held.bank_transaction_id.startswith("pending:")


def test_a_statement_without_transactions_comes_with_its_balance():
    items = read(v1(""))
    assert [type(item) for item in items] == [Statement]
    assert items[0].closing_balance == Decimal("10.00")


def test_an_investment_statement_is_named_in_a_warning():
    extra = ("<INVSTMTMSGSRSV1><INVSTMTTRNRS><TRNUID>2<STATUS><CODE>0<SEVERITY>INFO</STATUS><INVSTMTRS>"
             "<INVTRANLIST><INVBANKTRAN><STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240105<TRNAMT>9<FITID>I1"
             "</STMTTRN><SUBACCTFUND>CASH</INVBANKTRAN></INVTRANLIST></INVSTMTRS></INVSTMTTRNRS>"
             "</INVSTMTMSGSRSV1>")
    items = read(v1(trn(), extra=extra))
    assert len(kinds(items, Line)) == 1
    assert any("investment statement" in w.message for w in kinds(items, Warning))


def test_an_error_response_without_statement():
    error_rs = ("<BANKMSGSRSV1><STMTTRNRS><TRNUID>5<STATUS><CODE>2003<SEVERITY>ERROR"
                "<MESSAGE>Account not found</STATUS></STMTTRNRS></BANKMSGSRSV1>")
    items = read(v1(trn(), extra=error_rs))
    assert any("status 2003 Account not found" in w.message for w in kinds(items, Warning))
    only_error = (V1_HEAD + "<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>"
                  "<DTSERVER>20240131<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>" + error_rs + "</OFX>")
    assert "no bank or credit-card statement" in refused(only_error.encode()).message


def test_a_refused_signon_refuses_the_file():
    data = v1(trn()).replace(b"<CODE>0<SEVERITY>INFO</STATUS><DTSERVER>",
                             b"<CODE>15500<SEVERITY>ERROR<MESSAGE>Bad password</STATUS><DTSERVER>")
    assert "sign-on" in refused(data).message


def test_a_headerless_file_with_a_byte_order_mark_is_read_as_utf8():
    data = v1(trn(more="<NAME>PLACEHOLDER"), head="").replace(b"PLACEHOLDER", "\u00c5sa".encode())
    (line,) = kinds(read(b"\xef\xbb\xbf" + data), Line)
    assert line.payer_name == "\u00c5sa"


def test_a_statement_without_ledger_balance_or_period_is_accepted_with_a_warning():
    data = v1(trn()).replace(b"<LEDGERBAL><BALAMT>10.00<DTASOF>20240131</LEDGERBAL>", b"").replace(
        b"<DTSTART>20240101<DTEND>20240131", b"")
    items = read(data)
    (statement,) = kinds(items, Statement)
    assert (statement.closing_balance, statement.period_start, statement.period_end) == (None, None, None)
    assert len(kinds(items, Line)) == 1
    assert [w.message for w in kinds(items, Warning)] == ["the statement gives no ledger (closing) balance"]


def test_xml_credit_card_statement_with_pending_list():
    stmt = _statement([_row(trntype="DEBIT", amount=Decimal("-12.50"), name="A & B <shop>")], kind="cc")
    data = write_xml([stmt], cdata=True).replace(
        b"</BANKTRANLIST>",
        b"</BANKTRANLIST><BANKTRANLISTP><DTASOF>20240131</DTASOF><STMTTRNP><TRNTYPE>POS</TRNTYPE>"
        b"<DTTRAN>20240130</DTTRAN><TRNAMT>-3.00</TRNAMT><NAME><![CDATA[CAF\xc3\x89]]></NAME></STMTTRNP>"
        b"</BANKTRANLISTP>")
    items = read(data)
    (statement,) = kinds(items, Statement)
    booked, pending = kinds(items, Line)
    assert statement.account_type == "CREDITCARD"
    assert (booked.payer_name, booked.kind, booked.status) == ("A & B <shop>", Kind.DEBIT, Status.BOOKED)
    assert (pending.payer_name, pending.status, pending.amount) == ("CAF\u00c9", Status.PENDING, Decimal("-3.00"))


def test_deep_sgml_nesting_is_refused_quickly():
    error = refused(v1(trn(more="<X>" * 200_000)))
    assert "nested more than 64 deep" in error.message


def test_content_after_ofx_is_refused():
    assert "after </OFX>" in refused(v1(trn(), tail="</OFX>\n<STMTTRN>\n")).message


def test_xml_doctype_and_entities_are_refused():
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE OFX [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            b'<?OFX OFXHEADER="200" VERSION="211"?>\n<OFX>&x;</OFX>')
    assert "DOCTYPE" in refused(data).message


def test_xml_undefined_entity_and_mismatched_tags_are_refused_with_the_line():
    good = write_xml([_statement([_row()])])
    bad = good.replace(b"<MEMO>memo</MEMO>", b"<MEMO>a &nbsp; b</MEMO>")
    assert bad != good and refused(bad).where.startswith("line ")
    bad = good.replace(b"</TRNAMT>", b"</TRNAMX>", 1)
    assert "not well-formed" in refused(bad).message


def test_xml_truncated_is_refused():
    data = sample("ofxparse_suncorp.ofx")
    for cut in (len(data) - 3, data.index(b"</STMTTRN>"), 200):
        refused(data[:cut])


# ---- written statements read back; damaged ones refused --------------------------------------

TEXT = st.text(st.sampled_from("ABCDEFGHIJ xyz0123456789&<>'\"-/#;,.\u00e9"), min_size=0, max_size=20).map(
    str.strip)
IDS = st.text(st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-"), min_size=1, max_size=24)
DAYS = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
AMOUNTS = st.decimals(min_value=Decimal("-999999.99"), max_value=Decimal("999999.99"), places=2,
                      allow_nan=False, allow_infinity=False)
TYPES = st.sampled_from(["CREDIT", "DEBIT", "FEE", "SRVCHG", "DEP", "XFER", "CHECK", "POS", "ATM", "PAYMENT",
                         "DIRECTDEP", "DIRECTDEBIT", "INT", "OTHER"])


def _row(**values) -> dict:
    row = {"trntype": "CREDIT", "posted": dt.date(2024, 1, 5), "user": None, "offset": "",
           "amount": Decimal("1.00"), "fitid": "F1", "name": "name", "memo": "memo", "reference": "",
           "payer_account": ""}
    row.update(values)
    return row


def _statement(rows: list[dict], **values) -> dict:
    stmt = {"kind": "bank", "account": "12345", "bank_id": "021000021", "currency": "USD", "trnuid": "1",
            "start": dt.date(2024, 1, 1), "end": dt.date(2024, 1, 31), "balance": Decimal("100.00"), "rows": rows}
    stmt.update(values)
    return stmt


rows_strategy = st.fixed_dictionaries({
    "trntype": TYPES, "posted": DAYS, "user": st.none() | DAYS,
    "offset": st.sampled_from(["", "[-5:EST]", "[+1:CET]", "[0:GMT]", "[-3.30:NST]"]),
    "amount": AMOUNTS, "fitid": IDS, "name": TEXT, "memo": TEXT, "reference": st.sampled_from(["", "R1", "INV-9"]),
    "payer_account": st.sampled_from(["", "55501"]),
})


@st.composite
def statements_strategy(draw):
    count = draw(st.integers(min_value=1, max_value=3))
    statements = []
    for index in range(count):
        rows = draw(st.lists(rows_strategy, max_size=6, unique_by=lambda r: r["fitid"]))
        statements.append(_statement(
            rows, kind=draw(st.sampled_from(["bank", "cc"])), account=f"ACCT{index}",
            currency=draw(st.sampled_from(["USD", "EUR", "CAD"])), trnuid=str(index),
            balance=draw(AMOUNTS)))
    return statements


def expected(statements: list[dict]) -> list[tuple]:
    out = []
    for stmt in statements:
        out.append(("S", stmt["account"], stmt["currency"], stmt["balance"], stmt["start"], stmt["end"],
                    "CREDITCARD" if stmt["kind"] == "cc" else "CHECKING"))
        for row in stmt["rows"]:
            out.append(("L", stmt["account"], row["user"] or row["posted"], row["posted"], row["amount"],
                        stmt["currency"], row["fitid"], row["name"], row["memo"], row["reference"],
                        row["payer_account"], row["trntype"], ofx._kind(row["trntype"], row["amount"])))
    return out


def observed(items: list) -> list[tuple]:
    out = []
    for item in items:
        if isinstance(item, Statement):
            out.append(("S", item.account, item.currency, item.closing_balance, item.period_start,
                        item.period_end, item.account_type))
        elif isinstance(item, Line):
            out.append(("L", item.account, item.value_date, item.booking_date, item.amount, item.currency,
                        item.bank_transaction_id, item.payer_name, item.remittance, item.reference,
                        item.payer_account, item.bank_code, item.kind))
        elif isinstance(item, Notice):
            out.append(("N", item.reference))
    return out


SGML_STYLE = st.fixed_dictionaries({
    "layout": st.sampled_from(["indented", "lines", "flat"]), "close_elements": st.booleans(),
    "comma": st.booleans(), "crlf": st.booleans(), "charset": st.sampled_from(["1252", "ISO-8859-1"]),
})
XML_STYLE = st.fixed_dictionaries({
    "layout": st.sampled_from(["indented", "lines", "flat"]), "comma": st.booleans(), "cdata": st.booleans(),
    "version": st.sampled_from(["200", "211", "220"]),
})
FAST = settings(max_examples=int(os.environ.get("OFX_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(statements_strategy(), SGML_STYLE)
def test_sgml_written_rows_read_back_the_same(statements, style):
    assert observed(read(write_sgml(statements, **style))) == expected(statements)


@FAST
@given(statements_strategy(), XML_STYLE)
def test_xml_written_rows_read_back_the_same(statements, style):
    assert observed(read(write_xml(statements, **style))) == expected(statements)


def _write(statements, style, xml: bool) -> bytes:
    if xml:
        return write_xml(statements, layout=style["layout"], comma=style["comma"])
    return write_sgml(statements, layout=style["layout"], close_elements=style["close_elements"],
                      crlf=style["crlf"])


@FAST
@given(statements_strategy(), SGML_STYLE, st.booleans(), st.data())
def test_any_truncation_is_refused_or_reads_the_same(statements, style, xml, data):
    good = _write(statements, style, xml)
    cut = data.draw(st.integers(min_value=0, max_value=len(good) - 1))
    try:
        items = read(good[:cut])
    except StatementError:
        return
    # Only trailing blanks were cut.
    assert not good[cut:].strip() and observed(items) == expected(statements)


def _markup_spans(data: bytes) -> list[bool]:
    """For each byte, whether it lies inside a tag (between '<' and '>')."""
    inside, marks = False, []
    for byte in data:
        if byte == ord("<"):
            inside = True
        marks.append(inside)
        if byte == ord(">"):
            inside = False
    return marks


@FAST
@given(statements_strategy(), SGML_STYLE, st.booleans(), st.data())
def test_any_corruption_is_refused_or_reads_the_same_rows(statements, style, xml, data):
    """A damaged tag is refused or harmless; a damaged value cannot add or remove a row.

    OFX carries no totals, so a changed digit inside an amount or a name cannot be detected by
    any reader; what must hold is that no row appears, disappears or moves between statements."""
    good = _write(statements, style, xml)
    at = data.draw(st.integers(min_value=0, max_value=len(good) - 1))
    byte = data.draw(st.integers(min_value=0, max_value=255))
    assume(good[at] != byte)
    bad = good[:at] + bytes([byte]) + good[at + 1:]
    try:
        items = read(bad)
    except StatementError:
        return
    got, want = observed(items), expected(statements)
    if _markup_spans(good)[at]:
        assert got == want
    else:
        assert [row[0] for row in got] == [row[0] for row in want]


@settings(max_examples=int(os.environ.get("OFX_EXAMPLES", "300")), deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_statement_errors(junk):
    for data in (junk, V1_HEAD.encode() + junk, b"<OFX>" + junk, b'<?xml version="1.0"?><?OFX OFXHEADER="200"?>' + junk):
        with contextlib.suppress(StatementError):
            read(data)


@settings(max_examples=int(os.environ.get("OFX_EXAMPLES", "300")), deadline=None)
@given(st.data())
def test_random_edits_of_a_sample_raise_only_statement_errors(data):
    name = data.draw(st.sampled_from(["ofxparse_bank_medium.ofx", "ofxparse_checking.ofx",
                                      "ofxparse_multiple_accounts.ofx", "ofxparse_suncorp.ofx"]))
    good = sample(name)
    at = data.draw(st.integers(min_value=0, max_value=len(good)))
    size = data.draw(st.integers(min_value=0, max_value=20))
    insert = data.draw(st.binary(max_size=12) | st.sampled_from([b"<", b">", b"</", b"<![CDATA[", b"&", b"]]>"]))
    with contextlib.suppress(StatementError):
        read(good[:at] + insert + good[at + size:])


def test_a_non_seekable_stream_is_read():
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, buffer):
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    items = list(ofx.read(io.BufferedReader(Pipe(sample("ofxparse_checking.ofx")))))
    assert len(kinds(items, Line)) == 3
