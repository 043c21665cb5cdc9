"""BAI2: the Cash Management Balance Reporting Specifications, Version 2 (BAI, now ASC X9).

A file is a sequence of records, each starting with a two-digit record code::

    01 file header        02 group header (as-of date, default currency)
    03 account identifier and summary (account, currency, then type/amount/count/funds groups)
    16 transaction detail 88 continuation of the previous record (any record, any field)
    49 account trailer    98 group trailer     99 file trailer

Fields are separated by ``,`` and a record ends with ``/``, except the free text of a 16
record, which may hold ``,`` and ``/`` and runs to the end of the physical line. A record may
stop early with ``/`` (the fields left out take their defaults) and an 88 record then goes on
with the next field. How the lines of the file are cut does not matter here:

- several records may share one physical line (each ended by ``/``); once a file does that,
  the text of a 16 record ends at a ``/`` that is directly followed by the record that may
  come next: an 88, a 16 (with its three-digit type code) or the 49 (with its total). In a file
  with one record per line the text runs to the end of its line, unless a ``/`` in it is
  followed by what cannot be text: a 16 with type code and amount, or a 49 with total and count;
- a record may be split over several physical lines: a line that does not begin with a record
  code continues the record (or the field, or the text) that the line before left open; a
  record code cut by a line end after a ``/`` is joined again;
- a record left without its ``/`` at the end of a line, when the next line begins a record,
  is taken as ended there (a harmless stray that the control totals still check), unless it
  still lacks a field it cannot do without: then the next line continues it, whatever it
  begins with (a line cut that happens to leave ``99,`` at the start of the next line);
- a text that ends with ``/`` at the end of its line loses that ``/``; each piece of text (the
  16's, each 88's) is stripped, and the pieces are joined with a space.

The file is read a physical line at a time: a file written as one single line is held whole
while it is read.

Amounts carry no decimal point: the decimals are implied by the currency (ISO 4217 minor
units: 2 for USD, GBP, EUR; 0 for JPY; 3 for KWD). The currency of an account is the one of
its 03 record, else the group's (02), else USD. In a 16 record the amount is unsigned and the
type code decides the sign: 100-399 and 920-959 are credits (money in, positive), 400-699 and
960-999 debits (money out, negative), 720-759 and 760-799 loan credits and debits, 890
non-monetary information (listed, never a payment). Status codes (balances: 001-099, 700-719,
900-919) belong to the 03 summary only.

Control records are checked and refuse the file on any difference (a blank control total is
read as zero, and must then agree like any other):

- 49: the account control total is the algebraic sum of every amount of the account's 03
  summary and of its 16 records (not the availability distributions); the number of records
  counts the 03, every 16, every 88 and the 49 itself;
- 98: the group control total is the sum of the account control totals, then the number of
  accounts and the number of records from the 02 to the 98, 88s included;
- 99: the file control total is the sum of the group control totals, then the number of groups
  and the number of records from the 01 to the 99, 88s included.

Records are counted as records (each record code met is one), not as lines: an 88 is one
record, several records on one line are several records, a record wrapped over two lines is
one. Both sample files of the test suite (a Citi file whose text runs over seven 88 records, an
SVB file whose summaries run over 88 records) agree with that reading.

What a statement line carries:

- ``bank_code`` is the BAI type code; ``reference`` the customer reference; ``remittance`` the
  text;
- ``bank_transaction_id`` is the bank reference number (the second line of an account's
  statement with the same reference gets ``#2`` after it, the third ``#3``, with a warning: two
  lines are never one payment); when the bank gives none it is the stable key
  ``BAI2:<account>:<as-of date YYYYMMDD>:<n>:<type code>:<amount in minor units>``, where
  ``n`` is the 1-based position of the 16 record among the account's detail records in its
  group: the same file read twice gives the same keys, and two identical payments on the same
  day keep apart by their position;
- the value date is the group's as-of date, or the date of a value-dated (``V``) funds type;
  the booking date is the as-of date;
- ``kind``: credits are credits; the debits that return or reverse an earlier credit are
  reversals (423, 468, 552, 554, 555, 557, 558, 561, 566, 568, 694, 695); the bank's charges
  are fees (524 commission, 564 overdraft fee, 567 return item fee, 661 account analysis fee,
  698 miscellaneous fees); any other debit (699 "miscellaneous debit" among them) is a debit.
  BAI2 has no chargeback type code.
- Times (file creation, as-of, value time) are not used and not checked: banks write them as
  HHMM, 2400, 9999 or HH:MM:SS.
- A group whose status is 2 (deletion) or 4 (test only) moves no money: its lines are listed as
  information with a warning. A group with status 3 (correction) is read as sent, with a warning.

Each account of each group is one ``Statement``: opening balance from the summary's 010
(opening ledger), else 040 (opening available); closing from 015 (closing ledger), else 045
(closing available) when the opening was 040. Opening + booked lines != closing is a
``Warning`` after the account's lines.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import BinaryIO

from .base import Item, Kind, Line, Statement, StatementError, Status, Warning

NAME = "BAI2"

CODES = frozenset(("01", "02", "03", "16", "49", "88", "98", "99"))
_RECORD_START = re.compile(r" *(0[123]|16|49|88|98|99),")
# In a file whose records share lines, the text of a 16 record ends at a "/" followed by the
# records that may come next: another 16 (with its three-digit type code), an 88, or the 49
# (with its control total).
_TEXT_END = re.compile(r"/ *(?=88,|16,[0-9]{3}[,/]|49,[+-]?[0-9]*[,/])")
_CODE_PREFIX = re.compile(r"0[123]?|16?|49?|88?|9[89]?")  # a record code cut by a line end
# Before any record has shared a line, only what cannot be text ends a text at a "/": a 16
# with its type code and amount, or a 49 with its total and count.
_TEXT_END_STRICT = re.compile(r"/ *(?=16,[0-9]{3},[0-9]+[,/]|49,[+-]?[0-9]*,[0-9]+ *(?:/|$))")
_DIGITS = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"[+-]?[0-9]+")

# ISO 4217 minor units where they are not 2.
_DECIMALS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}

REVERSAL_CODES = frozenset(
    ("423", "468", "552", "554", "555", "557", "558", "561", "566", "568", "694", "695")
)
FEE_CODES = frozenset(("524", "564", "567", "661", "698"))
GROUP_STATUS = {"1": "update", "2": "deletion", "3": "correction", "4": "test only"}
FUNDS_TYPES = frozenset(("", "Z", "0", "1", "2", "S", "V", "D"))
OPENING = ("010", "040")
CLOSING = {"010": "015", "040": "045"}


# How many fields each record cannot do without: 01 sender, receiver, creation date and time,
# file id; 02 receiver, originator, status, as-of date; 03 account; 16 type code and amount;
# 49 total and records; 98 and 99 total, accounts or groups, and records.
_REQUIRED = {"01": 5, "02": 4, "03": 1, "16": 2, "49": 2, "98": 3, "99": 3}
_DATES = {"01": 2, "02": 3}  # the field of the file creation date, of the as-of date
_DETAIL_CODES: dict[str, tuple[str, Kind]] = {}  # type code: (class, kind), as met


def sniff(head: bytes) -> bool:
    """A BAI2 file begins with its 01 file header."""
    return head.lstrip(codecs.BOM_UTF8).lstrip().startswith(b"01,")


def decimals(currency: str) -> int:
    return _DECIMALS.get(currency, 2)


def type_class(code: str) -> str:
    """``status``, ``credit``, ``debit``, ``info`` or ``unknown`` for a three-digit type code."""
    n = int(code)
    if n < 100 or 700 <= n <= 719 or 900 <= n <= 919:
        return "status"
    if n < 400 or 720 <= n <= 759 or 920 <= n <= 959:
        return "credit"
    if n < 700 or 760 <= n <= 799 or n >= 960:
        return "debit"
    if n == 890:
        return "info"
    return "unknown"


def kind_of(code: str) -> Kind:
    """The kind of a 16 record from its type code (see the module's docstring)."""
    cls = type_class(code)
    if cls != "debit":
        return Kind.CREDIT
    if code in REVERSAL_CODES:
        return Kind.REVERSAL
    if code in FEE_CODES:
        return Kind.FEE
    return Kind.DEBIT


def _where(line: int, col: int) -> str:
    return f"line {line}, column {col}"


def _fixed_fields(tokens: list[str], rec: _Record) -> int | None:
    """How many fields a 16 record has before its text (type code, amount, funds type and its
    availability fields, bank and customer references), or None while ``tokens`` (its first
    fields) do not tell yet."""
    if len(tokens) < 3:
        return None
    funds = tokens[2].strip().upper()
    if funds == "S":  # three availability amounts
        return 8
    if funds == "V":  # value date and time
        return 7
    if funds == "D":  # a number of distributions, then days and amount for each
        if len(tokens) < 4:
            return None
        count = tokens[3].strip()
        if not _DIGITS.fullmatch(count):
            raise StatementError(f"record 16: the number of availability distributions "
                                 f"{count!r} of funds type D is not a number",
                                 rec.field_where(3))
        return 6 + 2 * int(count)
    return 5


class _Record:
    """One logical record: a record and the 88 records that continue it."""

    __slots__ = ("code", "line", "col", "tokens", "segments", "partial", "text", "text_tail",
                 "in_text", "closed", "count", "fixed")

    def __init__(self, code: str, line: int, col: int):
        self.code = code
        self.line = line
        self.col = col
        self.tokens: list[str] = []  # the fields, the text of a 16 record apart
        # (first token, line, column): from that token on, the fields follow one another on
        # that line, one comma apart
        self.segments: list[tuple[int, int, int]] = []
        self.partial: str | None = None  # a field left open at the end of a line
        self.text: list[str] = []  # 16 only: the text, a piece per physical record
        self.text_tail = ""
        self.in_text = False
        self.closed = False  # ended by "/": what follows must be a new record (or an 88)
        self.count = 1  # physical records: the record and its 88s
        self.fixed = -1  # number of fields before the text (16 only), once known

    @property
    def where(self) -> str:
        return _where(self.line, self.col)

    def field_where(self, index: int) -> str:
        for first, line, col in reversed(self.segments):
            if first <= index:
                for m in range(first, min(index, len(self.tokens))):
                    col += len(self.tokens[m]) + 1
                return _where(line, col)
        return self.where

    def complete(self) -> bool:
        """Whether the record has all the fields it cannot do without (counting one that a line
        end may have cut): only then may a line that begins like a record end it."""
        if self.in_text:
            return True
        have = len(self.tokens)
        if self.partial is not None and not (
                _DATES.get(self.code) == have and len(self.partial.strip()) < 6):
            have += 1  # a field the line end left open counts, unless a date cut short
        return have >= _REQUIRED[self.code]

    def get(self, index: int) -> str:
        return self.tokens[index].strip() if index < len(self.tokens) else ""

    def wants_text(self) -> bool:
        """Whether the next field of this 16 record is its text."""
        if self.in_text:
            return True
        if self.fixed < 0:
            fixed = _fixed_fields(self.tokens, self)
            if fixed is None:
                return False
            self.fixed = fixed
        if len(self.tokens) >= self.fixed:
            self.in_text = True
        return self.in_text


class _Reader:
    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.shared = False  # records have been seen sharing a line
        self.rec: _Record | None = None
        # structure
        self.state = "start"  # start, file, group, account, done
        self.file_records = 0
        self.group_records = 0
        self.account_records = 0
        self.file_total = 0
        self.group_total = 0
        self.account_total = 0
        self.groups = 0
        self.accounts = 0
        self.created: date | None = None
        # group
        self.as_of: date | None = None
        self.group_currency = "USD"
        self.group_status = "1"
        # account
        self.account = ""
        self.currency = "USD"
        self.places = 2
        self.statement_id = ""
        self.position = 0
        self.refs = {}
        self.opening: tuple[str, int] | None = None
        self.closing: int | None = None
        self.booked = 0

    # --- physical lines -------------------------------------------------------------------

    def lines(self) -> Iterator[tuple[int, str]]:
        number = 0
        first = True
        for raw in self.stream:
            if first:
                first = False
                if raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
            raw = raw.rstrip(b"\r\n")
            pieces = raw.split(b"\r") if b"\r" in raw else (raw,)
            for piece in pieces:
                number += 1
                try:
                    text = piece.decode("utf-8")
                except UnicodeDecodeError:
                    text = piece.decode("latin-1")
                yield number, text

    # --- records ---------------------------------------------------------------------------

    def read(self) -> Iterator[Item]:
        last = 0
        carry = ""  # the start of a record code that a line end cut
        for number, s in self.lines():
            last = number
            if carry:
                s = carry + s
                carry = ""
            pos = 0
            n = len(s)
            rec = self.rec
            seen = False  # a record has begun on this line
            if rec is not None and not rec.closed:
                if not s or (_RECORD_START.match(s) and rec.complete()):
                    self.close(rec)
                elif rec.in_text and rec.text and self.text_ends_across(rec, s):
                    s = rec.text_tail + s  # the record code that the line end cut
                    n = len(s)
                else:  # a record (or a field, or a text) wrapped onto this line
                    pos = self.feed(rec, s, 0, number, glue=True)
                    seen = True
            while pos < n:
                while pos < n and s[pos] == " ":
                    pos += 1
                if pos >= n:
                    break
                m = _RECORD_START.match(s, pos)
                if m is None:
                    if (rec is None or rec.closed) and _CODE_PREFIX.fullmatch(s, pos):
                        carry = s[pos:]
                        self.shared = self.shared or seen
                        break
                    found = s[pos:pos + 12]
                    raise StatementError(
                        f"expected a record code (01, 02, 03, 16, 49, 88, 98 or 99) and a comma, "
                        f"found {found!r}", _where(number, pos + 1))
                code = m.group(1)
                if seen:
                    self.shared = True
                seen = True
                if code == "88":
                    if rec is None:
                        raise StatementError("a continuation record (88) with no record before it",
                                             _where(number, pos + 1))
                    if rec.partial is not None:
                        self.close(rec)
                    rec.count += 1
                    rec.closed = False
                    pos = self.feed(rec, s, m.end(), number)
                else:
                    if rec is not None:
                        self.close(rec)
                        yield from self.finish(rec)
                    rec = self.rec = _Record(code, number, pos + 1)
                    pos = self.feed(rec, s, m.end(), number)
        if carry:
            raise StatementError(f"the file ends inside a record code {carry!r}",
                                 _where(last, 1))
        if self.rec is not None:
            self.close(self.rec)
            yield from self.finish(self.rec)
            self.rec = None
        if self.state != "done":
            what = {"start": "no 01 file header", "file": "no 99 file trailer",
                    "group": "no 98 group trailer and no 99 file trailer",
                    "account": "no 49 account trailer, 98 group trailer or 99 file trailer"}
            raise StatementError(f"the file ends early: {what[self.state]} (a truncated file?)",
                                 _where(last + 1, 1))

    def text_ends_across(self, rec: _Record, s: str) -> bool:
        """Whether the text of ``rec`` ended at a "/" near the end of the line before, the
        start of the record after it cut by the line end (``.../8`` then ``8,...``)."""
        tail = rec.text[-1]
        pattern = _TEXT_END if self.shared else _TEXT_END_STRICT
        k = tail.find("/", max(0, len(tail) - 24))
        while k != -1:
            if pattern.match(tail[k:] + s[:40]):
                rec.text[-1] = tail[:k]
                rec.text_tail = tail[k + 1:].lstrip()
                rec.closed = True
                return True
            k = tail.find("/", k + 1)
        return False

    def close(self, rec: _Record) -> None:
        if rec.partial is not None:
            rec.tokens.append(rec.partial)
            rec.partial = None
        rec.closed = True

    def feed(self, rec: _Record, s: str, pos: int, number: int, glue: bool = False) -> int:
        """Read the fields of ``rec`` from ``s`` at ``pos``; the position after the record's
        ``/`` or the end of the line."""
        n = len(s)
        is16 = rec.code == "16"
        tokens = rec.tokens
        if rec.partial is not None and not rec.in_text:  # a field the line before left open
            j = s.find(",", pos)
            k = s.find("/", pos)
            if k != -1 and (j == -1 or k < j):
                j = k
            if j == -1:
                rec.partial += s[pos:]
                return n
            tokens.append(rec.partial + s[pos:j])
            rec.partial = None
            glue = False
            if s[j] == "/":
                rec.closed = True
                return j + 1
            pos = j + 1
            if pos >= n and not (is16 and rec.wants_text()):
                rec.partial = ""  # the line ends on a comma: the next field is on the next line
                return n
        while True:
            if is16 and rec.wants_text():
                return self.feed_text(rec, s, pos, glue)
            if pos >= n:
                return n
            k = s.find("/", pos)
            end = n if k == -1 else k
            parts = s[pos:end].split(",")
            if is16:
                # the first fields tell where the text begins (a field the line end cuts
                # does not tell yet)
                known = tokens if len(tokens) >= 4 else (
                    tokens + (parts if k != -1 else parts[:-1]))[:4]
                fixed = rec.fixed if rec.fixed >= 0 else _fixed_fields(known, rec)
                if fixed is not None and len(tokens) + len(parts) > fixed:
                    # the text begins on this line, after the fields it still lacks
                    take = fixed - len(tokens)
                    rec.segments.append((len(tokens), number, pos + 1))
                    for part in parts[:take]:
                        pos += len(part) + 1
                    tokens.extend(parts[:take])
                    rec.fixed = fixed
                    rec.in_text = True
                    continue
            rec.segments.append((len(tokens), number, pos + 1))
            if k == -1:  # the last field goes on past the end of the line
                rec.partial = parts.pop()
                tokens.extend(parts)
                return n
            tokens.extend(parts)
            rec.closed = True
            return k + 1

    def feed_text(self, rec: _Record, s: str, pos: int, glue: bool) -> int:
        """The text of a 16 record: to the end of the line, or to the "/" before the next
        record (see ``_TEXT_END``)."""
        n = len(s)
        end = nxt = n
        if "/" in s[pos:]:
            m = (_TEXT_END if self.shared else _TEXT_END_STRICT).search(s, pos)
            if m is not None:
                end, nxt = m.start(), m.end()
        piece = s[pos:end]
        if end < n:
            rec.closed = True
        elif piece.endswith("/"):
            piece = piece[:-1]
            rec.closed = True
        if glue and rec.text:
            rec.text[-1] += piece
        else:
            rec.text.append(piece)
        return nxt

    # --- meaning ---------------------------------------------------------------------------

    def finish(self, rec: _Record) -> Iterator[Item]:
        code = rec.code
        if self.state == "done":
            raise StatementError(f"record {code} after the 99 file trailer", rec.where)
        if code == "01":
            self.expect(rec, "start")
            yield from self.file_header(rec)
        elif code == "02":
            self.expect(rec, "file")
            yield from self.group_header(rec)
        elif code == "03":
            self.expect(rec, "group")
            yield from self.account_header(rec)
        elif code == "16":
            self.expect(rec, "account")
            yield from self.detail(rec)
        elif code == "49":
            self.expect(rec, "account")
            yield from self.account_trailer(rec)
        elif code == "98":
            self.expect(rec, "group")
            self.group_trailer(rec)
        else:  # 99
            self.expect(rec, "file")
            self.file_trailer(rec)

    _EXPECTED = {
        "start": "a 01 file header",
        "file": "a 02 group header or the 99 file trailer",
        "group": "a 03 account record or the 98 group trailer",
        "account": "a 16 detail, an 88 continuation or the 49 account trailer",
    }
    _NAMES = {"01": "file header", "02": "group header", "03": "account record",
              "16": "transaction detail", "49": "account trailer", "98": "group trailer",
              "99": "file trailer"}

    def expect(self, rec: _Record, state: str) -> None:
        if self.state != state:
            raise StatementError(
                f"record {rec.code} ({self._NAMES[rec.code]}) out of place: expected "
                f"{self._EXPECTED[self.state]}", rec.where)

    def count(self, rec: _Record) -> None:
        self.file_records += rec.count
        if self.state in ("group", "account"):
            self.group_records += rec.count
        if self.state == "account":
            self.account_records += rec.count

    def no_more(self, rec: _Record, expected: int) -> None:
        for i in range(expected, len(rec.tokens)):
            if rec.tokens[i].strip():
                raise StatementError(
                    f"record {rec.code} has an unexpected field {i + 1}: {rec.tokens[i]!r}",
                    rec.field_where(i))

    def integer(self, rec: _Record, index: int, name: str, signed: bool = False,
                required: bool = True) -> int | None:
        value = rec.get(index)
        if not value:
            if required:
                raise StatementError(f"record {rec.code}: {name} is missing",
                                     rec.field_where(index))
            return None
        if not (_SIGNED if signed else _DIGITS).fullmatch(value):
            raise StatementError(f"record {rec.code}: {name} {value!r} is not a"
                                 f"{' signed' if signed else ''} whole number (no decimal point "
                                 "in BAI2 amounts)", rec.field_where(index))
        return int(value)

    def date(self, rec: _Record, index: int, name: str, required: bool = True) -> date | None:
        value = rec.get(index)
        if not value and not required:
            return None
        if len(value) == 6 and _DIGITS.fullmatch(value):
            yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
            try:
                return date(2000 + yy if yy < 80 else 1900 + yy, mm, dd)
            except ValueError:
                pass
        raise StatementError(f"record {rec.code}: {name} {value!r} is not a date (YYMMDD)",
                             rec.field_where(index))

    def currency_code(self, rec: _Record, index: int, default: str) -> str:
        value = rec.get(index).upper()
        if not value:
            return default
        if len(value) != 3 or not value.isalpha() or not value.isascii():
            raise StatementError(f"record {rec.code}: currency code {value!r} is not an ISO 4217 "
                                 "code", rec.field_where(index))
        return value

    def file_header(self, rec: _Record) -> Iterator[Item]:
        if not rec.get(0):
            raise StatementError("record 01: sender identification is missing", rec.field_where(0))
        self.created = self.date(rec, 2, "file creation date")
        version = rec.get(7)
        if version not in ("2", ""):
            raise StatementError(f"record 01: version {version!r}: only BAI version 2 is read",
                                 rec.field_where(7))
        self.no_more(rec, 8)
        self.state = "file"
        self.count(rec)
        return iter(())

    def group_header(self, rec: _Record) -> Iterator[Item]:
        self.state = "group"
        self.group_records = 0
        self.group_total = 0
        self.accounts = 0
        self.groups += 1
        self.count(rec)
        status = rec.get(2) or "1"
        if status not in GROUP_STATUS:
            raise StatementError(f"record 02: group status {status!r} is not 1, 2, 3 or 4",
                                 rec.field_where(2))
        self.group_status = status
        self.as_of = self.date(rec, 3, "as-of date")
        self.group_currency = self.currency_code(rec, 5, "USD")
        modifier = rec.get(6)
        if modifier not in ("", "1", "2", "3", "4"):
            raise StatementError(f"record 02: as-of-date modifier {modifier!r} is not 1, 2, 3 or 4",
                                 rec.field_where(6))
        self.no_more(rec, 7)
        if status != "1":
            yield Warning(f"group {self.groups} (as of {self.as_of.isoformat()}) has status "
                          f"{status} ({GROUP_STATUS[status]})"
                          + (": its lines are listed, never payments" if status in "24"
                             else ": it replaces what the bank sent before"), rec.where)

    def account_header(self, rec: _Record) -> Iterator[Item]:
        self.state = "account"
        self.account_records = 0
        self.accounts += 1
        self.position = 0
        self.booked = 0
        self.refs: dict[str, int] = {}  # bank references of the account's lines, and how often
        self.count(rec)
        account = rec.get(0)
        if not account:
            raise StatementError("record 03: customer account number is missing",
                                 rec.field_where(0))
        self.account = account
        self.currency = self.currency_code(rec, 1, self.group_currency)
        places = self.places = decimals(self.currency)
        total = 0
        balances: dict[str, int] = {}
        tokens = rec.tokens
        i, n = 2, len(tokens)
        while i < n:
            code = tokens[i].strip()
            if not code:  # an empty field between summaries, or a comma before the "/"
                i += 1
                continue
            if not (len(code) == 3 and _DIGITS.fullmatch(code)):
                raise StatementError(f"record 03: type code {code!r} is not three digits",
                                     rec.field_where(i))
            if type_class(code) in ("unknown", "info"):
                raise StatementError(f"record 03: type code {code} is not a summary or status "
                                     "code", rec.field_where(i))
            amount = self.integer(rec, i + 1, f"amount of type {code}", signed=True,
                                  required=False)
            self.integer(rec, i + 2, f"item count of type {code}", required=False)
            i = self.funds(rec, i + 3, code)
            if amount is not None:
                total += amount
                balances.setdefault(code, amount)
        self.account_total = total
        self.statement_id = self.as_of.isoformat()
        opening = closing = None
        self.opening = None
        self.closing = None
        for code in OPENING:
            if code in balances:
                self.opening = (code, balances[code])
                opening = Decimal(balances[code]).scaleb(-places)
                if CLOSING[code] in balances:
                    self.closing = balances[CLOSING[code]]
                    closing = Decimal(self.closing).scaleb(-places)
                break
        if self.opening is None and "015" in balances:
            closing = Decimal(balances["015"]).scaleb(-places)
        yield Statement(
            account=account, currency=self.currency, statement_id=self.statement_id,
            created=self.created, period_start=self.as_of, period_end=self.as_of,
            opening_balance=opening, closing_balance=closing, where=rec.where)

    def funds(self, rec: _Record, i: int, code: str) -> int:
        """Check the funds type at ``i`` and its availability fields; the index after them."""
        funds = rec.get(i).upper()
        if funds not in FUNDS_TYPES:
            raise StatementError(f"record {rec.code}: funds type {funds!r} of type {code} is not "
                                 "Z, 0, 1, 2, S, V or D", rec.field_where(i))
        if funds == "S":
            for j in range(i + 1, i + 4):
                self.integer(rec, j, "availability amount", signed=True, required=False)
            return i + 4
        if funds == "V":
            self.date(rec, i + 1, "value date", required=False)
            return i + 3
        if funds == "D":
            count = self.integer(rec, i + 1, "number of availability distributions")
            if i + 2 + 2 * count > len(rec.tokens):
                raise StatementError(
                    f"record {rec.code}: funds type D announces {count} distributions but "
                    f"the record has fewer fields", rec.field_where(i))
            for j in range(count):
                self.integer(rec, i + 2 + 2 * j, "availability days")
                self.integer(rec, i + 3 + 2 * j, "availability amount", signed=True)
            return i + 2 + 2 * count
        return i + 1

    def detail(self, rec: _Record) -> Iterator[Item]:
        self.count(rec)
        self.position += 1
        code = rec.get(0)
        known = _DETAIL_CODES.get(code)
        if known is None:
            if not (len(code) == 3 and _DIGITS.fullmatch(code)):
                raise StatementError(f"record 16: type code {code!r} is not three digits",
                                     rec.field_where(0))
            cls = type_class(code)
            if cls in ("status", "unknown"):
                raise StatementError(f"record 16: type code {code} is not a transaction code "
                                     f"({'a balance' if cls == 'status' else 'not in use'})",
                                     rec.field_where(0))
            known = _DETAIL_CODES[code] = (cls, kind_of(code))
        cls, kind = known
        raw = rec.get(1)
        if raw.startswith("+"):
            raw = raw[1:]
        if not _DIGITS.fullmatch(raw):
            raise StatementError(f"record 16: amount {rec.get(1)!r} is not an unsigned whole "
                                 "number (no decimal point in BAI2 amounts; the type code gives "
                                 "the sign)", rec.field_where(1))
        minor = int(raw)
        self.account_total += minor
        value_date = self.as_of
        funds = rec.get(2).upper()
        if funds not in FUNDS_TYPES:
            raise StatementError(f"record 16: funds type {funds!r} is not Z, 0, 1, 2, S, V or D",
                                 rec.field_where(2))
        if funds == "V":
            value_date = self.date(rec, 3, "value date", required=False) or self.as_of
        i = self.funds(rec, 2, code)
        bank_ref = rec.get(i)
        customer_ref = rec.get(i + 1)
        text = " ".join(p for p in (piece.strip() for piece in rec.text) if p)
        amount = Decimal(minor).scaleb(-self.places)
        status = Status.BOOKED
        notes: tuple[str, ...] = ()
        if cls == "debit":
            amount = -amount
        elif cls == "info":
            status = Status.INFO
            notes = ("non-monetary information (type 890)",)
        if self.group_status in "24":
            status = Status.INFO
            notes += (f"group status {self.group_status} ({GROUP_STATUS[self.group_status]})",)
        if status is Status.BOOKED:
            self.booked += -minor if cls == "debit" else minor
        repeated = ""
        if bank_ref:
            seen = self.refs[bank_ref] = self.refs.get(bank_ref, 0) + 1
            txid = bank_ref if seen == 1 else f"{bank_ref}#{seen}"
            if seen > 1:
                repeated = (f"bank reference {bank_ref} is on {seen} lines of account "
                            f"{self.account} as of {self.as_of.isoformat()}: this one is kept "
                            f"apart as {txid}")
        else:
            txid = f"BAI2:{self.account}:{self.as_of:%Y%m%d}:{self.position}:{code}:{minor}"
        yield Line(
            account=self.account, statement_id=self.statement_id, value_date=value_date,
            amount=amount, currency=self.currency, bank_transaction_id=txid,
            kind=kind, status=status, booking_date=self.as_of,
            reference=customer_ref, remittance=text, bank_code=code, notes=notes,
            where=rec.where)
        if repeated:
            yield Warning(repeated, rec.where)

    def account_trailer(self, rec: _Record) -> Iterator[Item]:
        self.count(rec)
        # a blank total is taken as zero (and must then agree)
        stated = self.integer(rec, 0, "account control total", signed=True, required=False) or 0
        records = self.integer(rec, 1, "number of records")
        self.no_more(rec, 2)
        if stated != self.account_total:
            raise StatementError(
                f"record 49: account control total {stated} of account {self.account} differs "
                f"from the sum of its 03 and 16 amounts, {self.account_total}",
                rec.field_where(0))
        if records != self.account_records:
            raise StatementError(
                f"record 49: account {self.account} states {records} records but has "
                f"{self.account_records} (03, 16, 88 and 49 records)", rec.field_where(1))
        self.group_total += stated
        self.state = "group"
        if self.opening is not None and self.closing is not None:
            expected = self.opening[1] + self.booked
            if expected != self.closing:
                places = decimals(self.currency)
                opening = Decimal(self.opening[1]).scaleb(-places)
                moved = Decimal(self.booked).scaleb(-places)
                closing = Decimal(self.closing).scaleb(-places)
                yield Warning(
                    f"account {self.account} on {self.as_of.isoformat()}: opening balance "
                    f"{opening} {self.currency} (type {self.opening[0]}) plus the lines read "
                    f"({moved}) is {opening + moved}, but the closing balance (type "
                    f"{CLOSING[self.opening[0]]}) is {closing}", rec.where)

    def group_trailer(self, rec: _Record) -> None:
        self.count(rec)
        stated = self.integer(rec, 0, "group control total", signed=True, required=False) or 0
        accounts = self.integer(rec, 1, "number of accounts")
        records = self.integer(rec, 2, "number of records")
        self.no_more(rec, 3)
        if stated != self.group_total:
            raise StatementError(f"record 98: group control total {stated} differs from the sum "
                                 f"of the account control totals, {self.group_total}",
                                 rec.field_where(0))
        if accounts != self.accounts:
            raise StatementError(f"record 98: the group states {accounts} accounts but has "
                                 f"{self.accounts}", rec.field_where(1))
        if records != self.group_records:
            raise StatementError(f"record 98: the group states {records} records but has "
                                 f"{self.group_records} (02 to 98, 88s included)",
                                 rec.field_where(2))
        self.file_total += stated
        self.state = "file"

    def file_trailer(self, rec: _Record) -> None:
        self.count(rec)
        stated = self.integer(rec, 0, "file control total", signed=True, required=False) or 0
        groups = self.integer(rec, 1, "number of groups")
        records = self.integer(rec, 2, "number of records")
        self.no_more(rec, 3)
        if stated != self.file_total:
            raise StatementError(f"record 99: file control total {stated} differs from the sum "
                                 f"of the group control totals, {self.file_total}",
                                 rec.field_where(0))
        if groups != self.groups:
            raise StatementError(f"record 99: the file states {groups} groups but has "
                                 f"{self.groups}", rec.field_where(1))
        if records != self.file_records:
            raise StatementError(f"record 99: the file states {records} records but has "
                                 f"{self.file_records} (01 to 99, 88s included)",
                                 rec.field_where(2))
        self.state = "done"


def read(stream: BinaryIO, **options) -> Iterator[Item]:
    """The statements, lines and warnings of a BAI2 file, in file order."""
    return _Reader(stream).read()
