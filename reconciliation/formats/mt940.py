"""SWIFT MT940 (customer statement) and MT942 (interim transaction report), read to the SWIFT
field specifications (Category 9, fields 20 21 25 28C 34F 13D 60a 61 86 62a 64 65 90D 90C).

The file may hold SWIFT blocks (``{1:F01...}{2:O940...}{4:`` ... ``-}{5:...}``) or bare message
text, several messages in a row, with or without the ``-`` that ends a message. Banks put
header lines of their own between messages (``ABNANL2A``, ``940``, ``:940:``,
``0000 01INGBNL2AXXXX00001``): short lines outside a message that carry no field are accepted.
Every line inside a message belongs to a field or is an error with its line and column; a
statement line (:61:) is never skipped.

What is checked, and what is only warned about:

- structure: :20:, :25:, :28C: and (MT940) :60F:/:60M: and :62F:/:62M: are mandatory, fields
  come in the specified order, a field that has no second line has none;
- :61: exactly per its grammar ``6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]`` + ``[34x]`` on the next
  line; an amount with a decimal POINT is refused (SWIFT amounts use a comma) -- some readers
  silently skip such a line. Harmless strays accepted: an amount without its comma (``500``),
  a balance longer than 15 characters (zero-padded), text after the 16 characters of the
  reference on the same line (old Rabobank files put the counterparty's name there: it is read
  as the supplementary details);
- MT942 :90D:/:90C: (and the same fields where a bank adds them to an MT940) are control
  records: a count or sum that differs from the booked lines (D and RC, C and RD; the expected
  EC/ED entries of an MT942 are not counted) refuses the file. An MT942 with lines on a side
  and no control record for it is a ``Warning``: nothing shows it is complete;
- opening + lines != closing, or an opening that differs from the previous statement's closing
  for the same account, is a ``Warning``: real banks' files often do not reconcile.

Kinds and signs (client's point of view): C is a credit (+), D a debit (-), or a fee when the
type code is CHG, COM or BRF (NCHG, FCHG, ...), or a reversal when it is RTI or :86: gives a
return reason (/RTRN/); RC (reversal of a credit, -) and RD (reversal of a debit, +) are
reversals; MT942 EC/ED (expected) lines are ``Status.PENDING``.

The Statement item comes before its lines but carries the closing balance, which the file gives
after them: the reader looks ahead for :62F:/:62M: and seeks back; on a stream that cannot seek
it holds one message's lines until its closing balance instead.

Decoding: SWIFT text is a subset of ASCII, but banks send UTF-8, Latin-1 or Windows-1252. Each
line is decoded as UTF-8, and a line that is not valid UTF-8 as Windows-1252 (Latin-1 for the
five bytes cp1252 leaves undefined). A byte order mark is dropped; in narrative text tabs are
spaces and soft hyphens (U+00AD, written for "-" by banks converting from EBCDIC) are "-".

Two-digit years: 80-99 are 19xx, 00-79 are 20xx. The entry (booking) date MMDD takes the year
that puts it nearest the value date (a December value date booked in January is next year).

``bank_transaction_id`` is the account servicing institution's reference (``//...`` in :61:)
when there is one (``NONREF`` is none; a reference the bank repeats on several lines of one
message -- a batch's -- becomes ``REF``, ``REF#2``, ``REF#3`` in file order, with a Warning);
otherwise a stable key
``<account>/<statement number>/<opening balance date>/<position of the line in the message>/
<value date>/<signed amount>``, e.g. ``NL71RABO0123456789/0/20130101/2/20130102/-10.00``: the
same statement read twice gives the same keys, two identical payments on the same day keep
apart by their position. An MT942 and the MT940 that later books the same entries without a
bank reference get different keys: import one or the other for an account.

``Statement.statement_id`` is field 20 (the message reference), ``sequence`` field 28C as
written (``19321/1``: statement number / page), ``period_start`` and ``period_end`` the dates of
the opening and closing balances, ``created`` the MT942 :13D: date.

Information to the account owner (:86:) is read for payer name and account, reference,
remittance text and return reason when it is structured: ``/CODE/value`` subfields (EREF, ORDP,
BENM, NAME, IBAN, REMI, RTRN, ...), the German ``nnn?20...?32`` layout (and its ``>NN``
variant), or labelled ``REK:``/``NAAM:`` text; otherwise its whole text is the remittance.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections import deque
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import BinaryIO

from .base import Item, Kind, Line, Statement, StatementError, Status, Warning

# ---------------------------------------------------------------------------------- detection

_SNIFF_BLOCKS = re.compile(r"\{1:F01[A-Z0-9]{4,}.*?\{2:[IO]94[02]", re.DOTALL)
_SNIFF_20 = re.compile(r"(?:^|[\r\n]):20:")
_SNIFF_25 = re.compile(r"(?:^|[\r\n]):25P?:")
_SNIFF_60 = re.compile(r"(?:^|[\r\n]):(?:60[FM]|34F):")


def sniff(head: bytes) -> bool:
    """Whether the head of a file is an MT940/MT942: SWIFT blocks of message type 940 or 942,
    or the tags :20:, :25: and :60F:/:60M:/:34F: at line starts."""
    text = head.decode("latin-1")
    if _SNIFF_BLOCKS.search(text):
        return True
    return bool(_SNIFF_20.search(text) and _SNIFF_25.search(text) and _SNIFF_60.search(text))


# ------------------------------------------------------------------------------------ lexing

_TAG = re.compile(r":(\d\d[A-Z]?):", re.ASCII)
_TAG_LIKE = re.compile(r"\s*:\d\d[A-Z]?:", re.ASCII)
_WRAPPERS = "\x01\x02\x03\x1a"
_ENVELOPE_MAX_LENGTH = 80  # a bank's header line between messages; longer text is not one
_ENVELOPE_MAX_LINES = 20

# Decimal places allowed per currency (ISO 4217); every other currency has 2.
_DECIMALS = {
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}
_EXPONENTS = {0: Decimal(1), 2: Decimal("0.01"), 3: Decimal("0.001")}
_MAX_INTEGER_DIGITS = 16  # what a DecimalField(max_digits=18, decimal_places=2) holds

# :61: subfields 1-6 as the specification has them, for the usual line (see _statement_line)
_LINE61 = re.compile(
    r"([0-9]{6})([0-9]{4})?(RC|RD|EC|ED|C|D)([A-Z]?)([0-9]+)(?:,([0-9]*))?(?![0-9.,])"
    r"([SNF][A-Z0-9]{3})")
_HEADER_TAGS = {"20", "21", "25", "25P", "28", "28C", "34F", "13D", "60F", "60M"}
_TRAILER_TAGS = {"62F", "62M", "64", "65", "90D", "90C"}
_KNOWN_TAGS = _HEADER_TAGS | _TRAILER_TAGS | {"61", "86"}


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def _isdigits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _where(lineno: int, col: int | None = None) -> str:
    return f"line {lineno}, column {col}" if col is not None else f"line {lineno}"


class _Source:
    """The file's lines as (line number, first column, text), with a look-ahead that does not
    consume (by seeking back, on a seekable stream)."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.lineno = 0
        self.pending: deque[tuple[int, int, str]] = deque()
        self.current = ""  # the line being read: fields before it may be handled meanwhile
        try:
            self.seekable = bool(stream.seekable())
        except (AttributeError, OSError, ValueError):
            self.seekable = False

    def _raw_lines(self, raw: bytes | str) -> list[str]:
        if not isinstance(raw, bytes | bytearray):
            raise StatementError("the file must be read as bytes")
        text = _decode(bytes(raw))
        if text.endswith("\n"):
            text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
        return text.split("\r") if "\r" in text else [text]

    def next(self) -> tuple[int, int, str] | None:
        if self.pending:
            piece = self.pending.popleft()
            self.current = piece[2]
            return piece
        raw = self.stream.readline()
        if not raw:
            return None
        parts = self._raw_lines(raw)
        if self.lineno == 0 and parts[0].startswith("\ufeff"):
            parts[0] = parts[0][1:]
        self.lineno += 1
        first = (self.lineno, 1, parts[0])
        self.current = parts[0]
        for part in parts[1:]:
            self.lineno += 1
            self.pending.append((self.lineno, 1, part))
        return first

    def push_front(self, piece: tuple[int, int, str]) -> None:
        self.pending.appendleft(piece)

    def find_ahead(self, found: tuple[str, ...], stop: tuple[str, ...]) -> str | None:
        """The first line from the current one on that starts with one of ``found``, before a
        line that starts with one of ``stop``; None if there is none or the stream cannot seek
        back. (The prefixes are ASCII, so the raw bytes are compared, undecoded.)"""
        for text in (self.current, *(piece[2] for piece in self.pending)):
            if text.startswith(found):
                return text
            if text.startswith(stop):
                return None
        if not self.seekable:
            return None
        found_bytes = tuple(f.encode() for f in found)
        stop_bytes = tuple(f.encode() for f in stop)
        try:
            position = self.stream.tell()
        except (OSError, ValueError):  # says it can seek, but cannot
            self.seekable = False
            return None
        readline = self.stream.readline
        try:
            while raw := readline():
                for part in raw.split(b"\r") if b"\r" in raw[:-2] else (raw,):
                    if part.startswith(found_bytes):
                        return self._raw_lines(part)[0]
                    if part.startswith(stop_bytes):
                        return None
            return None
        finally:
            self.stream.seek(position)


