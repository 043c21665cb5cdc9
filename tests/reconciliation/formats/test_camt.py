"""The camt.052/053/054 reader: the real samples, files the test writer makes in every version
(schema-checked), round trips, damaged files and hostile XML. No database."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench import camt_read as camt_bench
from reconciliation.formats import (
    Kind,
    Line,
    Statement,
    StatementError,
    Status,
    Warning,
    camt,
    detect,
)
from tests.reconciliation.formats import write_camt as w

SAMPLES = Path("/work/shared/samples")
if not SAMPLES.is_dir():
    SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "samples"
ALL_VERSIONS = [(m, v) for m in ("052", "053", "054") for v in range(2, 11)]


def read_bytes(data: bytes) -> list:
    return list(camt.read(io.BytesIO(data)))


def read_sample(name: str) -> list:
    with open(SAMPLES / name, "rb") as stream:
        return list(camt.read(stream))


def of(items, cls):
    return [i for i in items if isinstance(i, cls)]


# --- the real files -------------------------------------------------------------------------


def test_oca_camt053_reversed_batch_and_balances():
    items = read_sample("camt053/oca_test-camt053.xml")
    (stmt,) = of(items, Statement)
    # Stmt: IBAN NL77ABNA0574908765, LglSeqNb 2, OPBD 15568.27 CRDT, CLBD 15121.12 CRDT
    assert (stmt.account, stmt.currency, stmt.statement_id, stmt.sequence) == (
        "NL77ABNA0574908765", "EUR", "1234Test/1", "2")
    assert (stmt.opening_balance, stmt.closing_balance) == (D("15568.27"), D("15121.12"))
    assert (stmt.created, stmt.period_start, stmt.period_end) == (
        date(2014, 1, 6), date(2014, 1, 5), date(2014, 1, 5))
    lines = of(items, Line)
    # Ntry 1: 754.25 DBIT (direct debit paid to INSURANCE COMPANY TESTX); Ntry 2: 664.05 DBIT
    # RvslInd=true, batch of 2 TxDtls 564.05 + 100.00 returned with AC06; Ntry 3: 1405.31 CRDT.
    assert [ln.amount for ln in lines] == [D("-754.25"), D("-564.05"), D("-100.00"), D("1405.31")]
    assert [ln.kind for ln in lines] == [Kind.DEBIT, Kind.REVERSAL, Kind.REVERSAL, Kind.CREDIT]
    assert [ln.batch for ln in lines] == [False, True, True, False]
    assert [ln.return_code for ln in lines] == ["", "AC06", "AC06", ""]
    assert lines[0].payer_name == "INSURANCE COMPANY TESTX"  # a debit: the Cdtr
    assert (lines[3].payer_name, lines[3].payer_account, lines[3].reference) == (
        "3rd party Media", "NL69ABNA0522123643", "115")
    assert lines[3].bank_code == "PMNT/RCDT/ESCT"
    assert {ln.currency for ln in lines} == {"EUR"}
    assert {ln.value_date for ln in lines} == {date(2014, 1, 5)}
    # no AcctSvcrRef anywhere: stable keys, all distinct
    assert len({ln.bank_transaction_id for ln in lines}) == 4
    # 15568.27 - 754.25 - 664.05 + 1405.31 = 15555.28, not the 15121.12 the file states
    (warning,) = of(items, Warning)
    assert "15555.28" in warning.message and "15121.12" in warning.message


def test_oca_camt053_txdtls_batch_lines_with_the_same_servicer_reference():
    items = read_sample("camt053/oca_test-camt053-txdtls.xml")
    (stmt,) = of(items, Statement)
    # camt.053.001.04, CH IBAN, ElctrncSeqNb 58, OPBD 75960.15, CLBD 79443.15 (= + 3483.00)
    assert (stmt.account, stmt.currency, stmt.sequence) == ("CH1111000000123456789", "CHF", "58")
    # A made-up IBAN: CH11 1100 0000 1234 5678 9 rearranged is 1100000012345678912171 (C=12,
    # H=17, then "11"), whose remainder mod 97 is not 1. Read, and said.
    assert [w.message for w in of(items, Warning)] == [
        "the account's IBAN CH1111000000123456789 fails its check digits (ISO 13616): is this the right account?"]
    lines = of(items, Line)
    # one entry of 3483.00 CRDT (AcctSvcrRef 20170323001234567891234567891234) with two
    # TxDtls of 2187.00 and 1296.00 whose Refs/AcctSvcrRef are both 123456CHCAFEBABE
    assert [ln.amount for ln in lines] == [D("2187.00"), D("1296.00")]
    assert all(ln.batch and ln.entry_ref == "20170323001234567891234567891234" for ln in lines)
    assert len({ln.bank_transaction_id for ln in lines}) == 2
    assert lines[1].where.startswith("/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls/TxDtls[2] (line ")
    assert [ln.reference for ln in lines] == [
        "302388292000011111111111111", "302388292000022222222222222"]
    assert [ln.payer_account for ln in lines] == ["CH2222000000123456789", "CH3333000000123456789"]
    assert {(ln.booking_date, ln.value_date) for ln in lines} == {(date(2017, 3, 22), date(2017, 3, 23))}


def test_oca_camt053_multi_currency_books_the_account_currency():
    items = read_sample("camt053/oca_test-camt053-multi-currency.xml")
    (stmt,) = of(items, Statement)
    assert (stmt.currency, stmt.sequence) == ("CHF", "45")
    # TxsSummry: 2 entries, Sum 713.21, net 445.21 DBIT; balances 350777.85 -> 350332.64
    assert not of(items, Warning)
    lines = of(items, Line)
    # the debit was instructed as EUR 522.39 but booked as CHF 579.21 (its TxDtls/Amt is EUR)
    assert [(ln.amount, ln.currency) for ln in lines] == [(D("-579.21"), "CHF"), (D("134.00"), "CHF")]
    assert [ln.bank_transaction_id for ln in lines] == [
        "DNXK210913CS36481/1001", "80XM210914CS02210/1001"]
    assert (lines[0].payer_name, lines[0].reference) == ("Batelier", "SP-98803960-0")
    assert (lines[1].payer_name, lines[1].remittance) == ("EPFL", "/INV/09.2021/01 7.9.2021")


def test_oca_camt054_notification_without_balances():
    items = read_sample("camt054/oca_test-camt054.xml")
    (stmt,) = of(items, Statement)
    assert (stmt.account, stmt.currency, stmt.opening_balance) == ("NL77ABNA0574908765", "EUR", None)
    (line,) = of(items, Line)
    # 5.00 EUR CRDT, AcctSvcrRef 98888208N8, EndToEndId ENDTOENDID-01, QRR reference ...003
    assert (line.amount, line.bank_transaction_id, line.reference) == (
        D("5.00"), "98888208N8", "ENDTOENDID-01")
    assert (line.payer_name, line.payer_account) == ("Test Customer", "NL46ABNA0499998748")
    assert line.bank_code == "PMNT/RCDT/ATXN"  # the TxDtls code, more precise than the entry's
    assert line.remittance == "Additional entry info"
    assert not line.batch and line.status is Status.BOOKED


def test_darko_incoming_batch_of_three_and_whole_amounts():
    items = read_sample(
        "camt053/darko_ISO20022_camt053_extended_SE_incoming_payments_incl_CB_example.xml")
    (stmt,) = of(items, Statement)
    # Othr/Id 123456789 (BBAN), SEK; OPBD 1000, CLBD 14384.6; TtlCdtNtries 5, Sum 13384.6
    assert (stmt.account, stmt.currency) == ("123456789", "SEK")
    assert (stmt.opening_balance, stmt.closing_balance) == (D("1000"), D("14384.6"))
    assert not of(items, Warning)
    lines = of(items, Line)
    # 880, 690, 220, then the batch 8326 = 4400 + 2000 + 1926, then 3268.60 (from CZK 9790)
    assert [ln.amount for ln in lines] == [D(x) for x in (
        "880", "690", "220", "4400", "2000", "1926", "3268.60")]
    assert sum(ln.amount for ln in lines) == D("13384.60")
    assert [ln.payer_name for ln in lines[3:6]] == ["DEBTOR NAME A", "DEBTOR NAME B", "DEBTOR NAME C"]
    assert all(ln.kind is Kind.CREDIT for ln in lines)
    assert lines[3].remittance == "789789 / Additional reference"  # RfrdDocInf/Nb, AddtlRmtInf


def test_darko_outgoing_charges_become_a_fee_line():
    items = read_sample("camt053/darko_ISO20022_camt053_extended_SE_outgoing_payments_example.xml")
    assert not of(items, Warning)
    lines = of(items, Line)
    # Ntry 1: 185594.12 DBIT = countervalue 185591.12 SEK + Chrgs 3 SEK DBIT
    # Ntry 2: 12565 DBIT = 11367 + 921 + 277 (batch, AcctSvcrRef FIL-E 20150125)
    assert [(ln.amount, ln.kind) for ln in lines] == [
        (D("-185591.12"), Kind.DEBIT), (D("-3"), Kind.FEE),
        (D("-11367"), Kind.DEBIT), (D("-921"), Kind.DEBIT), (D("-277"), Kind.DEBIT)]
    assert lines[0].payer_name == "CREDITOR NAME"
    assert [ln.bank_transaction_id for ln in lines[2:]] == [
        "FIL-E 20150125/1", "FIL-E 20150125/2", "FIL-E 20150125/3"]
    assert sum(ln.amount for ln in lines) == D("-198159.12")  # TtlDbtNtries/Sum


def test_darko_three_statements_in_one_message():
    items = read_sample("camt053/darko_camt_053_swedish_account_statement.xml")
    stmts = of(items, Statement)
    assert [(s.account, s.currency) for s in stmts] == [
        ("123456789", "SEK"), ("222333444", "SEK"), ("45678910", "NOK")]
    # the NOK account is overdrawn: OPBD 96483.98 DBIT, CLBD 251742.98 DBIT
    assert (stmts[2].opening_balance, stmts[2].closing_balance) == (D("-96483.98"), D("-251742.98"))
    assert not of(items, Warning)
    lines = of(items, Line)
    assert [(ln.account, ln.amount) for ln in lines] == [
        ("123456789", D("-1387.60")), ("123456789", D("8876.80")), ("123456789", D("4533")),
        ("123456789", D("-75")), ("45678910", D("-155259"))]
    assert lines[3].kind is Kind.FEE  # ACMT/MDOP/CHRG
    assert [ln.statement_id for ln in lines] == ["Statement ID 1"] * 4 + ["Statement ID 3"]


def test_darko_uk_detail_amount_that_nothing_explains_is_a_warning():
    items = read_sample("camt053/darko_camt_053_ver_2_extended_uk_account.xml")
    lines = of(items, Line)
    # Ntry 1 books 1.60 DBIT but its TxDtls says .6 and there are no charges: kept whole
    assert [ln.amount for ln in lines] == [D("-1.60"), D("1.50")]
    (warning,) = of(items, Warning)
    assert "Ntry[1]" in warning.where and "-0.6" in warning.message
    assert lines[1].payer_name == "COMPANY A LTD?LONDON"
    assert lines[0].remittance == "Message to beneficiary line 1 Message to beneficiary line 2"


def test_every_sample_is_detected_as_camt():
    for path in sorted((SAMPLES / "camt053").glob("*.xml")) + sorted((SAMPLES / "camt054").glob("*.xml")):
        assert detect(path.read_bytes()[:65536]) == "camt", path.name


# --- the writer's files are schema-valid and read back ---------------------------------------


def sample_statement(**changes) -> w.Stmt:
    fields = dict(
        id="S-1", account="NL77ABNA0574908765", currency="EUR", sequence="12",
        opening=D("100.00"),
        entries=[
            w.Entry(D("100.00"), True, booking=date(2026, 1, 2), acct_ref="R1", txs=[
                w.Tx(D("60.00"), name="Ann", account="NL46ABNA0499998748", end_to_end="E2E-1",
                     ustrd=("invoice 7",)),
                w.Tx(D("41.00"), name="Bob", charges=D("1.00"), creditor_ref="RF18539007547034"),
            ]),
            w.Entry(D("5.50"), False, booking=date(2026, 1, 2), acct_ref="R2",
                    code=("PMNT", "CCRD", "CHRG")),
            w.Entry(D("9.00"), False, status="PDNG", booking=date(2026, 1, 3), acct_ref="R3"),
        ],
    )
    fields.update(changes)
    return w.Stmt(**fields)


@pytest.mark.parametrize(("message", "version"), ALL_VERSIONS)
def test_the_writer_writes_schema_valid_files_in_every_version(message, version):
    data = w.write(message, version, [sample_statement()])
    w.validate(data, message, version)
    items = read_bytes(data)
    lines = of(items, Line)
    assert [(ln.amount, ln.kind, ln.status, ln.batch) for ln in lines] == [
        (D("60.00"), Kind.CREDIT, Status.BOOKED, True),
        (D("41.00"), Kind.CREDIT, Status.BOOKED, True),
        (D("-1.00"), Kind.FEE, Status.BOOKED, True),
        (D("-5.50"), Kind.FEE, Status.BOOKED, False),  # card charges are a fee
        (D("-9.00"), Kind.DEBIT, Status.PENDING, False),
    ]
    assert not of(items, Warning)


def test_the_schema_check_is_not_vacuous():
    data = w.write("053", 4, [sample_statement()])
    broken = data.replace(b"<Sts>BOOK</Sts>", b"<Sts><Cd>BOOK</Cd></Sts>", 1)
    with pytest.raises(AssertionError, match="Sts"):
        w.validate(broken, "053", 4)


# --- round trips ------------------------------------------------------------------------------

# (bank transaction code, credit?, reversal?, kind the reader must give)
CODES = [
    (("PMNT", "RCDT", "ESCT"), True, False, Kind.CREDIT),
    (("PMNT", "ICDT", "ESCT"), False, False, Kind.DEBIT),
    (("PMNT", "IDDT", "UPDD"), False, True, Kind.REVERSAL),  # a collected debit came back
    (("PMNT", "ICDT", "RRTN"), True, True, Kind.REVERSAL),  # our payment came back: money in
    (("ACMT", "MDOP", "CHRG"), False, False, Kind.FEE),
    (("PMNT", "CCRD", "CHRG"), False, False, Kind.FEE),  # card charges, not a chargeback
    (("PMNT", "MCRD", "UPCT"), False, False, Kind.CHARGEBACK),
    (("PMNT", "MCRD", "POSP"), True, False, Kind.CREDIT),
]
text = st.text(
    alphabet=st.sampled_from("abcXYZ019 -/.&<>'\"éß€"), min_size=1, max_size=20,
).map(str.strip).filter(bool)
money = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n).scaleb(-2))
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def entries(draw, index: int):
    code, credit, reversal, kind = draw(st.sampled_from(CODES))
    shape = draw(st.sampled_from(["single", "one-tx", "batch", "batch-no-amounts"]))
    status = draw(st.sampled_from(["BOOK", "BOOK", "PDNG", "INFO"]))
    txs = []
    charges = D(0)
    if shape != "single":
        n = 1 if shape == "one-tx" else draw(st.integers(2, 4))
        distinct_refs = draw(st.booleans())
        for position in range(n):
            charge = draw(st.none() | money) if shape != "batch-no-amounts" else None
            if charge is not None:
                charges += charge
            txs.append(w.Tx(
                amount=draw(money), name=draw(st.none() | text) or "",
                account=draw(st.sampled_from(["", "DE89370400440532013000", "GB33BUKB20201555555555"])),
                end_to_end=draw(st.sampled_from(["", "NOTPROVIDED"]) | text),
                creditor_ref=draw(st.none() | text) or "",
                ustrd=tuple(draw(st.lists(text, max_size=2))),
                return_code=draw(st.sampled_from(["", "", "AC04", "MD06"])),
                acct_ref=f"T{index}-{position}" if distinct_refs else "",
                charges=charge,
            ))
    tx_sum = sum((t.amount for t in txs), D(0))
    if shape in ("single", "batch-no-amounts"):
        amount = draw(money)
    else:
        # credits arrive with the charges taken off; debits leave with the charges on top
        amount = tx_sum - charges if credit else tx_sum + charges
        assume(amount > 0)
    booking = draw(days)
    return w.Entry(
        amount=amount, credit=credit, status=status, reversal=reversal, booking=booking,
        value=draw(st.none() | days), acct_ref=draw(st.sampled_from(["", f"A{index}"])),
        ntry_ref=draw(st.sampled_from(["", f"N{index}"])), code=code, txs=txs,
        with_amounts=shape != "batch-no-amounts",
        batch_count=len(txs) if shape.startswith("batch") else None,
        info=draw(st.none() | text) or "",
    ), kind


@st.composite
def statements(draw):
    count = draw(st.integers(0, 5))
    drawn = [draw(entries(i)) for i in range(count)]
    stmt = w.Stmt(
        id=draw(text), account=draw(st.sampled_from(["NL77ABNA0574908765", "123456789"])),
        currency=draw(st.sampled_from(["EUR", "CHF", "SEK"])),
        sequence=draw(st.sampled_from(["", "1", "42"])), created=draw(days),
        opening=draw(st.none() | st.integers(-10**8, 10**8).map(lambda n: D(n).scaleb(-2))),
        entries=[e for e, _ in drawn],
    )
    stmt.iban = stmt.account.startswith("NL")
    return stmt, [k for _, k in drawn]


def expected_lines(stmt: w.Stmt, kinds: list[Kind]) -> list[tuple]:
    """What the reader must give for ``stmt``, worked out from the rows alone."""
    out = []
    for index, (entry, kind) in enumerate(zip(stmt.entries, kinds, strict=True), 1):
        signed = entry.amount if entry.credit else -entry.amount
        sign = 1 if entry.credit else -1
        status = {"BOOK": Status.BOOKED, "PDNG": Status.PENDING, "INFO": Status.INFO}[entry.status]
        stable = f"camt:{stmt.id}:{index}:{signed}:{entry.booking}"
        entry_id = entry.acct_ref or stable
        common = (entry.value or entry.booking, entry.booking, stmt.currency, status,
                  entry.acct_ref or entry.ntry_ref)

        def detail(tx, amount, line_id, batch, kind=kind):
            reference = tx.end_to_end if tx.end_to_end not in ("", "NOTPROVIDED") else tx.creditor_ref
            parts = [" ".join(tx.ustrd)] if tx.ustrd else []
            parts += [entry.info] if entry.info else []
            line_kind = Kind.REVERSAL if tx.return_code and kind in (Kind.CREDIT, Kind.DEBIT) else kind
            return (amount, line_id, line_kind, batch, tx.name, tx.account, reference,
                    " / ".join(dict.fromkeys(parts)), tx.return_code, *common)

        charges = sum((t.charges for t in entry.txs if t.charges is not None), D(0))
        if entry.txs and entry.with_amounts:
            batch = len(entry.txs) > 1
            refs = [t.acct_ref for t in entry.txs]
            distinct = all(refs) and len(set(refs)) == len(refs)
            for position, tx in enumerate(entry.txs, 1):
                line_id = (refs[position - 1] if distinct else f"{entry_id}/{position}") if batch else entry_id
                out.append(detail(tx, sign * tx.amount, line_id, batch))
            if charges:
                out.append((-charges, f"{entry_id}/charges", Kind.FEE, batch, "fee", *common))
        elif len(entry.txs) == 1:
            out.append(detail(entry.txs[0], signed, entry_id, False))
        else:
            out.append((signed, entry_id, kind, False, "", "", "", entry.info, "", *common))
    return out


def actual_lines(lines: list[Line]) -> list[tuple]:
    out = []
    for ln in lines:
        common = (ln.value_date, ln.booking_date, ln.currency, ln.status, ln.entry_ref)
        if ln.kind is Kind.FEE and ln.bank_transaction_id.endswith("/charges"):
            out.append((ln.amount, ln.bank_transaction_id, ln.kind, ln.batch, "fee", *common))
        else:
            out.append((ln.amount, ln.bank_transaction_id, ln.kind, ln.batch, ln.payer_name,
                        ln.payer_account, ln.reference, ln.remittance, ln.return_code, *common))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_VERSIONS), statements())
def test_written_statements_read_back_the_same(message_version, drawn):
    message, version = message_version
    stmt, kinds = drawn
    if message == "053" and stmt.opening is None:
        stmt.opening = D("0.00")  # a camt.053 statement has at least one balance
    data = w.write(message, version, [stmt])
    w.validate(data, message, version)
    items = read_bytes(data)
    assert not of(items, Warning)
    (statement,) = of(items, Statement)
    assert (statement.account, statement.currency, statement.statement_id, statement.sequence,
            statement.created) == (stmt.account, stmt.currency, stmt.id, stmt.sequence, stmt.created)
    if message != "054" and stmt.opening is not None:
        assert statement.opening_balance == stmt.opening
    assert actual_lines(of(items, Line)) == expected_lines(stmt, kinds)


# --- damaged files -----------------------------------------------------------------------------


def money_by_entry(items) -> Counter:
    """The money the file books, by status and currency: what a damaged file must not change
    silently. Identifiers (the account number, an entry's reference) carry no check digit or hash
    in camt, like names: a changed digit in them cannot be seen, so they are not part of the key."""
    totals = Counter()
    for ln in of(items, Line):
        totals[(ln.status, ln.currency)] += ln.amount
    return totals


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_VERSIONS), statements(), st.data())
def test_a_truncated_file_is_refused(message_version, drawn, data):
    message, version = message_version
    stmt, _ = drawn
    written = w.write(message, version, [stmt])
    end = written.rstrip().rfind(b">") + 1  # the end of </Document>
    cut = data.draw(st.integers(0, end - 1))
    with pytest.raises(StatementError):
        read_bytes(written[:cut])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_VERSIONS), statements(), st.data())
def test_a_corrupted_file_is_refused_or_books_the_same_money(message_version, drawn, data):
    """camt carries no hash, so a changed name or date cannot be seen; but the money each
    entry books is guarded by the entry amounts, TxsSummry and the batch checks: a damaged file
    is refused, warned about, or books the same amounts."""
    message, version = message_version
    stmt, _ = drawn
    written = w.write(message, version, [stmt])
    original = money_by_entry(read_bytes(written))
    position = data.draw(st.integers(0, len(written) - 1))
    byte = data.draw(st.integers(0, 255))
    damaged = written[:position] + bytes([byte]) + written[position + 1:]
    try:
        items = read_bytes(damaged)
    except StatementError:
        return
    assert of(items, Warning) or money_by_entry(items) == original


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_statement_errors(blob):
    for prefix in (b"", b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'):
        try:
            read_bytes(prefix + blob)
        except StatementError as error:
            assert error.message


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_damaged_samples_raise_only_statement_errors(data):
    path = data.draw(st.sampled_from(sorted((SAMPLES / "camt053").glob("*.xml"))))
    raw = path.read_bytes()
    start = data.draw(st.integers(0, len(raw) - 1))
    length = data.draw(st.integers(1, 40))
    damaged = raw[:start] + data.draw(st.binary(max_size=8)) + raw[start + length:]
    try:
        read_bytes(damaged)
    except StatementError as error:
        assert error.where


# --- refusals that name the place -----------------------------------------------------------


def written(message="053", version=8, **changes) -> bytes:
    return w.write(message, version, [sample_statement(**changes)])


def test_xxe_is_refused():
    data = (b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
            b"<GrpHdr><MsgId>&x;</MsgId></GrpHdr></BkToCstmrStmt></Document>")
    with pytest.raises(StatementError, match="DOCTYPE"):
        read_bytes(data)


def test_billion_laughs_is_refused():
    entities = "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    data = (f'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY l0 "ha">{entities}]>'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>&l9;</MsgId></GrpHdr></BkToCstmrStmt></Document>").encode()
    with pytest.raises(StatementError, match="DOCTYPE"):
        read_bytes(data)


def test_an_undeclared_entity_is_refused_with_its_place():
    data = written().replace(b"<Id>S-1</Id>", b"<Id>&x;</Id>")
    with pytest.raises(StatementError, match="Entity 'x' not defined") as error:
        read_bytes(data)
    assert error.value.where.startswith("line ")


@pytest.mark.parametrize("namespace", [
    "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03",
    "urn:iso:std:iso:20022:tech:xsd:camt.056.001.08",
    "urn:example:bank",
])
def test_an_unknown_namespace_is_refused_by_name(namespace):
    data = written().replace(w.namespace("053", 8).encode(), namespace.encode())
    with pytest.raises(StatementError, match=namespace.replace(".", r"\.")):
        read_bytes(data)


@pytest.mark.parametrize("version", ["01", "11"])
def test_versions_outside_02_to_10_are_refused_by_name(version):
    data = written().replace(b"camt.053.001.08", f"camt.053.001.{version}".encode())
    with pytest.raises(StatementError, match=f"camt.053.001.{version} is not read"):
        read_bytes(data)


def test_status_form_follows_the_version():
    plain_in_08 = re.sub(rb"<Sts>\s*<Cd>BOOK</Cd>\s*</Sts>", b"<Sts>BOOK</Sts>", written(version=8), 1)
    assert plain_in_08 != written(version=8)
    with pytest.raises(StatementError, match="Sts/Cd"):
        read_bytes(plain_in_08)
    coded_in_07 = written(version=7).replace(b"<Sts>BOOK</Sts>", b"<Sts><Cd>BOOK</Cd></Sts>", 1)
    assert coded_in_07 != written(version=7)
    with pytest.raises(StatementError, match=r"Ntry\[1\]/Sts"):
        read_bytes(coded_in_07)


def test_an_unknown_status_is_refused_by_name():
    data = written(version=8).replace(b"<Cd>PDNG</Cd>", b"<Cd>FUTR</Cd>")
    with pytest.raises(StatementError, match="'FUTR'") as error:
        read_bytes(data)
    assert "Ntry[3]/Sts" in error.value.where


def test_too_many_decimals_for_the_currency_are_refused():
    stmt = sample_statement(currency="JPY", opening=None, entries=[
        w.Entry(D("1500.5"), True, booking=date(2026, 1, 2))])
    with pytest.raises(StatementError, match="JPY allows 0"):
        read_bytes(w.write("053", 4, [stmt]))
    ok = sample_statement(currency="JPY", opening=None, entries=[
        w.Entry(D("1500.00"), True, booking=date(2026, 1, 2))])
    assert [ln.amount for ln in of(read_bytes(w.write("053", 4, [ok])), Line)] == [D("1500.00")]


def test_a_bad_currency_code_is_refused():
    data = written().replace(b'Ccy="EUR">100.00', b'Ccy="eur">100.00')
    with pytest.raises(StatementError, match="'eur' is not an ISO 4217 code"):
        read_bytes(data)


def test_txs_summary_that_disagrees_refuses_the_file():
    data = written().replace(b"<NbOfNtries>3</NbOfNtries>", b"<NbOfNtries>4</NbOfNtries>")
    with pytest.raises(StatementError, match="TtlNtries/NbOfNtries is 4"):
        read_bytes(data)


def test_batch_count_that_disagrees_refuses_the_file():
    stmt = sample_statement()
    stmt.entries[0].batch_count = 3
    with pytest.raises(StatementError, match="NbOfTxs says 3 transactions but 2"):
        read_bytes(w.write("053", 8, [stmt]))


def test_balances_that_do_not_add_up_are_a_warning():
    items = read_bytes(written(closing=D("999.99")))
    (warning,) = of(items, Warning)
    assert "999.99" in warning.message and "Stmt[1]" in warning.where
    assert len(of(items, Line)) == 5


def test_an_unexplained_batch_difference_keeps_the_entry_whole_with_a_warning():
    stmt = sample_statement()
    stmt.entries[0].txs[1].charges = None  # 60 + 41 != 100 and no charges say why
    items = read_bytes(w.write("053", 8, [stmt]))
    (warning,) = of(items, Warning)
    assert "Ntry[1]" in warning.where
    first = of(items, Line)[0]
    assert (first.amount, first.batch, first.bank_transaction_id) == (D("100.00"), False, "R1")
    assert first.notes == ("batch of 2 transactions booked as one amount",)


def test_a_servicer_reference_reused_for_another_entry_keeps_both_payments():
    stmt = sample_statement(entries=[
        w.Entry(D("10.00"), True, booking=date(2026, 1, 2), acct_ref="SAME"),
        w.Entry(D("12.00"), True, booking=date(2026, 1, 2), acct_ref="SAME"),
    ])
    items = read_bytes(w.write("053", 8, [stmt]))
    ids = [ln.bank_transaction_id for ln in of(items, Line)]
    assert ids == ["SAME", "SAME#2"]
    (warning,) = of(items, Warning)
    assert "'SAME' was already used" in warning.message and "Ntry[2]" in warning.where


def test_batch_references_reused_across_entries_keep_every_payment():
    """Each batch gives its TxDtls distinct references, but the bank reuses them in the next
    entry: no line may take another's id."""
    def batch(ref, first, second):
        return w.Entry(first + second, True, booking=date(2026, 1, 2), acct_ref=ref, txs=[
            w.Tx(first, acct_ref="T-1"), w.Tx(second, acct_ref="T-2")])
    stmt = sample_statement(entries=[batch("B1", D("1.00"), D("2.00")),
                                     batch("B2", D("3.00"), D("4.00"))])
    lines = of(read_bytes(w.write("053", 8, [stmt])), Line)
    assert [(ln.bank_transaction_id, ln.amount) for ln in lines] == [
        ("T-1", D("1.00")), ("T-2", D("2.00")), ("T-1#2", D("3.00")), ("T-2#2", D("4.00"))]



def test_an_entry_reported_twice_keeps_one_id():
    """Two reports for one account in one camt.052 repeat a booked entry: one payment."""
    entry = w.Entry(D("10.00"), True, booking=date(2026, 1, 2), acct_ref="SAME")
    first = sample_statement(id="R-1", opening=None, entries=[entry])
    second = sample_statement(id="R-2", opening=None, entries=[entry])
    data = w.write("052", 8, [first, second])
    w.validate(data, "052", 8)
    items = read_bytes(data)
    assert [ln.bank_transaction_id for ln in of(items, Line)] == ["SAME", "SAME"]
    (warning,) = of(items, Warning)
    assert "reported twice" in warning.message


def test_identical_payments_without_references_stay_apart():
    stmt = sample_statement(entries=[
        w.Entry(D("10.00"), True, booking=date(2026, 1, 2)),
        w.Entry(D("10.00"), True, booking=date(2026, 1, 2)),
    ])
    ids = [ln.bank_transaction_id for ln in of(read_bytes(w.write("053", 2, [stmt])), Line)]
    assert ids == ["camt:S-1:1:10.00:2026-01-02", "camt:S-1:2:10.00:2026-01-02"]


def test_reversal_signs_follow_the_credit_debit_indicator():
    stmt = sample_statement(opening=None, entries=[
        # the reversal of a customer's credit: DBIT + RvslInd, money out
        w.Entry(D("20.00"), False, reversal=True, booking=date(2026, 1, 2),
                code=("PMNT", "RCDT", "ESCT")),
        # the reversal of our own debit: CRDT + RvslInd, money in, never a customer's credit
        w.Entry(D("30.00"), True, reversal=True, booking=date(2026, 1, 2),
                code=("PMNT", "ICDT", "ESCT")),
    ])
    lines = of(read_bytes(w.write("053", 4, [stmt])), Line)
    assert [(ln.amount, ln.kind) for ln in lines] == [
        (D("-20.00"), Kind.REVERSAL), (D("30.00"), Kind.REVERSAL)]


def big_statement(count: int) -> bytes:
    """A camt.053.001.08 statement of ``count`` entries (one TxDtls each), made by repetition."""
    entry = w.Entry(D("12.34"), True, booking=date(2026, 1, 2), code=("PMNT", "RCDT", "ESCT"),
                    txs=[w.Tx(D("12.34"), name="Customer", account="DE89370400440532013000",
                              end_to_end="E2E", ustrd=("Invoice 42",))])
    head = w.write("053", 8, [sample_statement(entries=[entry], summary=False, opening=None)])
    start = head.index(b"<Ntry>")
    end = head.index(b"</Ntry>") + len(b"</Ntry>")
    return head[:start] + head[start:end] * count + head[end:]


def test_a_large_file_is_streamed_not_held(tmp_path):
    """libxml2's tree is outside Python's allocator: measure the reading process's peak RSS.
    Held whole, this 60 MB file takes several hundred MB of nodes."""
    path = tmp_path / "big.xml"
    count = 50000
    path.write_bytes(big_statement(count))
    script = (
        "import resource, sys\n"
        "from reconciliation.formats import camt\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "with open(sys.argv[1], 'rb') as stream:\n"
        "    lines = sum(1 for item in camt.read(stream) if type(item).__name__ == 'Line')\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(lines, after - before)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[3])
    lines, grown_kib = map(int, result.stdout.split())
    assert lines == count
    assert grown_kib < 40 * 1024, f"the reader grew by {grown_kib} KiB"


def test_an_entry_outside_a_statement_is_refused():
    data = written()
    ntry = data[data.index(b"<Ntry>"):data.index(b"</Ntry>") + len(b"</Ntry>")]
    data = data.replace(b"</BkToCstmrStmt>", ntry + b"</BkToCstmrStmt>")
    with pytest.raises(StatementError, match="outside a Stmt"):
        read_bytes(data)


def test_an_element_the_schema_allows_once_given_twice_is_refused():
    data = written().replace(b'<Amt Ccy="EUR">5.50</Amt>',
                             b'<Amt Ccy="EUR">5.50</Amt><Amt Ccy="EUR">7.50</Amt>')
    with pytest.raises(StatementError, match="Amt is given 2 times") as error:
        read_bytes(data)
    assert "Ntry[2]" in error.value.where


def test_digits_of_other_scripts_are_not_amounts():
    data = written().replace(b'<Amt Ccy="EUR">5.50</Amt>', "<Amt Ccy=\"EUR\">٥.50</Amt>".encode())
    with pytest.raises(StatementError, match="is not a decimal number"):
        read_bytes(data)


def test_a_utf16_file_is_detected_and_read():
    data = written(version=2).decode().replace("encoding='UTF-8'", "encoding='UTF-16'")
    raw = data.encode("utf-16")
    assert camt.sniff(raw[:4096])
    assert len(of(read_bytes(raw), Line)) == 5


def test_statement_header_alternatives():
    """Othr/Id account, LglSeqNb instead of ElctrncSeqNb, PRCD opening, DtTm booking dates."""
    data = written(version=4, iban=False, account="12345678", sequence="")
    data = data.replace(b"<CreDtTm>2026-01-02T06:00:00</CreDtTm>\n      <Acct>",
                        b"<LglSeqNb>77</LglSeqNb>\n      <CreDtTm>2026-01-02T06:00:00</CreDtTm>\n"
                        b"      <Acct>")
    data = data.replace(b"<Cd>OPBD</Cd>", b"<Cd>PRCD</Cd>")
    data = re.sub(rb"<BookgDt>\s*<Dt>2026-01-02</Dt>\s*</BookgDt>",
                  b"<BookgDt><DtTm>2026-01-01T23:30:00-05:00</DtTm></BookgDt>", data)
    w.validate(data, "053", 4)
    items = read_bytes(data)
    (stmt,) = of(items, Statement)
    assert (stmt.account, stmt.sequence, stmt.opening_balance) == ("12345678", "77", D("100.00"))
    # the day as the bank wrote it, in its own zone
    assert of(items, Line)[0].booking_date == date(2026, 1, 1)


def test_a_camt054_detailing_a_camt053_batch_points_at_its_entry():
    """The 053 books the batch as one amount; the 054 gives its transactions: the lines carry
    the batch entry's reference so the import can put the details in its place."""
    batch = w.Entry(D("100.00"), True, booking=date(2026, 1, 2), acct_ref="BATCH-9",
                    batch_count=2)
    detailed = w.Entry(D("100.00"), True, booking=date(2026, 1, 2), acct_ref="BATCH-9", txs=[
        w.Tx(D("70.00"), name="Ann", acct_ref="TX-1"), w.Tx(D("30.00"), name="Bob", acct_ref="TX-2")])
    statement = of(read_bytes(written("053", 8, entries=[batch])), Line)
    notification = of(read_bytes(written("054", 8, entries=[detailed])), Line)
    assert [(ln.amount, ln.batch, ln.entry_ref, ln.bank_transaction_id) for ln in statement] == [
        (D("100.00"), False, "BATCH-9", "BATCH-9")]
    assert statement[0].notes == ("batch of 2 transactions booked as one amount",)
    assert [(ln.amount, ln.batch, ln.entry_ref, ln.bank_transaction_id, ln.payer_name)
            for ln in notification] == [
        (D("70.00"), True, "BATCH-9", "TX-1", "Ann"), (D("30.00"), True, "BATCH-9", "TX-2", "Bob")]


def test_a_proprietary_status_is_refused_by_name():
    data = written(version=8).replace(b"<Cd>PDNG</Cd>", b"<Prtry>HOLD</Prtry>")
    with pytest.raises(StatementError, match="'HOLD' is proprietary"):
        read_bytes(data)


def test_a_booked_camt052_entry_comes_back_in_the_camt053_with_the_same_id():
    entry = w.Entry(D("42.00"), True, booking=date(2026, 1, 2), acct_ref="BANK-REF-1", txs=[
        w.Tx(D("42.00"), name="Ann", end_to_end="INV-1")])
    report = of(read_bytes(written("052", 2, id="RPT-1", entries=[entry])), Line)
    statement = of(read_bytes(written("053", 8, id="STMT-1", entries=[entry])), Line)
    assert [(ln.bank_transaction_id, ln.amount, ln.reference) for ln in report] == [
        ("BANK-REF-1", D("42.00"), "INV-1")]
    assert [(ln.bank_transaction_id, ln.amount, ln.reference) for ln in statement] == [
        ("BANK-REF-1", D("42.00"), "INV-1")]


def test_comments_processing_instructions_and_cdata_inside_an_amount_read_as_xml_says():
    """A comment or a processing instruction inside a value is not part of it, CDATA is: the
    amount is the text around them, never the text before them alone."""
    plain = written(version=2)
    for inside in (b"5<!-- note -->.5<?pi x?>0", b"<![CDATA[5.5]]>0"):
        data = plain.replace(b'<Amt Ccy="EUR">5.50</Amt>', b'<Amt Ccy="EUR">' + inside + b"</Amt>")
        assert data != plain
        assert [ln.amount for ln in of(read_bytes(data), Line)][3] == D("-5.50")


# --- the quick path reads every entry as the full reading does --------------------------------
# The reader reads an ordinary entry in one pass (``quick_entry``) and hands anything else to
# ``full_entry``; switched off, every entry goes through ``full_entry``. Both must give the same
# items, warnings and errors on every file.


def outcome(data: bytes, quick: bool = True):
    """The items read, or the error (its text: message and place)."""
    patches = [] if quick else [mock.patch.object(
        camt._StatementState, "quick_entry", lambda self, ntry: None)]
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        try:
            return read_bytes(data)
        except StatementError as error:
            return f"StatementError: {error}"


def quick_count(data: bytes) -> int:
    """How many entries the quick path read."""
    count = 0
    quick_entry = camt._StatementState.quick_entry

    def counting(self, ntry):
        nonlocal count
        result = quick_entry(self, ntry)
        count += result is not None
        return result

    with mock.patch.object(camt._StatementState, "quick_entry", counting):
        read_bytes(data)
    return count


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_VERSIONS), st.lists(statements(), min_size=1, max_size=3))
def test_the_quick_path_reads_written_files_as_the_full_reading(message_version, drawn):
    message, version = message_version
    written = w.write(message, version, [stmt for stmt, _ in drawn])
    assert outcome(written) == outcome(written, quick=False)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_VERSIONS), statements(), st.data())
