"""The matching engine alone (no database): reconcile() over synthetic rows.

    python -m bench.matching_engine [N]        # N expected and N received payments (default 100,000)

or, from the lead's bench: ``from bench.matching_engine import bench; bench(1_000_000)``. The mix:
payments quoting their reference (written several ways), paid by account and amount, inside and
outside the tolerance, duplicates, another currency, payers nobody knows, reversals; expected
payments nobody paid (missing). Prints the time of generating the rows and of reconcile(), the
counts, and the process's peak memory.
"""

from __future__ import annotations

import random
import resource
import sys
import time
from datetime import date

from reconciliation.matching import (
    Coverage,
    CustomerKey,
    Expected,
    Policy,
    Received,
    Settled,
    reconcile,
)

START = date(2026, 1, 1).toordinal()


def rows(n: int, seed: int = 11):
    """n expected payments (ten a customer, monthly) and about n received payments."""
    rnd = random.Random(seed)
    customers = []
    expected = []
    for c in range(n // 10 or 1):
        customers.append(CustomerKey(c + 1, f"Customer {c} Lee", f"h{c:012d}" if c % 3 else "", f"CRM{c:08d}"))
    eid = 0
    for c in range(n // 10 or 1):
        for seq in range(10):
            eid += 1
            if eid > n:
                break
            expected.append(Expected(
                eid, c + 1, c + 1, f"ACME-{c + 1:06d}-{seq + 1:02d}", f"SCH-{c + 1}" if c % 5 == 0 else "",
                START + seq * 30 + c % 28, "USD", 10000 + (c % 7) * 1000, 0, False, c % 4 == 0,
            ))
    received = []
    settled = []
    for pid, e in enumerate(list(expected), start=1):
        roll = rnd.random()
        c = customers[e.customer_id - 1]
        vd = e.due + rnd.randint(-2, 3)
        if roll < 0.55:  # its reference, in one of the ways people write it
            ref = e.reference
            text = rnd.choice([ref, ref.lower().replace("-", " "), f"inv {ref} thanks", ref.replace("-", "", 1)])
            received.append(Received(pid, vd, e.amount_due, e.amount_due, "USD", "credit", None, c.name, c.account_hash, text, None, ""))
        elif roll < 0.70:  # by account (or CRM id) and amount
            text = "" if c.account_hash else f"customer {c.external_ref}"
            amount = e.amount_due + rnd.choice([0, 50, -100])
            received.append(Received(pid, vd, amount, amount, "USD", "credit", None, c.name, c.account_hash, text, None, ""))
        elif roll < 0.75:  # over or under
            amount = e.amount_due + rnd.choice([-3000, 2500])
            received.append(Received(pid, vd, amount, amount, "USD", "credit", None, c.name, c.account_hash, e.reference, None, ""))
        elif roll < 0.78:  # another currency
            received.append(Received(pid, vd, e.amount_due, e.amount_due, "EUR", "credit", None, c.name, "", e.reference, None, ""))
        elif roll < 0.81:  # nobody knows the payer
            received.append(Received(pid, vd, 12345, 12345, "USD", "credit", None, f"{c.name} jr", "", "payment", None, ""))
        elif roll < 0.84:  # a duplicate of one settled before
            settled.append(Settled(pid + 5_000_000_000, e.id, e.amount_due, vd - 1, c.account_hash, c.id))
            expected[e.id - 1] = e._replace(amount_paid=e.amount_due, settled=True)
            received.append(Received(pid, vd, e.amount_due, e.amount_due, "USD", "credit", c.id, c.name, c.account_hash, e.reference, None, ""))
        elif roll < 0.86:  # returned: settled before, reversed now
            original = pid + 5_000_000_000
            settled.append(Settled(original, e.id, e.amount_due, vd - 5, c.account_hash, c.id))
            expected[e.id - 1] = e._replace(amount_paid=e.amount_due, settled=True)
            received.append(Received(pid, vd, -e.amount_due, 0, "USD", "reversal", c.id, c.name, c.account_hash, "", original, rnd.choice(["R01", "R02", "R07", ""])))
        elif roll < 0.88:  # bank fees
            received.append(Received(pid, vd, -250, 0, "USD", "fee", None, "", "", "fee", None, ""))
        # else: nobody paid it (missing, or waiting for statements)
    policy = Policy(START + 400, 100, 0, 5, 5, 5, 10)
    coverage = [Coverage("US-CHK-001", START + 500)]
    return policy, expected, received, customers, settled, coverage


def bench(n: int = 100_000, seed: int = 11) -> dict:
    t0 = time.perf_counter()
    policy, expected, received, customers, settled, coverage = rows(n, seed)
    t1, cpu1 = time.perf_counter(), time.process_time()
    result = reconcile(policy=policy, expected=expected, received=received, customers=customers,
                       settled=settled, open_items=[], coverage=coverage)
    t2, cpu2 = time.perf_counter(), time.process_time()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"expected": len(expected), "received": len(received), "generate_s": round(t1 - t0, 2),
               "reconcile_s": round(t2 - t1, 2), "reconcile_cpu_s": round(cpu2 - cpu1, 2), "peak_rss_mib": round(peak_mib), "counts": result.counts}
    print(f"  matching engine: {len(expected):,} expected x {len(received):,} received: reconcile() "
          f"{t2 - t1:.2f} s ({cpu2 - cpu1:.2f} s of CPU; rows generated in {t1 - t0:.2f} s), peak RSS {peak_mib:,.0f} MiB")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in result.counts.items() if v))
    return figures


if __name__ == "__main__":
    bench(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
