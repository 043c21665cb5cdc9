"""NACHA ACH files, read from the side of the originator: the client sends the entries.

Layout (NACHA Operating Rules, Appendix Three): 94-character records, type in column 1 —
file header ``1``, batch header ``5``, entry detail ``6``, addenda ``7`` (``05`` remittance,
``02`` terminal data, ``98`` notification of change, ``99`` return), batch control ``8``, file
control ``9`` — in blocks of 10, the last block filled with records of nines.

What the reader yields, and the choices made where the format leaves them open:

- One ``Statement`` per batch: ``account`` is the batch's Company Identification (the
  originator's id, columns 41-50 of the batch header; a return or notification of change carries
  the original originator's id there too, so it lands on the same account), currency USD,
  ``statement_id`` = file key + batch number, ``sequence`` = file creation date (YYYYMMDD), file
  id modifier and batch number, e.g. ``20190829A-0000001``. There is no running statement number
  in NACHA: a gap in ``sequence`` means nothing.
- The file key is ``<immediate origin>-<creation date YYMMDD><file id modifier>``: NACHA names a
  file by those (the modifier tells apart the files of one origin on one day). The creation time
  is left out so that a file regenerated for the same day and modifier keeps its ids.
- ``bank_transaction_id`` = file key + ``-`` + the entry's 15-digit trace number. Trace numbers
  are unique within a file (checked: a repeated one refuses the file), so the id is unique across
  files as long as NACHA's file naming is kept.
- Forward entries: a debit to a customer's account (transaction codes 27, 37, 47, 55) is money
  in, positive, kind ``credit``, noted "ACH, subject to return"; a credit to a customer's account
  (22, 32, 42, 52) is money out, negative, kind ``debit``. ``reference`` is the trace number (a
  return names its original by it), ``payer_account`` the DFI account number, ``remittance`` the
  individual identification number and any 05/02 addenda text, ``bank_code`` e.g. ``PPD 27``.
  ``value_date`` is the batch's effective entry date; ``booking_date`` the settlement date the
  ACH operator wrote (a Julian day), where present. A batch whose effective date is blank or not a
  date (the COR sample has ``000000``) falls back to its settlement date, then to the file
  creation date, with a ``Warning``.
- The offset entry of a balanced file (the originator's own account, debited or credited to
  balance the batch) is not a payment: it is skipped, but counted in the control totals. It is
  recognised by ``read(stream, own_accounts=[...])`` — DFI account numbers of the client's own
  accounts (compared trimmed and without leading zeros) — or, with or without that option, by the
  individual name ``OFFSET`` (the conventional name, alone in the field). A batch whose debits
  equal its credits with a single entry on one side, none of them recognised as an offset, gets a
  ``Warning`` naming that entry's line: it is probably an offset to an account not listed.
- Prenotifications (23, 28, 33, 38, 43, 48, 53) and zero-dollar entries (24, 29, 34, 39, 44,
  49, 54, or a live code with amount 0) move no money: not yielded, counted in one ``Warning`` at
  the end of the file with their lines. A prenotification with an amount refuses the file.
- Returns (21, 26, 31, 36, 41, 46, 51, 56 with a 99 addenda): a ``Line`` of kind ``reversal``:
  negative for a returned debit (the money the client had counted goes back), positive for a
  returned credit; ``return_code`` R01..; ``reference`` = the Original Entry Trace Number of the
  addenda (the forward Line's ``reference``); ``payer_account``, amount and ``value_date`` (the
  return batch's effective date) to find the original when it was not imported;
  ``bank_transaction_id`` uses the return entry's own trace. A returned prenotification (amount
  0), a dishonored return (R61-R70) or a contested dishonored return (R71-R77) moves no money for
  the originator: a ``Notice`` with the R-code.
- Notifications of change (same codes, amount 0, a 98 addenda; SEC ``COR``): a ``Notice`` with
  the change code (C01..), the corrected data in words and in ``corrected`` (keys ``account``,
  ``routing``, ``name``, ``transaction_code``, ``identification``, ``rdfi``, ``company_name``,
  ``company_id``, or ``data`` for codes without a documented layout), ``reference`` = the original
  trace number. Never a payment. Refused NOCs (C61-C69) are notices too.
- Checked, refusing the file on a mismatch with the line and column of the control field: per
  batch the entry/addenda count, entry hash (sum of the 8-digit receiving DFI ids, last 10
  digits), total debit and credit amounts, service class, company id and batch number against the
  header; per file the batch count, block count, entry/addenda count, entry hash and totals;
  record order; transaction codes; numeric fields; the addenda indicator against the addenda that
  follow; repeated trace numbers or batch numbers.
- Accepted strays: records shorter than 94 characters (padded with spaces), trailing blanks past
  column 94, CRLF line endings, no final newline, missing or partial padding, blank lines, files
  without line breaks (94-character records back to back) or with one line per block, several
  files one after another. IAT and ADV batches (other layouts) are refused by name.

Options other than ``own_accounts`` are ignored, so that an importer may pass one set to all
readers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import BinaryIO

from .base import Item, Kind, Line, Notice, Statement, StatementError, Warning

RECORD = 94
BLOCKING_FACTOR = 10
CURRENCY = "USD"
SUBJECT_TO_RETURN = ("ACH, subject to return",)
OFFSET_NAME = "OFFSET"

LIVE_DEBITS = frozenset({27, 37, 47, 55})  # debits to the customer: money in for the originator
LIVE_CREDITS = frozenset({22, 32, 42, 52})  # credits to the customer: money out
PRENOTES = frozenset({23, 28, 33, 38, 43, 48, 53})
ZERO_DOLLAR = frozenset({24, 29, 34, 39, 44, 49, 54})
RETURNS = frozenset({21, 26, 31, 36, 41, 46, 51, 56})  # returns and notifications of change
TRANSACTION_CODES = LIVE_DEBITS | LIVE_CREDITS | PRENOTES | ZERO_DOLLAR | RETURNS
SERVICE_CLASSES = frozenset({"200", "220", "225", "280"})
REFUSED_SEC = {"IAT": "international (IAT) batches", "ADV": "ACH operator advice (ADV) batches"}

# Where the payer's name sits in the entry detail record, by SEC code (0-based slices).
NAME_AT = {"CIE": (39, 54), "MTE": (39, 54), "CTX": (58, 74), "ENR": (58, 74), "TRC": (58, 74),
           "TRX": (58, 74), "ATX": (58, 74), "XCK": (0, 0), "SHR": (0, 0)}
NAME_DEFAULT = (54, 76)
# Where the originator's own reference for the customer sits (individual identification number).
IDENT_AT = {"CIE": (54, 76), "MTE": (54, 76), "SHR": (0, 0)}
IDENT_DEFAULT = (39, 54)

ACCOUNT_KINDS = {"2": "checking", "3": "savings", "4": "general ledger", "5": "loan"}

RETURN_REASONS = {
    "R01": "insufficient funds", "R02": "account closed", "R03": "no account / unable to locate",
    "R04": "invalid account number", "R05": "unauthorized debit to consumer account",
    "R06": "returned at the ODFI's request", "R07": "authorization revoked by customer",
    "R08": "payment stopped", "R09": "uncollected funds",
    "R10": "customer advises not authorized", "R11": "not in accordance with the authorization",
    "R12": "account sold to another DFI", "R13": "invalid ACH routing number",
    "R14": "representative payee deceased", "R15": "beneficiary or account holder deceased",
    "R16": "account frozen", "R17": "file record edit criteria", "R18": "improper effective date",
    "R19": "amount field error", "R20": "non-transaction account",
    "R21": "invalid company identification", "R22": "invalid individual id number",
    "R23": "credit refused by receiver", "R24": "duplicate entry", "R25": "addenda error",
    "R26": "mandatory field error", "R27": "trace number error",
    "R28": "routing number check digit error", "R29": "corporate customer advises not authorized",
    "R30": "RDFI not in check truncation program", "R31": "permissible return entry",
    "R32": "RDFI non-settlement", "R33": "return of XCK entry", "R34": "limited participation DFI",
    "R35": "return of improper debit entry", "R36": "return of improper credit entry",
    "R37": "source document presented for payment", "R38": "stop payment on source document",
    "R39": "improper source document", "R40": "return of ENR entry by federal agency",
    "R41": "invalid transaction code (ENR)", "R42": "routing number/check digit error (ENR)",
    "R43": "invalid DFI account number (ENR)", "R44": "invalid individual id number (ENR)",
    "R45": "invalid name (ENR)", "R46": "invalid representative payee indicator (ENR)",
    "R47": "duplicate enrollment", "R50": "state law affecting RCK acceptance",
    "R51": "item related to RCK entry ineligible", "R52": "stop payment on item (RCK)",
    "R53": "item and RCK entry presented for payment", "R61": "misrouted return",
    "R62": "return of erroneous or reversing debit", "R67": "duplicate return",
    "R68": "untimely return", "R69": "field error(s)",
    "R70": "permissible return not accepted / not requested by ODFI",
    "R71": "misrouted dishonored return", "R72": "untimely dishonored return",
    "R73": "timely original return", "R74": "corrected return", "R75": "return not a duplicate",
    "R76": "no errors found", "R77": "non-acceptance of R62 dishonored return",
    "R80": "IAT coding error", "R81": "non-participant in IAT program",
    "R82": "invalid foreign receiving DFI id", "R83": "foreign DFI unable to settle",
    "R84": "entry not processed by gateway", "R85": "incorrectly coded outbound international",
}
CHANGE_REASONS = {
    "C01": "incorrect DFI account number", "C02": "incorrect routing number",
    "C03": "incorrect routing number and DFI account number",
    "C04": "incorrect individual or company name", "C05": "incorrect transaction code",
    "C06": "incorrect DFI account number and transaction code",
    "C07": "incorrect routing number, DFI account number and transaction code",
    "C08": "incorrect receiving DFI identification (IAT)",
    "C09": "incorrect individual identification number", "C10": "incorrect company name",
    "C11": "incorrect company identification", "C12": "incorrect company name and identification",
    "C13": "addenda format error", "C14": "incorrect SEC code for outbound international payment",
    "C61": "refused: misrouted NOC", "C62": "refused: incorrect trace number",
    "C63": "refused: incorrect company identification",
    "C64": "refused: incorrect individual identification number",
    "C65": "refused: incorrectly formatted corrected data",
    "C66": "refused: incorrect discretionary data",
    "C67": "refused: routing number not from original entry",
    "C68": "refused: DFI account number not from original entry",
    "C69": "refused: incorrect transaction code",
}
CORRECTED_WORDS = {
    "account": "account number", "routing": "routing number", "name": "name",
    "transaction_code": "transaction code", "identification": "individual identification number",
    "rdfi": "receiving DFI identification", "company_name": "company name",
    "company_id": "company identification", "data": "corrected data",
}


def sniff(head: bytes) -> bool:
    """A NACHA file header: type 1, priority 01, record size 094, blocking factor 10, format 1."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head[:3] == b"101" and head[34:40] == b"094101"