def test_the_quick_path_reads_damaged_files_as_the_full_reading(message_version, drawn, data):
    message, version = message_version
    stmt, _ = drawn
    written = w.write(message, version, [stmt])
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(written) - 1))
        length = data.draw(st.integers(0, 12))
        written = written[:position] + data.draw(st.binary(max_size=6)) + written[
            position + length:]
    assert outcome(written) == outcome(written, quick=False)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("camt05*/*.xml")), ids=lambda p: p.name)
def test_the_quick_path_reads_the_samples_as_the_full_reading(path):
    raw = path.read_bytes()
    assert outcome(raw) == outcome(raw, quick=False)


def test_the_quick_path_reads_the_bench_file_as_the_full_reading(tmp_path):
    """The bench's file: credits with counterparties and remittance, batches (some with
    charges deducted, a fee line), fees, returned direct debits, pending entries."""
    path = tmp_path / "bench.xml"
    camt_bench.write_file(str(path), 600)
    raw = path.read_bytes()
    items = outcome(raw)
    assert items == outcome(raw, quick=False)
    lines = of(items, Line)
    assert {line.kind for line in lines} == {Kind.CREDIT, Kind.DEBIT, Kind.FEE, Kind.REVERSAL}
    assert any(line.bank_transaction_id.endswith("/charges") for line in lines)
    assert any(line.batch for line in lines) and any(line.payer_name for line in lines)
    # it is not vacuous: all entries but each statement's first are read by the quick path
    assert quick_count(raw) == 599