# ----------------------------------------------------------------------------- field values


def _date(text: str, where, what: str) -> date:
    """YYMMDD; ``where`` is the place, or a function giving it (made only for an error)."""
    if len(text) != 6 or not _isdigits(text):
        raise StatementError(f"{what} must be a date YYMMDD, not {text!r}",
                             where() if callable(where) else where)
    year = int(text[:2])
    try:
        return date(1900 + year if year >= 80 else 2000 + year, int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise StatementError(f"{what} {text!r} is not a date (YYMMDD)",
                             where() if callable(where) else where) from None


def _entry_date(mmdd: str, value: date, lineno: int, col: int) -> date:
    month, day = int(mmdd[:2]), int(mmdd[2:])
    with contextlib.suppress(ValueError):
        same_year = date(value.year, month, day)
        if abs((same_year - value).days) <= 183:
            return same_year
    candidates = []
    for year in (value.year - 1, value.year, value.year + 1):
        with contextlib.suppress(ValueError):
            candidates.append(date(year, month, day))
    if not candidates:
        raise StatementError(f"entry date {mmdd!r} is not a date (MMDD)", _where(lineno, col))
    return min(candidates, key=lambda d: abs((d - value).days))


_AMOUNT = re.compile(r"([0-9]*)(?:,([0-9]*))?")


def _amount(text: str, pos: int, currency: str, lineno: int, col0: int, what: str):
    """Parse a SWIFT amount (15d: digits, a decimal comma) at ``text[pos:]``; return the
    Decimal and the position after it."""
    m = _AMOUNT.match(text, pos)
    whole, fraction = m.group(1), m.group(2)
    end = m.end()
    if end < len(text) and text[end] == ".":
        raise StatementError(
            f"{what} has a decimal point; SWIFT amounts use a decimal comma (e.g. 1234,56)",
            _where(lineno, col0 + end),
        )
    if not whole:
        raise StatementError(f"{what} expected (digits with a decimal comma)",
                             _where(lineno, col0 + pos))
    fraction = fraction or ""
    places = _DECIMALS.get(currency, 2)
    if len(fraction.rstrip("0")) > places:
        raise StatementError(
            f"{what} {text[pos:end]!r} has more decimals than {currency or 'the currency'} "
            f"allows ({places})", _where(lineno, col0 + pos))
    if len(whole.lstrip("0")) > _MAX_INTEGER_DIGITS:
        raise StatementError(f"{what} {text[pos:end]!r} is too large", _where(lineno, col0 + pos))
    value = Decimal(f"{whole}.{fraction or '0'}").quantize(_EXPONENTS[places])
    return value, end


_BALANCE = re.compile(r"([CD])([0-9]{6})([A-Z]{3})")


def _balance(tag: str, text: str, lineno: int, col0: int):
    """Fields 60a, 62a, 64, 65: ``1!a6!n3!a15d`` -> (signed amount, date, currency)."""
    m = _BALANCE.match(text)
    if not m:
        raise StatementError(
            f"field :{tag}: must be C or D, a date YYMMDD, a currency and an amount "
            f"(e.g. C110522EUR3236,28), not {text.strip()!r}", _where(lineno, col0))
    mark, yymmdd, currency = m.groups()
    when = _date(yymmdd, _where(lineno, col0 + 1), f"the date of :{tag}:")
    amount, end = _amount(text, m.end(), currency, lineno, col0, f"the amount of :{tag}:")
    if text[end:].strip():
        raise StatementError(f"unexpected {text[end:].strip()!r} after the amount of :{tag}:",
                             _where(lineno, col0 + end))
    return (-amount if mark == "D" else amount), when, currency


# ------------------------------------------------------------------ :86: narrative subfields

_SLASH_CODES = (
    "TRTP|TRCD|EREF|PREF|KREF|CREF|IREF|MARF|CSID|ORDP|BENM|ULTC|ULTD|ULTB|NAME|IBAN|BIC|ACCW|"
    "ADDR|REMI|ISDT|RTRN|RTYP|PURP|SVCL|CDTRREFTP|CDTRREF|CD|ISSR|USTD|STRD|CHGS|EXCH|OCMT|"
    "SWOC|BUSP|ID|FX"
)
_SLASH_FIELD = re.compile(rf"/({_SLASH_CODES})/")
_QUESTION = re.compile(r"^[0-9]{3}([?>])[0-9][0-9]")
_SEPA_KEYS = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|COAM|OAMT|IBAN|BIC)\+")
_LABELLED_ACCOUNT = re.compile(r"\b(?:REK|IBAN|REKENING|ACCOUNT)\s*:\s*([A-Z0-9.]+)", re.I)
_LABELLED_NAME = re.compile(r"\b(?:NAAM|NAME)\s*:\s*(.+?)\s*$", re.I)
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
# control characters are spaces; banks converting from EBCDIC write a soft hyphen (U+00AD)
# where they mean '-'
_CONTROL = {**{c: " " for c in (*range(32), 127)}, 0xAD: "-"}
# Countries that use IBANs (SWIFT IBAN registry): what an IBAN-shaped text must start with.
_IBAN_COUNTRIES = set(
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI "
    "GL GR GT HN HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI "
    "NL NO OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE".split()
)
_NOTPROVIDED = {"", "NOTPROVIDED", "NONREF", "NONE"}


