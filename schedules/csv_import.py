"""Read a client's CRM export of payment schedules (CSV) into plain rows.

Pure Python on purpose (no Django): everything the file itself can get wrong (an unknown column,
a bad date or amount, a field of another kind) is found here, every problem with its line and
column, before the import command checks the rows against the database and the domain rules.
"""

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal

from .duedates import Frequency

# The choices of schedules.models, repeated here to keep this module free of Django; a test
# holds the two in step.
KINDS = ("recurring", "installment", "deferred", "one_time", "autopay")
FREQUENCIES = tuple(f.value for f in Frequency)
METHODS = ("bank_transfer", "direct_debit", "card", "wallet", "check", "cash")
AUTOPAY_METHODS = ("bank_account", "card", "wallet")
DEFERRAL_REASONS = ("agreement", "promotion", "hardship", "other")


@dataclass(frozen=True)
class Column:
    name: str
    help: str
    required: bool = False


COLUMNS = (
    Column("customer_ref", "The customer's id in the CRM.", required=True),
    Column("customer_name", "Required when the customer is new; a customer already on file is reused as it is."),
    Column("email", "The customer's email address."),
    Column("phone", "International format, such as +14155550123."),
    Column("timezone", "IANA time zone, such as America/Chicago; empty uses the client's."),
    Column("email_consent", "yes/no, true/false, 1/0; empty is no."),
    Column("sms_consent", "yes/no, true/false, 1/0; empty is no."),
    Column("bank_account", "The customer's account number (IBAN or local)."),
    Column("schedule_ref", "The CRM's id for the schedule; a row whose schedule_ref was already imported is skipped.", required=True),
    Column("kind", "recurring, installment, deferred, one_time or autopay.", required=True),
    Column("amount", "Per cycle (recurring, autopay), the total (installment), the amount (deferred, one_time); 1234.50 or 1,234.50.", required=True),
    Column("currency", "ISO 4217 code such as USD; empty uses the client's."),
    Column("start_date", "YYYY-MM-DD: the first due date (one_time: the due date; deferred: the original due date).", required=True),
    Column("frequency", "weekly, biweekly, monthly, quarterly, semiannual or annual; required for recurring, installment and autopay."),
    Column("interval", "Every N periods (1 to 24); empty is 1. recurring, installment, autopay."),
    Column("anchor_day", "Day of the month (1 to 31) monthly cycles fall on; empty is start_date's. recurring, installment, autopay."),
    Column("end_date", "YYYY-MM-DD: no payment after it. recurring, autopay."),
    Column("cycles", "Number of payments. recurring, autopay."),
    Column("installments", "Number of installments after any down payment; required for installment."),
    Column("down_payment", "Part of the total, due on start_date. installment."),
    Column("deferred_until", "YYYY-MM-DD: the date the payment is deferred to; required for deferred."),
    Column("deferral_reason", "agreement, promotion, hardship or other; required for deferred."),
    Column("method", "bank_transfer, direct_debit, card, wallet, check or cash; empty is bank_transfer. Not for autopay, whose autopay_method says how it is paid."),
    Column("autopay_method", "bank_account, card or wallet; required for autopay."),
    Column("autopay_account", "The account or card the mandate debits. autopay."),
    Column("mandate_reference", "The mandate's reference; required for autopay."),
    Column("mandate_date", "YYYY-MM-DD the customer consented (stored as midnight UTC); required for autopay."),
    Column("description", "Free text, up to 200 characters."),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)

# Columns that belong to some kinds only; filled on a row of another kind they are an error, so
# a mistake in the export is never silently dropped.
KIND_COLUMNS = {
    "recurring": {"frequency", "interval", "anchor_day", "end_date", "cycles"},
    "installment": {"frequency", "interval", "anchor_day", "installments", "down_payment"},
    "deferred": {"deferred_until", "deferral_reason"},
    "one_time": set(),
    "autopay": {
        "frequency", "interval", "anchor_day", "end_date", "cycles",
        "autopay_method", "autopay_account", "mandate_reference", "mandate_date",
    },
}
KIND_SPECIFIC_COLUMNS = set().union(*KIND_COLUMNS.values())