def test_the_quick_path_reads_an_entry_whose_one_txdtls_has_no_amount(tmp_path):
    """The import bench's camt.053.001.02 file: each entry has one TxDtls (references,
    parties, remittance) and no amount of its own there, which is the entry's. The quick path
    reads those entries (it handed every one to the full reading before), with the same items."""
    from bench.statements_bench import write_camt053

    path = tmp_path / "statement.xml"
    write_camt053(path, 50)
    raw = path.read_bytes()
    items = outcome(raw)
    assert items == outcome(raw, quick=False)
    lines = of(items, Line)
    assert len(lines) == 50 and all(line.payer_account.startswith("GB29NWBK") for line in lines)
    assert all(not line.batch for line in lines)
    assert quick_count(raw) == 49  # all but the statement's first
    # a second TxDtls without its amount is a batch the quick path leaves to the full reading
    ntry_end = raw.index(b"</TxDtls></NtryDtls></Ntry>", raw.index(b"<Ntry>", raw.index(b"<Ntry>") + 1))
    start = raw.rindex(b"<TxDtls>", 0, ntry_end)
    detail = raw[start:ntry_end + len(b"</TxDtls>")]
    batch = raw[:ntry_end + len(b"</TxDtls>")] + detail.replace(b"<EndToEndId>", b"<EndToEndId>B") + raw[
        ntry_end + len(b"</TxDtls>"):]
    assert outcome(batch) == outcome(batch, quick=False)
    assert quick_count(batch) == 48


