"""ISO 20022 bank-to-customer cash management: camt.052 (account report), camt.053 (statement)
and camt.054 (debit/credit notification), versions .001.02 to .001.10.

The namespace of the ``Document`` says which message and version a file is
(``urn:iso:std:iso:20022:tech:xsd:camt.053.001.08``); any other namespace is refused by name.
The file is streamed with ``lxml.etree.iterparse`` one ``Ntry`` at a time (each entry is
cleared once read), through a hardened parser: no DTD loaded, no entity resolved, no network.
A file with a DOCTYPE is refused outright, so neither external entities (XXE) nor entity
expansion ("billion laughs") can reach the reader.

What the reader decides, and why:

- **Signs.** An entry's ``CdtDbtInd`` is the direction of that entry on the account: CRDT is
  money in (positive), DBIT money out (negative). ``RvslInd=true`` does not flip the sign: the
  standard's usage rule says that with ``RvslInd`` a CRDT entry reverses an original *debit* and a
  DBIT entry reverses an original *credit*. So a reversed customer payment arrives as DBIT +
  RvslInd and is money out, kind ``reversal``; a returned outgoing payment arrives as CRDT +
  RvslInd and is money in, kind ``reversal`` too (never a customer's ``credit``).
- **Kinds** (from the line's bank transaction code, else the entry's): ``fee`` when the family is
  CHRG or the sub-family is a charge/fee/commission code (CHRG, FEES, COMM, COME, COMI, COMT,
  CHAR, BKFE, OVCH, ...) -- note that card charges are CCRD/CHRG, a fee, not a chargeback; a fee
  with a positive amount is a refund of charges. ``chargeback``: money out on a card family
  (CCRD, MCRD) that is an unpaid card transaction (UPCT), a reversal or carries a return
  reason. ``reversal``: RvslInd, a return reason (``RtrInf/Rsn``), or a return/reversal
  sub-family (RRTN, RPCR, PRDD, RCDD, UPDD, ARET, AREV, CQRV, UPCQ, XPCQ, UDFT, UPCT).
  Otherwise ``credit`` for money in and ``debit`` for money out.
- **Status**: ``Sts`` is the code itself up to .001.07 and ``Sts/Cd`` from .001.08. BOOK is
  booked, PDNG pending, INFO information only; anything else (FUTR, a proprietary status) is
  refused by name.
- **bank_transaction_id** is the entry's ``AcctSvcrRef``; for the lines of a split batch, the
  ``TxDtls/Refs/AcctSvcrRef`` when each TxDtls of the entry has its own, distinct one. Where the
  file gives none, a stable key is built:
  ``camt:<statement Id>:<entry position in the statement>:<signed amount>:<booking date>``
  (batch lines add ``/<position of the TxDtls>``, fee lines ``/charges``), so two identical
  payments on the same day stay apart and reading the same file again gives the same keys (but a
  camt.052 entry without ``AcctSvcrRef`` that comes back in a camt.053 gets another key: only
  the bank's reference ties the two). Ids stay unique per account within a file: an id that comes
  again with the same amount, currency and day is the same movement reported twice and keeps it
  (one payment); an id the bank reused for another movement gets ``#2``, ``#3``...; either way
  a ``Warning``.
- **entry_ref** is the entry's ``AcctSvcrRef``, else its ``NtryRef``: a camt.054 that details a
  batch booked in a camt.053 repeats the servicer's reference of that entry, while ``NtryRef`` is
  often unique only within one message.
- **Batches**: when every TxDtls of an entry carries its own amount in the entry's currency
  (``TxDtls/Amt``, else ``AmtDtls/TxAmt/Amt``, else ``AmtDtls/CntrValAmt/Amt``), each becomes a
  line. Their sum is checked against the entry: a difference equal to the charges reported
  (``Chrgs`` of the entry or of its TxDtls) becomes a ``fee`` line; a difference nothing explains
  keeps the entry as one line of the booked amount and yields a ``Warning``. With more than one
  TxDtls the lines are ``batch=True``. A batch without per-transaction amounts stays one line.
  ``Btch/NbOfTxs`` must equal the number of TxDtls given (when any are), and ``Btch/TtlAmt`` must
  equal the entry amount or the sum of its TxDtls: otherwise the file is refused.
- **Control records**: ``TxsSummry`` (number of entries, sum, net amount, credit and debit
  counts and sums) must agree with the entries read (all entries, or the booked ones only);
  otherwise the file is refused. Balances (OPBD or PRCD, and CLBD) that do not add up with the
  booked entries yield a ``Warning``.
- **Amounts** are xs:decimal, never negative, with no more decimals than ISO 4217 allows for the
  currency (trailing zeros are harmless); currencies are three capital letters. An entry in
  another currency than the account's is kept in its own currency, with a ``Warning``.
- **Counterparty** (``payer_name``, ``payer_account``): the debtor (``RltdPties/Dbtr``,
  ``DbtrAcct``) of money in, the creditor (``Cdtr``, ``CdtrAcct``) of money out; the name is
  ``Nm`` up to .001.07 and ``Pty/Nm`` (or ``Agt/FinInstnId/Nm``) from .001.08, the account its
  IBAN or ``Othr/Id``. ``reference`` is ``Refs/EndToEndId`` unless NOTPROVIDED, else the
  creditor reference ``RmtInf/Strd/CdtrRefInf/Ref``.
- **Remittance** joins ``RmtInf/Ustrd``, the structured ``RfrdDocInf/Nb`` and ``AddtlRmtInf``,
  ``AddtlTxInf`` and ``AddtlNtryInf`` (repeats left out), with " / " between them.
- **Dates** are the calendar day as the bank wrote it (``Dt``, or the date part of ``DtTm`` in
  its own zone); the value date falls back to the booking date.
- Also refused: an ``Ntry`` outside a statement, an element an entry or TxDtls may have once
  given twice (which one would count?), digits of other scripts than ASCII.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import BinaryIO

from lxml import etree

from .base import Item, Kind, Line, Statement, StatementError, Status, Warning


def iban_valid(iban: str) -> bool:
    """The schema's IBAN pattern and the ISO 13616 check digits (mod 97 of the rearranged digits
    is 1): a damaged byte in the client's own account must not go unnoticed."""
    if not IBAN.match(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.(05[234])\.001\.([0-9]{2})$")
SNIFF = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[234]\.001\.[0-9]{2}")
VERSIONS = range(2, 11)
MESSAGES = {
    "052": ("BkToCstmrAcctRpt", "Rpt", "camt.052 account report"),
    "053": ("BkToCstmrStmt", "Stmt", "camt.053 statement"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn", "camt.054 debit/credit notification"),
}
STATUSES = {"BOOK": Status.BOOKED, "PDNG": Status.PENDING, "INFO": Status.INFO}

FEE_FAMILIES = {"CHRG"}
FEE_SUBFAMILIES = {
    "CHRG", "FEES", "COMM", "COME", "COMI", "COMT", "CHAR", "BKFE", "OVCH", "BROK", "MNFE",
    "TRFE", "FUCO", "UNCO", "ERWI",
}
CARD_FAMILIES = {"CCRD", "MCRD"}
RETURN_SUBFAMILIES = {
    "RRTN", "RPCR", "PRDD", "RCDD", "UPDD", "ARET", "AREV", "CQRV", "UPCQ", "XPCQ", "UDFT", "UPCT",
}

# ISO 4217 minor units where they are not 2 (precious metals and other units: none, so the
# schema's 5 decimals apply).
MINOR_UNITS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
    **dict.fromkeys("XAU XAG XPT XPD XDR XBA XBB XBC XBD XSU XUA XTS XXX".split(), 5),
}
CURRENCY = re.compile(r"^[A-Z]{3}$")
IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Za-z0-9]{1,30}$")  # IBAN2007Identifier
# ASCII digits only (Python's \d would take any script's digits).
DECIMAL = re.compile(r"^\+?(?=\.?[0-9])([0-9]*)(?:\.([0-9]*))?$")  # xs:decimal, never negative
SIGNED_DECIMAL = re.compile(r"^[+-]?(?=\.?[0-9])[0-9]*(?:\.[0-9]*)?$")
NUMBER = re.compile(r"^[0-9]{1,15}$")
ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})")
DATE_REST = re.compile(
    r"^(?:T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?$")
