"""Builders for the matching engine's tests: rows in a few words, a run, and `apply()`, which
stores a result the way the run service does, so that a second run can be tried on it."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import NamedTuple

from reconciliation.matching import (
    Coverage,
    CustomerKey,
    Expected,
    OpenItem,
    Policy,
    Received,
    Result,
    Settled,
    reconcile,
)

ACCOUNT = "US-CHK-001"


def day(text: str) -> int:
    return date.fromisoformat(text).toordinal()


POLICY = Policy(
    as_of=day("2026-01-12"), tolerance_cents=100, tolerance_bp=0,
    window_before=5, window_after=5, grace_days=10, duplicate_window=10,
)
COVERED = (Coverage(ACCOUNT, day("2026-12-31")),)


def ref(schedule: int, seq: int = 1, code: str = "ACME") -> str:
    return f"{code}-{schedule:06d}-{seq:02d}"


def exp(id, *, customer=1, schedule=1, seq=None, due="2026-01-05", amount=10000, paid=0, settled=False,
        currency="USD", autopay=False, schedule_ref="", reference=None) -> Expected:
    seq = id if seq is None else seq
    return Expected(
        id=id, customer_id=customer, schedule_id=schedule, reference=reference or ref(schedule, seq),
        schedule_ref=schedule_ref, due=day(due) if isinstance(due, str) else due, currency=currency,
        amount_due=amount, amount_paid=paid, settled=settled, autopay=autopay,
    )


def pay(id, amount, *, on="2026-01-05", text="", customer=None, account="", name="", currency="USD",
        kind="credit", unallocated=None, reverses=None, code="") -> Received:
    if unallocated is None:
        unallocated = amount if amount > 0 else 0
    return Received(
        id=id, value_date=day(on) if isinstance(on, str) else on, amount=amount, unallocated=unallocated,
        currency=currency, kind=kind, customer_id=customer, payer_name=name, payer_account_hash=account,
        text=text, reverses=reverses, return_code=code,
    )


def cust(id, name=None, *, account="", ref="") -> CustomerKey:
    return CustomerKey(id=id, name=name or f"Customer {id}", account_hash=account, external_ref=ref)


def stored(payment, expected, amount, *, on="2026-01-05", account="", customer=None) -> Settled:
    return Settled(payment, expected, amount, day(on) if isinstance(on, str) else on, account, customer)


class Inputs(NamedTuple):
    policy: Policy = POLICY
    expected: tuple[Expected, ...] = ()
    received: tuple[Received, ...] = ()
    customers: tuple[CustomerKey, ...] = ()
    settled: tuple[Settled, ...] = ()
    open_items: tuple[OpenItem, ...] = ()
    coverage: tuple[Coverage, ...] = COVERED


def run(inputs: Inputs) -> Result:
    return reconcile(
        policy=inputs.policy, expected=list(inputs.expected), received=list(inputs.received),
        customers=list(inputs.customers), settled=list(inputs.settled), open_items=list(inputs.open_items),
        coverage=list(inputs.coverage),
    )


def given(**kwargs) -> tuple[Inputs, Result]:
    inputs = Inputs(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    return inputs, run(inputs)


def apply(result: Result, inputs: Inputs) -> Inputs:
    """What the run service stores: allocations into the payments and expected payments (and the
    allocations' table), reversals acted on, identified customers, findings logged as open items
    and resolved ones closed."""
    paid = Counter()
    used = Counter()
    for a in result.allocations:
        paid[a.expected_id] += a.amount
        used[a.payment_id] += a.amount
    for u in result.unallocations:
        paid[u.expected_id] -= u.amount
    done = set(result.settled_expected)
    reopened = set(result.reopened_expected)
    expected = tuple(
        e._replace(amount_paid=e.amount_paid + paid[e.id],
                   settled=e.id in done or (e.settled and e.id not in reopened))
        for e in inputs.expected
    )
    acted = {u.reversal_id for u in result.unallocations}
    received = []
    by_id = {}
    for r in inputs.received:
        r = r._replace(unallocated=r.unallocated - used[r.id], customer_id=result.identified.get(r.id, r.customer_id))
        by_id[r.id] = r
        if r.id in acted or (r.amount > 0 and r.unallocated <= 0):
            continue
        received.append(r)
    rows = [list(s) for s in inputs.settled]
    for u in result.unallocations:
        left = u.amount
        for row in reversed(rows):
            if row[0] == u.payment_id and row[1] == u.expected_id and left > 0:
                take = min(left, row[2])
                row[2] -= take
                left -= take
        assert left == 0, u
    settled = [Settled(*row) for row in rows if row[2] > 0]
    for a in result.allocations:
        r = by_id[a.payment_id]
        settled.append(Settled(a.payment_id, a.expected_id, a.amount, r.value_date, r.payer_account_hash, r.customer_id))
    resolved = {res.fingerprint for res in result.resolutions}
    open_items = [item for item in inputs.open_items if item.fingerprint not in resolved]
    open_items += [OpenItem(f.fingerprint, f.kind, f.expected_id, f.payment_ids) for f in result.findings]
    return inputs._replace(expected=expected, received=tuple(received), settled=tuple(settled),
                           open_items=tuple(open_items))


def normalized(result: Result) -> dict:
    """A result with its lists sorted: two runs over the same rows in another order compare equal."""
    return {
        "allocations": sorted(result.allocations),
        "unallocations": sorted(result.unallocations),
        "findings": sorted(result.findings),
        "resolutions": sorted(result.resolutions),
        "mandate_actions": sorted(result.mandate_actions),
        "waiting": sorted(result.waiting),
        "identified": dict(sorted(result.identified.items())),
        "credits": sorted(result.credits),
        "counts": dict(sorted(result.counts.items())),
        "settled_expected": sorted(result.settled_expected),
        "reopened_expected": sorted(result.reopened_expected),
    }


def kinds(result: Result) -> list[str]:
    return sorted(f.kind for f in result.findings)


def finding(result: Result, kind: str):
    found = [f for f in result.findings if f.kind == kind]
    assert len(found) == 1, result.findings
    return found[0]


def allocated(result: Result) -> list[tuple[int, int, int, str]]:
    return sorted((a.payment_id, a.expected_id, a.amount, a.rule) for a in result.allocations)