def test_the_quick_path_leaves_unusual_entries_to_the_full_reading():
    """Date-times, an entry in another currency and a repeated element: the full reading reads
    (or refuses) them, with the same result."""
    stmt = sample_statement(entries=[
        w.Entry(D("1.00"), True, booking=date(2026, 1, 2), acct_ref=f"R{n}") for n in range(4)])
    data = w.write("053", 8, [stmt])
    date_times = data.replace(b"<Dt>2026-01-02</Dt>", b"<DtTm>2026-01-02T23:30:00-05:00</DtTm>")
    foreign = data.replace(b'<Amt Ccy="EUR">1.00</Amt>', b'<Amt Ccy="USD">1.00</Amt>')
    twice = data.replace(b"<AcctSvcrRef>R2</AcctSvcrRef>",
                         b"<AcctSvcrRef>R2</AcctSvcrRef><AcctSvcrRef>R9</AcctSvcrRef>")
    for variant in (date_times, foreign, twice):
        assert variant != data
        assert outcome(variant) == outcome(variant, quick=False)
    assert [ln.booking_date for ln in of(read_bytes(date_times), Line)] == [date(2026, 1, 2)] * 4
    assert [w.message for w in of(read_bytes(foreign), Warning)].count(
        "entry in USD on an account in EUR") == 4
    assert "AcctSvcrRef is given 2 times" in outcome(twice)