def column_applies(kind: str, column: str) -> bool:
    """Whether a filled `column` means something on a row of `kind`."""
    if column == "method":
        # Autopay is paid the way its mandate says (autopay_method); a method would be ignored.
        return kind != "autopay"
    return column not in KIND_SPECIFIC_COLUMNS or column in KIND_COLUMNS[kind]


# Column -> field of ScheduleSpec / Customer where the names differ.
SCHEDULE_FIELD_OF_COLUMN = {
    "schedule_ref": "external_ref",
    "installments": "installment_count",
    "mandate_date": "mandate_consented_at",
}
CUSTOMER_FIELD_OF_COLUMN = {
    "customer_ref": "external_ref",
    "customer_name": "name",
    "email": "email",
    "phone": "phone",
    "timezone": "timezone",
    "email_consent": "email_consent",
    "sms_consent": "sms_consent",
    "bank_account": "bank_account",
}
CUSTOMER_COLUMNS = tuple(CUSTOMER_FIELD_OF_COLUMN)


def schedule_column(field_name: str) -> str:
    """The CSV column of a ScheduleSpec field (for naming it in an error)."""
    for column, name in SCHEDULE_FIELD_OF_COLUMN.items():
        if name == field_name:
            return column
    return field_name


def customer_column(field_name: str) -> str:
    """The CSV column of a Customer field (for naming it in an error)."""
    for column, name in CUSTOMER_FIELD_OF_COLUMN.items():
        if name == field_name:
            return column
    return field_name


@dataclass(frozen=True)
class RowError:
    """One problem: `line 7, column amount: "12,x" is not an amount`."""

    line: int
    column: str = ""
    message: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class CustomerData:
    """A customer as the file describes it, merged over all of its rows."""

    external_ref: str
    line: int
    name: str = ""
    email: str = ""
    phone: str = ""
    timezone: str = ""
    email_consent: bool = False
    sms_consent: bool = False
    bank_account: str = ""
    # Where each value came from, so a problem with it points at the right line.
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, column: str) -> int:
        return self.lines.get(column, self.line)


@dataclass(frozen=True)
class ScheduleRow:
    """One schedule of the file; its fields after line and customer_ref are ScheduleSpec's."""

    line: int
    customer_ref: str
    external_ref: str
    kind: str
    amount: Decimal
    start_date: dt.date
    currency: str = ""
    method: str = "bank_transfer"
    frequency: str = ""
    interval: int = 1
    anchor_day: int | None = None
    end_date: dt.date | None = None
    cycles: int | None = None
    installment_count: int | None = None
    down_payment: Decimal = Decimal("0.00")
    deferred_until: dt.date | None = None
    deferral_reason: str = ""
    autopay_method: str = ""
    autopay_account: str = ""
    mandate_reference: str = ""
    mandate_consented_at: dt.datetime | None = None
    description: str = ""

    def spec_fields(self) -> dict:
        """Keyword arguments for ScheduleSpec, all but the customer."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("line", "customer_ref")}


@dataclass
class ParsedFile:
    rows: list[ScheduleRow] = field(default_factory=list)
    customers: dict[str, CustomerData] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    # The header's column names, normalized, in the file's order.
    columns: list[str] = field(default_factory=list)

    def in_file_order(self, errors: list[RowError]) -> list[RowError]:
        """`errors` by line, and on a line by the column's place in the file (whole-row last)."""
        place = {name: index for index, name in enumerate(self.columns)}
        return sorted(errors, key=lambda e: (e.line, place.get(e.column, len(place))))


