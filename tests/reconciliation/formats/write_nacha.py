"""A NACHA file writer for the tests: records laid out column by column from the NACHA record
formats, with control records computed here (not by the reader), and the items a correct reader
must yield for them, worked out from the entries and the rules of ``reconciliation.formats.nacha``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from reconciliation.formats.base import Kind, Line, Notice, Statement

RECORD = 94


def _alpha(value: str, size: int) -> str:
    assert len(value) <= size, (value, size)
    return value.ljust(size)


def _num(value: int, size: int) -> str:
    text = str(value).rjust(size, "0")
    assert len(text) == size, (value, size)
    return text


def _yymmdd(day: date | None) -> str:
    return day.strftime("%y%m%d") if day else "000000"


@dataclass
class Entry:
    """One entry detail record and its addenda.

    kind: debit (to the customer: money in), credit (money out), offset, prenote, zero,
    return (with reason/original), noc (with change/data)."""

    kind: str
    code: int
    rdfi: str  # 8 digits
    account: str
    cents: int
    name: str
    ident: str = ""
    remittance: list[str] = field(default_factory=list)  # 05 addenda texts
    reason: str = ""  # R01.. or C01..
    original: str = ""  # original entry trace number
    data: str = ""  # 98 corrected data (29 characters) or 99 addenda information
    corrected: dict[str, str] = field(default_factory=dict)
    trace: str = ""  # set by the writer

    def records(self) -> list[str]:
        addenda = self.addenda_records()
        record = ("6" + _num(self.code, 2) + self.rdfi + "1" + _alpha(self.account, 17)
                  + _num(self.cents, 10) + _alpha(self.ident, 15) + _alpha(self.name, 22) + "  "
                  + ("1" if addenda else "0") + self.trace)
        assert len(record) == RECORD
        return [record, *addenda]

    def addenda_records(self) -> list[str]:
        if self.kind == "return":
            return ["799" + self.reason + _alpha(self.original, 15) + " " * 6 + self.rdfi
                    + _alpha(self.data, 44) + self.trace]
        if self.kind == "noc":
            return ["798" + self.reason + _alpha(self.original, 15) + " " * 6 + self.rdfi
                    + _alpha(self.data, 29) + " " * 15 + self.trace]
        return ["705" + _alpha(text, 80) + _num(number, 4) + self.trace[-7:]
                for number, text in enumerate(self.remittance, 1)]


@dataclass
class Batch:
    company_id: str
    effective: date
    entries: list[Entry]
    sec: str = "PPD"
    company_name: str = "ACME BILLING"
    odfi: str = "12104288"
    service_class: str = "200"


@dataclass
class File:
    batches: list[Batch]
    created: date = date(2026, 11, 30)
    origin: str = "0121042882"
    destination: str = " 231380104"
    modifier: str = "A"

    @property
    def key(self) -> str:
        return f"{self.origin.strip()}-{_yymmdd(self.created)}{self.modifier}"


def records(nacha: File) -> list[str]:
    """The file's records, padding included, traces assigned in order."""
    out = ["101" + nacha.destination + nacha.origin + _yymmdd(nacha.created) + "0930"
           + nacha.modifier + "094101" + _alpha("DEST BANK", 23) + _alpha("ORIGIN CO", 23)
           + " " * 8]
    file_count = file_hash = file_debit = file_credit = 0
    sequence = 0
    for number, batch in enumerate(nacha.batches, 1):
        out.append("5" + batch.service_class + _alpha(batch.company_name, 16) + " " * 20
                   + _alpha(batch.company_id, 10) + batch.sec + _alpha("PAYMENTS", 10)
                   + " " * 6 + _yymmdd(batch.effective) + "   " + "1" + batch.odfi
                   + _num(number, 7))
        count = entry_hash = debit = credit = 0
        for entry in batch.entries:
            sequence += 1
            entry.trace = batch.odfi + _num(sequence, 7)
            lines = entry.records()
            out.extend(lines)
            count += len(lines)
            entry_hash += int(entry.rdfi)
            if entry.code % 10 >= 5:
                debit += entry.cents
            else:
                credit += entry.cents
        out.append("8" + batch.service_class + _num(count, 6) + _num(entry_hash % 10**10, 10)
                   + _num(debit, 12) + _num(credit, 12) + _alpha(batch.company_id, 10)
                   + " " * 25 + batch.odfi + _num(number, 7))
        file_count += count
        file_hash += entry_hash
        file_debit += debit
        file_credit += credit
    blocks = -(-(len(out) + 1) // 10)
    out.append("9" + _num(len(nacha.batches), 6) + _num(blocks, 6) + _num(file_count, 8)
               + _num(file_hash % 10**10, 10) + _num(file_debit, 12) + _num(file_credit, 12)
               + " " * 39)
    while len(out) % 10:
        out.append("9" * RECORD)
    assert all(len(record) == RECORD for record in out), [len(r) for r in out]
    return out


def write(nacha: File, *, newline: str = "\n", final_newline: bool = True,
          padding: bool = True, short: bool = False, per_block: bool = False) -> bytes:
    """The file as bytes: ``newline`` "" writes records back to back (no line breaks);
    ``short`` cuts the trailing blanks of every record (a harmless stray); ``per_block``
    writes one line per block of 10 records."""
    lines = records(nacha)
    if not padding:
        while lines[-1] == "9" * RECORD:
            lines.pop()
    if short:
        lines = [line.rstrip(" ") for line in lines]
    if per_block:
        lines = ["".join(lines[at:at + 10]) for at in range(0, len(lines), 10)]
    text = newline.join(lines) + (newline if final_newline else "")
    return text.encode("ascii")


def expected(nacha: File) -> list:
    """The Statements, Lines and Notices a correct reader yields for ``nacha`` (Warnings aside).

    Call after ``records`` or ``write`` (they assign the trace numbers)."""
    items: list = []
    line = 1
    for number, batch in enumerate(nacha.batches, 1):
        line += 1
        statement_id = f"{nacha.key}-{number:07d}"
        items.append(Statement(account=batch.company_id.strip(), currency="USD",
                               statement_id=statement_id,
                               sequence=f"{nacha.created:%Y%m%d}{nacha.modifier}-{number:07d}",
                               created=nacha.created, period_start=batch.effective,
                               period_end=batch.effective, where=f"line {line}"))
        for entry in batch.entries:
            line += 1
            entry_line = line
            line += len(entry.addenda_records())
            common = dict(account=batch.company_id.strip(), statement_id=statement_id,
                          value_date=batch.effective, currency="USD",
                          bank_transaction_id=f"{nacha.key}-{entry.trace}",
                          payer_name=entry.name, payer_account=entry.account,
                          bank_code=f"{batch.sec} {entry.code}", where=f"line {entry_line}")
            amount = Decimal(entry.cents) / 100
            if entry.kind == "debit":
                items.append(Line(amount=amount, kind=Kind.CREDIT, reference=entry.trace,
                                  remittance="; ".join([t for t in [entry.ident] if t]
                                                       + entry.remittance),
                                  notes=("ACH, subject to return",), **common))
            elif entry.kind == "credit":
                items.append(Line(amount=-amount, kind=Kind.DEBIT, reference=entry.trace,
                                  remittance="; ".join([t for t in [entry.ident] if t]
                                                       + entry.remittance), **common))
            elif entry.kind == "return" and entry.cents:
                returned_debit = entry.code % 10 == 6
                items.append(Line(amount=-amount if returned_debit else amount,
                                  kind=Kind.REVERSAL, reference=entry.original,
                                  return_code=entry.reason,
                                  remittance=entry.reason + " " + REASON_WORDS[entry.reason]
                                  + (f"; {entry.data}" if entry.data else ""), **common))
            elif entry.kind == "return":
                items.append(("notice", entry.reason, entry.original, entry.name, {}))
            elif entry.kind == "noc":
                items.append(("notice", entry.reason, entry.original, entry.name,
                              entry.corrected))
        line += 1  # batch control
    return items


def comparable(items) -> list:
    """Items as ``expected`` gives them: Notices cut to code, reference, payer and corrected
    data (their message is words), Warnings left out."""
    out = []
    for item in items:
        if isinstance(item, Notice):
            out.append(("notice", item.code, item.reference, item.payer_name, item.corrected))
        elif isinstance(item, Statement | Line):
            out.append(item)
    return out


REASON_WORDS = {"R01": "insufficient funds", "R02": "account closed",
                "R03": "no account / unable to locate", "R04": "invalid account number",
                "R10": "customer advises not authorized", "R29":
                "corporate customer advises not authorized"}
