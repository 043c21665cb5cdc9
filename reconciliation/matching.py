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

Tolerance: |paid - due| <= max(tolerance_cents, due * tolerance_bp // 10_000). An expected payment
is paid in full (``Result.settled_expected``) once something is paid and it is short by no more
than the tolerance; no expected payment is ever allocated more than its amount due, so a payment
a few cents over leaves those cents as the customer's credit.

References are found by looking runs of the text's words (letters and digits, upper-cased) up
in a dict of normalized references: "inv acme 000123 03", "ACME000123-03" and "ACME-000123-03"
all spell ``ACME00012303``; the longest run wins, so a schedule's reference inside a payment's
reference is not also found, and a longer number ("ACME-000123-031") is not the reference. Every
text is scanned once; no payment is compared with every expected payment.

The payer is identified by, in order: ``Received.customer_id``, the payer account hash on file
(``CustomerKey.account_hash``), a customer's CRM reference in the text, and, for a reference
match, the customer whose payment it settled. ``Result.identified`` has the payments whose
customer the run found.

Money of an earlier run (a payment partly used before: ``unallocated < amount``, allocations in
``settled``, or an open overpayment item) only goes to the credit pass. Payments dated after ``policy.as_of`` are not looked at; fees,
other debits and refunds are skipped (``counts["skipped"]``).

Findings, each with a fingerprint (at most 64 characters) logged once:

- ``overpayment:<payment>``: matched (reference or customer + window) above the tolerance, or a
  known customer's money with nothing due; the rest is listed in ``Result.credits`` and applied
  by a later run's credit pass (the item is resolved when the credit is used up).
- ``underpayment:<expected>:<paid cents>``: an expected payment left short by a match, or past
  grace with something but not enough paid (then, like missing, once the statements are in);
  resolved when it is paid in full.
- ``duplicate:<payment>``: a payment quoting only settled references, from the payer who settled
  it (same account hash or same customer; an unidentified payer counts as the reference's
  customer) within ``duplicate_window`` days of that payment's value date; not allocated.
- ``missing:<expected>``: past grace (``due + grace_days < as_of``), nothing paid, and the
  statements of every account in ``coverage`` run through ``due + grace_days``; otherwise
  ``Waiting`` names the accounts short. No coverage rows at all means the client has no statement
  account yet: everything past grace waits (``Waiting(expected, ())``).
- ``mismatch:currency:<payment>`` (quoted references all in another currency: not settled),
  ``mismatch:account:<payment>`` (low priority: settled from an account other than the
  customer's on file, compared only when both are known; or, not settled: a settled reference
  quoted again from another customer's account on file), ``mismatch:payer:<payment>`` (nobody
  identified: not settled, ``suggestions`` up to three customers by shared name words, rarer
  words weighing more, then difflib's ratio, then id).
- ``chargeback:<expected>:<reversal>``: a reversal, return or chargeback (negative amount of kind
  reversal or chargeback, or any with a return code) undoes the allocations of the payment it
  takes back (``reverses``, else the latest payment with allocations from the same payer account
  quoting a reference in its text, of the same amount preferably), newest expected payment first,
  up to its amount (``Result.unallocations``); the reopened payment gets this one item instead of
  "missing" (none when it already has an open missing, underpayment or chargeback item). A
  reversal that takes back nothing allocated is ``chargeback:<reversal>``, and while that item is
open the reversal is left to people (not looked at again). NACHA return codes on an
  autopay schedule give ``MandateAction``: R01/R09 retry, R02-R04 pause, R07/R08/R10 revoke.

The one-open-item rule: the items that say why an expected payment is not settled are missing,
underpayment and chargeback (``BLOCKING``). An expected payment past grace is settled, waits for
statements, or has exactly one of them, open from before or new; never two (a missing one that
gets part of its money is resolved and becomes an underpayment). When an expected payment is paid
in full, its open blocking items are resolved (``Result.resolutions``, with the payments that
paid it). Findings about a payment (overpayment, duplicate, mismatch) may name an expected
payment for context but do not count.

Counts: payments_in, expected_in, matched_<rule> (payments, by the first rule that allocated
them), settled, reopened, reversals, findings_<kind> (new findings), resolved, waiting, skipped,
after_as_of, unallocated (payments left with money unallocated).
"""

from __future__ import annotations

import difflib
import functools
import gc
import heapq
import re
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter
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
    # Expected payments (ids) this run leaves paid in full that were open before it (status paid),
    # and settled ones a reversal left open again (status back to due / partially paid / overdue).
    settled_expected: list[int] = field(default_factory=list)
    reopened_expected: list[int] = field(default_factory=list)


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
    collecting = gc.isenabled()
    gc.disable()  # millions of tuples and no cycles: the collector would only walk them again and again
    try:
        engine = _Engine(policy, expected, received, customers, settled, open_items, coverage)
        return engine.run()
    finally:
        if collecting:
            gc.enable()


# ----------------------------------------------------------------------------------------------
# References in text

_TOKEN = re.compile(r"[0-9A-Z]+")
_PLAIN = re.compile(r"[0-9A-Z\n-]*")  # references as the ledger writes them
_MAX_SPAN = 8
_SEPARATORS = str.maketrans("", "", " -/._:,;#\t\r\n")  # a reference is found across at most this many words of the text

# Kinds of what a normalized reference names, kept in the low two bits of an index entry.
_EXPECTED, _SCHEDULE, _CUSTOMER = 0, 1, 2


def normalize_reference(text: str) -> str:
    """A reference as the index keeps it: capitals and digits only ("acme 000123-03" -> "ACME00012303")."""
    key = text.upper().replace("-", "")
    if key.isalnum() and key.isascii():
        return key
    return "".join(_TOKEN.findall(key))


class _References:
    """Normalized references (scheduled payments', schedules' and customers' CRM references) in a
    dict, and a scan of a text that looks each run of its words up once: no text is ever compared
    with every reference."""

    def __init__(self):
        self.index: dict[str, int | tuple[int, ...]] = {}
        self.first1: set[str] = set()
        self.first2: set[str] = set()
        self.max_len = 0

    def add_references(self, references: list[str]) -> None:
        """Scheduled payments' references, target = position in the list: the bulk of the index."""
        joined = "\n".join(references)
        if not self.index and _PLAIN.fullmatch(joined):
            # As the ledger writes them (capitals, digits, hyphens): the dict is built in one go.
            keys = joined.replace("-", "").split("\n")
            self.index = dict(zip(keys, range(0, 4 * len(keys), 4), strict=True))
            if len(self.index) == len(keys) and min(map(len, keys)) > 1:
                self.first2.update({key[:2] for key in keys})
                self.first1.update({key[0] for key in keys})
                self.max_len = max(self.max_len, max(map(len, keys), default=0))
                return
            self.index = {}  # two references spelled alike, or a short one: one by one
        index, first2 = self.index, self.first2
        max_len = self.max_len
        for i, reference in enumerate(references):
            key = reference.upper().replace("-", "")
            if not (key.isalnum() and key.isascii()):
                key = normalize_reference(reference)
                if not key:
                    continue
            if key in index or len(key) < 2:
                self.add(key, _EXPECTED, i)
                continue
            index[key] = i * 4
            first2.add(key[:2])
            if len(key) > max_len:
                max_len = len(key)
        self.max_len = max(self.max_len, max_len)
        self.first1.update(key[0] for key in self.first2)

    def add(self, reference: str, kind: int, target: int) -> None:
        key = normalize_reference(reference)
        if not key:
            return
        code = target * 4 + kind
        entry = self.index.get(key)
        if entry is None:
            self.index[key] = code
        elif isinstance(entry, int):
            if entry != code:
                self.index[key] = (entry, code)
        elif code not in entry:
            self.index[key] = (*entry, code)
        self.first1.add(key[0])
        if len(key) > 1:
            self.first2.add(key[:2])
        self.max_len = max(self.max_len, len(key))

    def find(self, text: str) -> list[int]:
        """Entries found in the text, in the order they appear: at each word, the longest run of
        words whose letters and digits spell a reference wins, and the scan goes on after it."""
        if not text or not self.index:
            return []
        upper = text.upper()
        whole = self.index.get(upper.translate(_SEPARATORS))
        if whole is not None:  # the text is a reference and nothing else (the usual case)
            return [whole] if isinstance(whole, int) else list(whole)
        tokens = _TOKEN.findall(upper)
        found: list[int] = []
        index, first1, first2, max_len = self.index, self.first1, self.first2, self.max_len
        n = len(tokens)
        i = 0
        while i < n:
            token = tokens[i]
            if (token[:2] not in first2) if len(token) > 1 else (token not in first1):
                i += 1
                continue
            best_end, best = 0, None
            key = ""
            j = i
            while j < n and j - i < _MAX_SPAN:
                key += tokens[j]
                j += 1
                if len(key) > max_len:
                    break
                entry = index.get(key)
                if entry is not None:
                    best_end, best = j, entry
            if best is None:
                i += 1
                continue
            if isinstance(best, int):
                found.append(best)
            else:
                found.extend(best)
            i = best_end
        return found


# ----------------------------------------------------------------------------------------------
# Words


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d}"


@functools.lru_cache(maxsize=4096)
def _day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _name_words(name: str) -> set[str]:
    return {word for word in _TOKEN.findall(name.upper()) if len(word) > 1}


_COMMON_WORD = 256  # a word of more customers' names than this does not suggest any of them
_SKIPPED_KINDS = frozenset({"fee", "debit", "refund"})
_REVERSAL_KINDS = frozenset({"reversal", "chargeback"})
# The open items that say why an expected payment is not settled: one at most per expected payment.
BLOCKING = (MISSING, UNDERPAYMENT, CHARGEBACK)


class _Engine:
    def __init__(self, policy, expected, received, customers, settled, open_items, coverage):
        self.policy = policy
        self.tolerance_cents, self.tolerance_bp = policy.tolerance_cents, policy.tolerance_bp
        self.result = Result()
        self.allocations = self.result.allocations
        # Expected payments in due order: an index into these lists is also their due order.
        self.exp: list[Expected] = sorted(expected, key=attrgetter("due", "id"))
        self.pos: dict[int, int] = {e.id: i for i, e in enumerate(self.exp)}
        self.paid = [e.amount_paid for e in self.exp]
        self.is_settled = [e.settled for e in self.exp]
        self.matched_now: set[int] = set()  # got money from rules reference..customer_variance
        self.reopened: dict[int, tuple[Received, int]] = {}  # position -> (first reversal, payment)
        self._paid_by: dict[int, list[tuple[int, int]]] | None = None  # see paid_by()
        self._indexed = 0  # allocations of this run seen by rows_by_expected (see settled_reference)

        self.customers: dict[int, CustomerKey] = {}
        self.owner_of_account: dict[str, int] = {}
        for c in sorted(customers, key=attrgetter("id")):
            self.customers[c.id] = c
            if c.account_hash:
                self.owner_of_account.setdefault(c.account_hash, c.id)

        self.refs = _References()
        self.by_customer: dict[int, list[int]] = {}
        self.by_schedule: dict[int, list[int]] = {}
        self.refs.add_references([e.reference for e in self.exp])
        by_customer = self.by_customer
        for i, e in enumerate(self.exp):
            if e.customer_id in by_customer:
                by_customer[e.customer_id].append(i)
            else:
                by_customer[e.customer_id] = [i]
            if e.schedule_ref:
                if e.schedule_id in self.by_schedule:
                    self.by_schedule[e.schedule_id].append(i)
                else:
                    self.refs.add(e.schedule_ref, _SCHEDULE, e.schedule_id)
                    self.by_schedule[e.schedule_id] = [i]
        for c in self.customers.values():
            if c.external_ref:
                self.refs.add(c.external_ref, _CUSTOMER, c.id)

        # Allocations stored, per payment and per expected payment: [expected id, cents, value
        # date, payer account hash, customer id, payment id], shared so that an undone one is
        # seen by both.
        self.rows_by_payment: dict[int, list[list]] = {}
        self.rows_by_expected: dict[int, list[list]] = {}
        merged: dict[tuple[int, int], list] = {}
        for s in settled:
            row = merged.get((s.payment_id, s.expected_id))
            if row is None:
                row = [s.expected_id, s.amount, s.value_date, s.payer_account_hash, s.customer_id, s.payment_id]
                merged[(s.payment_id, s.expected_id)] = row
                self.rows_by_payment.setdefault(s.payment_id, []).append(row)
                self.rows_by_expected.setdefault(s.expected_id, []).append(row)
            else:
                row[1] += s.amount
        self._payments_by_account: dict[str, list[int]] | None = None

        self.open_fps: set[str] = set()
        self.open_by_expected: dict[int, list[OpenItem]] = {}
        self.overpaid_before: set[int] = set()  # payments with an open overpayment item: held credit
        for item in open_items:
            self.open_fps.add(item.fingerprint)
            if item.kind == OVERPAYMENT and item.fingerprint.startswith("overpayment:"):
                self.overpaid_before.update(item.payment_ids)
            if item.expected_id is not None and item.kind in BLOCKING:
                self.open_by_expected.setdefault(item.expected_id, []).append(item)
        self.resolved: set[str] = set()
        self.new_fps: set[str] = set()

        through: dict[str, int] = {}
        for c in coverage:
            through[c.account] = min(through.get(c.account, c.through), c.through)
        self.coverage = sorted(through.items())

        self.received = sorted(received, key=attrgetter("value_date", "id"))
        self.payment: dict[int, Received] = {}
        self.left: dict[int, int] = {}
        self.customer_of: dict[int, int | None] = {}
        self.how: dict[int, str] = {}
        self.found: dict[int, list[int]] = {}  # payment id -> index entries found in its text
        self.stopped: set[int] = set()  # a duplicate or mismatch: no further pass
        self.matched: set[int] = set()  # allocated by one of the first three passes
        self.first_rule: dict[int, str] = {}
        self.overpaid: set[int] = set()  # an overpayment finding made for it
        self.suggest_index: dict[str, list[int]] | None = None

    # ---------------------------------------------------------------- helpers

    def tol(self, cents: int) -> int:
        bp_part = cents * self.tolerance_bp // 10_000
        return bp_part if bp_part > self.tolerance_cents else self.tolerance_cents

    def paid_in_full(self, i: int) -> bool:
        """Paid, and short by no more than the tolerance."""
        return self.paid[i] > 0 and self.outstanding(i) <= self.tol(self.exp[i].amount_due)

    def outstanding(self, i: int) -> int:
        return self.exp[i].amount_due - self.paid[i]

    def add_finding(self, finding: Finding) -> None:
        if finding.fingerprint in self.open_fps or finding.fingerprint in self.new_fps:
            return
        self.new_fps.add(finding.fingerprint)
        self.result.findings.append(finding)

    def resolve(self, item: OpenItem, reason: str, payment_ids: tuple[int, ...]) -> None:
        if item.fingerprint in self.resolved:
            return
        self.resolved.add(item.fingerprint)
        self.result.resolutions.append(Resolution(item.fingerprint, reason, payment_ids))

    def entries(self, pid: int) -> list[int]:
        found = self.found.get(pid)
        if found is None:
            found = self.found[pid] = self.refs.find(self.payment[pid].text)
        return found

    def identify(self, pid: int) -> int | None:
        """The payer: the customer the import named, the owner of the payer's account, or the
        customer whose CRM reference the text quotes (first one); None when none of these."""
        if pid in self.customer_of:
            return self.customer_of[pid]
        p = self.payment[pid]
        customer, how = None, ""
        if p.customer_id is not None:
            customer, how = p.customer_id, "the customer named on the payment"
        elif p.payer_account_hash and p.payer_account_hash in self.owner_of_account:
            customer, how = self.owner_of_account[p.payer_account_hash], "payer account on file"
        else:
            for code in self.entries(pid):
                if code & 3 == _CUSTOMER:
                    customer = code >> 2
                    how = f"customer reference {self.customers[customer].external_ref} in the remittance text"
                    break
        self.customer_of[pid] = customer
        self.how[pid] = how
        if customer is not None and p.customer_id is None:
            self.result.identified[pid] = customer
        return customer

    def name_customer(self, pid: int, customer: int, how: str = "reference") -> None:
        """A reference match names the payer when nothing else did."""
        if self.identify(pid) is None:
            self.customer_of[pid] = customer
            self.how[pid] = how
            self.result.identified[pid] = customer

    def allocate(self, pid: int, i: int, amount: int, rule: str, explanation: str) -> None:
        e = self.exp[i]
        self.allocations.append(Allocation(pid, e.id, amount, rule, explanation))
        paid = self.paid[i] = self.paid[i] + amount
        self.left[pid] -= amount
        if rule != CREDIT:
            self.matched_now.add(i)
            self.matched.add(pid)
        if pid not in self.first_rule:
            self.first_rule[pid] = rule
        due = e.amount_due
        bp_part = due * self.tolerance_bp // 10_000
        self.is_settled[i] = paid > 0 and due - paid <= (bp_part if bp_part > self.tolerance_cents else self.tolerance_cents)

    def index_allocations(self) -> None:
        """This run's allocations so far into rows_by_expected, for a second payment quoting the
        same reference (a duplicate): done when one is looked for, not at every allocation."""
        allocations = self.result.allocations
        for a in allocations[self._indexed:]:
            p = self.payment[a.payment_id]
            row = [a.expected_id, a.amount, p.value_date, p.payer_account_hash, self.customer_of.get(p.id), p.id]
            self.rows_by_expected.setdefault(a.expected_id, []).append(row)
        self._indexed = len(allocations)

    def paid_by(self, i: int) -> list[tuple[int, int]]:
        """The payments (id, value date) of this run allocated to the expected payment at i."""
        if self._paid_by is None:
            self._paid_by = {}
            for a in self.result.allocations:
                self._paid_by.setdefault(self.pos[a.expected_id], []).append((a.payment_id, self.payment[a.payment_id].value_date))
        return self._paid_by.get(i, [])

    # ---------------------------------------------------------------- the run

    def run(self) -> Result:
        payments, reversals, skipped, later = [], [], 0, 0
        as_of, payment, left = self.policy.as_of, self.payment, self.left
        # Money of an earlier run (used in part before, allocated before, or held as credit): only
        # the credit pass.
        rows_by_payment, overpaid_before = self.rows_by_payment, self.overpaid_before
        held, fresh = set(), []
        for r in self.received:
            if r.value_date > as_of:
                later += 1
            elif r.kind in _SKIPPED_KINDS:
                skipped += 1
            elif r.amount < 0 and (r.kind in _REVERSAL_KINDS or r.return_code):
                reversals.append(r)
            elif r.amount > 0 and r.kind not in _REVERSAL_KINDS and r.unallocated > 0:
                pid = r.id
                payment[pid] = r
                left[pid] = r.unallocated
                payments.append(pid)
                if r.unallocated < r.amount or pid in rows_by_payment or pid in overpaid_before:
                    held.add(pid)
                else:
                    fresh.append(pid)
            elif r.amount <= 0:
                skipped += 1

        for r in reversals:
            if f"chargeback:{r.id}" not in self.open_fps:  # else it took back nothing: left to people
                self.reverse(r)
        find, found = self.refs.find, self.found
        for pid in fresh:
            entries = found[pid] = find(payment[pid].text)
            if entries:
                self.by_reference(pid, entries)
        matched, stopped = self.matched, self.stopped
        rest = [pid for pid in fresh if pid not in matched and pid not in stopped]
        for pid in rest:
            self.by_customer_amount(pid)
        rest = [pid for pid in rest if pid not in matched]
        for pid in rest:
            self.by_customer_variance(pid)
        rest = [pid for pid in payments if left[pid] > 0 and pid not in stopped]
        for pid in rest:
            self.by_credit(pid, pid in held)
        for pid in rest:
            if left[pid] > 0:
                self.leftover(pid, pid in held)
        self.sweep()
        self.summarize(payments, reversals, skipped, later)
        return self.result

    # ---------------------------------------------------------------- reversals

    def original_of(self, r: Received) -> int | None:
        """The payment a reversal takes back when the import did not link it: the latest payment
        allocated exactly |amount| (else at least that) from the same payer account, quoting one
        of the references in the reversal's text when it quotes any."""
        if self._payments_by_account is None:
            self._payments_by_account = {}
            for pid, rows in self.rows_by_payment.items():
                if rows[0][3]:
                    self._payments_by_account.setdefault(rows[0][3], []).append(pid)
        refs = {self.exp[code >> 2].id for code in self.refs.find(r.text) if code & 3 == _EXPECTED}
        if r.payer_account_hash:
            candidates = set(self._payments_by_account.get(r.payer_account_hash, ()))
            if refs:
                candidates = {pid for pid in candidates if any(row[0] in refs for row in self.rows_by_payment[pid])}
        elif refs:
            candidates = {row[5] for eid in refs for row in self.rows_by_expected.get(eid, ())}
        else:
            return None
        amount = -r.amount
        best, best_key = None, None
        for pid in candidates:
            rows = [row for row in self.rows_by_payment.get(pid, ()) if row[1] > 0]
            total = sum(row[1] for row in rows)
            if total < amount or not rows:
                continue
            key = (total == amount, max(row[2] for row in rows), pid)
            if best_key is None or key > best_key:
                best, best_key = pid, key
        return best

    def reverse(self, r: Received) -> None:
        original = r.reverses if r.reverses is not None else self.original_of(r)
        rows = [row for row in self.rows_by_payment.get(original, ()) if row[1] > 0] if original is not None else []

        def newest_first(row):
            i = self.pos.get(row[0])
            return (self.exp[i].due if i is not None else -1, row[0])

        amount = -r.amount
        undone = []
        for row in sorted(rows, key=newest_first, reverse=True):
            if amount <= 0:
                break
            take = min(amount, row[1])
            row[1] -= take
            amount -= take
            self.result.unallocations.append(Unallocation(original, row[0], take, r.id))
            undone.append(row[0])
            i = self.pos.get(row[0])
            if i is None:
                self.reversed_unknown(r, original, row[0], take)
                continue
            self.paid[i] -= take
            self.is_settled[i] = self.paid_in_full(i)
            if not self.is_settled[i]:
                self.reopened.setdefault(i, (r, original))
            e = self.exp[i]
            action = RETURN_CODE_ACTIONS.get(r.return_code)
            if action and e.autopay:
                self.result.mandate_actions.append(MandateAction(e.schedule_id, e.id, action, r.return_code, r.id))
        if not undone:
            what = f"payment {original}" if original is not None else "no payment found"
            self.add_finding(Finding(
                CHARGEBACK, f"chargeback:{r.id}",
                f"{r.kind.capitalize()} of {_money(-r.amount)} {r.currency} on {_day(r.value_date)} "
                f"({what}) takes back nothing allocated",
                r.currency, None, r.amount, None, r.customer_id,
                (r.id,) if original is None else (r.id, original), return_code=r.return_code,
            ))

    def reversed_unknown(self, r: Received, original: int, expected_id: int, amount: int) -> None:
        """Money taken back from an expected payment the run was not given (settled long ago):
        its chargeback item all the same, unless it has an open item already."""
        if any(it.fingerprint not in self.resolved for it in self.open_by_expected.get(expected_id, ())):
            return
        self.add_finding(Finding(
            CHARGEBACK, f"chargeback:{expected_id}:{r.id}",
            f"Scheduled payment {expected_id} is open again: {r.kind} {r.id} of {_money(amount)} on "
            f"{_day(r.value_date)}" + (f", return code {r.return_code}" if r.return_code else ""),
            r.currency, None, None, expected_id, r.customer_id, (r.id, original), return_code=r.return_code,
        ))

    # ---------------------------------------------------------------- pass 1: reference

    def by_reference(self, pid: int, entries: list[int]) -> None:
        p = self.payment[pid]
        if len(entries) == 1 and entries[0] & 3 == _EXPECTED:
            # The usual case, one reference of an open payment in the currency: straight on.
            i = entries[0] >> 2
            e = self.exp[i]
            if e.currency == p.currency and not self.is_settled[i]:
                if pid not in self.customer_of:
                    self.name_customer(pid, e.customer_id)
                before, rest = self.left[pid], e.amount_due - self.paid[i]
                self.allocate(pid, i, min(before, rest), REFERENCE, f"matched by reference {e.reference} in the remittance text")
                if before - rest > self.tol(rest):
                    self.overpayment(pid, before, rest, [e])
                if p.payer_account_hash:
                    self.check_account(pid, [e])
                return
        quoted: list[int] = []
        schedules: list[int] = []
        for code in entries:
            kind, target = code & 3, code >> 2
            if kind == _EXPECTED and target not in quoted:
                quoted.append(target)
            elif kind == _SCHEDULE and target not in schedules:
                schedules.append(target)
        if not quoted and not schedules:
            return
        in_schedules = [i for s in schedules for i in self.by_schedule.get(s, ())]
        if not any(self.exp[i].currency == p.currency for i in quoted + in_schedules):
            i = (quoted or in_schedules)[0]
            e = self.exp[i]
            self.stopped.add(pid)
            self.add_finding(Finding(
                MISMATCH, f"mismatch:currency:{pid}",
                f"Payment {pid} of {_money(p.amount)} {p.currency} quotes {e.reference}, due in {e.currency}: not settled",
                p.currency, e.amount_due, p.amount, None, e.customer_id, (pid,), mismatch_field="currency",
            ))
            return
        quoted = sorted(i for i in quoted if self.exp[i].currency == p.currency)
        targets = [i for i in quoted if not self.is_settled[i]]
        schedule_open: dict[int, list[int]] = {}
        for s in schedules:
            opened = [i for i in self.by_schedule.get(s, ()) if self.exp[i].currency == p.currency and not self.is_settled[i]]
            if opened:
                schedule_open[s] = opened
                if opened[0] not in targets:
                    targets.append(opened[0])
        if not targets:
            if quoted:
                self.settled_reference(pid, quoted[0])
            elif in_schedules:  # a schedule paid up: its reference still says whose money it is
                e = self.exp[in_schedules[0]]
                self.name_customer(pid, e.customer_id, f"schedule reference {e.schedule_ref} in the remittance text")
            return
        targets.sort()
        self.name_customer(pid, self.exp[targets[0]].customer_id)
        before = self.left[pid]
        due_total = 0
        done = []
        for i in targets:
            if self.left[pid] <= 0:
                break
            due_total += self.outstanding(i)
            done.append(i)
            self.allocate(pid, i, min(self.left[pid], self.outstanding(i)), REFERENCE, self.reference_words(i, schedules))
        # A schedule's reference settles its next open payments too while the money covers them.
        for _, opened in sorted(schedule_open.items()):
            for i in opened[1:]:
                if i in targets:
                    continue
                rest = self.outstanding(i)
                if self.left[pid] <= 0 or self.left[pid] < rest - self.tol(rest):
                    break
                due_total += rest
                done.append(i)
                self.allocate(pid, i, min(self.left[pid], rest), REFERENCE, self.reference_words(i, schedules))
        allocated_to = [self.exp[i] for i in sorted(done)]
        if before - due_total > self.tol(due_total):
            self.overpayment(pid, before, due_total, allocated_to)
        self.check_account(pid, allocated_to)

    def check_account(self, pid: int, allocated_to: list[Expected]) -> None:
        """From another account than the customer's on file: settled, and an item for review."""
        p = self.payment[pid]
        mine = self.customers.get(allocated_to[0].customer_id) if allocated_to else None
        if p.payer_account_hash and mine is not None and mine.account_hash and mine.account_hash != p.payer_account_hash:
            owner = self.owner_of_account.get(p.payer_account_hash)
            whose = f"customer {owner}'s account" if owner is not None and owner != mine.id else "an account not on file"
            self.add_finding(Finding(
                MISMATCH, f"mismatch:account:{pid}",
                f"Payment {pid} for {', '.join(e.reference for e in allocated_to)} came from {whose}, "
                f"not {mine.name}'s account on file: settled, for review",
                p.currency, None, p.amount, allocated_to[0].id, mine.id, (pid,),
                mismatch_field="account", low_priority=True,
            ))

    def reference_words(self, i: int, schedules: list[int]) -> str:
        e = self.exp[i]
        if e.schedule_id in schedules and e.schedule_ref:
            return (f"matched by schedule reference {e.schedule_ref} in the remittance text: "
                    f"{e.reference} due {_day(e.due)}")
        return f"matched by reference {e.reference} in the remittance text"

    def settled_reference(self, pid: int, i: int) -> None:
        """A payment quoting only references already settled: a duplicate when it comes from the
        payer who settled it inside the duplicate window, a mismatch when it comes from another
        customer's account on file; otherwise the reference is stale (it still names the customer)
        and the next passes try."""
        p, e = self.payment[pid], self.exp[i]
        owner = self.owner_of_account.get(p.payer_account_hash) if p.payer_account_hash else None
        if owner is not None and owner != e.customer_id:
            self.stopped.add(pid)
            self.add_finding(Finding(
                MISMATCH, f"mismatch:account:{pid}",
                f"Payment {pid} of {_money(p.amount)} quotes {e.reference}, already settled, "
                f"from another customer's account on file (customer {owner}): not settled",
                p.currency, e.amount_due, p.amount, e.id, e.customer_id, (pid,), mismatch_field="account",
            ))
            return
        payer = self.identify(pid)
        if payer is None:
            payer = e.customer_id
        self.index_allocations()
        window = self.policy.duplicate_window
        firsts = sorted(
            (row[2], row[5]) for row in self.rows_by_expected.get(e.id, ())
            if row[1] > 0 and row[5] != pid
            and ((p.payer_account_hash and row[3] == p.payer_account_hash) or row[4] == payer)
            and abs(p.value_date - row[2]) <= window
        )
        if not firsts:
            # A stale reference still says whose money it is.
            self.name_customer(pid, e.customer_id, f"the earlier reference {e.reference} in the remittance text")
            return
        value_date, first = firsts[0]
        self.stopped.add(pid)
        self.add_finding(Finding(
            DUPLICATE, f"duplicate:{pid}",
            f"Payment {pid} of {_money(p.amount)} {p.currency} on {_day(p.value_date)} quotes {e.reference}, "
            f"already settled by payment {first} on {_day(value_date)}",
            p.currency, e.amount_due, p.amount, e.id, e.customer_id, (pid, first),
        ))

    def overpayment(self, pid: int, paid: int, due: int, what: list[Expected]) -> None:
        p = self.payment[pid]
        self.overpaid.add(pid)
        refs = ", ".join(e.reference for e in what)
        self.add_finding(Finding(
            OVERPAYMENT, f"overpayment:{pid}",
            f"Payment {pid} of {_money(paid)} {p.currency} for {refs} ({_money(due)} due): "
            f"{_money(paid - due)} more, held as credit",
            p.currency, due, paid, what[0].id if what else None, self.customer_of.get(pid), (pid,),
        ))

    # ---------------------------------------------------------------- pass 2: customer + amount

    def open_of(self, customer: int, currency: str, last_due: int) -> list[int]:
        """The customer's open expected payments in the currency, due up to last_due, oldest first."""
        out = []
        exp, is_settled = self.exp, self.is_settled
        for i in self.by_customer.get(customer, ()):
            e = exp[i]
            if e.due > last_due:
                break
            if not is_settled[i] and e.currency == currency:
                out.append(i)
        return out

    def by_customer_amount(self, pid: int) -> None:
        customer = self.identify(pid)
        if customer is None:
            return
        p = self.payment[pid]
        amount, vd = self.left[pid], p.value_date
        before, after = self.policy.window_before, self.policy.window_after
        candidates = self.open_of(customer, p.currency, vd + before)
        exp, paid, tol = self.exp, self.paid, self.tol
        rests = [exp[i].amount_due - paid[i] for i in candidates]
        for s in range(len(candidates)):
            total = 0
            for k in range(s, len(candidates)):
                total += rests[k]
                slack = tol(total)
                if total - slack > amount:
                    break
                if abs(amount - total) <= slack and vd <= exp[candidates[k]].due + after:
                    how = self.how[pid]
                    for i in candidates[s:k + 1]:
                        e = self.exp[i]
                        words = f"matched by {how} and amount {_money(e.amount_due)} due {_day(e.due)}"
                        self.allocate(pid, i, min(self.left[pid], self.outstanding(i)), CUSTOMER_AMOUNT, words)
                    return

    # ---------------------------------------------------------------- pass 3: customer + window

    def by_customer_variance(self, pid: int) -> None:
        customer = self.identify(pid)
        if customer is None:
            return
        p = self.payment[pid]
        vd = p.value_date
        after = self.policy.window_after
        for i in self.open_of(customer, p.currency, vd + self.policy.window_before):
            e = self.exp[i]
            if vd > e.due + after:
                continue
            before = self.left[pid]
            rest = self.outstanding(i)
            words = (f"matched by {self.how[pid]} within the payment window of {e.reference} due {_day(e.due)}: "
                     f"paid {_money(before)} against {_money(rest)} outstanding")
            self.allocate(pid, i, min(before, rest), CUSTOMER_VARIANCE, words)
            if before - rest > self.tol(rest):
                self.overpayment(pid, before, rest, [e])
            return

    # ---------------------------------------------------------------- pass 4: credit

    def by_credit(self, pid: int, held: bool) -> None:
        customer = self.identify(pid)
        if customer is None:
            return
        p = self.payment[pid]
        for i in self.open_of(customer, p.currency, self.policy.as_of):
            if self.left[pid] <= 0:
                break
            e = self.exp[i]
            words = (f"applied from the customer's credit (payment {pid} of {_day(p.value_date)}) "
                     f"to {e.reference} due {_day(e.due)}")
            self.allocate(pid, i, min(self.left[pid], self.outstanding(i)), CREDIT, words)
        fingerprint = f"overpayment:{pid}"
        if held and self.left[pid] == 0 and fingerprint in self.open_fps:
            self.resolve(OpenItem(fingerprint, OVERPAYMENT, None, (pid,)), "the credit was applied in full", (pid,))

    def leftover(self, pid: int, held: bool) -> None:
        left = self.left[pid]
        if left <= 0 or pid in self.stopped:
            return
        p = self.payment[pid]
        customer = self.identify(pid)
        if customer is not None:
            self.result.credits.append((customer, pid, left))
            if not held and pid not in self.matched and pid not in self.overpaid:
                name = self.customers[customer].name if customer in self.customers else f"customer {customer}"
                applied = p.unallocated - left
                what = f"{_money(applied)} applied to what was due" if applied else "nothing due"
                self.overpaid.add(pid)
                self.add_finding(Finding(
                    OVERPAYMENT, f"overpayment:{pid}",
                    f"Payment {pid} of {_money(p.amount)} {p.currency} from {name}: {what}; "
                    f"{_money(left)} held as credit",
                    p.currency, applied, p.unallocated, None, customer, (pid,),
                ))
            return
        if held or pid in self.matched:
            return
        self.add_finding(Finding(
            MISMATCH, f"mismatch:payer:{pid}",
            f"Payment {pid} of {_money(p.amount)} {p.currency} on {_day(p.value_date)} from "
            f"{p.payer_name or 'an unnamed payer'}: payer not identified",
            p.currency, None, p.amount, None, None, (pid,),
            mismatch_field="payer", suggestions=self.suggest(p.payer_name),
        ))

    def suggest(self, name: str) -> tuple[int, ...]:
        """Up to three customers whose names share the most (and the rarest) words with the
        payer's name: the ten best by shared words weighted by rarity, then ranked by that weight,
        difflib's ratio of the sorted words, and id."""
        if self.suggest_index is None:
            self.suggest_index = {}
            for c in self.customers.values():
                for word in _name_words(c.name):
                    self.suggest_index.setdefault(word, []).append(c.id)
        scores: dict[int, float] = {}
        for word in _name_words(name):
            ids = self.suggest_index.get(word, ())
            if len(ids) > _COMMON_WORD:
                continue  # "LTD", "JOHN": shared by too many customers to tell them apart
            for cid in ids:
                scores[cid] = scores.get(cid, 0.0) + 1.0 / len(ids)
        if not scores:
            return ()
        weight = {cid: round(score, 9) for cid, score in scores.items()}
        short = heapq.nsmallest(10, weight, key=lambda cid: (-weight[cid], cid))
        # Only those weighing as much as the third best can be among the three; difflib only
        # when some of them weigh the same.
        short = [cid for cid in short if weight[cid] >= weight[short[min(2, len(short) - 1)]]]
        if len({weight[cid] for cid in short}) == len(short):
            return tuple(short[:3])
        wanted = " ".join(sorted(_name_words(name)))

        def ratio(cid):
            have = " ".join(sorted(_name_words(self.customers[cid].name)))
            return round(difflib.SequenceMatcher(None, wanted, have).ratio(), 6)

        return tuple(sorted(short, key=lambda cid: (-weight[cid], -ratio(cid), cid))[:3])

    # ---------------------------------------------------------------- expected payments

    def sweep(self) -> None:
        """Every expected payment: settled ones resolve what was open on them; an open one past
        grace has exactly one open item (the one it had, or a new one) saying why."""
        policy = self.policy
        result = self.result
        is_settled, open_by_expected, reopened, matched_now = self.is_settled, self.open_by_expected, self.reopened, self.matched_now
        grace_before = policy.as_of - policy.grace_days  # past grace: due < this
        for i, e in enumerate(self.exp):
            # The usual cases first: nothing open on it and nothing to say.
            if e.id not in open_by_expected and i not in reopened:
                if is_settled[i]:
                    if not e.settled:
                        result.settled_expected.append(e.id)
                    continue
                if not e.settled and e.due >= grace_before and i not in matched_now:
                    continue
            items = [it for it in open_by_expected.get(e.id, ()) if it.fingerprint not in self.resolved]
            if is_settled[i]:
                if not e.settled or i in self.reopened:
                    result.settled_expected.append(e.id)
                if items:
                    by = self.paid_by(i)
                    if by:
                        reason = "paid in full by " + ", ".join(f"payment {pid} on {_day(vd)}" for pid, vd in by)
                    else:
                        reason = "paid in full"
                    for it in items:
                        self.resolve(it, reason, tuple(pid for pid, _ in by))
                continue
            if e.settled:
                result.reopened_expected.append(e.id)
            past_grace = e.due + policy.grace_days < policy.as_of
            if i in self.reopened:
                if not items:
                    r, original = self.reopened[i]
                    self.add_finding(Finding(
                        CHARGEBACK, f"chargeback:{e.id}:{r.id}",
                        f"{e.reference} due {_day(e.due)} is open again: {r.kind} {r.id} of "
                        f"{_money(-r.amount)} on {_day(r.value_date)}"
                        + (f", return code {r.return_code}" if r.return_code else ""),
                        e.currency, e.amount_due, self.paid[i], e.id, e.customer_id,
                        (r.id, original),
                        return_code=r.return_code,
                    ))
            elif self.paid[i] > 0 and (i in self.matched_now or past_grace):
                if not items and i not in self.matched_now and self.wait_for_statements(e):
                    continue  # part paid, and the rest may be in a statement not in yet
                if items and all(it.kind == MISSING for it in items):
                    for it in items:
                        self.resolve(it, f"partly paid: {_money(self.paid[i])} of {_money(e.amount_due)}",
                                     tuple(pid for pid, _ in self.paid_by(i)))
                    items = []
                if not items:
                    self.add_finding(Finding(
                        UNDERPAYMENT, f"underpayment:{e.id}:{self.paid[i]}",
                        f"{e.reference} due {_day(e.due)}: {_money(self.paid[i])} of "
                        f"{_money(e.amount_due)} {e.currency} paid, {_money(self.outstanding(i))} short",
                        e.currency, e.amount_due, self.paid[i], e.id, e.customer_id,
                        tuple(pid for pid, _ in self.paid_by(i)),
                    ))
            elif past_grace and not items:
                if self.wait_for_statements(e):
                    continue
                needed = e.due + policy.grace_days
                self.add_finding(Finding(
                    MISSING, f"missing:{e.id}",
                    f"{e.reference} due {_day(e.due)}: {_money(self.outstanding(i))} {e.currency} not received "
                    f"by {_day(needed)} (grace {policy.grace_days} days)",
                    e.currency, e.amount_due, self.paid[i], e.id, e.customer_id, (),
                ))

    def wait_for_statements(self, e: Expected) -> bool:
        """Whether a statement of some account is not in yet for the days up to due + grace (or
        the client has no statement account at all): then the run says so and waits."""
        needed = e.due + self.policy.grace_days
        short = tuple(account for account, through in self.coverage if through < needed)
        if self.coverage and not short:
            return False
        self.result.waiting.append(Waiting(e.id, short))
        return True

    def summarize(self, payments: list[int], reversals: list[Received], skipped: int, later: int) -> None:
        result = self.result
        counts = {"payments_in": len(self.received), "expected_in": len(self.exp)}
        for rule in RULES:
            counts[f"matched_{rule}"] = 0
        for rule in self.first_rule.values():
            counts[f"matched_{rule}"] += 1
        counts["settled"] = len(result.settled_expected)
        counts["reopened"] = len(result.reopened_expected)
        counts["reversals"] = len(reversals)
        for kind in (OVERPAYMENT, UNDERPAYMENT, DUPLICATE, MISSING, MISMATCH, CHARGEBACK):
            counts[f"findings_{kind}"] = 0
        for finding in result.findings:
            counts[f"findings_{finding.kind}"] += 1
        counts["resolved"] = len(result.resolutions)
        counts["waiting"] = len(result.waiting)
        counts["skipped"] = skipped
        counts["after_as_of"] = later
        counts["unallocated"] = sum(1 for pid in payments if self.left[pid] > 0)
        result.counts = counts
