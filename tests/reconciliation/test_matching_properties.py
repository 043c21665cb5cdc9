"""Properties of the matching engine over small random worlds (hypothesis): the order of the
rows does not matter, no money is allocated twice, every expected payment past grace is settled
or has exactly one open item saying why, and a run over its own stored result finds nothing new."""

import os
import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.matching import BLOCKING, Coverage
from tests.reconciliation.matching_kit import (
    ACCOUNT,
    POLICY,
    Inputs,
    apply,
    cust,
    day,
    exp,
    normalized,
    pay,
    ref,
    run,
)

START = day("2025-12-01")
AMOUNTS = [5000, 9900, 9899, 10000, 10100, 10101, 15000, 20000, 30000]


@st.composite
def worlds(draw):
    n_customers = draw(st.integers(1, 4))
    customers = []
    for cid in range(1, n_customers + 1):
        account = draw(st.sampled_from(["", f"acct{cid}"]))
        external = draw(st.sampled_from(["", f"CUST-{cid}"]))
        customers.append(cust(cid, draw(st.sampled_from(["Ann Lee", "Bob Lee", "Ann Smith", "Acme Corp"])),
                              account=account, ref=external))
    expected = []
    for eid in range(1, draw(st.integers(0, 8)) + 1):
        customer = draw(st.integers(1, n_customers))
        schedule = customer * 10 + draw(st.integers(0, 1))
        expected.append(exp(
            eid, customer=customer, schedule=schedule, seq=eid, due=START + draw(st.integers(0, 60)),
            amount=draw(st.sampled_from([10000, 10000, 15000, 20000])),
            currency=draw(st.sampled_from(["USD", "USD", "USD", "EUR"])),
            schedule_ref=draw(st.sampled_from(["", f"SCH{schedule}"])),
            autopay=draw(st.booleans()),
        ))
    texts = [ref(e.schedule_id, e.id) for e in expected] + [e.schedule_ref for e in expected if e.schedule_ref]
    texts += [c.external_ref for c in customers if c.external_ref] + ["thanks", "rent january", ""]
    received = draw(payments(range(101, 101 + draw(st.integers(0, 8))), texts, n_customers))
    later = draw(payments(range(201, 201 + draw(st.integers(0, 4))), texts, n_customers))
    coverage = draw(st.sampled_from([
        (Coverage(ACCOUNT, START + 200),),
        (Coverage(ACCOUNT, START + 200), Coverage("GB-2", START + 30)),
        (),
    ]))
    policy = POLICY._replace(
        as_of=START + draw(st.integers(20, 90)),
        tolerance_cents=draw(st.sampled_from([0, 100])),
        tolerance_bp=draw(st.sampled_from([0, 150])),
        duplicate_window=draw(st.sampled_from([3, 10])),
    )
    world = Inputs(policy=policy, expected=tuple(expected), received=tuple(received),
                   customers=tuple(customers), coverage=coverage)
    return world, tuple(later), draw(st.integers(0, 40)), draw(st.randoms())


@st.composite
def payments(draw, ids, texts, n_customers):
    received = []
    for pid in ids:
        kind = draw(st.sampled_from(["credit"] * 6 + ["fee", "refund"]))
        amount = draw(st.sampled_from(AMOUNTS))
        words = draw(st.lists(st.sampled_from(texts), max_size=2))
        received.append(pay(
            pid, amount if kind == "credit" else -amount, kind=kind, on=START + draw(st.integers(0, 70)),
            text=" ".join(words).lower() if draw(st.booleans()) else " ".join(words),
            account=draw(st.sampled_from(["", "acct1", "acct2", "stranger"])),
            currency=draw(st.sampled_from(["USD", "USD", "USD", "EUR"])),
            name=draw(st.sampled_from(["", "ann", "LEE BOB", "acme"])),
            customer=draw(st.sampled_from([None, None, None, n_customers])),
        ))
    return received


