"""What every statement reader yields: one normalized shape for seven bank formats.

A reader is a pure module (no Django) with two functions:

- ``sniff(head: bytes) -> bool``: whether the first bytes of a file look like this format;
- ``read(stream: BinaryIO, **options) -> Iterator[Item]``: the file's items in file order, streamed
  (a reader never holds all of a file's lines), raising ``StatementError`` with the place
  (line and column, or element path) as soon as it meets something it cannot account for.

Items are ``Statement`` (an account's statement, before its lines), ``Line`` (one booked,
pending or information-only movement), ``Notice`` (data for a person to act on that moves no
money, such as a NACHA notification of change) and ``Warning`` (something a person should know
but that does not make the file wrong, such as balances that do not add up).

Amounts are ``Decimal`` and signed from the client's point of view: money into the client's
account is positive, money out (a return, a chargeback, a fee) negative.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


class Kind(enum.StrEnum):
    CREDIT = "credit"  # a customer's payment in
    REVERSAL = "reversal"  # a reversal or return of an earlier credit
    CHARGEBACK = "chargeback"  # a card payment taken back by the payer's bank
    FEE = "fee"  # the bank's charges
    DEBIT = "debit"  # any other money out


class Status(enum.StrEnum):
    BOOKED = "booked"  # on the account: becomes a payment
    PENDING = "pending"  # not yet booked: listed on the import, never a payment
    INFO = "info"  # information only: listed on the import, never a payment


class StatementError(ValueError):
    """A file the reader cannot account for; ``where`` says where (``line 12, column 5`` or an
    element path such as ``/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt``)."""

    def __init__(self, message: str, where: str = ""):
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where


@dataclass(frozen=True, slots=True)
class Statement:
    """One account's statement (or report, notification, file group) as the bank sent it."""

    account: str  # the client's account as the file names it: IBAN, account number, ...
    currency: str  # ISO 4217 code of the account
    statement_id: str = ""  # the bank's id of this statement
    sequence: str = ""  # the bank's running number, where it gives one (gaps are missing days)
    created: date | None = None
    period_start: date | None = None
    period_end: date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    where: str = ""
    bank_id: str = ""  # the bank's code where the file names it apart from the account (OFX BANKID)
    branch_id: str = ""  # the branch's code where the file names it (OFX BRANCHID)
    account_type: str = ""  # as the file names it: CHECKING, SAVINGS, CREDITCARD, ...


@dataclass(frozen=True, slots=True)
class Line:
    """One movement on the account."""

    account: str
    statement_id: str
    value_date: date
    amount: Decimal  # signed, client's point of view
    currency: str
    bank_transaction_id: str  # the bank's id, or a documented stable key where the format has none
    kind: Kind = Kind.CREDIT
    status: Status = Status.BOOKED
    booking_date: date | None = None
    payer_name: str = ""
    payer_account: str = ""
    reference: str = ""  # a structured reference: end-to-end id, creditor reference, trace number
    remittance: str = ""  # free remittance text
    return_code: str = ""  # reason of a return or reversal: AC06, R01, ...
    bank_code: str = ""  # the bank's transaction code: BTC domain/family, BAI type, SEC code, ...
    entry_ref: str = ""  # the entry this line belongs to (camt NtryRef / AcctSvcrRef of a batch)
    batch: bool = False  # one line of the details of a batch entry (camt TxDtls)
    notes: tuple[str, ...] = field(default=())  # e.g. "ACH, subject to return"
    where: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something for a person to act on that moves no money."""

    account: str
    code: str  # e.g. NACHA change code C01
    message: str  # in words, with the corrected data
    reference: str = ""  # e.g. the original entry's trace number
    payer_name: str = ""
    corrected: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True, slots=True)
class Warning:
    """The file is accepted, but a person should know this."""

    message: str
    where: str = ""


Item = Statement | Line | Notice | Warning