def read(stream: BinaryIO, *, own_accounts: Iterable[str] | None = (),
         **_options) -> Iterator[Item]:
    """The file's batches, payments, returns and notices; StatementError at what cannot be read."""
    return _Reader(own_accounts or ()).read(stream)


def _records(stream: BinaryIO) -> Iterator[tuple[str, str]]:
    """(place, record) for each record, blank lines left out; the place is ``line N``.

    A line holding several whole records (one line per block, or none at all) is cut into
    94-character records, each placed as ``record N`` (its number in the file, blank lines
    aside); a file without any line break is read in chunks, never whole."""
    head = stream.read(RECORD + 2)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:] + stream.read(3)
    if len(head) > RECORD and b"\n" not in head and b"\r" not in head:
        yield from _unbroken(head, stream)
        return
    first = (head + stream.readline()).splitlines(keepends=True)
    count = 0
    for number, raw in enumerate(itertools.chain(first, stream), 1):
        text = raw.rstrip(b"\r\n").decode("latin-1")
        size = len(text)
        if size <= RECORD:
            if text.strip(" \x1a\t"):
                count += 1
                yield f"line {number}", text.ljust(RECORD)
        elif size % RECORD == 0 and "\r" not in text:
            for offset in range(0, size, RECORD):
                count += 1
                yield f"record {count}", text[offset:offset + RECORD]
        elif not text[RECORD:].strip():
            count += 1
            yield f"line {number}", text[:RECORD]
        else:
            raise StatementError(
                f"a line of {size} characters: NACHA records are {RECORD} characters long",
                f"line {number}")