class _Invalid(ValueError):
    pass


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_AMOUNT = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_CENT = Decimal("0.01")
# The ledger's money columns hold 16 digits before the point; more would also overflow the
# Decimal context when rounding.
_MAX_WHOLE_DIGITS = 16
_TRUE = ("yes", "true", "1")
_FALSE = ("no", "false", "0")


def parse_date(text: str) -> dt.date:
    if _DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    raise _Invalid(f'"{text}" is not a date (YYYY-MM-DD)')


def parse_amount(text: str, *, zero_allowed: bool = False) -> Decimal:
    """1234.50 or 1,234.50 as a Decimal of cents; more than zero unless zero_allowed."""
    if not _AMOUNT.fullmatch(text):
        raise _Invalid(f'"{text}" is not an amount (such as 1234.50 or 1,234.50)')
    whole = text.lstrip("-").split(".")[0].replace(",", "")
    if len(whole.lstrip("0")) > _MAX_WHOLE_DIGITS:
        raise _Invalid(f'"{text}" is too large an amount')
    value = Decimal(text.replace(",", ""))
    if value != value.quantize(_CENT):
        raise _Invalid(f'"{text}" has more than 2 decimals')
    if value < 0 or (value == 0 and not zero_allowed):
        raise _Invalid(f'"{text}" must be {"zero or more" if zero_allowed else "more than zero"}')
    return value.quantize(_CENT)


def parse_whole_number(text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text):
        raise _Invalid(f'"{text}" is not a whole number')
    return int(text)


def parse_boolean(text: str) -> bool:
    value = text.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Invalid(f'"{text}" is not yes or no (yes, no, true, false, 1, 0 or empty)')


def _choice(choices: tuple[str, ...], what: str):
    def parse(text: str) -> str:
        value = text.lower()
        if value not in choices:
            raise _Invalid(f'"{text}" is not {what} ({", ".join(choices)})')
        return value

    return parse


def _midnight_utc(text: str) -> dt.datetime:
    return dt.datetime.combine(parse_date(text), dt.time.min, tzinfo=dt.UTC)


# Column -> parser of its non-empty text; columns not named here are free text.
_PARSERS = {
    "email_consent": parse_boolean,
    "sms_consent": parse_boolean,
    "kind": _choice(KINDS, "a kind"),
    "amount": parse_amount,
    "currency": str.upper,
    "start_date": parse_date,
    "frequency": _choice(FREQUENCIES, "a frequency"),
    "interval": parse_whole_number,
    "anchor_day": parse_whole_number,
    "end_date": parse_date,
    "cycles": parse_whole_number,
    "installments": parse_whole_number,
    "down_payment": lambda text: parse_amount(text, zero_allowed=True),
    "deferred_until": parse_date,
    "deferral_reason": _choice(DEFERRAL_REASONS, "a deferral reason"),
    "method": _choice(METHODS, "a payment method"),
    "autopay_method": _choice(AUTOPAY_METHODS, "an autopay method"),
    "mandate_date": _midnight_utc,
}


def parse_schedules_csv(data: bytes | str) -> ParsedFile:
    """Parse a whole file; every problem found is in `errors`, the rows without one in `rows`.

    A problem with the header (unknown, missing or repeated columns) stops there: the rows
    cannot be read without knowing what the columns mean.
    """
    result = ParsedFile()
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            result.errors.append(RowError(line, "", f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})"))
            return result
    else:
        text = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        _read(reader, result)
    except csv.Error as exc:
        result.errors.append(RowError(reader.line_num, "", f"the CSV cannot be read: {exc}"))
    return result


def _blank(record: list[str]) -> bool:
    return not any(cell.strip() for cell in record)