@pytest.mark.parametrize("day", ["2026-W01-6", "20260103T0"])
def test_a_week_date_or_a_basic_form_is_not_an_iso_date(day):
    """ISODate is YYYY-MM-DD; Python's date.fromisoformat also takes other ISO 8601 forms of
    the same length. The third entry (read by the quick path until its date) is refused."""
    data = written().replace(b"<Dt>2026-01-03</Dt>", f"<Dt>{day}</Dt>".encode())
    assert day.encode() in data
    with pytest.raises(StatementError, match="is not an ISO date") as raised:
        read_bytes(data)
    assert "Ntry[3]/BookgDt/Dt" in raised.value.where


def rich_entry(n: int, version: int, txs: str, code: str = "") -> str:
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version >= 8 else "<Sts>BOOK</Sts>"
    code = code or ("<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd>"
                    "</Fmly></Domn><Prtry><Cd>X1</Cd></Prtry></BkTxCd>")
    return (f"<Ntry><NtryRef>N{n}</NtryRef><Amt Ccy=\"EUR\">{{amount}}</Amt>"
            f"<CdtDbtInd>CRDT</CdtDbtInd>{status}<BookgDt><Dt>2026-01-02</Dt></BookgDt>"
            f"{code}<NtryDtls>{txs}</NtryDtls><AddtlNtryInf>same</AddtlNtryInf></Ntry>")