def _clean(text: str) -> str:
    return " ".join(text.translate(_CONTROL).split())


def _is_iban(text: str) -> bool:
    """IBAN-shaped with an IBAN country's code (the check digits are the bank's business: test
    files carry invented IBANs)."""
    return bool(_IBAN.fullmatch(text)) and text[:2] in _IBAN_COUNTRIES


def _join_free_text(fields: list[list[str]]) -> str:
    """Unstructured :86: text: a line of exactly 65 characters was wrapped there (the next
    continues it directly); other line ends, and separate :86: fields, are spaces."""
    parts = []
    for lines in fields:
        for i, line in enumerate(lines):
            parts.append(line)
            if len(line) != 65 or i == len(lines) - 1:
                parts.append(" ")
    return _clean("".join(parts))


def _narrative(fields: list[list[str]]) -> dict[str, str]:
    """Payer name and account, reference, remittance and return code from :86: fields."""
    raw = "".join(line for lines in fields for line in lines)
    stripped = raw.strip()
    if _QUESTION.match(stripped):
        return _question_subfields(stripped)
    if _SLASH_FIELD.match(stripped):
        return _slash_subfields(stripped)
    text = _join_free_text(fields)
    found = {"remittance": text}
    if m := _LABELLED_ACCOUNT.search(text):
        found["payer_account"] = m.group(1)
        tail = text[m.end():]
        if n := _LABELLED_NAME.search(tail.lstrip("/ ")):
            found["payer_name"] = n.group(1)
    return found


def _slash_subfields(text: str) -> dict[str, str]:
    """``/CODE/value/CODE/value`` as ING, Rabobank, ABN AMRO and others write it; NAME, IBAN
    and ACCW belong to the counterparty unless they follow ULTC/ULTD/ULTB (ultimate parties)."""
    found: dict[str, str] = {}
    values: dict[str, str] = {}
    # "USTD//" opens free text: a code word right after it is the text, not a new subfield
    matches = [m for m in _SLASH_FIELD.finditer(text) if text[m.start() - 5:m.start()] != "USTD/"]
    party = "counterparty"
    for i, m in enumerate(matches):
        code = m.group(1)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = _clean(text[m.end():end].strip("/"))
        if code in ("ORDP", "BENM"):
            party = "counterparty"
        elif code in ("ULTC", "ULTD", "ULTB"):
            party = "ultimate"
        if code in ("NAME", "IBAN", "ACCW", "BIC"):
            if party == "counterparty":
                values.setdefault(code, value)
            continue
        values.setdefault(code, value)
    if values.get("NAME"):
        found["payer_name"] = values["NAME"]
    account = values.get("IBAN") or values.get("ACCW") or ""
    if account:
        found["payer_account"] = account
    remittance = values.get("REMI", "")
    if remittance.startswith("USTD"):
        remittance = remittance[4:].lstrip("/ ")
    reference = values.get("EREF", "")
    if remittance.startswith("STRD"):
        # /REMI/STRD/CUR/<creditor reference>
        parts = [p for p in remittance[4:].split("/") if p]
        if len(parts) > 1 and parts[0] == "CUR":
            remittance = parts[1]
            if reference.upper() in _NOTPROVIDED:
                reference = parts[1]
    if reference.upper() in _NOTPROVIDED:
        reference = values.get("CREF", "") or values.get("KREF", "")
    if reference and reference.upper() not in _NOTPROVIDED:
        found["reference"] = reference
    found["remittance"] = _clean(remittance) if "REMI" in values else _clean(text)
    if values.get("RTRN"):
        found["return_code"] = values["RTRN"].split("/")[0].split(" ")[0]
    return found