NOT_PROVIDED = "NOTPROVIDED"
# Children an entry / a TxDtls may have once, that the reader reads: given twice, refused.
ENTRY_SINGLE = (
    "NtryRef", "Amt", "CdtDbtInd", "RvslInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "BkTxCd",
    "AmtDtls", "AddtlNtryInf",
)
TX_SINGLE = (
    "Refs", "Amt", "CdtDbtInd", "AmtDtls", "BkTxCd", "RltdPties", "RmtInf", "RtrInf", "AddtlTxInf",
)


def sniff(head: bytes) -> bool:
    """Whether the first bytes name a camt.052, camt.053 or camt.054 namespace."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its byte order mark
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    return SNIFF.search(head) is not None


def read(stream: BinaryIO, **options) -> Iterator[Item]:
    """The statements, lines and warnings of a camt.052/053/054 file, in file order."""
    return _Reader(stream).items()


class _Reader:
    """One file: its namespace (message and version) once the Document starts, and the
    statements in turn."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.ns = ""  # "{urn:...camt.053.001.08}" once the Document has started
        self.message = ""
        self.version = 0
        self.msg_name = ""
        self.stmt_name = ""
        self.label = "document"
        self.stmt_tag = ""
        self.ntry_tag = "\0"  # no element has this tag until the namespace is known
        self.stmt_index = 0
        # per account, the line ids given so far (as _id_key) with their movement's fingerprint
        self.seen_ids: dict[str, dict[int, int]] = {}
        self.qp: _Paths = _Paths("")

    # -- the stream -------------------------------------------------------------------------

    def items(self) -> Iterator[Item]:
        etree.clear_error_log()
        events = etree.iterparse(
            self.stream,
            events=("start", "end"),
            tag=("{*}Document", "{*}Stmt", "{*}Rpt", "{*}Ntfctn", "{*}Ntry"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            remove_comments=True,
            remove_pis=True,
        )
        state = None
        try:
            for event, elem in events:
                tag = elem.tag
                if event == "start":
                    if not self.ns and etree.QName(tag).localname == "Document":
                        self._start_document(elem)
                    elif tag == self.stmt_tag and self._is_statement(elem):
                        self.stmt_index += 1
                        state = _StatementState(self, elem, self.stmt_index)
                    continue
                if tag == self.ntry_tag:
                    if state is None or elem.getparent() is not state.elem:
                        raise StatementError(
                            f"an entry outside a {self.stmt_name} cannot be accounted for",
                            f"line {elem.sourceline}")
                    yield from state.entry(elem)
                    elem.clear()
                    parent = state.elem
                    while elem.getprevious() is not None:
                        del parent[0]
                elif state is not None and elem is state.elem:
                    yield from state.finish()
                    state = None
                    elem.clear()
                    parent = elem.getparent()
                    while elem.getprevious() is not None:
                        del parent[0]
        except etree.XMLSyntaxError as error:
            raise _syntax_error(error) from None
        if not self.ns:
            raise StatementError("not an ISO 20022 document: no Document element", "line 1")
        if self.stmt_index == 0:
            raise StatementError(
                f"the {self.label} has no {self.stmt_name} element", f"/Document/{self.msg_name}"
            )

    def _start_document(self, elem) -> None:
        tree = elem.getroottree()
        docinfo = tree.docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise StatementError(
                "the file declares a DOCTYPE; bank statements never do, and it is refused so that "
                "no entity can be expanded or fetched", "line 1"
            )
        namespace = etree.QName(elem).namespace or ""
        match = NAMESPACE.match(namespace)
        if not match:
            raise StatementError(
                f"namespace {namespace or '(none)'!r} is not a camt.052, camt.053 or camt.054 "
                "message (urn:iso:std:iso:20022:tech:xsd:camt.05X.001.NN)",
                f"/Document (line {elem.sourceline})",
            )
        message, version = match.group(1), int(match.group(2))
        if version not in VERSIONS:
            raise StatementError(
                f"camt.{message}.001.{version:02d} is not read: versions .001.02 to .001.10 are",
                f"/Document (line {elem.sourceline})",
            )
        self.ns = "{" + namespace + "}"
        self.message, self.version = message, version
        self.msg_name, self.stmt_name, self.label = MESSAGES[message]
        self.stmt_tag = self.ns + self.stmt_name
        self.entry_single = frozenset(self.ns + name for name in ENTRY_SINGLE)
        self.tx_single = frozenset(self.ns + name for name in TX_SINGLE)
        self.qp = _Paths(self.ns)
        self.ntry_tag = self.ns + "Ntry"
        self.t = _Tags(self.ns)
        self.entry_tags = tuple(self.ns + name for name in _ENTRY_SLOTS)
        self.tx_tags = tuple(self.ns + name for name in _TX_SLOTS)

    def _is_statement(self, elem) -> bool:
        parent = elem.getparent()
        return parent is not None and parent.tag == self.ns + self.msg_name and (
            parent.getparent() is not None and parent.getparent().tag == self.ns + "Document"
        )


# The children the quick path reads, in the order it takes them (see quick_entry).
_ENTRY_SLOTS = (
    "Amt", "CdtDbtInd", "RvslInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "NtryRef", "BkTxCd",
    "AddtlNtryInf", "NtryDtls", "AmtDtls",
)
_TX_SLOTS = TX_SINGLE  # Refs, Amt, CdtDbtInd, AmtDtls, BkTxCd, RltdPties, RmtInf, RtrInf, AddtlTxInf


class _Tags:
    """The namespace-qualified tags the quick path compares, made once per file."""

    def __init__(self, ns: str):
        for name in (
            "Cd", "Dt", "DtTm", "Domn", "Fmly", "SubFmlyCd", "Prtry", "Btch", "NbOfTxs", "TxDtls",
            "Dbtr", "Cdtr", "DbtrAcct", "CdtrAcct", "Nm", "Pty", "Agt", "Id", "IBAN", "Othr",
            "EndToEndId", "AcctSvcrRef", "Ustrd", "Strd", "Chrgs", "RfrdDocInf", "AddtlRmtInf", "AmtDtls",
        ):
            setattr(self, name, ns + name)
        # paths, as tuples of tags
        self.name = (ns + "Nm",)
        self.fin_name = (ns + "FinInstnId", ns + "Nm")
        self.id = (ns + "Id",)
        self.creditor_ref = (ns + "CdtrRefInf", ns + "Ref")
        self.nb = (ns + "Nb",)
        self.reason_code = (ns + "Rsn", ns + "Cd")
        self.reason_prtry = (ns + "Rsn", ns + "Prtry")
        self.acct_ref = (ns + "AcctSvcrRef",)


class _Paths(dict):
    """Qualified steps of a path, made once: "Acct/Id" -> ("{ns}Acct", "{ns}Id").

    Walking children with ``iterchildren(tag)`` is several times faster than lxml's ``find``
    (which goes through ElementPath), and the reader does it a dozen times per entry."""

    def __init__(self, ns: str):
        super().__init__()
        self.ns = ns

    def __missing__(self, path: str) -> tuple[str, ...]:
        qualified = tuple(self.ns + part for part in path.split("/"))
        self[path] = qualified
        return qualified


def _syntax_error(error: etree.XMLSyntaxError) -> StatementError:
    log = list(error.error_log)
    entries = [e for e in log if e.level == etree.ErrorLevels.FATAL] or [
        e for e in log if e.level == etree.ErrorLevels.ERROR]
    if entries:
        first = entries[0]
        return StatementError(
            f"not well-formed XML: {first.message.strip()}",
            f"line {first.line}, column {first.column}",
        )
    line, column = error.position
    return StatementError(f"not well-formed XML: {error.msg}", f"line {line}, column {column}")


class _StatementState:
    """One Stmt / Rpt / Ntfctn being read: its header, its running totals."""

    def __init__(self, reader: _Reader, elem, index: int):
        self.r = reader
        self.ns = reader.ns
        self.elem = elem
        self.path = f"/Document/{reader.msg_name}/{reader.stmt_name}[{index}]"
        self.statement: Statement | None = None
        self.entries = 0
        # per CdtDbtInd: [count, sum] for all entries and for booked entries only
        self.totals = {"CRDT": [0, Decimal(0)], "DBIT": [0, Decimal(0)]}
        self.booked_totals = {"CRDT": [0, Decimal(0)], "DBIT": [0, Decimal(0)]}
        self.booked_sum = Decimal(0)
        self.qp = reader.qp

    # -- helpers --------------------------------------------------------------------------

    def find(self, elem, path: str):
        """The first element at ``path`` (child names separated by "/") under ``elem``."""
        for tag in self.qp[path]:
            elem = next(elem.iterchildren(tag), None)
            if elem is None:
                return None
        return elem

    def where(self, elem, base_elem=None, base_path: str | None = None) -> str:
        base_elem = self.elem if base_elem is None else base_elem
        base_path = self.path if base_path is None else base_path
        parts = []
        node = elem
        while node is not None and node is not base_elem:
            parent = node.getparent()
            name = etree.QName(node).localname
            if parent is not None:
                same = [c for c in parent if c.tag == node.tag]
                if len(same) > 1:
                    name += f"[{same.index(node) + 1}]"
            parts.append(name)
            node = parent
        path = base_path + "".join("/" + p for p in reversed(parts))
        line = getattr(elem, "sourceline", None)
        return f"{path} (line {line})" if line else path

    def text(self, elem, path: str, required: bool = False) -> str:
        found = self.find(elem, path)
        if found is None:
            if required:
                raise StatementError(f"{path} is missing", self.where(elem))
            return ""
        return (found.text or "").strip()

    def amount(self, elem, where_fn) -> tuple[Decimal, str]:
        """An ActiveOrHistoricCurrencyAndAmount element: (amount, currency)."""
        raw = (elem.text or "").strip()
        currency = elem.get("Ccy", "")
        if not CURRENCY.match(currency):
            raise StatementError(
                f"currency {currency!r} is not an ISO 4217 code (three capital letters)",
                where_fn(elem),
            )
        match = DECIMAL.match(raw)
        if match is None:
            raise StatementError(f"amount {raw!r} is not a decimal number", where_fn(elem))
        integer = match.group(1).lstrip("0")
        fraction = (match.group(2) or "").rstrip("0")
        allowed = MINOR_UNITS.get(currency, 2)
        if len(fraction) > allowed:
            raise StatementError(
                f"amount {raw} {currency} has {len(fraction)} decimals; {currency} allows "
                f"{allowed}", where_fn(elem))
        if len(integer) + len(fraction) > 18:
            raise StatementError(f"amount {raw} has more than 18 digits", where_fn(elem))
        return Decimal(raw), currency

    def sign(self, elem, path: str, where_fn, default: str | None = None) -> str:
        code = self.text(elem, path)
        if not code:
            if default is not None:
                return default
            raise StatementError(f"{path} is missing", where_fn(elem))
        if code not in ("CRDT", "DBIT"):
            raise StatementError(f"{path} {code!r} is neither CRDT nor DBIT", where_fn(elem))
        return code

    def date_of(self, elem, path: str, where_fn) -> date | None:
        """A DateAndDateTimeChoice (Dt or DtTm), a ISODateTime or a ISODate: its calendar day."""
        found = self.find(elem, path)
        if found is None:
            return None
        if len(found):
            inner = self.find(found, "Dt")
            if inner is None:
                inner = self.find(found, "DtTm")
            if inner is None:
                raise StatementError(f"{path} has neither Dt nor DtTm", where_fn(found))
            found = inner
        return _parse_date((found.text or "").strip(), lambda: where_fn(found))

    # -- header -----------------------------------------------------------------------------

    def header(self, first_entry_currency: str = "") -> Statement:
        ns = self.ns
        stmt = self.elem
        where = self.where
        statement_id = self.text(stmt, "Id", required=True)
        acct = self.find(stmt, "Acct")
        if acct is None:
            raise StatementError("Acct is missing", where(stmt))
        iban = self.text(acct, "Id/IBAN")
        self.account_warning = None
        if iban and not IBAN.match(iban):
            raise StatementError(f"Acct/Id/IBAN {iban!r} is not an IBAN (two letters, two digits, up to 30 letters or digits)", where(acct))
        if iban and not iban_valid(iban):
            # Test files carry made-up IBANs; a bank's own never fails its check digits.
            self.account_warning = Warning(
                f"the account's IBAN {iban} fails its check digits (ISO 13616): is this the right account?", where(acct))
        account = iban or self.text(acct, "Id/Othr/Id")
        if not account:
            raise StatementError("the account has neither Id/IBAN nor Id/Othr/Id", where(acct))
        currency = self.text(acct, "Ccy")
        if currency and not CURRENCY.match(currency):
            raise StatementError(f"Acct/Ccy {currency!r} is not an ISO 4217 code", where(acct))
        balances: dict[str, tuple[Decimal, str]] = {}  # the first of each type
        for bal in stmt.iterchildren(ns + "Bal"):
            code = self.text(bal, "Tp/CdOrPrtry/Cd")
            amt = self.find(bal, "Amt")
            if amt is None:
                raise StatementError("Bal/Amt is missing", where(bal))
            value, ccy = self.amount(amt, where)
            if value and self.sign(bal, "CdtDbtInd", where) == "DBIT":
                value = -value
            balances.setdefault(code, (value, ccy))
        if not currency and balances:
            currency = next(iter(balances.values()))[1]
        currency = currency or first_entry_currency
        if not currency:
            raise StatementError(
                "the account's currency is given nowhere (Acct/Ccy, balances or entries)",
                where(stmt),
            )
        created = self.date_of(stmt, "CreDtTm", where)
        period_start = self.date_of(stmt, "FrToDt/FrDtTm", where) or self.date_of(
            stmt, "FrToDt/FrDt", where)
        period_end = self.date_of(stmt, "FrToDt/ToDtTm", where) or self.date_of(
            stmt, "FrToDt/ToDt", where)
        summary = self.find(stmt, "TxsSummry")
        self.summary = self._read_summary(summary) if summary is not None else None
        opening = balances.get("OPBD") or balances.get("PRCD")
        closing = balances.get("CLBD")
        self.opening = opening[0] if opening and opening[1] == currency else None
        self.closing = closing[0] if closing and closing[1] == currency else None
        return Statement(
            account=account,
            currency=currency,
            statement_id=statement_id,
            sequence=self.text(stmt, "ElctrncSeqNb") or self.text(stmt, "LglSeqNb"),
            created=created,
            period_start=period_start,
            period_end=period_end,
            opening_balance=self.opening,
            closing_balance=self.closing,
            where=f"{self.path} (line {stmt.sourceline})",
        )

    def _read_summary(self, summary) -> dict:
        """TxsSummry's controls as {name: (value, where)}."""
        where = self.where
        controls: dict[str, tuple] = {}

        def number(elem, path):
            raw = self.text(elem, path)
            if not raw:
                return None
            if not NUMBER.match(raw):
                raise StatementError(f"{path} {raw!r} is not a number", where(elem))
            return int(raw)

        def decimal(elem, path):
            raw = self.text(elem, path)
            if not raw:
                return None
            if not SIGNED_DECIMAL.match(raw):
                raise StatementError(f"{path} {raw!r} is not a decimal number", where(elem))
            return Decimal(raw)

        total = self.find(summary, "TtlNtries")
        if total is not None:
            controls["count"] = (number(total, "NbOfNtries"), where(total))
            controls["sum"] = (decimal(total, "Sum"), where(total))
            net = self.find(total, "TtlNetNtry")
            if net is not None:
                value = decimal(net, "Amt")
                indicator = self.sign(net, "CdtDbtInd", where)
            else:
                value = decimal(total, "TtlNetNtryAmt")
                indicator = self.sign(total, "CdtDbtInd", where, default="CRDT")
            if value is not None:
                controls["net"] = (value if indicator == "CRDT" else -value, where(total))
        for name, key in (("TtlCdtNtries", "CRDT"), ("TtlDbtNtries", "DBIT")):
            part = self.find(summary, name)
            if part is not None:
                controls[key + "count"] = (number(part, "NbOfNtries"), where(part))
                controls[key + "sum"] = (decimal(part, "Sum"), where(part))
        return {k: v for k, v in controls.items() if v[0] is not None}

    # -- entries ----------------------------------------------------------------------------

    def kids(self, elem, single: frozenset, where) -> dict:
        """The children of ``elem`` by tag; a child the schema allows once, given twice, is
        refused (which of the two would count?)."""
        kids = {child.tag: child for child in elem}
        if len(kids) != len(elem):
            counts = Counter(child.tag for child in elem)
            for tag, count in counts.items():
                if count > 1 and tag in single:
                    raise StatementError(
                        f"{etree.QName(tag).localname} is given {count} times; the schema allows "
                        "it once", where(elem))
        return kids

    def count(self, indicator: str, value: Decimal, signed: Decimal, status: Status,
              own_currency: bool) -> None:
        """Add an entry to the totals TxsSummry and the balances are checked against."""
        totals = self.totals[indicator]
        totals[0] += 1
        totals[1] += value
        if status is Status.BOOKED:
            booked = self.booked_totals[indicator]
            booked[0] += 1
            booked[1] += value
            if own_currency:
                self.booked_sum += signed

    # -- entries: the quick path ------------------------------------------------------------

    def entry(self, ntry) -> Iterator[Item] | list[Item]:
        """The items of one entry: read in one pass when it is an ordinary one, else (and
        always for the statement's first entry, an entry that warns or is wrong) by
        ``full_entry``, which says what is wrong and where."""
        if self.statement is not None:
            quick = self.quick_entry(ntry)
            if quick is not None:
                return quick
        return self.full_entry(ntry)

    def quick_entry(self, ntry) -> list[Item] | None:
        """The lines of an ordinary entry, read with one pass over its children and no lookup
        by path; or None, having changed nothing, for anything else: a missing, repeated or
        malformed element, a date-time, an entry in another currency, several NtryDtls, a
        Btch total, AmtDtls, details that do not add up to the entry (charges), ids already
        used. ``full_entry`` then reads the entry and gives the same lines, warnings or error:
        the tests compare the two on every file they write."""
        r = self.r
        t = r.t
        children = list(ntry)
        kids = dict(zip([child.tag for child in children], children, strict=True))
        if len(kids) != len(children):  # a repeated element: refused, or read, there
            return None
        (amt, indicator_elem, reversal_elem, sts, booking_elem, value_elem, acct_ref_elem,
         ntry_ref_elem, code_elem, info_elem, group, amt_details) = map(kids.get, r.entry_tags)
        if amt is None or indicator_elem is None or sts is None or amt_details is not None:
            return None
        statement = self.statement
        currency = statement.currency
        value = _quick_amount(amt, currency)
        if value is None:
            return None
        indicator = (indicator_elem.text or "").strip()
        if indicator == "CRDT":
            signed = value
        elif indicator == "DBIT":
            signed = -value if value else value
        else:
            return None
        reversal = False
        if reversal_elem is not None:
            raw = (reversal_elem.text or "").strip()
            if raw in ("true", "1"):
                reversal = True
            elif raw not in ("false", "0"):
                return None
        if r.version >= 8:
            code = None
            for child in sts:
                if child.tag == t.Cd:
                    code = (child.text or "").strip()
                    break
        elif len(sts):
            return None
        else:
            code = (sts.text or "").strip()
        status = STATUSES.get(code)
        if status is None:
            return None
        booking = value_date = None
        if booking_elem is not None:
            booking = _quick_date(booking_elem, t)
            if booking is None:
                return None
        if value_elem is not None:
            value_date = _quick_date(value_elem, t)
            if value_date is None:
                return None
        day = booking or value_date
        if day is None:
            return None
        value_date = value_date or booking

        index = self.entries + 1
        base_path = f"{self.path}/Ntry[{index}]"
        entry_where = f"{base_path} (line {ntry.sourceline})"
        acct_ref = _text(acct_ref_elem)
        entry_ref = acct_ref or _text(ntry_ref_elem)
        entry_id = acct_ref or _stable_key(statement, index, signed, day)
        entry_code = self._bank_code(code_elem)
        entry_info = _text(info_elem)
        account = statement.account
        statement_id = statement.statement_id

        details = []  # the slots of each TxDtls, with the element
        btch = None
        if group is not None:
            tx_tags = r.tx_tags
            TxDtls = t.TxDtls
            for tx in group:
                tag = tx.tag
                if tag == TxDtls:
                    children = list(tx)
                    kids = dict(zip([child.tag for child in children], children, strict=True))
                    if len(kids) != len(children) or t.AmtDtls in kids:
                        return None
                    details.append((*map(kids.get, tx_tags), tx))
                elif tag == t.Btch:
                    if btch is not None:
                        return None
                    btch = tx
            if btch is not None:
                if not details or len(btch) != 1 or btch[0].tag != t.NbOfTxs:
                    return None
                count = (btch[0].text or "").strip()
                if not NUMBER.match(count) or int(count) != len(details):
                    return None

        own = []
        for kids in details:
            tx_amt = kids[1]
            if tx_amt is None:
                own = None
                break
            tx_value = _quick_amount(tx_amt, currency)
            if tx_value is None:
                return None
            sign_elem = kids[2]
            tx_sign = indicator if sign_elem is None else (sign_elem.text or "").strip()
            if tx_sign == "CRDT":
                own.append(tx_value)
            elif tx_sign == "DBIT":
                own.append(-tx_value)
            else:
                return None
        if own is None:
            if len(details) != 1:  # a batch without its own amounts in the entry's currency
                return None
            # One TxDtls without an amount of its own: the entry's, as full_entry reads it.
            own = [signed]
        notes = ()
        lines = []
        if details:
            difference = signed - sum(own, Decimal(0))
            if difference:
                try:
                    charges = self._charges(
                        ntry, [(kids[9], None, None) for kids in details], currency, _nowhere)
                except StatementError:
                    return None
                if difference not in charges:
                    return None  # a difference to warn about
            batch = len(details) > 1
            if batch:
                tx_refs = [_path_text(kids[0], t.acct_ref) if kids[0] is not None else ""
                           for kids in details]
                distinct = all(tx_refs) and len(set(tx_refs)) == len(tx_refs)
                for position, kids in enumerate(details, 1):
                    line_id = tx_refs[position - 1] if distinct else f"{entry_id}/{position}"
                    where = (f"{base_path}/NtryDtls/TxDtls[{position}] "
                             f"(line {kids[9].sourceline})")
                    line = self.quick_line(
                        kids, own[position - 1], line_id, True, reversal, entry_code,
                        entry_info, account, statement_id, value_date, currency, status,
                        booking, entry_ref, notes, where)
                    lines.append(line)
            else:
                line = self.quick_line(
                    details[0], own[0], entry_id, False, reversal, entry_code, entry_info,
                    account, statement_id, value_date, currency, status, booking, entry_ref,
                    notes, entry_where)
                lines.append(line)
            if difference:
                lines.append(Line(
                    account, statement_id, value_date, difference, currency,
                    f"{entry_id}/charges", Kind.FEE, status, booking,
                    remittance=f"charges deducted from the entry ({currency} {-difference})"
                    if difference < 0 else f"charges credited with the entry ({currency} "
                    f"{difference})",
                    bank_code=entry_code[0], entry_ref=entry_ref, batch=batch, notes=notes,
                    where=entry_where))
        else:
            line = self.quick_line(
                None, signed, entry_id, False, reversal, entry_code, entry_info, account,
                statement_id, value_date, currency, status, booking, entry_ref, notes,
                entry_where)
            lines.append(line)

        seen = r.seen_ids.setdefault(account, {})
        keys = []
        for line in lines:
            key = _id_key(line.bank_transaction_id)
            if key in seen or key in keys:
                return None
            keys.append(key)

        # Nothing refused the entry: count it.
        self.entries = index
        self.count(indicator, value, signed, status, True)
        for key, line in zip(keys, lines, strict=True):
            seen[key] = hash((line.amount, currency, day))
        return lines

    def quick_line(self, kids, amount, line_id, batch, reversal, entry_code, entry_info, account,
                   statement_id, value_date, currency, status, booking, entry_ref, notes,
                   where) -> Line | None:
        """``_line`` for the quick path, from a TxDtls's slots (or None): None when something
        is unusual."""
        code, family, sub = entry_code
        payer_name = payer_account = reference = return_code = ""
        parts = []
        if kids is not None:
            refs, _, _, _, tx_code_elem, parties, rmt, returned, additional, _ = kids
            t = self.r.t
            if tx_code_elem is not None:
                tx_code = self._bank_code(tx_code_elem)
                if tx_code[0]:
                    code, family, sub = tx_code
            if parties is not None:
                if amount > 0 or (amount == 0 and not reversal):
                    role, role_acct = t.Dbtr, t.DbtrAcct
                else:
                    role, role_acct = t.Cdtr, t.CdtrAcct
                party = acct = None
                for child in parties:
                    tag = child.tag
                    if tag == role and party is None:
                        party = child
                    elif tag == role_acct and acct is None:
                        acct = child
                if party is not None:
                    # Nm, else Pty/Nm, else Agt/FinInstnId/Nm (the first of each)
                    name, pty, agt = _firsts(party, t.Nm, t.Pty, t.Agt)
                    payer_name = _text(name)
                    if not payer_name and pty is not None:
                        payer_name = _path_text(pty, t.name)
                    if not payer_name and agt is not None:
                        payer_name = _path_text(agt, t.fin_name)
                if acct is not None:
                    # Id/IBAN, else Id/Othr/Id (the first of each)
                    for child in acct:
                        if child.tag == t.Id:
                            iban, other, _ = _firsts(child, t.IBAN, t.Othr, None)
                            payer_account = _text(iban)
                            if not payer_account and other is not None:
                                payer_account = _path_text(other, t.id)
                            break
            if refs is not None:
                for child in refs:
                    if child.tag == t.EndToEndId:
                        end_to_end = (child.text or "").strip()
                        if end_to_end and end_to_end.upper() != NOT_PROVIDED:
                            reference = end_to_end
                        break
            if rmt is not None:
                ustrd = []
                strds = []
                for child in rmt:
                    tag = child.tag
                    if tag == t.Ustrd:
                        text = (child.text or "").strip()
                        if text:
                            ustrd.append(text)
                    elif tag == t.Strd:
                        strds.append(child)
                if ustrd:
                    parts.append(" ".join(ustrd))
                for strd in strds:
                    if not reference:
                        reference = _path_text(strd, t.creditor_ref)
                    extras = []
                    for child in strd:
                        tag = child.tag
                        if tag == t.RfrdDocInf:
                            number = _path_text(child, t.nb)
                            if number:
                                parts.append(number)
                        elif tag == t.AddtlRmtInf:
                            text = (child.text or "").strip()
                            if text:
                                extras.append(text)
                    parts += extras
            if returned is not None:
                return_code = (_path_text(returned, t.reason_code)
                               or _path_text(returned, t.reason_prtry))
            if additional is not None:
                text = (additional.text or "").strip()
                if text:
                    parts.append(text)
        if entry_info:
            parts.append(entry_info)
        if len(parts) == 1:
            remittance = parts[0]
        elif len(parts) == 2:
            remittance = parts[0] if parts[0] == parts[1] else f"{parts[0]} / {parts[1]}"
        else:
            remittance = " / ".join(dict.fromkeys(parts))
        return Line(
            account, statement_id, value_date, amount, currency, line_id,
            _kind(amount, family, sub, reversal, bool(return_code)), status, booking,
            payer_name, payer_account, reference, remittance, return_code, code, entry_ref,
            batch, notes, where)

    # -- entries: the full reading ------------------------------------------------------------

    def full_entry(self, ntry) -> Iterator[Item]:
        ns = self.ns
        self.entries += 1
        index = self.entries
        base_path = f"{self.path}/Ntry[{index}]"

        def where(elem):
            return self.where(elem, ntry, base_path)

        kids = self.kids(ntry, self.r.entry_single, where)
        amt = kids.get(ns + "Amt")
        if amt is None:
            raise StatementError("Amt is missing", where(ntry))
        value, currency = self.amount(amt, where)
        indicator = _indicator(kids.get(ns + "CdtDbtInd"), "CdtDbtInd", ntry, where)
        signed = -value if indicator == "DBIT" and value else value
        reversal_elem = kids.get(ns + "RvslInd")
        reversal = False
        if reversal_elem is not None:
            raw = (reversal_elem.text or "").strip()
            if raw not in ("true", "false", "1", "0"):
                raise StatementError(f"RvslInd {raw!r} is not a boolean", where(reversal_elem))
            reversal = raw in ("true", "1")
        status = self._status(kids.get(ns + "Sts"), ntry, where)

        if self.statement is None:
            self.statement = self.header(first_entry_currency=currency)
            yield self.statement
            if self.account_warning:
                yield self.account_warning
        statement = self.statement

        self.count(indicator, value, signed, status, currency == statement.currency)
        if currency != statement.currency:
            yield Warning(
                f"entry in {currency} on an account in {statement.currency}", where(amt))

        booking = self.date_choice(kids.get(ns + "BookgDt"), where)
        value_date = self.date_choice(kids.get(ns + "ValDt"), where) or booking
        notes: tuple[str, ...] = ()
        if value_date is None:
            if status is Status.BOOKED:
                raise StatementError("a booked entry needs BookgDt or ValDt", where(ntry))
            value_date = statement.created or statement.period_end or statement.period_start
            if value_date is None:
                raise StatementError("the entry has no date (BookgDt, ValDt)", where(ntry))
            notes = ("no date on the entry: the statement's date is shown",)

        acct_ref = _text(kids.get(ns + "AcctSvcrRef"))
        entry_ref = acct_ref or _text(kids.get(ns + "NtryRef"))
        entry_id = acct_ref or _stable_key(statement, index, signed, booking or value_date)

        entry_code = self._bank_code(kids.get(ns + "BkTxCd"))
        entry_info = _text(kids.get(ns + "AddtlNtryInf"))
        common = dict(
            account=statement.account,
            statement_id=statement.statement_id,
            value_date=value_date,
            currency=currency,
            status=status,
            booking_date=booking,
            entry_ref=entry_ref,
            notes=notes,
        )

        entry_where = f"{base_path} (line {ntry.sourceline})"
        groups = list(ntry.iterchildren(ns + "NtryDtls")) if ns + "NtryDtls" in kids else []
        details = []  # (TxDtls, its children, (its NtryDtls index, its index, how many))
        for g, group in enumerate(groups, 1):
            txs = list(group.iterchildren(ns + "TxDtls"))
            for k, tx in enumerate(txs, 1):
                details.append((tx, self.kids(tx, self.r.tx_single, where), (g, k, len(txs))))
            self._check_batch(group, details[len(details) - len(txs):], value, currency,
                              indicator, where)

        own = [self._own_amount(tx_kids, currency, indicator, where) for _, tx_kids, _ in details]
        lines: list[Line] = []
        if details and None not in own:
            tx_sum = sum(own, Decimal(0))
            difference = signed - tx_sum
            explained = difference == 0 or difference in self._charges(
                ntry, details, currency, where)
            if explained:
                batch = len(details) > 1
                tx_refs = [self.text(tx_kids.get(ns + "Refs"), "AcctSvcrRef")
                           if ns + "Refs" in tx_kids else "" for _, tx_kids, _ in details]
                distinct = all(tx_refs) and len(set(tx_refs)) == len(tx_refs)
                for position, ((tx, tx_kids, place), tx_amount) in enumerate(
                        zip(details, own, strict=True), 1):
                    if not batch:
                        line_id = entry_id
                    elif distinct:
                        line_id = tx_refs[position - 1]
                    else:
                        line_id = f"{entry_id}/{position}"
                    lines.append(self._line(
                        tx_kids, tx_amount, line_id, batch, reversal, entry_code, entry_info,
                        common, _tx_where(base_path, tx, place, len(groups)) if batch
                        else entry_where))
                if difference:
                    lines.append(Line(
                        **common,
                        amount=difference,
                        bank_transaction_id=f"{entry_id}/charges",
                        kind=Kind.FEE,
                        bank_code=entry_code[0],
                        remittance=f"charges deducted from the entry ({currency} {-difference})"
                        if difference < 0 else f"charges credited with the entry ({currency} "
                        f"{difference})",
                        batch=batch,
                        where=entry_where,
                    ))
            else:
                yield Warning(
                    f"the entry books {currency} {signed} but its {len(details)} transaction "
                    f"detail(s) add up to {tx_sum}; the difference {difference} is not the "
                    "charges reported, so the entry is kept as one line of the booked amount",
                    where(ntry),
                )
        if not lines:
            source = details[0][1] if len(details) == 1 else None
            extra = ()
            if len(details) > 1 or (not details and any(
                    self.find(g, "Btch") is not None for g in groups)):
                count = len(details) or self._batch_count(groups)
                extra = (f"batch of {count} transactions booked as one amount",)
            lines.append(self._line(
                source, signed, entry_id, False, reversal, entry_code, entry_info,
                {**common, "notes": common["notes"] + extra}, entry_where))
        yield from self._claim_ids(lines, booking or value_date, where(ntry))
        yield from lines

    def _claim_ids(self, lines: list[Line], day: date, where: str) -> Iterator[Warning]:
        """Keep each line's id unique for its account within the file. An id seen before for
        the same amount, currency and day is the same movement reported twice (a camt.052 that
        repeats an entry): it keeps its id, so the import counts it once. An id the bank used
        for another movement is suffixed ``#2``, ``#3``... so that no payment is lost.

        Ids are remembered as 128-bit hashes, so a million lines cost about 120 MB."""
        seen = self.r.seen_ids.setdefault(lines[0].account, {})
        for position, line in enumerate(lines):
            line_id = line.bank_transaction_id
            fingerprint = hash((line.amount, line.currency, day))
            key = _id_key(line_id)
            earlier = seen.get(key)
            if earlier is None:
                seen[key] = fingerprint
            elif earlier == fingerprint:
                yield Warning(
                    f"{line_id!r} of account {line.account} is reported twice in this file with "
                    "the same amount and day: one movement, one id", where)
            else:
                n = 2
                while _id_key(f"{line_id}#{n}") in seen:
                    n += 1
                new_id = f"{line_id}#{n}"
                seen[_id_key(new_id)] = fingerprint
                lines[position] = replace(line, bank_transaction_id=new_id)
                yield Warning(
                    f"{line_id!r} was already used for another movement of account "
                    f"{line.account} in this file; this one is kept under {new_id!r}", where)

    def date_choice(self, elem, where) -> date | None:
        """A DateAndDateTimeChoice element (Dt or DtTm): its calendar day."""
        if elem is None:
            return None
        inner = next(elem.iterchildren(), None)
        if inner is None or inner.tag not in (self.ns + "Dt", self.ns + "DtTm"):
            raise StatementError(
                f"{etree.QName(elem).localname} has neither Dt nor DtTm", where(elem))
        return _parse_date((inner.text or "").strip(), lambda: where(inner))

    def _status(self, sts, ntry, where) -> Status:
        if sts is None:
            raise StatementError("Sts is missing", where(ntry))
        if self.r.version >= 8:
            code_elem = next(sts.iterchildren(self.ns + "Cd"), None)
            if code_elem is None:
                prtry = self.text(sts, "Prtry")
                raise StatementError(
                    f"entry status {prtry!r} is proprietary; only BOOK, PDNG and INFO are read"
                    if prtry else f"Sts/Cd is missing (camt.{self.r.message}.001."
                    f"{self.r.version:02d} gives the status as Sts/Cd)",
                    where(sts),
                )
            code = (code_elem.text or "").strip()
        else:
            if len(sts):
                raise StatementError(
                    f"Sts must be the code itself in camt.{self.r.message}.001."
                    f"{self.r.version:02d} (Sts/Cd came with .001.08)", where(sts))
            code = (sts.text or "").strip()
        status = STATUSES.get(code)
        if status is None:
            raise StatementError(
                f"entry status {code!r} is not read: only BOOK (booked), PDNG (pending) and INFO "
                "(information) are", where(sts))
        return status

    def _bank_code(self, code) -> tuple[str, str, str]:
        """(code as written, family, sub-family) of a BkTxCd element."""
        if code is None:
            return "", "", ""
        t = self.r.t
        domain = None
        for child in code:
            if child.tag == t.Domn:
                domain = child
                break
        if domain is not None:
            # the last Cd and Fmly of the domain, the last Cd and SubFmlyCd of the family
            domain_code, family_elem = _last_two(domain, t.Cd, t.Fmly)
            family = sub = ""
            if family_elem is not None:
                family_code, sub_code = _last_two(family_elem, t.Cd, t.SubFmlyCd)
                family = _text(family_code)
                sub = _text(sub_code)
            written = "/".join(p for p in (_text(domain_code), family, sub) if p)
            return written, family, sub
        return self.text(code, "Prtry/Cd"), "", ""

    def _check_batch(self, group, details, value, currency, indicator, where) -> None:
        btch = next(group.iterchildren(self.ns + "Btch"), None)
        if btch is None:
            return
        count = self.text(btch, "NbOfTxs")
        if count:
            if not NUMBER.match(count):
                raise StatementError(f"Btch/NbOfTxs {count!r} is not a number", where(btch))
            if details and int(count) != len(details):
                raise StatementError(
                    f"Btch/NbOfTxs says {int(count)} transactions but {len(details)} TxDtls are "
                    "given", where(btch))
        total = self.find(btch, "TtlAmt")
        if total is not None:
            amount, ccy = self.amount(total, where)
            batch_sign = self.sign(btch, "CdtDbtInd", where, default=indicator)
            signed_total = amount if batch_sign == "CRDT" else -amount
            signed_entry = value if indicator == "CRDT" else -value
            if ccy == currency and signed_total != signed_entry:
                own = [self._own_amount(k, currency, indicator, where) for _, k, _ in details]
                if not details or None in own or sum(own, Decimal(0)) != signed_total:
                    raise StatementError(
                        f"Btch/TtlAmt {ccy} {signed_total} is neither the entry amount "
                        f"{signed_entry} nor the sum of its transactions", where(total))

    def _batch_count(self, groups) -> int:
        total = 0
        for group in groups:
            count = self.text(group, "Btch/NbOfTxs")
            total += int(count) if NUMBER.match(count) else 0
        return total

    def _own_amount(self, tx_kids, currency, indicator, where) -> Decimal | None:
        """The signed amount of a TxDtls in the entry's currency, or None when it has none:
        TxDtls/Amt, else AmtDtls/TxAmt/Amt, else AmtDtls/CntrValAmt/Amt."""
        ns = self.ns
        candidates = [tx_kids.get(ns + "Amt")]
        details = tx_kids.get(ns + "AmtDtls")
        if details is not None:
            candidates += [self.find(details, "TxAmt/Amt"), self.find(details, "CntrValAmt/Amt")]
        for found in candidates:
            if found is None:
                continue
            value, ccy = self.amount(found, where)
            if ccy != currency:
                continue
            sign_elem = tx_kids.get(ns + "CdtDbtInd")
            tx_sign = indicator if sign_elem is None else _indicator(
                sign_elem, "CdtDbtInd", found, where)
            return value if tx_sign == "CRDT" else -value
        return None

    def _charges(self, ntry, details, currency, where) -> set[Decimal]:
        """The signed effects on the account that the reported charges could explain: those of
        the entry, those of its TxDtls, or both."""
        def total(holder) -> Decimal | None:
            result = Decimal(0)
            found = False
            for chrgs in holder.iterchildren(self.ns + "Chrgs"):
                records = list(chrgs.iterchildren(self.ns + "Rcrd")) or [chrgs]
                for record in records:
                    amt = self.find(record, "Amt")
                    if amt is None:
                        amt = self.find(record, "TtlChrgsAndTaxAmt")
                    if amt is None:
                        continue
                    value, ccy = self.amount(amt, where)
                    if ccy != currency:
                        return None
                    direction = self.sign(record, "CdtDbtInd", where, default="DBIT")
                    result += -value if direction == "DBIT" else value
                    found = True
            return result if found else None

        entry_level = total(ntry)
        known = [t for t in (total(tx) for tx, _, _ in details) if t is not None]
        options = set()
        if entry_level is not None:
            options.add(entry_level)
        if known:
            options.add(sum(known, Decimal(0)))
            if entry_level is not None:
                options.add(entry_level + sum(known, Decimal(0)))
        options.discard(Decimal(0))
        return options

    def _line(self, tx_kids, amount, line_id, batch, reversal, entry_code, entry_info, common,
              line_where: str) -> Line:
        ns = self.ns
        code, family, sub = entry_code
        payer_name = payer_account = reference = return_code = ""
        remittance_parts: list[str] = []
        if tx_kids is not None:
            tx_code = self._bank_code(tx_kids.get(ns + "BkTxCd"))
            if tx_code[0]:
                code, family, sub = tx_code
            parties = tx_kids.get(ns + "RltdPties")
            if parties is not None:
                role = "Dbtr" if amount > 0 or (amount == 0 and not reversal) else "Cdtr"
                payer_name = self._party_name(next(parties.iterchildren(ns + role), None))
                account = next(parties.iterchildren(ns + role + "Acct"), None)
                if account is not None:
                    payer_account = self.text(account, "Id/IBAN") or self.text(
                        account, "Id/Othr/Id")
            refs = tx_kids.get(ns + "Refs")
            if refs is not None:
                end_to_end = self.text(refs, "EndToEndId")
                if end_to_end and end_to_end.upper() != NOT_PROVIDED:
                    reference = end_to_end
            rmt = tx_kids.get(ns + "RmtInf")
            if rmt is not None:
                ustrd = " ".join(
                    (u.text or "").strip() for u in rmt.iterchildren(ns + "Ustrd")
                    if (u.text or "").strip())
                if ustrd:
                    remittance_parts.append(ustrd)
                for strd in rmt.iterchildren(ns + "Strd"):
                    if not reference:
                        reference = self.text(strd, "CdtrRefInf/Ref")
                    for doc in strd.iterchildren(ns + "RfrdDocInf"):
                        number = self.text(doc, "Nb")
                        if number:
                            remittance_parts.append(number)
                    for extra in strd.iterchildren(ns + "AddtlRmtInf"):
                        if (extra.text or "").strip():
                            remittance_parts.append(extra.text.strip())
            returned = tx_kids.get(ns + "RtrInf")
            if returned is not None:
                return_code = self.text(returned, "Rsn/Cd") or self.text(returned, "Rsn/Prtry")
            additional = _text(tx_kids.get(ns + "AddtlTxInf"))
            if additional:
                remittance_parts.append(additional)
        if entry_info:
            remittance_parts.append(entry_info)
        remittance = " / ".join(dict.fromkeys(remittance_parts))
        return Line(
            **common,
            amount=amount,
            bank_transaction_id=line_id,
            kind=_kind(amount, family, sub, reversal, bool(return_code)),
            payer_name=payer_name,
            payer_account=payer_account,
            reference=reference,
            remittance=remittance,
            return_code=return_code,
            bank_code=code,
            batch=batch,
            where=line_where,
        )

    def _party_name(self, party) -> str:
        """Nm of a party: PartyIdentification (up to .001.07) or Party40Choice (Pty or Agt)."""
        if party is None:
            return ""
        for path in ("Nm", "Pty/Nm", "Agt/FinInstnId/Nm"):
            name = self.text(party, path)
            if name:
                return name
        return ""

    # -- end of the statement ---------------------------------------------------------------

    def finish(self) -> Iterator[Item]:
        if self.statement is None:
            self.statement = self.header()
            yield self.statement
            if self.account_warning:
                yield self.account_warning
        if self.summary:
            self._check_summary()
        if self.opening is not None and self.closing is not None:
            expected = self.opening + self.booked_sum
            if expected != self.closing:
                yield Warning(
                    f"balances do not add up: opening {self.opening} + booked entries "
                    f"{self.booked_sum} = {expected}, but the closing balance is {self.closing}",
                    f"{self.path} (line {self.elem.sourceline})",
                )

    def _check_summary(self) -> None:
        def figures(totals):
            credit, debit = totals["CRDT"], totals["DBIT"]
            return {
                "count": credit[0] + debit[0],
                "sum": credit[1] + debit[1],
                "net": credit[1] - debit[1],
                "CRDTcount": credit[0], "CRDTsum": credit[1],
                "DBITcount": debit[0], "DBITsum": debit[1],
            }

        every, booked = figures(self.totals), figures(self.booked_totals)
        for name, (stated, where) in self.summary.items():
            if stated != every[name] and stated != booked[name]:
                raise StatementError(
                    f"TxsSummry {_SUMMARY_NAMES[name]} is {stated} but the entries read give "
                    f"{every[name]}", where)


_SUMMARY_NAMES = {
    "count": "TtlNtries/NbOfNtries", "sum": "TtlNtries/Sum", "net": "TtlNtries net amount",
    "CRDTcount": "TtlCdtNtries/NbOfNtries", "CRDTsum": "TtlCdtNtries/Sum",
    "DBITcount": "TtlDbtNtries/NbOfNtries", "DBITsum": "TtlDbtNtries/Sum",
}


def _tx_where(base_path: str, tx, place: tuple[int, int, int], groups: int) -> str:
    group, index, count = place
    return (f"{base_path}/NtryDtls" + (f"[{group}]" if groups > 1 else "") + "/TxDtls"
            + (f"[{index}]" if count > 1 else "") + f" (line {tx.sourceline})")


def _id_key(line_id: str) -> int:
    """A 128-bit key for an id: two independent 64-bit hashes side by side."""
    return (hash(line_id) << 64) | (hash(line_id + "\x00") & 0xFFFFFFFFFFFFFFFF)


def _stable_key(statement: Statement, index: int, signed: Decimal, day: date) -> str:
    """The id of an entry the bank gave no AcctSvcrRef: statement, position, amount and day."""
    return f"camt:{statement.statement_id}:{index}:{signed}:{day}"


def _text(elem) -> str:
    return "" if elem is None else (elem.text or "").strip()


def _last_two(elem, first: str, second: str) -> tuple:
    """The last child of ``elem`` with tag ``first`` and the last with tag ``second``."""
    one = two = None
    for child in elem:
        tag = child.tag
        if tag == first:
            one = child
        elif tag == second:
            two = child
    return one, two


def _firsts(elem, first: str, second: str, third: str | None) -> tuple:
    """The first child of ``elem`` with each of three tags (None where there is none)."""
    one = two = three = None
    for child in elem:
        tag = child.tag
        if tag == first:
            if one is None:
                one = child
        elif tag == second:
            if two is None:
                two = child
        elif tag == third and three is None:
            three = child
    return one, two, three


def _nowhere(elem) -> str:
    return ""


def _path_text(elem, tags: tuple[str, ...]) -> str:
    """``text`` for the quick path: the text at a path of qualified tags (the first child of
    each), "" when there is none. On an entry's small elements a loop over the children is
    several times faster than ``iterchildren(tag)``, whose matcher is built at each call."""
    for tag in tags:
        for child in elem:
            if child.tag == tag:
                elem = child
                break
        else:
            return ""
    return (elem.text or "").strip()


def _quick_amount(elem, currency: str) -> Decimal | None:
    """``amount`` for the quick path: the value of an amount in ``currency`` (already known to
    be a code), or None when it is in another currency or anything about it is wrong."""
    if elem.get("Ccy") != currency:
        return None
    raw = (elem.text or "").strip()
    integer, dot, fraction = raw.partition(".")
    if (dot and raw.isascii() and integer.isdigit() and fraction.isdigit()
            and len(fraction) <= MINOR_UNITS.get(currency, 2) and len(raw) <= 19):
        return Decimal(raw)  # the usual "1234.50": within every limit checked below
    match = DECIMAL.match(raw)
    if match is None:
        return None
    fraction = (match.group(2) or "").rstrip("0")
    if len(fraction) > MINOR_UNITS.get(currency, 2) or (
            len(match.group(1).lstrip("0")) + len(fraction) > 18):
        return None
    return Decimal(raw)


def _quick_date(elem, t: _Tags) -> date | None:
    """``date_choice`` for the quick path: the day of a ``Dt`` written YYYY-MM-DD, else None."""
    if not len(elem):
        return None
    inner = elem[0]
    if inner.tag != t.Dt:
        return None
    raw = (inner.text or "").strip()
    if not _looks_iso(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _indicator(elem, name: str, holder, where) -> str:
    if elem is None:
        raise StatementError(f"{name} is missing", where(holder))
    code = (elem.text or "").strip()
    if code not in ("CRDT", "DBIT"):
        raise StatementError(f"{name} {code!r} is neither CRDT nor DBIT", where(elem))
    return code


def _kind(amount: Decimal, family: str, sub: str, reversal: bool, returned: bool) -> Kind:
    if family in FEE_FAMILIES or sub in FEE_SUBFAMILIES:
        return Kind.FEE
    if amount < 0 and family in CARD_FAMILIES and (sub == "UPCT" or reversal or returned):
        return Kind.CHARGEBACK
    if reversal or returned or sub in RETURN_SUBFAMILIES:
        return Kind.REVERSAL
    return Kind.CREDIT if amount > 0 or (amount == 0) else Kind.DEBIT


def _looks_iso(raw: str) -> bool:
    """Whether ``date.fromisoformat`` may be trusted with ``raw``: YYYY-MM-DD in ASCII (it
    also takes week dates such as 2026-W01-1 and basic forms such as 20260102T0, which an
    ISODate is not)."""
    return len(raw) == 10 and raw.isascii() and raw[4] == "-" and raw[7] == "-"


def _parse_date(raw: str, where) -> date:
    """The calendar day of an ISODate or ISODateTime as written (its own zone)."""
    if _looks_iso(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    match = ISO_DATE.match(raw)
    if not match:
        raise StatementError(f"{raw!r} is not an ISO date (YYYY-MM-DD)", where())
    if not DATE_REST.match(raw[10:]):
        raise StatementError(f"{raw!r} is not an ISO date or date-time", where())
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise StatementError(f"{raw!r} is not a calendar date", where()) from None
