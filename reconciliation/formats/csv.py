"""CSV statements, read under a column mapping saved per client (``CsvOptions``).

A CSV export says nothing of its own layout, so the mapping says it all: encoding, delimiter,
quote, which line holds the header, the date format, the decimal and thousands separators, how
amounts are signed (as the client sees them, inverted, or in separate debit and credit columns)
and which column holds what. Every value is checked; the first one that does not fit refuses the
file with its line and column name.

Stable key, where the mapping names no transaction id column: the key of a line is
``csv:`` + the first 32 hex digits of sha256 over, joined by NUL, the account, value date,
amount, currency, reference, payer name, payer account and the occurrence number of that same
tuple within the file (0 for the first, 1 for the second identical line, ...). Two identical
payments on one day stay apart, and the same file read again gives the same keys. (The counter is
kept per 64-bit prefix of the tuple's digest: a collision of two different tuples only numbers the
second one higher, which keeps every key distinct and the same on every read.)
"""

from __future__ import annotations

import codecs
import csv as _csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import BinaryIO

from .base import Item, Kind, Line, Statement, StatementError, Status

SIGN_AS_IS = "as_is"  # amounts are signed as the client sees them: money in is positive
SIGN_INVERTED = "inverted"  # the file signs them the other way round
SIGN_DEBIT_CREDIT = "debit_credit"  # unsigned amounts in a debit and a credit column
SIGNS = (SIGN_AS_IS, SIGN_INVERTED, SIGN_DEBIT_CREDIT)

# The mapping's options that name a column (by its header text, or its number from 1 when the
# file has no header line).
COLUMN_OPTIONS = (
    "amount_column", "debit_column", "credit_column", "value_date_column", "booking_date_column",
    "reference_column", "remittance_column", "payer_name_column", "payer_account_column",
    "transaction_id_column", "kind_column", "currency_column", "account_column",
)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_FIELD = 100_000


@dataclass(frozen=True)
class CsvOptions:
    """How to read one bank's CSV export."""

    value_date_column: str
    amount_column: str = ""  # with sign as_is or inverted
    debit_column: str = ""  # with sign debit_credit
    credit_column: str = ""
    sign: str = SIGN_AS_IS
    account: str = ""  # the client's account the file is a statement of (when no account column)
    account_column: str = ""
    currency: str = ""  # the currency of lines whose currency column is empty (or when none)
    currency_column: str = ""
    booking_date_column: str = ""
    reference_column: str = ""
    remittance_column: str = ""
    payer_name_column: str = ""
    payer_account_column: str = ""
    transaction_id_column: str = ""
    kind_column: str = ""
    # Values of the kind column -> kind (credit, reversal, chargeback, fee, debit); a value not
    # listed leaves the kind to the sign (money in: credit; out: debit).
    kinds: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'
    header_row: int = 1  # the line number of the header (0: no header, columns by number)
    date_format: str = "%Y-%m-%d"
    decimal_separator: str = "."
    thousands_separator: str = ""

    def __post_init__(self):
        problems = []
        if self.sign not in SIGNS:
            problems.append(f"sign must be one of {', '.join(SIGNS)}, not {self.sign!r}")
        elif self.sign == SIGN_DEBIT_CREDIT and not (self.debit_column and self.credit_column):
            problems.append("sign debit_credit needs a debit column and a credit column")
        elif self.sign != SIGN_DEBIT_CREDIT and not self.amount_column:
            problems.append("an amount column is needed (or sign debit_credit with debit and credit columns)")
        if not self.value_date_column:
            problems.append("a value date column is needed")
        if not (self.account or self.account_column):
            problems.append("the account (or an account column) is needed")
        if not (self.currency or self.currency_column):
            problems.append("a currency (or a currency column) is needed")
        if self.currency and not _CURRENCY.match(self.currency):
            problems.append(f"currency {self.currency!r} is not an ISO 4217 code such as EUR")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            problems.append(f"unknown encoding {self.encoding!r}")
        if len(self.delimiter) != 1 or self.delimiter in "\r\n":
            problems.append("the delimiter must be one character")
        if len(self.quote) != 1 or self.quote in "\r\n" or self.quote == self.delimiter:
            problems.append("the quote must be one character other than the delimiter")
        if not isinstance(self.header_row, int) or self.header_row < 0:
            problems.append("the header row is a line number from 1, or 0 for no header")
        if len(self.decimal_separator) != 1 or self.decimal_separator.isdigit():
            problems.append("the decimal separator must be one character such as . or ,")
        if self.thousands_separator == self.decimal_separator or len(self.thousands_separator) > 1:
            problems.append("the thousands separator must be empty or one character other than the decimal separator")
        try:
            dt.date(2001, 2, 3).strftime(self.date_format)
            if "%" not in self.date_format:
                raise ValueError
        except ValueError:
            problems.append(f"date format {self.date_format!r} is not a strftime format such as %d.%m.%Y")
        for value, kind in (self.kinds or {}).items():
            if kind not in Kind.__members__.values():
                problems.append(f"kind {kind!r} (for {value!r}) is not one of {', '.join(Kind)}")
        if problems:
            raise StatementError("the CSV mapping is not usable: " + "; ".join(problems))

    @classmethod
    def from_options(cls, options: dict) -> CsvOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise StatementError(f"the CSV mapping has unknown options: {', '.join(unknown)}")
        try:
            return cls(**options)
        except TypeError as exc:
            raise StatementError(f"the CSV mapping is not usable: {exc}") from None

    def as_dict(self) -> dict:
        return asdict(self)