def _unbroken(data: bytes, stream: BinaryIO) -> Iterator[tuple[str, str]]:
    """Records back to back, or in lines of several records (one per block): line breaks are
    allowed between records only."""
    position, count, ended = 0, 0, False
    while True:
        if len(data) - position < RECORD + 2 and not ended:
            more = stream.read(RECORD * 1000)
            if more:
                data, position = data[position:] + more, 0
            else:
                ended = True
            continue
        while position < len(data) and data[position] in b"\r\n":
            position += 1
        if len(data) - position < RECORD + 2 and not ended:
            continue
        if position >= len(data):
            return
        record = data[position:position + RECORD].decode("latin-1")
        position += RECORD
        count += 1
        if "\n" in record or "\r" in record:
            raise StatementError("a line break inside a record: in a file whose lines hold "
                                 f"several records, every record is {RECORD} characters long",
                                 f"record {count}")
        if record.strip(" \x1a\t"):
            yield f"record {count}", record.ljust(RECORD)


def _text(field: str) -> str:
    """A text field: trimmed, UTF-8 where its bytes are UTF-8 (records are read byte for byte)."""
    field = field.strip()
    if field.isascii():
        return field
    raw = field.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return field


def _yymmdd(value: str) -> date | None:
    if not (value.isdigit() and value.isascii()) or len(value) != 6:
        return None
    year = int(value[:2])
    try:
        return date(2000 + year if year < 80 else 1900 + year, int(value[2:4]), int(value[4:]))
    except ValueError:
        return None