def _question_subfields(text: str) -> dict[str, str]:
    """The German ``GVC?00text?20remittance...?30bank?31account?32name`` layout (DFU
    agreement, appendix 3), and its ``>NN`` variant: ?20-?29 and ?60-?63 are remittance lines
    (joined as they are: banks split words there), with SEPA keys EREF+, SVWZ+, ..."""
    separator = _QUESTION.match(text).group(1)
    sub: dict[str, str] = {}
    for piece in text[3:].split(separator)[1:]:
        key, value = piece[:2], piece[2:]
        if key.isdigit():
            sub[key] = sub.get(key, "") + value
    remittance = "".join(sub.get(f"{n}", "") for n in (*range(20, 30), *range(60, 64)))
    found: dict[str, str] = {}
    keyed = list(_SEPA_KEYS.finditer(remittance))
    if keyed:
        values = {}
        for i, m in enumerate(keyed):
            end = keyed[i + 1].start() if i + 1 < len(keyed) else len(remittance)
            values.setdefault(m.group(1), remittance[m.end():end])
        if (ref := _clean(values.get("EREF", ""))).upper() not in _NOTPROVIDED:
            found["reference"] = ref
        found["remittance"] = _clean(values.get("SVWZ", ""))
    else:
        found["remittance"] = _clean(remittance)
    if account := _clean(sub.get("31", "")):
        found["payer_account"] = account
    if name := _clean(sub.get("32", "") + sub.get("33", "")):
        found["payer_name"] = name
    return found


# -------------------------------------------------------------------------------- statements

_CHARGES = {"CHG", "COM", "BRF"}


class _Message:
    """What one message (one statement or interim report) has shown so far."""

    __slots__ = (
        "type", "lineno", "seen", "ref", "account", "number", "currency", "opening",
        "opening_date", "closing", "closing_date", "closing_where", "created", "statement",
        "phase", "position", "total", "debits", "credits", "held", "holding", "line",
        "line_info", "where_62", "account_key", "key_prefix", "bank_refs",
    )

    def __init__(self, lineno: int, message_type: str):
        self.type = message_type  # "940", "942" or "" (not yet known)
        self.lineno = lineno
        self.seen: dict[str, int] = {}
        self.ref = self.account = self.number = self.currency = ""
        self.opening = self.closing = None
        self.opening_date = self.closing_date = self.created = None
        self.closing_where = ""
        self.statement: Statement | None = None
        self.phase = 0  # 0 header, 1 statement lines, 2 closing balances and controls
        self.position = 0
        self.total = Decimal(0)
        # booked and expected (EC/ED) entries: count and sum of each side
        self.debits = [0, Decimal(0), 0, Decimal(0)]
        self.credits = [0, Decimal(0), 0, Decimal(0)]
        self.held: list[Item] = []
        self.holding = False
        self.line: dict | None = None  # the :61: waiting for its :86:
        self.line_info: list[list[str]] = []
        self.where_62 = ""
        self.account_key = self.key_prefix = ""
        self.bank_refs: dict[str, int] = {}  # the bank's references in this message, and how often