def sniff(head: bytes) -> bool:
    """CSV is never guessed: almost any text parses as CSV. It is chosen with a mapping."""
    return False


def stable_key(account: str, value_date: dt.date, amount: Decimal, currency: str, reference: str,
               payer_name: str, payer_account: str, occurrence: int) -> str:
    """The documented key of a line without a transaction id (see the module's docstring)."""
    text = "\0".join((account, value_date.isoformat(), f"{amount:f}", currency, reference, payer_name,
                      payer_account, str(occurrence)))
    return "csv:" + hashlib.sha256(text.encode()).hexdigest()[:32]


class _Row:
    """One record of the file, its fields looked up by the mapping's column names."""

    __slots__ = ("fields", "line")

    def __init__(self, fields: list[str], line: int):
        self.fields = fields
        self.line = line


def _where(line: int, column: str = "") -> str:
    return f"line {line}, column {column}" if column else f"line {line}"


class _Bad(ValueError):
    """A value that does not fit; the reader adds its line and column."""


_PLAIN_AMOUNT = re.compile(r"-?\d{1,16}(\.\d{1,2})?")
_CENT = Decimal("0.01")


def parse_amount(text: str, options: CsvOptions) -> Decimal:
    """A number as the mapping writes it: "1.525,00", "-33.50", "(12.00)", "12.00-", "+5"."""
    value = text.strip()
    if options.decimal_separator == "." and _PLAIN_AMOUNT.fullmatch(value):
        return Decimal(value).quantize(_CENT)
    negative = False
    if value.startswith("(") and value.endswith(")"):
        value, negative = value[1:-1].strip(), True
    if value.endswith("-"):
        value, negative = value[:-1].strip(), not negative
    if value[:1] in "+-" and value:
        negative ^= value[0] == "-"
        value = value[1:].strip()
    if options.thousands_separator:
        groups = value.split(options.decimal_separator)[0].split(options.thousands_separator)
        if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
            raise _Bad(f"{text!r} is not an amount (thousands groups of three digits)")
        value = value.replace(options.thousands_separator, "")
    if options.decimal_separator != ".":
        if "." in value:
            raise _Bad(f"{text!r} is not an amount with {options.decimal_separator!r} as decimal separator")
        value = value.replace(options.decimal_separator, ".")
    if not re.fullmatch(r"\d+(\.\d+)?|\.\d+", value):
        raise _Bad(f"{text!r} is not an amount")
    amount = Decimal(value)
    if amount != amount.quantize(_CENT):
        raise _Bad(f"{text!r} has more than two decimals")
    if amount >= Decimal("1e16"):
        raise _Bad(f"{text!r} is too large an amount")
    return (-amount if negative else amount).quantize(_CENT)


