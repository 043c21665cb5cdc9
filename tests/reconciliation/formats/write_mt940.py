"""A writer of SWIFT MT940 and MT942 messages from rows, for the reader's property tests.

It writes what a bank writes: bare message text or SWIFT blocks, CRLF or LF, :86: as
``/CODE/value`` subfields wrapped anywhere or as free text hard-wrapped at 65 characters, and
balances (MT940) or :90D:/:90C: control records (MT942) that agree with the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Row:
    value_date: date
    mark: str  # C, D, RC, RD; EC, ED in an MT942
    amount: Decimal  # positive, as written
    code: str = "NTRF"  # transaction type identification code
    booking_date: date | None = None  # written as the MMDD entry date
    funds_code: bool = False  # write the currency's third letter before the amount
    reference: str = ""  # subfield 7 (NONREF when empty) and, structured, /EREF/
    bank_reference: str = ""  # //subfield 8
    structured: bool = True  # :86: as /CODE/ subfields, else free text
    payer_name: str = ""  # structured only
    payer_account: str = ""  # structured: /IBAN/; free text: the supplementary details line
    remittance: str = ""

    @property
    def signed(self) -> Decimal:
        return self.amount if self.mark in ("C", "RD", "EC") else -self.amount

    @property
    def booked(self) -> bool:
        return self.mark[0] != "E"


@dataclass(frozen=True)
class Message:
    account: str
    currency: str
    reference: str  # field 20
    number: str  # field 28C
    rows: tuple[Row, ...] = ()
    opening: Decimal = Decimal(0)
    opening_date: date = date(2024, 1, 1)
    closing_date: date = date(2024, 1, 2)
    interim: bool = False  # MT942
    intermediate: bool = False  # 60M/62M
    controls: bool = True  # MT942 :90D:/:90C:
    info: str = ""  # statement-level :86:

    @property
    def closing(self) -> Decimal:
        return self.opening + sum((r.signed for r in self.rows if r.booked), Decimal(0))


def amount_text(value: Decimal) -> str:
    """SWIFT 15d: digits and a decimal comma, no sign."""
    text = f"{abs(value):f}"
    whole, _, fraction = text.partition(".")
    return f"{whole},{fraction.rstrip('0')}"


def _balance(tag: str, value: Decimal, when: date, currency: str) -> str:
    return f":{tag}:{'D' if value < 0 else 'C'}{when:%y%m%d}{currency}{amount_text(value)}"


def _wrap(text: str, width: int = 65) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def statement_line(row: Row, currency: str) -> list[str]:
    entry = f"{row.booking_date:%m%d}" if row.booking_date else ""
    funds = currency[2] if row.funds_code else ""
    text = (f":61:{row.value_date:%y%m%d}{entry}{row.mark}{funds}{amount_text(row.amount)}"
            f"{row.code}{row.reference or 'NONREF'}")
    if row.bank_reference:
        text += f"//{row.bank_reference}"
    lines = [text]
    if not row.structured and row.payer_account:
        lines.append(row.payer_account)
    if row.structured:
        parts = []
        if row.reference:
            parts.append(f"/EREF/{row.reference}")
        if row.payer_name or row.payer_account:
            parts.append("/ORDP/" if row.signed > 0 else "/BENM/")
            if row.payer_name:
                parts.append(f"/NAME/{row.payer_name}")
            if row.payer_account:
                parts.append(f"/IBAN/{row.payer_account}")
        parts.append(f"/REMI/USTD//{row.remittance}/")
        narrative = "".join(parts)
        wrapped = _wrap(narrative, 61)  # structured lines wrap anywhere
    else:
        wrapped = _wrap(row.remittance) if row.remittance else []
    if wrapped:
        lines.append(":86:" + wrapped[0])
        lines.extend(wrapped[1:])
    return lines


def message_lines(message: Message) -> list[str]:
    cur = message.currency
    lines = [f":20:{message.reference}", f":25:{message.account}", f":28C:{message.number}"]
    if message.interim:
        lines.append(f":34F:{cur}0,")
        lines.append(f":13D:{message.closing_date:%y%m%d}1200+0100")
    else:
        letter = "M" if message.intermediate else "F"
        lines.append(_balance(f"60{letter}", message.opening, message.opening_date, cur))
    for row in message.rows:
        lines.extend(statement_line(row, cur))
    if message.interim:
        if message.controls:
            debits = [r for r in message.rows if r.booked and r.signed < 0]
            credits = [r for r in message.rows if r.booked and r.signed > 0]
            lines.append(f":90D:{len(debits)}{cur}{amount_text(sum((r.amount for r in debits), Decimal(0)))}")
            lines.append(f":90C:{len(credits)}{cur}{amount_text(sum((r.amount for r in credits), Decimal(0)))}")
    else:
        letter = "M" if message.intermediate else "F"
        lines.append(_balance(f"62{letter}", message.closing, message.closing_date, cur))
        lines.append(_balance("64", message.closing, message.closing_date, cur))
    if message.info:
        lines.append(f":86:{message.info}")
    return lines


def write(messages: list[Message], *, blocks: bool = False, newline: str = "\r\n",
          terminator: bool = True, header: str = "") -> bytes:
    """A whole file: each message bare (optionally ended by '-', after a bank's header line)
    or in SWIFT blocks."""
    out: list[str] = []
    for message in messages:
        mt = "942" if message.interim else "940"
        if blocks:
            out.append(f"{{1:F01BANKNL2AAXXX0000000000}}{{2:O{mt}1200240102BANKNL2AAXXX00000000002401021200N}}"
                       "{3:{108:REF}}{4:")
            out.extend(message_lines(message))
            out.append("-}{5:{CHK:0123456789AB}}")
        else:
            if header:
                out.append(header.replace("940", mt))
            out.extend(message_lines(message))
            if terminator:
                out.append("-")
    return (newline.join(out) + newline).encode("utf-8")
