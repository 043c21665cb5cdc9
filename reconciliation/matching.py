"""The matching engine: expected payments against received payments, pure Python (no Django).

Inputs are plain tuples in integer cents and date ordinals (``date.toordinal()``), so that a
million rows of each fit in memory and the engine runs without a database; the run service
(``reconciliation.services.runs``) streams them in and writes the result out in bulk.

``reconcile()`` is a function of its inputs alone: deterministic, and independent of the order
the rows are given in (it sorts what it needs by stable keys: due date then id, value date then
id). Running it again on what a previous run wrote (its allocations stored, its findings among
the open items) finds nothing new.

Passes, in order, each over the payments the previous ones left unallocated:

1. ``reference``: a scheduled payment's reference (``ACME-000123-03``) or its schedule's CRM
   reference found in the payment's text (reference + remittance), tolerant of case, spacing,
   separators and surrounding words. A payment quoting several references settles those, in
   due-date order.
2. ``customer_amount``: the payer identified (payer account through the customer's keyed hash,
   the customer's CRM reference in the text, or the customer the import already named), the
   amount within tolerance of the customer's oldest open expected payment(s) (one payment may
   settle several of the same customer, oldest first) and the value date inside the window
   ``[due - window_before, due + window_after]``.
3. ``customer_variance``: the payer identified and a payment of theirs open inside the window,
   the amount outside tolerance: allocated (up to what is outstanding), with an over- or
   underpayment finding.
4. ``credit``: a known customer's money held as credit (the unallocated rest of an earlier
   payment) applied to their next due payment, oldest first.

Tolerance: |paid - due| <= max(tolerance_cents, due * tolerance_bp / 10_000).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

# Allocation rules (Allocation.rule); "manual" and "manual_match" are written by people.
REFERENCE = "reference"
CUSTOMER_AMOUNT = "customer_amount"
CUSTOMER_VARIANCE = "customer_variance"
CREDIT = "credit"
RULES = (REFERENCE, CUSTOMER_AMOUNT, CUSTOMER_VARIANCE, CREDIT)

# Finding kinds: the discrepancy kinds they log.
OVERPAYMENT = "overpayment"
UNDERPAYMENT = "underpayment"
DUPLICATE = "duplicate"
MISSING = "missing"
MISMATCH = "mismatch"
CHARGEBACK = "chargeback"

# Mandate actions on an autopay schedule after a NACHA return.
RETRY = "retry"  # R01, R09: debit again per the client's retry policy
PAUSE = "pause"  # R02, R03, R04: pause the mandate until the customer gives new details
REVOKE = "revoke"  # R07, R08, R10: the customer revoked or disputes the authorization
RETURN_CODE_ACTIONS = {
    "R01": RETRY, "R09": RETRY,
    "R02": PAUSE, "R03": PAUSE, "R04": PAUSE,
    "R07": REVOKE, "R08": REVOKE, "R10": REVOKE,
}


class Policy(NamedTuple):
    """The client's matching policy, as of the run's date."""

    as_of: int  # the run's date (ordinal): nothing after it is looked at as received
    tolerance_cents: int  # Client.match_tolerance_amount in cents
    tolerance_bp: int  # Client.match_tolerance_percent in basis points (1.5% -> 150)
    window_before: int  # Client.payment_window_days_before
    window_after: int  # Client.payment_window_days_after
    grace_days: int  # Client.grace_days
    duplicate_window: int  # Client.duplicate_window_days


class Expected(NamedTuple):
    """A scheduled payment (schedules.ScheduledPayment) that is open, or settled recently enough
    that a second payment for it could be a duplicate. Waived and cancelled ones are not given."""

    id: int
    customer_id: int
    schedule_id: int
    reference: str  # ScheduledPayment.reference, e.g. "ACME-000123-03"
    schedule_ref: str  # the schedule's CRM reference (PaymentSchedule.external_ref), "" when none
    due: int  # due date ordinal
    currency: str
    amount_due: int  # cents
    amount_paid: int  # cents already allocated (by earlier runs and by hand)
    settled: bool  # paid in full (status paid); an open one is upcoming, due, partially paid or overdue
    autopay: bool  # its schedule is an autopay mandate


class Received(NamedTuple):
    """A payment (bpo_ledger.Payment) that still has something to do: money in with an
    unallocated rest, or a reversal, return or chargeback not yet acted on."""

    id: int
    value_date: int  # ordinal
    amount: int  # signed cents: a reversal, return or chargeback is negative
    unallocated: int  # cents of a positive payment not yet allocated, net of its reversals and refunds; 0 for a negative one
    currency: str
    kind: str  # bpo_ledger.PaymentKind: credit, reversal, chargeback, refund, fee, debit
    customer_id: int | None  # the customer, when known already (a manual payment, an earlier run)
    payer_name: str
    payer_account_hash: str  # keyed hash of the payer's account, "" when the file gave none
    text: str  # reference and remittance text, as the bank gave them
    reverses: int | None  # the payment it takes back, when the import linked it
    return_code: str  # R01, AC04, MD06, ...; "" when none


class CustomerKey(NamedTuple):
    """What identifies a customer of the client in a payment."""

    id: int
    name: str
    account_hash: str  # Customer.bank_account_hash, "" when no account on file
    external_ref: str  # the CRM id, "" when none


class Settled(NamedTuple):
    """An allocation already stored (by a run or a person): what settled what, and from whom."""

    payment_id: int
    expected_id: int
    amount: int  # cents
    value_date: int  # the payment's value date (ordinal)
    payer_account_hash: str
    customer_id: int | None  # the paying payment's customer


class OpenItem(NamedTuple):
    """A discrepancy logged by a run that is not resolved or closed (any status before resolved)."""

    fingerprint: str
    kind: str
    expected_id: int | None
    payment_ids: tuple[int, ...]


class Coverage(NamedTuple):
    """How far a collection account's statements are in: continuous (no sequence gap) up to and
    including ``through`` (ordinal). An account with a gap is covered up to the day before it."""

    account: str
    through: int


# ----------------------------------------------------------------------------------------------
# Outputs


class Allocation(NamedTuple):
    payment_id: int
    expected_id: int
    amount: int  # cents, > 0
    rule: str  # one of RULES
    explanation: str  # shown on the payment's page: "matched by reference ACME-000123-03 in the remittance text"


class Unallocation(NamedTuple):
    """An allocation taken back: the payment was reversed, returned or charged back."""

    payment_id: int  # the original payment
    expected_id: int
    amount: int  # cents, > 0
    reversal_id: int  # the negative payment that took it back


class Finding(NamedTuple):
    """Something that does not fit; the run service logs it as a discrepancy (once, by fingerprint)."""

    kind: str  # OVERPAYMENT, UNDERPAYMENT, DUPLICATE, MISSING, MISMATCH, CHARGEBACK
    fingerprint: str  # stable, at most 64 characters: e.g. "missing:<expected id>", "duplicate:<payment id>"
    summary: str  # one line in words, for the queue
    currency: str
    amount_expected: int | None  # cents
    amount_actual: int | None  # cents
    expected_id: int | None
    customer_id: int | None
    payment_ids: tuple[int, ...]
    mismatch_field: str = ""  # for MISMATCH: "currency", "account", "payer"
    low_priority: bool = False  # a settled payment from another account: for review only
    suggestions: tuple[int, ...] = ()  # unidentified payer: up to three customer ids, best first
    return_code: str = ""  # for CHARGEBACK


class Resolution(NamedTuple):
    """An open item the run resolves: its missing payment arrived, the rest of an underpayment came."""

    fingerprint: str
    reason: str  # in words, for the log: "paid by payment 123 (bank ref ...) on 2026-01-05"
    payment_ids: tuple[int, ...]


class MandateAction(NamedTuple):
    schedule_id: int
    expected_id: int
    action: str  # RETRY, PAUSE, REVOKE
    return_code: str
    payment_id: int  # the return


class Waiting(NamedTuple):
    """An expected payment past grace whose "missing" is held back until statements are in."""

    expected_id: int
    accounts: tuple[str, ...]  # the accounts whose statements the run waits for


@dataclass
class Result:
    allocations: list[Allocation] = field(default_factory=list)
    unallocations: list[Unallocation] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    mandate_actions: list[MandateAction] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    # Payments whose customer the run identified (payment id -> customer id), to record on them.
    identified: dict[int, int] = field(default_factory=dict)
    # Money held as a known customer's credit after the run: (customer id, payment id, cents).
    credits: list[tuple[int, int, int]] = field(default_factory=list)
    # Counts for the run's summary: payments_in, expected_in, matched_<rule>, settled, skipped
    # (fees, other debits, refunds) and findings_<kind>.
    counts: dict[str, int] = field(default_factory=dict)


def reconcile(
    *,
    policy: Policy,
    expected: list[Expected],
    received: list[Received],
    customers: list[CustomerKey],
    settled: list[Settled],
    open_items: list[OpenItem],
    coverage: list[Coverage],
) -> Result:
    """Match, and say what does not fit. See the module's docstring for the passes."""
    raise NotImplementedError  # the engine lands with its tests