def rich_tx(version: int, amount: str, name: str, extra: str = "") -> str:
    party = f"<Pty><Nm>{name}</Nm></Pty>" if version >= 8 else f"<Nm>{name}</Nm>"
    return (
        f"<TxDtls><Refs><EndToEndId>notprovided</EndToEndId></Refs>"
        f"<Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        "<BkTxCd><Prtry><Cd>OWN</Cd></Prtry></BkTxCd>"
        f"<RltdPties><Cdtr>{party}</Cdtr><Dbtr>{party}</Dbtr>"
        "<DbtrAcct><Id><Othr><Id>ACC-9</Id></Othr></Id></DbtrAcct></RltdPties>"
        "<RmtInf><Ustrd>one</Ustrd><Ustrd> </Ustrd><Ustrd>two</Ustrd><Strd><RfrdDocInf><Nb>D-1"
        "</Nb></RfrdDocInf><RfrdDocInf><Nb>same</Nb></RfrdDocInf><CdtrRefInf><Ref>RF18</Ref>"
        "</CdtrRefInf><AddtlRmtInf>same</AddtlRmtInf></Strd><Strd><AddtlRmtInf>more"
        "</AddtlRmtInf></Strd></RmtInf>"
        f"<RtrInf><Rsn><Prtry>P9</Prtry></Rsn></RtrInf>{extra}<AddtlTxInf>one two</AddtlTxInf>"
        "</TxDtls>")