class _Reader:
    def __init__(self, stream: BinaryIO):
        self.source = _Source(stream)
        self.out: list[Item] = []
        self.message: _Message | None = None
        self.field: tuple[str, int, int, list[str]] | None = None  # tag, line, column, lines
        self.block_type = ""  # message type from block 2 of the current SWIFT message
        self.in_block4 = False
        self.hint = ""  # ":940:"/":942:" line before a bare message
        self.envelope_lines = 0
        self.messages = 0
        self.last_closing: dict[tuple[str, str], tuple[Decimal, str]] = {}

    # ------------------------------------------------------------------------------ driving

    def items(self) -> Iterator[Item]:
        source = self.source
        out = self.out
        while (piece := source.next()) is not None:
            self._piece(*piece)
            if out:
                yield from out
                out.clear()
        self._flush_field()
        if self.in_block4:
            raise StatementError("the file ends inside a SWIFT text block (no '-}')",
                                 _where(source.lineno))
        self._end_message(_where(source.lineno))
        yield from out
        out.clear()
        if not self.messages:
            raise StatementError("no MT940/MT942 statement in the file (no field :20:)",
                                 _where(max(source.lineno, 1)))

    def _piece(self, lineno: int, col: int, text: str) -> None:
        if not text or text.isspace():
            return
        first = text[0]
        if first in _WRAPPERS:  # SOH/ETX around SWIFT messages, a DOS end-of-file mark
            stripped = text.lstrip(_WRAPPERS)
            if not stripped.strip():
                return
            col += len(text) - len(stripped)
            text, first = stripped, stripped[0]
        if first == ":":
            m = _TAG.match(text)
            if m:
                self._flush_field()
                self._start_field(m.group(1), lineno, col, text, m.end())
                return
        elif first == "{":
            self._flush_field()
            self._blocks(lineno, col, text)
            return
        elif first == "-" and self._dash(lineno, col, text):
            return
        elif first.isspace() and _TAG_LIKE.match(text):
            raise StatementError(f"field {text.strip()[:6]!r} must start at the beginning of its "
                                 "line", _where(lineno, col))
        field = self.field
        if field is not None:
            tag = field[0]
            if tag == "86" or (tag in ("61", "25", "25P") and len(field[3]) == 1):
                field[3].append(text)
                return
            message = self.message
            if message is not None and message.phase == 2:
                # a bank's header line after a message that had no '-'
                self._flush_field()
                self._end_message(_where(lineno))
                self._envelope(lineno, col, text)
                return
            if tag == "61":
                raise StatementError(
                    "a statement line (:61:) has at most one line of supplementary details; "
                    f"{text.strip()[:40]!r} belongs to no field", _where(lineno, col))
            raise StatementError(
                f"field :{tag}: has one line; {text.strip()[:40]!r} belongs to no field",
                _where(lineno, col))
        self._envelope(lineno, col, text)

    def _dash(self, lineno: int, col: int, text: str) -> bool:
        """A line starting with '-': the end of a message (or of a SWIFT text block), unless it
        is narrative text inside an unfinished message."""
        rest = text[1:]
        bare = not rest.strip() or rest.startswith("}")
        message = self.message
        if not bare:
            if message is not None and message.phase < 2 and self.field is not None \
                    and self.field[0] in ("86", "61"):
                return False
            if message is None and not self.in_block4:
                return False  # an envelope line
        self._flush_field()
        if message is None and not self.in_block4 and bare and not rest.startswith("}"):
            return True  # a stray terminator between messages
        self._end_message(_where(lineno, col))
        if rest.startswith("}"):
            if not self.in_block4:
                raise StatementError("'-}' ends a SWIFT text block that did not start ({4:)",
                                     _where(lineno, col))
            self.in_block4 = False
            self.block_type = ""
            if rest[1:].strip():
                self._blocks(lineno, col + 2, rest[1:])
        elif rest.strip():
            self._envelope(lineno, col + 1, rest)
        return True

    def _envelope(self, lineno: int, col: int, text: str) -> None:
        """A line outside any message: a bank's header line, or ':940:'."""
        if self.in_block4:
            raise StatementError(f"{text.strip()[:40]!r} is outside any field",
                                 _where(lineno, col))
        stripped = text.strip()
        if _TAG_LIKE.match(text):
            raise StatementError(f"field {stripped[:6]!r} must start at the beginning of its line",
                                 _where(lineno, col))
        if self.message is not None:
            raise StatementError(f"{stripped[:40]!r} belongs to no field", _where(lineno, col))
        self.envelope_lines += 1
        if len(text) > _ENVELOPE_MAX_LENGTH or self.envelope_lines > _ENVELOPE_MAX_LINES:
            raise StatementError(
                f"{stripped[:40]!r} is outside any statement (statements start with :20:)",
                _where(lineno, col))
        if stripped in (":940:", ":942:"):
            self.hint = stripped[1:4]

    def _blocks(self, lineno: int, col: int, text: str) -> None:
        """SWIFT blocks {1:..}{2:..}{3:{..}}{4: (the text follows) and {5:{..}}."""
        i = 0
        n = len(text)
        while i < n:
            if text[i].isspace() or text[i] in _WRAPPERS:
                i += 1
                continue
            if text[i] != "{" or i + 2 >= n or text[i + 2] != ":":
                raise StatementError("a SWIFT block {n:...} expected", _where(lineno, col + i))
            block = text[i + 1]
            if block == "4":
                if self.message is not None:
                    self._end_message(_where(lineno, col + i))
                if self.in_block4:
                    raise StatementError("a SWIFT text block starts inside another",
                                         _where(lineno, col + i))
                self.in_block4 = True
                self.envelope_lines = 0
                rest = text[i + 3:]
                if rest.strip():
                    self.source.push_front((lineno, col + i + 3, rest))
                return
            depth = 0
            j = i
            while j < n:
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if depth:
                raise StatementError(f"SWIFT block {{{block}: is not closed",
                                     _where(lineno, col + i))
            content = text[i + 3:j]
            if block == "1":
                if self.message is not None:
                    self._end_message(_where(lineno, col + i))
                self.block_type = ""
            elif block == "2":
                m = re.match(r"[IO]([0-9]{3})", content)
                if not m:
                    raise StatementError(f"SWIFT application header {{2:{content[:20]}}} "
                                         "has no message type", _where(lineno, col + i))
                if m.group(1) not in ("940", "942"):
                    raise StatementError(
                        f"message type MT{m.group(1)} is not a statement (MT940 or MT942)",
                        _where(lineno, col + i + 4))
                self.block_type = m.group(1)
            i = j + 1

    # ------------------------------------------------------------------------------- fields

    def _start_field(self, tag: str, lineno: int, col: int, text: str, end: int) -> None:
        if tag == "20":
            self._end_message(_where(lineno, col))
            self.messages += 1
            self.message = _Message(lineno, self.block_type or self.hint)
            self.hint = ""
            self.envelope_lines = 0
        elif self.message is None:
            raise StatementError(f"field :{tag}: outside a statement (no :20: before it)",
                                 _where(lineno, col))
        elif tag not in _KNOWN_TAGS:
            raise StatementError(f"field :{tag}: is not part of an MT940/MT942 statement",
                                 _where(lineno, col))
        self.field = (tag, lineno, col + end, [text[end:]])

    def _flush_field(self) -> None:
        field = self.field
        if field is None:
            return
        self.field = None
        tag, lineno, col, lines = field
        message = self.message
        if tag == "61":
            self._flush_line()
            self._statement_line(message, lineno, col, lines)
        elif tag == "86":
            if message.line is not None:
                message.line_info.append(lines)
            elif message.phase == 0:
                self._open_statement(message, lineno)
            # otherwise: information about the whole statement, which no row carries
        else:
            self._flush_line()
            self._header_or_trailer(message, tag, lineno, col, lines[0])

    def _header_or_trailer(self, message: _Message, tag: str, lineno: int, col: int,
                           text: str) -> None:
        where = _where(lineno, col)
        if tag in _HEADER_TAGS:
            if message.phase:
                raise StatementError(f"field :{tag}: after the statement's lines or balances",
                                     where)
            base = tag[:2]
            count = message.seen.get(base, 0) + 1
            message.seen[base] = count
            if count > (2 if base == "34" else 1):
                raise StatementError(f"field :{tag}: appears twice in one statement", where)
            value = text.strip()
            if base == "20":
                if not value:
                    raise StatementError("field :20: (the statement's reference) is empty", where)
                message.ref = value
            elif base == "25":
                if not value:
                    raise StatementError("field :25: (the account) is empty", where)
                message.account = value
            elif base == "28":
                if not re.fullmatch(r"[0-9]{1,5}(?:/[0-9]{1,5})?", value):
                    raise StatementError(
                        f"field :28C: must be the statement number[/sequence number] (5n[/5n]), "
                        f"not {value!r}", where)
                message.number = value
            elif base == "34":
                m = re.match(r"([A-Z]{3})([CD]?)", text)
                if not m:
                    raise StatementError("field :34F: must be a currency, an optional D or C and "
                                         f"an amount (e.g. EURD100,00), not {value!r}", where)
                _, end = _amount(text, m.end(), m.group(1), lineno, col, "the floor limit")
                if text[end:].strip():
                    raise StatementError(f"unexpected {text[end:].strip()!r} in :34F:",
                                         _where(lineno, col + end))
                if message.currency and message.currency != m.group(1):
                    raise StatementError(f"floor limit currency {m.group(1)} differs from "
                                         f"{message.currency}", where)
                message.currency = m.group(1)
                message.type = message.type or "942"
            elif base == "13":
                if not re.fullmatch(r"[0-9]{10}[+-][0-9]{4}", value):
                    raise StatementError("field :13D: must be YYMMDDhhmm and an offset "
                                         f"+hhmm (e.g. 1105241200+0100), not {value!r}", where)
                message.created = _date(value[:6], where, "the date of :13D:")
                message.type = message.type or "942"
            elif base == "60":
                amount, when, currency = _balance(tag, text, lineno, col)
                if message.currency and message.currency != currency:
                    raise StatementError(f"opening balance currency {currency} differs from the "
                                         f"floor limit's {message.currency}", where)
                message.opening, message.opening_date, message.currency = amount, when, currency
            return
        # closing balances and control records
        if message.phase < 2:
            self._open_statement(message, lineno)
            message.phase = 2
        base = tag[:2]
        if base in ("62", "64", "90"):
            key = tag if base == "90" else base
            if message.seen.get(key):
                raise StatementError(f"field :{tag}: appears twice in one statement", where)
            message.seen[key] = 1
        if base == "90":
            self._control(message, tag, lineno, col, text)
            return
        amount, when, currency = _balance(tag, text, lineno, col)
        if currency != message.currency:
            raise StatementError(f"field :{tag}: is in {currency}, the statement in "
                                 f"{message.currency}", where)
        if base == "62":
            if message.seen.get("90D") or message.seen.get("90C"):
                raise StatementError(f"field :{tag}: after :90D:/:90C:", where)
            if message.opening is None:
                raise StatementError(f"closing balance :{tag}: without an opening balance "
                                     ":60F:/:60M:", where)
            if message.statement is not None and message.statement.closing_balance not in (
                    None, amount):
                # the look-ahead read another closing balance: cannot happen with a stream
                # that gives the same bytes twice
                raise StatementError("the file changed while it was read", where)
            message.closing, message.closing_date, message.where_62 = amount, when, where
            if message.holding:
                statement = self._statement(message)
                self.out.append(statement)
                self.out.extend(message.held)
                message.held = []
                message.holding = False
        elif message.closing is None and message.type != "942":
            raise StatementError(f"field :{tag}: before the closing balance :62F:/:62M:", where)

    def _control(self, message: _Message, tag: str, lineno: int, col: int, text: str) -> None:
        """:90D:/:90C: ``5n3!a15d``: number and sum of debit / credit entries, checked."""
        where = _where(lineno, col)
        m = re.match(r"([0-9]{1,5})([A-Z]{3})", text)
        if not m:
            raise StatementError(f"field :{tag}: must be a number, a currency and an amount "
                                 f"(e.g. 3EUR1234,56), not {text.strip()!r}", where)
        count, currency = int(m.group(1)), m.group(2)
        total, end = _amount(text, m.end(), currency, lineno, col, f"the sum in :{tag}:")
        if text[end:].strip():
            raise StatementError(f"unexpected {text[end:].strip()!r} in :{tag}:",
                                 _where(lineno, col + end))
        if currency != message.currency:
            raise StatementError(f"field :{tag}: is in {currency}, the statement in "
                                 f"{message.currency}", where)
        side = message.debits if tag == "90D" else message.credits
        booked = (side[0], side[1])  # D and RC, or C and RD; not the expected EC/ED
        if (count, total) != booked:
            what = "debit" if tag == "90D" else "credit"
            raise StatementError(
                f"the control record :{tag}: gives {count} {what} entries totalling {total} "
                f"{currency}, but the statement has {booked[0]} totalling {booked[1]}", where)

    # -------------------------------------------------------------------- statement lines

    def _open_statement(self, message: _Message, lineno: int) -> None:
        """The header is complete: check it and yield the Statement (with its closing balance,
        read ahead)."""
        if message.phase:
            return
        message.phase = 1
        where = _where(message.lineno)
        for base, name in (("25", ":25: (the account)"), ("28", ":28C: (the statement number)")):
            if not message.seen.get(base):
                raise StatementError(f"the statement has no field {name}", where)
        if message.type == "":
            message.type = "940" if message.opening is not None else ""
        if message.opening is None and message.type != "942":
            raise StatementError("the statement has no opening balance :60F:/:60M:",
                                 _where(lineno))
        if not message.currency:
            raise StatementError("the report gives no currency (:34F: floor limit)", where)
        message.account = _account(message.account, message.currency)
        message.account_key = _account_key(message.account)
        opened = message.opening_date
        message.key_prefix = (f"{message.account}/{message.number}/"
                              f"{opened.strftime('%Y%m%d') if opened else ''}/")
        if message.opening is not None:
            closing = self.source.find_ahead((":62F:", ":62M:"), (":20:", "{", *_WRAPPERS))
            if closing is not None:
                try:
                    message.closing, message.closing_date, _ = _balance("62F", closing[5:], 0, 0)
                except StatementError:
                    closing = None
            if closing is None and message.type != "942":
                message.holding = True  # no look-ahead: hold the lines until the closing
                return
        self.out.append(self._statement(message))
        message.statement = self.out[-1]
        message.closing = None  # set again (and compared) when the field is read

    def _statement(self, message: _Message) -> Statement:
        statement = Statement(
            account=message.account, currency=message.currency, statement_id=message.ref,
            sequence=message.number, created=message.created,
            period_start=message.opening_date, period_end=message.closing_date,
            opening_balance=message.opening, closing_balance=message.closing,
            where=_where(message.lineno),
        )
        message.statement = statement
        return statement

    def _statement_line(self, message: _Message, lineno: int, col: int, lines: list[str]) -> None:
        if message.phase == 0:
            self._open_statement(message, lineno)
        elif message.phase == 2:
            raise StatementError("a statement line (:61:) after the closing balance",
                                 _where(lineno, col - 4))
        text = lines[0].rstrip()
        fast = _LINE61.match(text)
        if fast:  # the usual line in one step; anything else is taken apart below to say where
            yymmdd, mmdd, mark, funds, whole, fraction, code = fast.groups()
            fraction = fraction or ""
            places = _DECIMALS.get(message.currency, 2)
            if (funds and funds != message.currency[2:]) or (mark[0] == "E" and message.type == "940") \
                    or len(fraction.rstrip("0")) > places or len(whole.lstrip("0")) > _MAX_INTEGER_DIGITS:
                fast = None
            else:
                value_date = _date(yymmdd, lambda: _where(lineno, col), "the value date of :61:")
                booking = _entry_date(mmdd, value_date, lineno, col + 6) if mmdd else None
                amount = Decimal(f"{whole}.{fraction or '0'}").quantize(_EXPONENTS[places])
                i = fast.end()
        if fast is None:
            value_date, booking, mark, amount, code, i = self._statement_line_slowly(
                message, text, lineno, col)
        rest = text[i:]
        if "//" in rest:
            reference, _, bank = rest.partition("//")
            extra = ""
            bank = bank.strip()
            if "  " in bank:
                bank, _, extra = bank.partition("  ")
        else:
            reference, bank, extra = rest[:16], "", rest[16:]
        reference = reference.strip()
        bank = bank.strip()
        if len(bank) > 16:
            raise StatementError(
                f"the bank's reference {bank[:20]!r}... is longer than 16 characters",
                _where(lineno, col + i + len(reference) + 2))
        if len(extra.strip()) > 34:
            raise StatementError(
                f"{extra.strip()[:20]!r}... after the reference is longer than the 34 "
                "characters of supplementary details", _where(lineno, col + len(text) - len(extra)))
        supplementary = " ".join(s for s in (extra.strip(), *(x.strip() for x in lines[1:])) if s)
        if len(lines) > 1 and len(lines[1].rstrip()) > 34:
            raise StatementError(
                "supplementary details of :61: have at most 34 characters (is this a field "
                "that lost its tag?)", _where(lineno + 1, 1))
        positive = mark in ("C", "RD", "EC")
        signed = amount if positive else -amount
        if mark in ("RC", "RD"):
            kind = Kind.REVERSAL
        elif positive:
            kind = Kind.CREDIT
        elif code[1:] in _CHARGES:
            kind = Kind.FEE
        elif code[1:] == "RTI":
            kind = Kind.REVERSAL
        else:
            kind = Kind.DEBIT
        status = Status.PENDING if mark[0] == "E" else Status.BOOKED
        message.position += 1
        side = message.credits if positive else message.debits
        offset = 2 if status is Status.PENDING else 0
        side[offset] += 1
        side[offset + 1] += amount
        if status is Status.BOOKED:
            message.total += signed
        if bank.upper() in _NOTPROVIDED:
            bank = ""
        message.line = {
            "value_date": value_date, "booking_date": booking, "amount": signed,
            "kind": kind, "status": status, "bank": bank,
            "reference": "" if reference.upper() in _NOTPROVIDED else reference,
            "supplementary": supplementary, "code": code, "where": _where(lineno),
            "position": message.position,
        }
        message.line_info = []


    def _statement_line_slowly(self, message: _Message, text: str, lineno: int, col: int):
        """Subfields 1 to 6 of :61: one by one, refusing the first that is wrong with its
        column."""
        value_date = _date(text[:6], lambda: _where(lineno, col), "the value date of :61:")
        i = 6
        booking = None
        if _isdigits(text[6:10]) and len(text) > 10:
            booking = _entry_date(text[6:10], value_date, lineno, col + 6)
            i = 10
        mark = text[i:i + 2]
        if mark in ("RC", "RD", "EC", "ED"):
            if mark[0] == "E" and message.type == "940":
                raise StatementError(f"debit/credit mark {mark} (expected entry) is for MT942 "
                                     "only", _where(lineno, col + i))
            i += 2
        elif mark[:1] in ("C", "D"):
            mark = mark[:1]
            i += 1
        else:
            raise StatementError(
                f"debit/credit mark must be C, D, RC or RD, not {text[i:i + 2]!r}",
                _where(lineno, col + i))
        if i < len(text) and text[i].isalpha():
            if text[i] != message.currency[2:]:
                raise StatementError(
                    f"funds code {text[i]!r} must be the third letter of {message.currency}",
                    _where(lineno, col + i))
            i += 1
        amount, i = _amount(text, i, message.currency, lineno, col, "the amount of :61:")
        code = text[i:i + 4]
        if len(code) < 4 or code[0] not in "SNF" or not (code[1:].isalnum() and code.isascii()
                                                        and code[1:].upper() == code[1:]):
            raise StatementError(
                "transaction type expected: S, N or F and three letters or digits "
                f"(e.g. NTRF), not {code!r}", _where(lineno, col + i))
        i += 4
        return value_date, booking, mark, amount, code, i

    def _flush_line(self) -> None:
        message = self.message
        if message is None or message.line is None:
            return
        data, info = message.line, message.line_info
        message.line, message.line_info = None, []
        found = _narrative(info) if info else {}
        supplementary = data["supplementary"]
        payer_account = found.get("payer_account", "")
        remittance = found.get("remittance", "")
        if supplementary:  # the counterparty's IBAN (Rabobank), or text the remittance begins with
            compact = supplementary.replace(" ", "")
            if _is_iban(compact):
                payer_account = payer_account or compact
            else:
                remittance = _clean(f"{supplementary} {remittance}")
        if payer_account and _account_key(payer_account) == message.account_key:
            payer_account = ""
        if data["bank"]:
            bank_id = data["bank"]
            seen = message.bank_refs.get(bank_id, 0)
            message.bank_refs[bank_id] = seen + 1
            if seen:
                # a reference the bank gives several lines (a batch's): told apart by their order,
                # so that none of them is taken for an earlier one
                if seen == 1:
                    self.out.append(Warning(
                        f"account {message.account}, statement {message.number}: the bank's "
                        f"reference {bank_id} is on more than one line; the second and later "
                        f"are {bank_id}#2, {bank_id}#3, ...", data["where"]))
                bank_id = f"{bank_id}#{seen + 1}"
        else:
            value = data["value_date"]
            bank_id = (f"{message.key_prefix}{data['position']}/"
                       f"{value.year:04d}{value.month:02d}{value.day:02d}/{data['amount']}")
        kind = data["kind"]
        return_code = found.get("return_code", "")
        if return_code and kind is Kind.DEBIT:
            kind = Kind.REVERSAL
        line = Line(
            account=message.account, statement_id=message.ref, value_date=data["value_date"],
            amount=data["amount"], currency=message.currency, bank_transaction_id=bank_id,
            kind=kind, status=data["status"], booking_date=data["booking_date"],
            payer_name=found.get("payer_name", ""), payer_account=payer_account,
            reference=found.get("reference") or data["reference"], remittance=remittance,
            return_code=return_code, bank_code=data["code"], where=data["where"],
        )
        (message.held if message.holding else self.out).append(line)

    def _end_message(self, where: str) -> None:
        message = self.message
        if message is None:
            return
        self._flush_field()
        self._flush_line()
        self.message = None
        if message.phase == 0:
            self._open_statement(message, message.lineno)
        if message.type != "942" and message.closing is None:
            raise StatementError(
                f"statement {message.ref!r} has no closing balance :62F:/:62M:", where)
        if message.holding:  # closing seen: released already; defensive
            raise StatementError("statement lines held without a closing balance", where)
        key = (message.account, message.currency)
        if message.opening is not None:
            previous = self.last_closing.get(key)
            if previous is not None and previous[0] != message.opening:
                self.out.append(Warning(
                    f"account {message.account}: statement {message.number} opens at "
                    f"{message.opening} {message.currency}, but statement {previous[1]} before "
                    f"it closed at {previous[0]} (a statement missing, or out of order?)",
                    _where(message.lineno)))
        if message.type == "942":
            for tag, side, what in (("90D", message.debits, "debit"),
                                    ("90C", message.credits, "credit")):
                if side[0] + side[2] and not message.seen.get(tag):
                    self.out.append(Warning(
                        f"account {message.account}, report {message.number}: "
                        f"{side[0] + side[2]} {what} "
                        f"entries and no :{tag}: control record, so the report cannot be "
                        "checked for completeness", _where(message.lineno)))
        if message.closing is not None:
            expected = message.opening + message.total
            if expected != message.closing:
                self.out.append(Warning(
                    f"account {message.account}, statement {message.number}: opening balance "
                    f"{message.opening} + entries {message.total} = {expected} "
                    f"{message.currency}, but the closing balance is {message.closing}",
                    message.where_62))
            self.last_closing[key] = (message.closing, message.number)


def _account(text: str, currency: str) -> str:
    """Field 25 as the client's account: without a currency suffix (``1291.99.348EUR``) and
    without a BIC before a slash (``TRIODOSBANK/0390123456``)."""
    account = text.strip()
    if account.endswith(currency) and len(account) > 3 and not account[-4].isalpha():
        account = account[:-3].rstrip()
    head, slash, tail = account.partition("/")
    if slash and tail and re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?", head):
        account = tail.strip()
    return account


@functools.lru_cache(maxsize=4096)  # payers come back
def _account_key(account: str) -> str:
    """An account without punctuation, case or leading zeros, to compare two spellings."""
    return re.sub(r"[^0-9A-Z]", "", account.upper()).lstrip("0")


def read(stream: BinaryIO, **options) -> Iterator[Item]:
    """The items of an MT940/MT942 file in file order; StatementError with the line and column
    of anything the reader cannot account for."""
    return _Reader(stream).items()
