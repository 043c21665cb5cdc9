"""A camt.052 / camt.053 / camt.054 writer for the tests: statements from rows, in any version
.001.02 to .001.10, and the XML Schema check of what it writes.

Each version is written with the elements that version has: ``Sts`` is the code itself up to
.001.07 and ``Sts/Cd`` from .001.08; ``TxDtls/Amt`` exists from .001.03; the parties are
``Dbtr/Nm`` up to .001.07 and ``Dbtr/Pty/Nm`` from .001.08; charges are ``Chrgs/Amt`` in .001.02
and ``Chrgs/Rcrd/Amt`` later; the net total is ``TtlNetNtryAmt`` up to .001.03 and
``TtlNetNtry/Amt`` later.

``SCHEMAS`` holds the published schemas in ../shared/schemas/iso20022; a version whose schema is
not there is checked against the nearest one here with the same shape (same status form, same
TxDtls amounts), its namespace substituted: see ``schema_for``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path("/work/shared/schemas/iso20022")
if not SCHEMA_DIR.is_dir():  # the repository's neighbour, wherever it is checked out
    SCHEMA_DIR = Path(__file__).resolve().parents[4] / "shared" / "schemas" / "iso20022"

MESSAGES = {
    "052": ("BkToCstmrAcctRpt", "Rpt"),
    "053": ("BkToCstmrStmt", "Stmt"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
# The schema each version is checked against: itself where shared/ has it, else the nearest
# published version of the same shape (same status form, same TxDtls amounts). .001.03 of
# camt.052/054 is checked against .001.04, so the writer leaves out the net total there (the
# one element of TxsSummry whose form differs between them).
CHECKED_WITH = {
    "052": {2: 2, 3: 4, 4: 4, 5: 4, 6: 6, 7: 6, 8: 8, 9: 8, 10: 8},
    "053": {2: 2, 3: 3, 4: 4, 5: 4, 6: 4, 7: 4, 8: 8, 9: 8, 10: 8},
    "054": {2: 2, 3: 4, 4: 4, 5: 4, 6: 4, 7: 4, 8: 8, 9: 8, 10: 8},
}


def namespace(message: str, version: int) -> str:
    return f"urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version:02d}"


def schema_for(message: str, version: int) -> int:
    return CHECKED_WITH[message][version]


@cache
def _schema(message: str, version: int) -> etree.XMLSchema:
    path = SCHEMA_DIR / f"camt.{message}.001.{version:02d}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def validate(data: bytes, message: str, version: int) -> None:
    """Raise AssertionError naming the schema errors when ``data`` is not schema-valid."""
    checked = schema_for(message, version)
    if checked != version:
        data = data.replace(
            namespace(message, version).encode(), namespace(message, checked).encode())
    schema = _schema(message, checked)
    document = etree.fromstring(data)
    if not schema.validate(document):
        errors = "\n".join(str(e) for e in schema.error_log)
        raise AssertionError(f"camt.{message}.001.{version:02d} (schema .{checked:02d}):\n{errors}")


@dataclass
class Tx:
    amount: Decimal  # positive, in the entry currency
    name: str = ""
    account: str = ""  # IBAN
    end_to_end: str = ""
    creditor_ref: str = ""
    ustrd: tuple[str, ...] = ()
    return_code: str = ""
    acct_ref: str = ""
    charges: Decimal | None = None  # DBIT charges reported on this transaction


@dataclass
class Entry:
    amount: Decimal  # positive
    credit: bool
    status: str = "BOOK"
    reversal: bool = False
    booking: date | None = None
    value: date | None = None
    acct_ref: str = ""
    ntry_ref: str = ""
    code: tuple[str, str, str] = ("PMNT", "RCDT", "ESCT")
    txs: list[Tx] = field(default_factory=list)
    with_amounts: bool = True  # whether TxDtls carry their own amounts
    batch_count: int | None = None  # a Btch/NbOfTxs to write
    info: str = ""


@dataclass
class Stmt:
    id: str
    account: str
    currency: str
    iban: bool = True
    sequence: str = ""
    created: date = date(2026, 1, 2)
    opening: Decimal | None = None  # signed
    closing: Decimal | None = None  # signed; None: computed from opening and booked entries
    entries: list[Entry] = field(default_factory=list)
    summary: bool = True


def write(message: str, version: int, statements: list[Stmt], msg_id: str = "MSG-1") -> bytes:
    ns = namespace(message, version)
    group, stmt_name = MESSAGES[message]

    def el(parent, name, text=None, **attrs):
        child = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
        if text is not None:
            child.text = str(text)
        return child

    root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
    body = el(root, group)
    header = el(body, "GrpHdr")
    el(header, "MsgId", msg_id)
    el(header, "CreDtTm", "2026-01-02T06:00:00")
    for stmt in statements:
        s = el(body, stmt_name)
        el(s, "Id", stmt.id)
        if stmt.sequence:
            el(s, "ElctrncSeqNb", stmt.sequence)
        el(s, "CreDtTm", f"{stmt.created.isoformat()}T06:00:00")
        acct = el(s, "Acct")
        acct_id = el(acct, "Id")
        if stmt.iban:
            el(acct_id, "IBAN", stmt.account)
        else:
            el(el(acct_id, "Othr"), "Id", stmt.account)
        el(acct, "Ccy", stmt.currency)
        if message != "054" and stmt.opening is not None:
            closing = stmt.closing
            if closing is None:
                closing = stmt.opening + sum(
                    (e.amount if e.credit else -e.amount) for e in stmt.entries
                    if e.status == "BOOK")
            for code, value in (("OPBD", stmt.opening), ("CLBD", closing)):
                bal = el(s, "Bal")
                el(el(el(bal, "Tp"), "CdOrPrtry"), "Cd", code)
                el(bal, "Amt", f"{abs(value)}", Ccy=stmt.currency)
                el(bal, "CdtDbtInd", "CRDT" if value >= 0 else "DBIT")
                el(el(bal, "Dt"), "Dt", stmt.created.isoformat())
        if stmt.summary and stmt.entries:
            _summary(el, s, version, stmt.entries, net=not (version == 3 and message != "053"))
        for entry in stmt.entries:
            _entry(el, s, version, stmt.currency, entry)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _summary(el, s, version, entries, net: bool = True) -> None:
    credits = [e.amount for e in entries if e.credit]
    debits = [e.amount for e in entries if not e.credit]
    balance = sum(credits, Decimal(0)) - sum(debits, Decimal(0))
    summary = el(s, "TxsSummry")
    total = el(summary, "TtlNtries")
    el(total, "NbOfNtries", len(entries))
    el(total, "Sum", sum(credits, Decimal(0)) + sum(debits, Decimal(0)))
    if not net:
        pass
    elif version <= 3:
        el(total, "TtlNetNtryAmt", abs(balance))
        el(total, "CdtDbtInd", "CRDT" if balance >= 0 else "DBIT")
    else:
        net_el = el(total, "TtlNetNtry")
        el(net_el, "Amt", abs(balance))
        el(net_el, "CdtDbtInd", "CRDT" if balance >= 0 else "DBIT")
    for name, amounts in (("TtlCdtNtries", credits), ("TtlDbtNtries", debits)):
        part = el(summary, name)
        el(part, "NbOfNtries", len(amounts))
        el(part, "Sum", sum(amounts, Decimal(0)))


def _entry(el, s, version, currency, entry: Entry) -> None:
    indicator = "CRDT" if entry.credit else "DBIT"
    n = el(s, "Ntry")
    if entry.ntry_ref:
        el(n, "NtryRef", entry.ntry_ref)
    el(n, "Amt", entry.amount, Ccy=currency)
    el(n, "CdtDbtInd", indicator)
    if entry.reversal:
        el(n, "RvslInd", "true")
    if version >= 8:
        el(el(n, "Sts"), "Cd", entry.status)
    else:
        el(n, "Sts", entry.status)
    if entry.booking:
        el(el(n, "BookgDt"), "Dt", entry.booking.isoformat())
    if entry.value:
        el(el(n, "ValDt"), "Dt", entry.value.isoformat())
    if entry.acct_ref:
        el(n, "AcctSvcrRef", entry.acct_ref)
    code = el(el(n, "BkTxCd"), "Domn")
    el(code, "Cd", entry.code[0])
    family = el(code, "Fmly")
    el(family, "Cd", entry.code[1])
    el(family, "SubFmlyCd", entry.code[2])
    if entry.txs or entry.batch_count is not None:
        details = el(n, "NtryDtls")
        if entry.batch_count is not None:
            btch = el(details, "Btch")
            el(btch, "NbOfTxs", entry.batch_count)
        for tx in entry.txs:
            _tx(el, details, version, currency, indicator, entry, tx)
    if entry.info:
        el(n, "AddtlNtryInf", entry.info)


def _tx(el, details, version, currency, indicator, entry: Entry, tx: Tx) -> None:
    t = el(details, "TxDtls")
    if tx.acct_ref or tx.end_to_end:
        refs = el(t, "Refs")
        if tx.acct_ref:
            el(refs, "AcctSvcrRef", tx.acct_ref)
        if tx.end_to_end:
            el(refs, "EndToEndId", tx.end_to_end)
    if version >= 3 and (entry.with_amounts or version < 8):
        # .001.03 to .001.07 require TxDtls/Amt; a batch "without amounts" there gives them in
        # another currency than the account's.
        ccy = currency if entry.with_amounts else ("XTS" if currency != "XTS" else "XXX")
        el(t, "Amt", tx.amount, Ccy=ccy)
        el(t, "CdtDbtInd", indicator)
    elif version == 2 and entry.with_amounts:
        el(el(el(t, "AmtDtls"), "TxAmt"), "Amt", tx.amount, Ccy=currency)
    if tx.charges is not None:
        chrgs = el(t, "Chrgs")
        record = chrgs if version == 2 else el(chrgs, "Rcrd")
        el(record, "Amt", tx.charges, Ccy=currency)
        el(record, "CdtDbtInd", "DBIT")
    if tx.name or tx.account:
        parties = el(t, "RltdPties")
        role = "Dbtr" if entry.credit else "Cdtr"
        if tx.name:
            party = el(parties, role)
            el(el(party, "Pty") if version >= 8 else party, "Nm", tx.name)
        if tx.account:
            el(el(el(parties, role + "Acct"), "Id"), "IBAN", tx.account)
    if tx.ustrd or tx.creditor_ref:
        rmt = el(t, "RmtInf")
        for text in tx.ustrd:
            el(rmt, "Ustrd", text)
        if tx.creditor_ref:
            el(el(el(rmt, "Strd"), "CdtrRefInf"), "Ref", tx.creditor_ref)
    if tx.return_code:
        el(el(el(t, "RtrInf"), "Rsn"), "Cd", tx.return_code)