@pytest.mark.parametrize("version", [2, 4, 8, 10])
def test_the_quick_path_reads_rich_entries_as_the_full_reading(version):
    """What the writer never writes: proprietary codes, an agent's name, an Othr account,
    several Ustrd, Strd, referred documents, repeated remittance texts, proprietary return
    reasons; and entries the quick path leaves (a repeated NtryDtls, a date-time)."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"
    agent = ("<Agt><FinInstnId><Nm>Bank Agent</Nm></FinInstnId></Agt>" if version >= 8
             else "<Nm>Bank Agent</Nm>")
    entries = [
        rich_entry(1, version, rich_tx(version, "5.00", "First")).format(amount="5.00"),
        rich_entry(2, version, rich_tx(version, "1.50", "Ann") + rich_tx(version, "2.50", "Bob"))
        .format(amount="4.00"),
        rich_entry(3, version, rich_tx(version, "7.00", "x").replace(
            "<Pty><Nm>x</Nm></Pty>" if version >= 8 else "<Nm>x</Nm>", agent))
        .format(amount="7"),
        rich_entry(4, version, rich_tx(version, "1.00", "C").replace(
            "<BkTxCd><Prtry><Cd>OWN</Cd></Prtry></BkTxCd>", ""),
            code="<BkTxCd><Prtry><Cd>P-1</Cd></Prtry></BkTxCd>").format(amount="1.00"),
        rich_entry(5, version, rich_tx(version, "3.00", "D")).format(amount="3.00").replace(
            "</NtryDtls>", "</NtryDtls><NtryDtls/>"),
        rich_entry(6, version, rich_tx(version, "2.00", "E")).format(amount="2.00").replace(
            "<Dt>2026-01-02</Dt>", "<DtTm>2026-01-02T08:00:00</DtTm>"),
    ]
    data = (f'<Document xmlns="{ns}"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr><Stmt>'
            "<Id>S</Id><CreDtTm>2026-01-02T06:00:00</CreDtTm><Acct><Id><IBAN>NL77ABNA0574908765"
            f"</IBAN></Id><Ccy>EUR</Ccy></Acct>{''.join(entries)}</Stmt></BkToCstmrStmt>"
            "</Document>").encode()
    items = outcome(data)
    assert items == outcome(data, quick=False)
    lines = of(items, Line)
    assert len(lines) == 7
    assert quick_count(data) == 3  # entries 2, 3 and 4
    ann = lines[1]
    assert (ann.payer_name, ann.payer_account, ann.reference, ann.return_code, ann.bank_code) == (
        "Ann", "ACC-9", "RF18", "P9", "OWN")  # the line's own code before the entry's
    assert ann.remittance == "one two / D-1 / same / more"
    assert lines[3].payer_name == "Bank Agent" and lines[4].bank_code == "P-1"


def test_an_account_that_is_not_an_iban_is_refused_and_a_damaged_one_is_said():
    good = (SAMPLES / "camt053/oca_test-camt053.xml").read_bytes()
    assert b"<IBAN>NL77ABNA0574908765</IBAN>" in good
    with pytest.raises(StatementError, match=r"Acct/Id/IBAN ' ?L77ABNA0574908765' is not an IBAN"):
        read_bytes(good.replace(b"<IBAN>NL77ABNA0574908765</IBAN>", b"<IBAN> L77ABNA0574908765</IBAN>", 1))
    damaged = read_bytes(good.replace(b"<IBAN>NL77ABNA0574908765</IBAN>", b"<IBAN>NL77ABNA0574908766</IBAN>", 1))
    assert any("NL77ABNA0574908766 fails its check digits" in w.message for w in of(damaged, Warning))
