"""A BAI2 writer for the tests: a file from groups, accounts, summaries and details, laid out in
the ways banks lay them out.

The layout is chosen by ``Layout``:

- ``cuts``: where logical records are cut into a record and 88 continuations (any field
  boundary, in the middle of an 03 summary group or of a 16 record's fixed fields too); the
  text of a 16 record is written as its pieces, the first in the 16 (or an 88) and each other
  piece in an 88 of its own;
- ``shared``: several records on one physical line, each ended by ``/`` (the text of a 16
  record then ends with ``/`` too); the first line holds the 01 and the 02 at least;
- ``comma_slash``: a comma before the ``/`` where a record is cut at a summary group boundary
  or ends (``,/``, as SVB writes it);
- ``wrap``: physical lines cut at about that many characters wherever the cut leaves no doubt
  (the next piece does not begin like a record, the cut is not after a space or a ``/``);
- ``slash_after_text``: the text of a 16 record ended with ``/`` in a file with one record per
  line (the reader takes that ``/`` off);
- ``crlf``: CR LF line ends.

Controls (49, 98, 99) are computed from what is written; ``expected`` gives the items the reader
must yield, computed from the model here, not by the reader.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from reconciliation.formats.bai2 import decimals, kind_of, type_class
from reconciliation.formats.base import Kind, Line, Statement, Status, Warning

_RECORD_START = re.compile(r" *(0[123]|16|49|88|98|99),")


@dataclass
class Summary:
    type_code: str
    amount: int | None  # signed for balances
    count: int | None = None
    # ("",), ("Z",), ("S", a, b, c), ("V", yymmdd, hhmm), ("D", n, days, amount, ...)
    funds: tuple[str, ...] = ("",)

    def fields(self) -> list[str]:
        amount = "" if self.amount is None else str(self.amount)
        count = "" if self.count is None else str(self.count)
        return [self.type_code, amount, count, *self.funds]


@dataclass
class Detail:
    type_code: str
    amount: int  # minor units, unsigned
    funds: tuple[str, ...] = ("",)
    bank_ref: str = ""
    customer_ref: str = ""
    text: list[str] = field(default_factory=list)  # pieces, joined with a space when read

    def fields(self) -> list[str]:
        return [self.type_code, str(self.amount), *self.funds, self.bank_ref, self.customer_ref]

    def value_date(self, as_of: date) -> date:
        if self.funds[0] == "V" and self.funds[1]:
            yy, mm, dd = int(self.funds[1][:2]), int(self.funds[1][2:4]), int(self.funds[1][4:])
            return date(2000 + yy if yy < 80 else 1900 + yy, mm, dd)
        return as_of


@dataclass
class Account:
    number: str
    currency: str  # "" takes the group's
    summaries: list[Summary] = field(default_factory=list)
    details: list[Detail] = field(default_factory=list)

    def control_total(self) -> int:
        return sum(s.amount or 0 for s in self.summaries) + sum(d.amount for d in self.details)


@dataclass
class Group:
    as_of: date
    currency: str = ""  # "" is USD
    status: str = "1"
    modifier: str = "2"
    accounts: list[Account] = field(default_factory=list)


@dataclass
class File:
    groups: list[Group]
    sender: str = "121000248"
    receiver: str = "CUSTOMER1"
    created: date = date(2026, 11, 30)
    file_id: str = "1"


@dataclass
class Layout:
    cuts: float = 0.0  # chance of an 88 cut at each field boundary
    shared: bool = False
    comma_slash: bool = False
    wrap: int = 0
    slash_after_text: bool = False
    crlf: bool = False
    seed: int = 0


def yymmdd(d: date) -> str:
    return d.strftime("%y%m%d")


# --- writing ------------------------------------------------------------------------------------

def _plan(nfields: int, layout: Layout, rnd: random.Random) -> set[int]:
    """The field boundaries where a record is cut into an 88 continuation."""
    return {i for i in range(1, nfields) if rnd.random() < layout.cuts}


def _render(code: str, fields: list[str], cuts: set[int], layout: Layout, rnd: random.Random,
            starts: tuple[int, ...] = (), text: list[str] | None = None) -> list[str]:
    """The physical records (strings without line ends) of one logical record."""
    out = []
    current = [code]
    for i, value in enumerate(fields):
        if i in cuts:
            comma = layout.comma_slash and i in starts and rnd.random() < 0.5
            out.append(",".join(current) + (",/" if comma else "/"))
            current = ["88"]
        current.append(value)
    if text:
        if rnd.random() < layout.cuts:  # the text begins in an 88
            out.append(",".join(current) + "/")
            current = ["88"]
        current.append(text[0])
        pieces = [",".join(current)] + ["88," + piece for piece in text[1:]]
        for piece in pieces:
            if layout.shared or (layout.slash_after_text and rnd.random() < 0.5):
                piece += "/"
            out.append(piece)
        return out
    if code == "16":  # no text: leave out empty references at the end
        while len(current) > 2 and current[-1] == "" and rnd.random() < 0.5:
            current.pop()
    end = ",/" if layout.comma_slash and code == "03" and rnd.random() < 0.5 else "/"
    out.append(",".join(current) + end)
    return out


def _records(f: File, layout: Layout, rnd: random.Random) -> list[str]:
    """Every physical record of the file, controls computed from what is written."""
    out: list[str] = []
    cuts = _plan(8, layout, rnd)
    out += _render("01", [f.sender, f.receiver, yymmdd(f.created), "0800", f.file_id, "", "",
                          "2"], cuts, layout, rnd)
    file_total = 0
    for g in f.groups:
        group_start = len(out)
        group_total = 0
        out += _render("02", [f.receiver, f.sender, g.status, yymmdd(g.as_of), "0800",
                              g.currency, g.modifier], _plan(7, layout, rnd), layout, rnd)
        for a in g.accounts:
            account_start = len(out)
            fields = [a.number, a.currency]
            starts = []
            for summary in a.summaries:
                starts.append(len(fields))
                fields += summary.fields()
            out += _render("03", fields, _plan(len(fields), layout, rnd), layout, rnd,
                           tuple(starts))
            for d in a.details:
                fields = d.fields()
                out += _render("16", fields, _plan(len(fields), layout, rnd), layout, rnd,
                               text=d.text)
            cuts = _plan(2, layout, rnd)
            count = len(out) - account_start + 1 + len(cuts)
            out += _render("49", [str(a.control_total()), str(count)], cuts, layout, rnd)
            group_total += a.control_total()
        cuts = _plan(3, layout, rnd)
        count = len(out) - group_start + 1 + len(cuts)
        out += _render("98", [str(group_total), str(len(g.accounts)), str(count)], cuts,
                       layout, rnd)
        file_total += group_total
    cuts = _plan(3, layout, rnd)
    count = len(out) + 1 + len(cuts)
    out += _render("99", [str(file_total), str(len(f.groups)), str(count)], cuts, layout, rnd)
    return out


def _wrap(line: str, width: int, rnd: random.Random) -> list[str]:
    out = []
    while len(line) > width:
        cut = None
        for c in range(max(1, width - rnd.randint(0, width // 2)), len(line)):
            if line[c - 1] in " /" or line[c] == " ":
                continue
            if c < 3 and _RECORD_START.match(line):  # not inside the code that begins a line
                continue
            if _RECORD_START.match(line, c):
                continue
            cut = c
            break
        if cut is None:
            break
        out.append(line[:cut])
        line = line[cut:]
    out.append(line)
    return out


def write(f: File, layout: Layout | None = None) -> bytes:
    layout = layout or Layout()
    rnd = random.Random(layout.seed)
    physical = _records(f, layout, rnd)
    if layout.shared:
        lines, current = [], ""
        for rec in physical:
            current += rec
            if len(lines) + len(current) > len(physical[0]) and rnd.random() < 0.3:
                lines.append(current)
                current = ""
        if current:
            lines.append(current)
    else:
        lines = physical
    if layout.wrap:
        lines = [piece for line in lines for piece in _wrap(line, layout.wrap, rnd)]
    eol = "\r\n" if layout.crlf else "\n"
    return (eol.join(lines) + eol).encode("utf-8")


# --- what the reader must yield ------------------------------------------------------------------

def expected(f: File) -> list:
    items: list = []
    for gi, g in enumerate(f.groups, 1):
        if g.status != "1":
            items.append(Warning(f"group {gi} status {g.status}"))
        for a in g.accounts:
            currency = a.currency or g.currency or "USD"
            places = decimals(currency)
            balances: dict[str, int] = {}
            for s in a.summaries:
                if s.amount is not None:
                    balances.setdefault(s.type_code, s.amount)
            opening = closing = None
            pair = None
            for code, close in (("010", "015"), ("040", "045")):
                if code in balances:
                    pair = (balances[code], balances.get(close))
                    opening = Decimal(balances[code]).scaleb(-places)
                    if close in balances:
                        closing = Decimal(balances[close]).scaleb(-places)
                    break
            if pair is None and "015" in balances:
                closing = Decimal(balances["015"]).scaleb(-places)
            items.append(Statement(
                account=a.number, currency=currency, statement_id=g.as_of.isoformat(),
                created=f.created, period_start=g.as_of, period_end=g.as_of,
                opening_balance=opening, closing_balance=closing))
            booked = 0
            refs: dict[str, int] = {}
            for n, d in enumerate(a.details, 1):
                cls = type_class(d.type_code)
                amount = Decimal(d.amount).scaleb(-places)
                status = Status.BOOKED
                if cls == "debit":
                    amount = -amount
                if cls == "info" or g.status in ("2", "4"):
                    status = Status.INFO
                if status is Status.BOOKED:
                    booked += -d.amount if cls == "debit" else d.amount
                txid = f"BAI2:{a.number}:{g.as_of:%Y%m%d}:{n}:{d.type_code}:{d.amount}"
                if d.bank_ref:
                    refs[d.bank_ref] = refs.get(d.bank_ref, 0) + 1
                    txid = d.bank_ref + (f"#{refs[d.bank_ref]}" if refs[d.bank_ref] > 1 else "")
                items.append(Line(
                    account=a.number, statement_id=g.as_of.isoformat(),
                    value_date=d.value_date(g.as_of), amount=amount, currency=currency,
                    bank_transaction_id=txid,
                    kind=kind_of(d.type_code), status=status, booking_date=g.as_of,
                    reference=d.customer_ref, remittance=" ".join(d.text),
                    bank_code=d.type_code))
                if d.bank_ref and refs[d.bank_ref] > 1:
                    items.append(Warning("repeated bank reference"))
            if pair is not None and pair[1] is not None and pair[0] + booked != pair[1]:
                items.append(Warning("balances"))
    return items


def comparable(item):
    """What the property tests compare: everything but the places and warning wording."""
    if isinstance(item, Warning):
        return ("warning",)
    if isinstance(item, Line):
        return (item.account, item.statement_id, item.value_date, item.amount, item.currency,
                item.bank_transaction_id, item.kind, item.status, item.booking_date,
                item.reference, item.remittance, item.bank_code)
    return (item.account, item.currency, item.statement_id, item.created, item.period_start,
            item.period_end, item.opening_balance, item.closing_balance)


__all__ = ["Account", "Detail", "File", "Group", "Kind", "Layout", "Summary", "comparable",
           "expected", "write"]