def _plain_account(account: str) -> str:
    return account.strip().lstrip("0")


class _Batch:
    __slots__ = ("place", "service_class", "company_name", "company_id", "sec", "effective",
                 "settlement", "odfi", "number", "statement_id", "account", "records", "hash",
                 "debit", "credit", "offsets", "debit_count", "credit_count", "debit_place",
                 "credit_place", "date_used",
                 "value_date")

    def __init__(self):
        self.records = self.hash = self.debit = self.credit = self.offsets = 0
        self.debit_count = self.credit_count = 0
        self.debit_place = self.credit_place = ""
        self.date_used = False


class _Entry:
    __slots__ = ("place", "code", "rdfi", "account", "cents", "ident", "name", "addenda_flag",
                 "trace", "addenda", "offset")


class _Reader:
    def __init__(self, own_accounts: Iterable[str]):
        if isinstance(own_accounts, str):
            own_accounts = [own_accounts]
        self.own = frozenset(_plain_account(account) for account in own_accounts if account)

    # -- the file as a sequence of records ------------------------------------------------

    def read(self, stream: BinaryIO) -> Iterator[Item]:
        state = "start"  # start, file, batch, done (after a file control)
        batch: _Batch | None = None
        entry: _Entry | None = None
        self.place = "line 1"
        for place, record in _records(stream):
            self.place = place
            kind = record[0]
            if state == "done" and not record.rstrip().strip("9"):
                continue  # padding of the last block
            if kind == "7":
                if entry is None:
                    self.fail("an addenda record (type 7) that follows no entry detail record")
                self.addenda(record, entry, batch)
                continue
            if entry is not None:
                item = self.entry_item(entry, batch)
                if item is not None:
                    yield item
                entry = None
            if kind == "1":
                if state in ("file", "batch"):
                    self.fail("a second file header before the file control record of the file "
                              f"that began at {self.file_place}")
                self.file_header(record)
                state = "file"
            elif state in ("start", "done"):
                if state == "start":
                    self.fail("not a NACHA file: the first record is not a file header (type 1)")
                self.fail("a record after the file control record that is neither padding "
                          "(a record of nines) nor a new file header")
            elif kind == "5":
                if state == "batch":
                    self.fail(f"a batch header before the control record of the batch opened "
                              f"at {batch.place}")
                batch = self.batch_header(record)
                state = "batch"
                yield Statement(account=batch.account, currency=CURRENCY,
                                statement_id=batch.statement_id,
                                sequence=f"{self.created:%Y%m%d}{self.modifier}-{batch.number}",
                                created=self.created, period_start=batch.effective,
                                period_end=batch.effective, where=self.where())
            elif kind == "6":
                if state != "batch":
                    self.fail("an entry detail record outside a batch")
                entry = self.entry_detail(record, batch)
            elif kind == "8":
                if state != "batch":
                    self.fail("a batch control record without its batch header")
                yield from self.batch_control(record, batch)
                batch = None
                state = "file"
            elif kind == "9":
                if state == "batch":
                    self.fail(f"the file control record comes before the control record of the "
                              f"batch opened at {batch.place}")
                yield from self.file_control(record)
                state = "done"
            else:
                self.fail(f"unknown record type {kind!r} (NACHA records are 1, 5, 6, 7, 8, 9)")
        if entry is not None:
            item = self.entry_item(entry, batch)
            if item is not None:
                yield item
        if state == "start":
            raise StatementError("an empty file: no NACHA file header", "line 1")
        if state == "batch":
            raise StatementError(f"the file ends inside the batch opened at {batch.place} "
                                 "(no batch control record): truncated?", self.place)
        if state == "file":
            raise StatementError("the file ends before its file control record (type 9): "
                                 "truncated?", self.place)

    # -- helpers ----------------------------------------------------------------------------

    def where(self, column: int = 0) -> str:
        return f"{self.place}, column {column}" if column else self.place

    def fail(self, message: str, column: int = 0):
        raise StatementError(message, self.where(column))

    def number_at(self, record: str, start: int, end: int, name: str) -> int:
        """The numeric field at columns start..end (1-based, inclusive)."""
        value = record[start - 1:end]
        if not value.isdigit() or not value.isascii():
            self.fail(f"{name} must be {end - start + 1} digits, found {value!r}", start)
        return int(value)

    def check(self, record: str, controls: list[tuple[int, int, str, int]]):
        """Each control field (columns start..end, what it counts) against what was read."""
        for start, end, what, expected in controls:
            found = self.number_at(record, start, end, what)
            if found != expected:
                self.fail(f"{what}: the control record says {found}, the records read give "
                          f"{expected}", start)

    # -- records ----------------------------------------------------------------------------

    def file_header(self, record: str):
        if record[34:37] != "094":
            self.fail(f"record size must be 094, found {record[34:37]!r}", 35)
        if record[37:39] != "10":
            self.fail(f"blocking factor must be 10, found {record[37:39]!r}", 38)
        created = _yymmdd(record[23:29])
        if created is None:
            self.fail(f"file creation date {record[23:29]!r} is not a date (YYMMDD)", 24)
        self.file_place = self.place
        self.created = created
        self.modifier = record[33].strip()
        origin = record[13:23].strip()
        self.file_key = f"{origin}-{record[23:29]}{self.modifier}"
        self.records = 1
        self.batches = self.entries_addenda = self.hash = self.debit = self.credit = 0
        self.batch_numbers: set[int] = set()
        self.traces: set[int] = set()
        self.not_payments: list[tuple[int, str]] = []

    def batch_header(self, record: str) -> _Batch:
        self.records += 1
        batch = _Batch()
        batch.place = self.place
        batch.service_class = record[1:4]
        if batch.service_class not in SERVICE_CLASSES:
            self.fail(f"service class code must be 200, 220, 225 or 280, found "
                      f"{batch.service_class!r}", 2)
        batch.sec = record[50:53].upper()
        if batch.sec in REFUSED_SEC:
            self.fail(f"{REFUSED_SEC[batch.sec]} have their own layout, which this reader does "
                      "not read", 51)
        if not (batch.sec.isalpha() and batch.sec.isascii()):
            self.fail(f"standard entry class code must be three letters, found {batch.sec!r}",
                      51)
        batch.company_name = _text(record[4:20])
        batch.company_id = record[40:50].strip()
        if not batch.company_id:
            self.fail("the company identification (columns 41-50) is blank", 41)
        batch.account = batch.company_id
        batch.effective = _yymmdd(record[69:75])
        julian = record[75:78]
        batch.settlement = None
        if julian.isdigit() and julian.isascii() and 1 <= int(julian) <= 366:
            settled = date(self.created.year, 1, 1) + timedelta(days=int(julian) - 1)
            if settled < self.created - timedelta(days=180):
                settled = date(self.created.year + 1, 1, 1) + timedelta(days=int(julian) - 1)
            batch.settlement = settled
        batch.value_date = batch.effective or batch.settlement or self.created
        batch.odfi = record[79:87]
        batch.number = record[87:94]
        number = self.number_at(record, 88, 94, "batch number")
        if number in self.batch_numbers:
            self.fail(f"batch number {batch.number} appears twice in the file", 88)
        self.batch_numbers.add(number)
        batch.statement_id = f"{self.file_key}-{batch.number}"
        return batch

    def entry_detail(self, record: str, batch: _Batch) -> _Entry:
        self.records += 1
        batch.records += 1
        digits = record[1:11] + record[29:39] + record[79:94]
        if not (digits.isdigit() and digits.isascii()):  # name the field that is not digits
            self.number_at(record, 2, 3, "transaction code")
            self.number_at(record, 4, 11, "receiving DFI identification")
            self.number_at(record, 30, 39, "amount")
            self.number_at(record, 80, 94, "trace number")
        entry = _Entry()
        entry.place = self.place
        entry.code = code = int(record[1:3])
        if code not in TRANSACTION_CODES:
            self.fail(f"transaction code {record[1:3]} is not an entry this reader knows "
                      "(checking 2x, savings 3x, general ledger 4x, loan 5x)", 2)
        entry.cents = cents = int(record[29:39])
        entry.account = account = record[12:29].strip()
        start, end = NAME_AT.get(batch.sec, NAME_DEFAULT)
        entry.name = name = _text(record[start:end])
        start, end = IDENT_AT.get(batch.sec, IDENT_DEFAULT)
        entry.ident = _text(record[start:end])
        flag = record[78]
        if flag != "0" and flag != "1":
            self.fail(f"addenda record indicator must be 0 or 1, found {flag!r}", 79)
        entry.addenda_flag = flag == "1"
        entry.trace = record[79:94]
        trace = int(entry.trace)
        if trace in self.traces:
            self.fail(f"trace number {entry.trace} appears twice in the file", 80)
        self.traces.add(trace)
        entry.addenda = []
        batch.hash += int(record[3:11])
        if code % 10 >= 5:
            batch.debit += cents
        else:
            batch.credit += cents
        entry.offset = False
        if code in LIVE_DEBITS or code in LIVE_CREDITS:
            entry.offset = (len(name) == len(OFFSET_NAME) and name.upper() == OFFSET_NAME) or (
                bool(self.own) and _plain_account(account) in self.own)
            if entry.offset:
                batch.offsets += 1
            elif cents and code in LIVE_DEBITS:
                batch.debit_count += 1
                batch.debit_place = entry.place
            elif cents:
                batch.credit_count += 1
                batch.credit_place = entry.place
        elif cents and (code in PRENOTES or code in ZERO_DOLLAR):
            what = "prenotification" if code in PRENOTES else "zero-dollar entry"
            self.fail(f"a {what} (transaction code {code}) must have a zero amount", 30)
        return entry

    def addenda(self, record: str, entry: _Entry, batch: _Batch):
        self.records += 1
        batch.records += 1
        if not entry.addenda_flag:
            self.fail(f"an addenda record after the entry at {entry.place}, whose addenda "
                      "indicator (column 79) is 0")
        kind = record[1:3]
        if kind not in ("05", "02", "98", "99"):
            self.fail(f"addenda type {kind!r} is not one this reader knows (02, 05, 98, 99)", 2)
        if entry.code in RETURNS and kind not in ("98", "99"):
            self.fail(f"a return or notification of change (transaction code {entry.code}) "
                      f"takes a 99 or 98 addenda, not {kind}", 2)
        if kind in ("98", "99"):
            if entry.code not in RETURNS:
                self.fail(f"a {'return' if kind == '99' else 'change'} addenda ({kind}) after a "
                          f"forward entry (transaction code {entry.code})", 2)
            if entry.addenda:
                self.fail(f"a second addenda record for the return or change entry at line "
                          f"{entry.place}", 1)
            code = record[3:6]
            letter = "R" if kind == "99" else "C"
            if code[0] != letter or not (code[1:].isdigit() and code[1:].isascii()):
                self.fail(f"{'return reason' if kind == '99' else 'change'} code must be "
                          f"{letter} and two digits, found {code!r}", 4)
        entry.addenda.append((self.place, record))

    def entry_item(self, entry: _Entry, batch: _Batch) -> Item | None:
        """What one entry and its addenda become, once all its addenda are read."""
        if entry.addenda_flag and not entry.addenda:
            raise StatementError("the addenda record indicator (column 79) is 1 but no addenda "
                                 "record follows", f"{entry.place}, column 79")
        code = entry.code
        if entry.offset:
            return None
        if code in RETURNS:
            if not entry.addenda:
                raise StatementError(
                    f"a return or notification of change (transaction code {code}) without its "
                    "addenda record (99 or 98)", entry.place)
            place, record = entry.addenda[0]
            if record[1:3] == "98":
                return self.change_notice(entry, batch, record, place)
            return self.return_item(entry, batch, record, place)
        if code in PRENOTES or code in ZERO_DOLLAR or not entry.cents:
            kind = "prenotification" if code in PRENOTES else "zero-dollar entry"
            self.not_payments.append((entry.place, kind))
            return None
        amount = Decimal(entry.cents).scaleb(-2)
        remittance = [entry.ident] if entry.ident else []
        for _place, record in entry.addenda:
            # 05: payment related information; 02: terminal location, city and state
            text = _text(record[3:83] if record[1:3] == "05" else record[35:79])
            if text:
                remittance.append(text)
        money_in = code in LIVE_DEBITS
        return Line(account=batch.account, statement_id=batch.statement_id,
                    value_date=self.value_date(batch), amount=amount if money_in else -amount,
                    currency=CURRENCY, bank_transaction_id=f"{self.file_key}-{entry.trace}",
                    kind=Kind.CREDIT if money_in else Kind.DEBIT, booking_date=batch.settlement,
                    payer_name=entry.name, payer_account=entry.account, reference=entry.trace,
                    remittance="; ".join(remittance), bank_code=f"{batch.sec} {code}",
                    notes=SUBJECT_TO_RETURN if money_in else (), where=entry.place)

    def value_date(self, batch: _Batch) -> date:
        batch.date_used = True
        return batch.value_date

    def return_item(self, entry: _Entry, batch: _Batch, record: str, place: str) -> Item:
        reason = record[3:6]
        original = record[6:21].strip()
        words = RETURN_REASONS.get(reason, "return reason not in the NACHA list")
        dishonored = reason >= "R61" and reason <= "R77"
        if dishonored or not entry.cents:
            what = ("dishonored or contested return" if dishonored
                    else "returned prenotification")
            return Notice(account=batch.account, code=reason,
                          message=f"{what} {reason} ({words}) for {entry.name or 'the receiver'}"
                                  f", account {entry.account}, original entry {original}",
                          reference=original, payer_name=entry.name, where=f"{place}, column 4")
        amount = Decimal(entry.cents).scaleb(-2)
        remittance = [f"{reason} {words}"]
        information = _text(record[35:79])
        if information:
            remittance.append(information)
        if record[21:27].strip():
            remittance.append(f"date of death {record[21:27]}")
        return Line(account=batch.account, statement_id=batch.statement_id,
                    value_date=self.value_date(batch),
                    amount=-amount if entry.code % 10 >= 5 else amount, currency=CURRENCY,
                    bank_transaction_id=f"{self.file_key}-{entry.trace}", kind=Kind.REVERSAL,
                    booking_date=batch.settlement, payer_name=entry.name,
                    payer_account=entry.account, reference=original,
                    remittance="; ".join(remittance), return_code=reason,
                    bank_code=f"{batch.sec} {entry.code}", where=entry.place)

    def change_notice(self, entry: _Entry, batch: _Batch, record: str, place: str) -> Notice:
        code = record[3:6]
        original = record[6:21].strip()
        data = record[35:64]
        refused = "C61" <= code <= "C69"
        corrected = _corrected(record[61:64] if refused else code, data)
        words = CHANGE_REASONS.get(code, "change code not in the NACHA list")
        change = "; ".join(f"{CORRECTED_WORDS[key]} is now {value}"
                           + (f" ({_transaction_words(value)})" if key == "transaction_code"
                              else "")
                           for key, value in corrected.items())
        message = (f"{'refused ' if refused else ''}notification of change {code} ({words}) for "
                   f"{entry.name or 'the receiver'}, account {entry.account}, original entry "
                   f"{original}: {change or 'no corrected data'}")
        if entry.cents:
            raise StatementError(f"a notification of change must have a zero amount, found "
                                 f"{entry.cents / 100:.2f}", f"{entry.place}, column 30")
        return Notice(account=batch.account, code=code, message=message, reference=original,
                      payer_name=entry.name, corrected=corrected,
                      where=f"{place}, column 36")

    def batch_control(self, record: str, batch: _Batch) -> Iterator[Item]:
        self.records += 1
        if record[1:4] != batch.service_class:
            self.fail(f"service class code {record[1:4]!r} differs from the batch header's "
                      f"{batch.service_class!r} ({batch.place})", 2)
        self.check(record, [
            (5, 10, "entry and addenda count of the batch", batch.records),
            (11, 20, "entry hash of the batch (sum of the receiving DFI ids, last 10 digits)",
             batch.hash % 10**10),
            (21, 32, "total debit amount of the batch, in cents", batch.debit),
            (33, 44, "total credit amount of the batch, in cents", batch.credit),
        ])
        if record[44:54].strip() != batch.company_id:
            self.fail(f"company identification {record[44:54].strip()!r} differs from the batch "
                      f"header's {batch.company_id!r} ({batch.place})", 45)
        if record[87:94] != batch.number:
            self.fail(f"batch number {record[87:94]!r} differs from the batch header's "
                      f"{batch.number!r} ({batch.place})", 88)
        self.batches += 1
        self.entries_addenda += batch.records
        self.hash += batch.hash
        self.debit += batch.debit
        self.credit += batch.credit
        if (not batch.offsets and batch.debit and batch.debit == batch.credit
                and 1 in (batch.debit_count, batch.credit_count)
                and batch.debit_count + batch.credit_count > 1):
            lone = batch.debit_place if batch.debit_count == 1 else batch.credit_place
            yield Warning(f"the entry at {lone} balances the batch opened at "
                          f"{batch.place} alone: if it is the client's own account (an offset), "
                          "list that account in own_accounts; it was read as a payment", lone)
        if batch.effective is None and batch.date_used:
            used = "settlement date" if batch.settlement else "file creation date"
            yield Warning(f"the batch's effective entry date is not a date; its entries are "
                          f"dated by the {used}, {batch.value_date.isoformat()}",
                          f"{batch.place}, column 70")

    def file_control(self, record: str) -> Iterator[Item]:
        self.records += 1
        self.check(record, [
            (2, 7, "batch count of the file", self.batches),
            (8, 13, "block count of the file (blocks of 10 records)",
             -(-self.records // BLOCKING_FACTOR)),
            (14, 21, "entry and addenda count of the file", self.entries_addenda),
            (22, 31, "entry hash of the file (sum of the receiving DFI ids, last 10 digits)",
             self.hash % 10**10),
            (32, 43, "total debit amount of the file, in cents", self.debit),
            (44, 55, "total credit amount of the file, in cents", self.credit),
        ])
        if self.not_payments:
            counts: dict[str, int] = {}
            for _line, kind in self.not_payments:
                counts[kind] = counts.get(kind, 0) + 1
            places = ", ".join(place for place, _kind in self.not_payments[:10])
            more = ", ..." if len(self.not_payments) > 10 else ""
            yield Warning(
                " and ".join(f"{count} {kind}{'s' if count > 1 else ''}"
                             for kind, count in counts.items())
                + f" (zero amount; at {places}{more}): not payments",
                self.file_place)


def _corrected(code: str, data: str) -> dict[str, str]:
    """The corrected data of a 98 addenda by change code (NACHA Appendix Five layouts)."""
    text = data.strip()
    if not text:
        return {}
    if code == "C01":
        return {"account": data[:17].strip()}
    if code == "C02":
        return {"routing": data[:9].strip()}
    if code == "C03":  # routing 1-9, account 13-29 (or anywhere after the routing number)
        return {"routing": data[:9].strip(), "account": data[9:].strip()}
    if code in ("C04", "C09"):
        return {"name" if code == "C04" else "identification": data[:22].strip()}
    if code == "C05":
        return {"transaction_code": data[:2].strip()}
    if code == "C06":  # account 1-17, transaction code 22-23 (some writers put it at 28-29)
        return {"account": data[:17].strip(), "transaction_code": data[17:].strip()}
    if code == "C07":  # routing 1-9, account 10-26, transaction code 27-28 (or 28-29)
        return {"routing": data[:9].strip(), "account": data[9:26].strip(),
                "transaction_code": data[26:].strip()}
    if code == "C08":
        return {"rdfi": data[:11].strip()}
    if code == "C10":
        return {"company_name": data[:16].strip()}
    if code == "C11":
        return {"company_id": data[:10].strip()}
    return {"data": text}


def _transaction_words(code: str) -> str:
    if len(code) != 2 or not (code.isdigit() and code.isascii()) or code[0] not in ACCOUNT_KINDS:
        return "not a transaction code"
    account = ACCOUNT_KINDS[code[0]]
    direction = {"2": "credit", "3": "credit prenotification", "7": "debit",
                 "8": "debit prenotification", "5": "debit"}.get(code[1], "entry")
    return f"{account} {direction}"