def reversals_of(inputs, result, rnd):
    """Returns and chargebacks of some of the payments a run allocated, some linked, some not."""
    out = []
    by_id = {r.id: r for r in inputs.received}
    paid = sorted({a.payment_id for a in result.allocations})
    for n, pid in enumerate(paid):
        if rnd.random() < 0.5:
            continue
        original = by_id[pid]
        total = sum(a.amount for a in result.allocations if a.payment_id == pid)
        amount = rnd.choice([total, max(1, total // 2), original.amount])
        out.append(pay(
            900 + n, -amount, kind=rnd.choice(["reversal", "chargeback"]), on=original.value_date + 3,
            reverses=pid if rnd.random() < 0.7 else None, code=rnd.choice(["", "R01", "R02", "R07", "AC04"]),
            account=original.payer_account_hash, text=original.text,
        ))
    return out


def first_run(inputs, rnd):
    """A run, its result stored, and the next run's rows: those plus returns of some payments."""
    result = run(inputs)
    after = apply(result, inputs)
    more = after._replace(received=after.received + tuple(reversals_of(inputs, result, rnd)))
    return result, after, more


def shuffled(inputs, rnd):
    def mix(rows):
        rows = list(rows)
        rnd.shuffle(rows)
        return tuple(rows)

    return inputs._replace(expected=mix(inputs.expected), received=mix(inputs.received),
                           customers=mix(inputs.customers), settled=mix(inputs.settled),
                           open_items=mix(inputs.open_items), coverage=mix(inputs.coverage))


def check_bounds(inputs, result):
    used = Counter()
    for a in result.allocations:
        assert a.amount > 0
        used[a.payment_id] += a.amount
    for r in inputs.received:
        assert used[r.id] <= max(r.unallocated, 0), (r, used[r.id])
    paid = Counter()
    for a in result.allocations:
        paid[a.expected_id] += a.amount
    for u in result.unallocations:
        paid[u.expected_id] -= u.amount
    for e in inputs.expected:
        assert 0 <= e.amount_paid + paid[e.id] <= e.amount_due, (e, paid[e.id])
    for f in result.findings:
        assert len(f.fingerprint) <= 64


def check_one_item(after, result):
    """After the result is stored: an expected payment past grace is settled, waits for
    statements, or has exactly one open item saying why; none has two."""
    waiting = {w.expected_id for w in result.waiting}
    blocking = Counter(item.expected_id for item in after.open_items if item.kind in BLOCKING)
    for e in after.expected:
        assert blocking[e.id] <= 1, (e, after.open_items)
        if e.settled or e.due + after.policy.grace_days >= after.policy.as_of:
            continue
        assert blocking[e.id] == 1 or e.id in waiting, (e, after.open_items, result)


def check_nothing_new(result):
    assert result.allocations == []
    assert result.unallocations == []
    assert result.findings == []
    assert result.resolutions == []
    assert result.mandate_actions == []
    assert result.settled_expected == [] and result.reopened_expected == []


# MATCHING_EXAMPLES=5000 for a longer search.
FAST = settings(max_examples=int(os.environ.get("MATCHING_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(worlds())
def test_the_order_of_the_rows_does_not_matter(world):
    inputs, later, days, rnd = world
    assert normalized(run(shuffled(inputs, rnd))) == normalized(run(inputs))


@FAST
@given(worlds())
def test_no_payment_beyond_its_money_and_no_expected_beyond_its_amount(world):
    inputs, later, days, rnd = world
    result, _, more = first_run(inputs, rnd)
    check_bounds(inputs, result)
    check_bounds(more, run(more))


@FAST
@given(worlds())
def test_every_expected_payment_past_grace_has_one_reason_at_most_and_at_least(world):
    inputs, later, days, rnd = world
    result, after, more = first_run(inputs, rnd)
    check_one_item(after, result)
    again = run(more)
    check_one_item(apply(again, more), again)


@FAST
@given(worlds())
def test_a_second_run_over_the_stored_result_finds_nothing_new(world):
    inputs, later, days, rnd = world
    _, after, more = first_run(inputs, rnd)
    check_nothing_new(run(after))
    # And with reversals coming in between: the run acting on them, then one more finding nothing.
    result = run(more)
    assert normalized(run(shuffled(more, random.Random(7)))) == normalized(result)
    check_nothing_new(run(apply(result, more)))


@FAST
@given(worlds())
def test_later_payments_then_a_second_run_find_nothing_new(world):
    """Payments arriving after a run (rests of underpayments, duplicates, credit to apply), a
    run on a later date, then one more over its stored result."""
    inputs, later, days, rnd = world
    _, _, more = first_run(inputs, rnd)
    more = more._replace(policy=more.policy._replace(as_of=more.policy.as_of + days), received=more.received + later)
    second = run(more)
    check_bounds(more, second)
    stored = apply(second, more)
    check_one_item(stored, second)
    check_nothing_new(run(stored))