def _read(reader, result: ParsedFile) -> None:
    header = next(reader, None)
    while header is not None and _blank(header):
        header = next(reader, None)
    if header is None:
        result.errors.append(RowError(1, "", "the file is empty: the first line must name the columns"))
        return
    header_line = reader.line_num
    names = result.columns = [name.strip().lower() for name in header]
    header_errors = _header_errors(names, header, header_line)
    if header_errors:
        result.errors.extend(header_errors)
        return
    seen_refs: dict[str, int] = {}
    line = reader.line_num + 1
    for record in reader:
        # A quoted value may span lines: a row is named by the line it starts on.
        record_line, line = line, reader.line_num + 1
        if _blank(record):
            continue
        if len(record) != len(names):
            result.errors.append(
                RowError(record_line, "", f"{len(record)} values, but the header names {len(names)} columns")
            )
            continue
        _read_row(record_line, dict(zip(names, (cell.strip() for cell in record), strict=True)), result, seen_refs)


def _header_errors(names: list[str], header: list[str], line: int) -> list[RowError]:
    errors = []
    unknown = [
        f'"{original.strip()}"' if original.strip() else f"column {position} (no name)"
        for position, (name, original) in enumerate(zip(names, header, strict=True), 1)
        if name not in COLUMN_NAMES
    ]
    if unknown:
        label = "unknown column" if len(unknown) == 1 else "unknown columns"
        errors.append(RowError(line, "", f"{label} {', '.join(unknown)} (import_schedules --help lists the columns)"))
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        label = "required column" if len(missing) == 1 else "required columns"
        errors.append(RowError(line, "", f"{label} {', '.join(missing)} missing"))
    repeated = sorted({name for name in names if name in COLUMN_NAMES and names.count(name) > 1})
    for name in repeated:
        errors.append(RowError(line, "", f"column {name} appears more than once"))
    return errors


def _read_row(line: int, raw: dict[str, str], result: ParsedFile, seen_refs: dict[str, int]) -> None:
    problems: list[RowError] = []
    values: dict[str, object] = {}
    for column in REQUIRED_COLUMNS:
        if not raw[column]:
            problems.append(RowError(line, column, "a value is required"))

    kind = raw["kind"].lower()
    for column, text in raw.items():
        if not text:
            continue
        if "\x00" in text:
            # A NUL byte is no character of any value, and PostgreSQL refuses it in text.
            problems.append(RowError(line, column, "contains a NUL byte (0x00), which no text may hold"))
            continue
        if kind in KIND_COLUMNS and not column_applies(kind, column):
            problems.append(RowError(line, column, f'"{text}" does not apply to {kind} schedules: leave it empty'))
            continue
        parse = _PARSERS.get(column)
        try:
            values[column] = parse(text) if parse else text
        except _Invalid as exc:
            problems.append(RowError(line, column, str(exc)))

    ref = raw["schedule_ref"]
    if ref:
        if ref in seen_refs:
            problems.append(RowError(line, "schedule_ref", f'"{ref}" is already on line {seen_refs[ref]}'))
        else:
            seen_refs[ref] = line

    customer_ref = raw["customer_ref"]
    customer = result.customers.get(customer_ref)
    if customer is not None:
        for column in CUSTOMER_COLUMNS[1:]:
            if column not in values:
                continue
            before = getattr(customer, CUSTOMER_FIELD_OF_COLUMN[column])
            if column in customer.lines and values[column] != before:
                problems.append(
                    RowError(
                        line, column,
                        f'"{raw[column]}" differs from what line {customer.lines[column]} gives for customer {customer_ref}',
                    )
                )

    if problems:
        result.errors.extend(problems)
        return
    if customer is None:
        customer = result.customers[customer_ref] = CustomerData(external_ref=customer_ref, line=line)
    for column in CUSTOMER_COLUMNS[1:]:
        if column in values and column not in customer.lines:
            setattr(customer, CUSTOMER_FIELD_OF_COLUMN[column], values[column])
            customer.lines[column] = line
    result.rows.append(
        ScheduleRow(
            line=line,
            customer_ref=customer_ref,
            **{
                SCHEDULE_FIELD_OF_COLUMN.get(column, column): value
                for column, value in values.items()
                if column not in CUSTOMER_COLUMNS
            },
        )
    )