class _Dates:
    """Text -> date under the mapping's format; statements repeat few dates, so each is parsed once."""

    def __init__(self, date_format: str):
        self.date_format = date_format
        self.seen: dict[str, dt.date] = {}

    def __call__(self, text: str) -> dt.date:
        found = self.seen.get(text)
        if found is not None:
            return found
        try:
            value = dt.datetime.strptime(text, self.date_format).date()
        except ValueError:
            raise _Bad(f"{text!r} is not a date in the format {self.date_format}") from None
        if len(self.seen) > 10_000:
            self.seen.clear()
        self.seen[text] = value
        return value


MAX_LINE = 1024 * 1024


def _text_lines(stream: BinaryIO, options: CsvOptions, counter: list[int]) -> Iterator[str]:
    """The file's lines as text, decoded one at a time so that a decoding error names its line;
    counter[0] is the number of the line last given out."""
    encoding = "utf-8-sig" if codecs.lookup(options.encoding).name == "utf-8" else options.encoding
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    pending = ""
    while True:
        chunk = stream.readline(MAX_LINE)
        try:
            pending += decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise StatementError(
                f"the file is not {options.encoding} text (byte {exc.object[exc.start:exc.start + 1]!r})",
                f"line {counter[0] + 1}",
            ) from None
        *complete, pending = pending.split("\n")
        for line in complete:
            counter[0] += 1
            yield line + "\n"
        if len(pending) > MAX_LINE:
            raise StatementError("a line longer than 1 MB: not a CSV statement", f"line {counter[0] + 1}")
        if not chunk:
            if pending:
                counter[0] += 1
                yield pending
            return


def _records(stream: BinaryIO, options: CsvOptions) -> Iterator[_Row]:
    """The file's records with the line each starts on; blank lines are left out."""
    counter = [0]
    reader = _csv.reader(_text_lines(stream, options, counter), delimiter=options.delimiter,
                         quotechar=options.quote, strict=True)
    while True:
        start = counter[0] + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except _csv.Error as exc:
            raise StatementError(f"not CSV as the mapping describes it: {exc}", _where(start)) from None
        if not record or all(not value.strip() for value in record):
            continue
        for value in record:
            if "\0" in value:
                raise StatementError("the line holds a NUL byte: not a CSV statement", _where(start))
            if len(value) > MAX_FIELD:
                raise StatementError(f"a field longer than {MAX_FIELD} characters", _where(start))
        yield _Row(record, start)


class _Columns:
    """Where each mapped column sits in a record."""

    def __init__(self, options: CsvOptions, header: _Row | None):
        self.index: dict[str, int] = {}
        self.names: dict[str, str] = {}
        self.width = len(header.fields) if header else None
        for option in COLUMN_OPTIONS:
            name = getattr(options, option)
            if not name:
                continue
            if header is None:
                if not (name.isdigit() and name.isascii()) or int(name) < 1:
                    raise StatementError(
                        f"without a header line, columns are numbers from 1: {option} is {name!r}"
                    )
                self.index[option] = int(name) - 1
                self.names[option] = f"#{name}"
                continue
            found = [i for i, title in enumerate(header.fields) if title.strip() == name.strip()]
            if not found:
                titles = ", ".join(t.strip() for t in header.fields)
                raise StatementError(
                    f"the mapping's {option.replace('_column', '').replace('_', ' ')} column {name!r} is not in the header ({titles})",
                    _where(header.line),
                )
            if len(found) > 1:
                raise StatementError(f"the header names column {name!r} twice", _where(header.line))
            self.index[option] = found[0]
            self.names[option] = name
        self.needed = max(self.index.values()) + 1
        # Every option's position; -1 (the empty field values() appends) for an option without a column.
        self.positions = tuple(self.index.get(option, -1) for option in COLUMN_OPTIONS)

    def values(self, row: _Row) -> tuple[str, ...]:
        """The fields of COLUMN_OPTIONS in order, stripped; "" for an option without a column."""
        found = row.fields
        if len(found) < self.needed:
            raise StatementError(f"the line has {len(found)} fields; the mapping reads {self.needed}", _where(row.line))
        found = [*found, ""]
        return tuple(found[i].strip() for i in self.positions)


def read(stream: BinaryIO, **options) -> Iterator[Item]:
    """The lines of a CSV statement under a mapping (``CsvOptions`` fields as keywords)."""
    mapping = CsvOptions.from_options(options)
    records = _records(stream, mapping)
    header = None
    if mapping.header_row:
        for row in records:
            if row.line >= mapping.header_row:
                header = row
                break
        if header is None:
            raise StatementError(f"the file ends before its header line {mapping.header_row}")
    columns = _Columns(mapping, header)
    statements: set[str] = set()
    occurrences: dict[int, int] = {}
    kinds = {key.strip().casefold(): Kind(value) for key, value in (mapping.kinds or {}).items()}
    dates = _Dates(mapping.date_format)
    has_transaction_id = "transaction_id_column" in columns.index
    debit_credit, inverted = mapping.sign == SIGN_DEBIT_CREDIT, mapping.sign == SIGN_INVERTED
    entries = 0
    for row in records:
        if columns.width is not None and len(row.fields) != columns.width:
            raise StatementError(
                f"the line has {len(row.fields)} fields, the header {columns.width}", _where(row.line)
            )
        (amount_text, debit_text, credit_text, value_date_text, booking_text, reference, remittance,
         payer_name, payer_account, transaction_id, kind_text, currency, account) = columns.values(row)
        column = ""
        try:
            column = "account_column"
            account = account or mapping.account
            if not account:
                raise _Bad("no account")
            column = "currency_column"
            currency = currency.upper() or mapping.currency
            if not _CURRENCY.match(currency):
                raise _Bad(f"{currency!r} is not a currency code such as EUR")
            column = "value_date_column"
            value_date = dates(value_date_text)
            column = "booking_date_column"
            booking_date = dates(booking_text) if booking_text else None
            if debit_credit:
                column = "debit_column"
                amount = _debit_credit(debit_text, credit_text, mapping)
            else:
                column = "amount_column"
                if not amount_text:
                    raise _Bad("the amount is empty")
                amount = parse_amount(amount_text, mapping)
                if inverted:
                    amount = -amount
            column = "kind_column"
            kind = kinds.get(kind_text.casefold()) or (Kind.CREDIT if amount > 0 else Kind.DEBIT)
            if kind == Kind.CREDIT and amount < 0:
                raise _Bad(f"a {kind_text!r} line is money in but its amount is {amount}")
            if kind != Kind.CREDIT and amount > 0:
                raise _Bad(f"a {kind_text!r} line is money out but its amount is {amount}")
            column = "transaction_id_column"
            if has_transaction_id and not transaction_id:
                raise _Bad("the transaction id is empty")
        except _Bad as exc:
            raise StatementError(str(exc), _where(row.line, columns.names.get(column, ""))) from None
        if not transaction_id:
            digest = hashlib.sha256("\0".join((account, value_date.isoformat(), f"{amount:f}", currency,
                                              reference, payer_name, payer_account)).encode()).digest()
            bucket = int.from_bytes(digest[:8], "big")
            occurrence = occurrences.get(bucket, 0)
            occurrences[bucket] = occurrence + 1
            transaction_id = stable_key(account, value_date, amount, currency, reference, payer_name,
                                        payer_account, occurrence)
        if account not in statements:
            statements.add(account)
            yield Statement(account=account, currency=mapping.currency or currency, where=_where(row.line))
        entries += 1
        yield Line(
            account=account,
            statement_id="",
            value_date=value_date,
            booking_date=booking_date,
            amount=amount,
            currency=currency,
            bank_transaction_id=transaction_id,
            kind=kind,
            # A zero line moves no money: listed on the import, never a payment.
            status=Status.BOOKED if amount else Status.INFO,
            payer_name=payer_name,
            payer_account=payer_account,
            reference=reference,
            remittance=remittance,
            bank_code=kind_text,
            where=f"line {row.line}",
        )
    if not entries:
        raise StatementError("the file holds no statement lines")


def _debit_credit(debit_text: str, credit_text: str, mapping: CsvOptions) -> Decimal:
    debit = parse_amount(debit_text, mapping) if debit_text else None
    credit = parse_amount(credit_text, mapping) if credit_text else None
    if debit and credit:
        raise _Bad(f"both the debit ({debit_text}) and the credit ({credit_text}) are filled")
    if debit is None and credit is None:
        raise _Bad("neither the debit nor the credit is filled")
    if (debit or 0) < 0 or (credit or 0) < 0:
        raise _Bad("debit and credit columns hold amounts without a sign")
    return credit if credit else -(debit or Decimal("0.00"))
