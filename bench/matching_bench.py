"""Matching at scale: 1,000,000 expected payments against 1,000,000 received ones, one nightly run.

The data is loaded with COPY (not through the services) as blocks of 100 expected and 100
received payments with a known mix (CASES below), so the run's findings by kind and allocations by
rule are known in advance and compared exactly. The run (reconciliation_run) goes in a forked
child, so that its peak memory is its own; a second run over the same data must log nothing.

Baseline measured in the same run, in a transaction rolled back: the same work done set-based in
SQL (a hash join of the payments' reference to the scheduled payments' reference, COPY of the
resulting allocations, one UPDATE ... FROM of the scheduled payments, and as many audit events,
of the same verbs, as the run wrote).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import hashlib
import os
import resource
import tempfile
import time
import traceback
from collections import Counter
from decimal import Decimal
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from bench.statements_bench import _in_child
from bpo_ledger.crypto import account_lookup_hash
from bpo_ledger.models import AuditEvent, Client, Customer, Payment, PaymentImport
from schedules.models import Allocation, PaymentSchedule, ScheduledPayment

CODE = "BENCHMATCH"
AS_OF = dt.date(2026, 11, 20)
ACCOUNT = "US-BENCH-COLLECTION-0001"
ACTOR = "system:reconciliation"
BLOCK = 100  # expected payments per block, and received payments per block

# One block: (case, customers, expected payments per customer, received payments per customer).
# Each customer has one schedule (monthly, of four payments, for "reference"; one-time otherwise)
# and the account on file the run knows them by. An unidentified payer's name is a misspelling
# of another customer's, for the run's suggestions.
CASES = [
    ("reference", 14, 4, 4),  # 14 customers x 4 payments quoting their reference, exact amount
    ("customer_amount", 10, 1, 1),  # no reference; the payer's account on file, the exact amount
    ("tolerance", 5, 1, 1),  # reference, 0.40 short: inside the 1.00 tolerance, settled
    ("overpayment", 3, 1, 1),  # reference, 25.00 too much: settled, the rest held as credit
    ("underpayment", 3, 1, 1),  # reference, 25.00 short
    ("variance", 2, 1, 1),  # no reference; the payer's account, 25.00 short: customer + variance
    ("duplicate", 3, 1, 2),  # the same payment twice from the same payer, two days apart
    ("missing", 9, 1, 0),  # past due + grace, nothing received, statements in
    ("currency", 2, 1, 1),  # reference, in EUR for a USD payment (due in three days): not settled
    ("account", 3, 1, 1),  # reference, from an account other than the customer's on file
    ("unidentified", 2, 0, 1),  # no reference, an unknown account: nobody to settle
    ("reversal", 2, 1, 2),  # paid 10-14 days ago (allocated before the run), returned 3 days later (AC04)
    ("chargeback", 2, 1, 2),  # paid by card 25-29 days ago (allocated before the run), charged back 20 days later
]
CUSTOMERS_PER_BLOCK = sum(count for _, count, _, _ in CASES)
assert sum(count * e for _, count, e, _ in CASES) == BLOCK == sum(count * r for _, count, _, r in CASES)


def known_mix(blocks: int) -> dict[str, Counter]:
    """What the run must find in `blocks` blocks."""
    per = {name: count for name, count, _, _ in CASES}
    allocations = Counter({
        "reference": per["reference"] * 4 + per["tolerance"] + per["overpayment"] + per["underpayment"]
        + per["duplicate"] + per["account"],
        "customer_amount": per["customer_amount"],
        "customer_variance": per["variance"],
    })
    findings = Counter({
        "overpayment": per["overpayment"],
        "underpayment": per["underpayment"] + per["variance"],
        "duplicate": per["duplicate"],
        "missing": per["missing"],
        "mismatch": per["currency"] + per["account"] + per["unidentified"],
        "chargeback": per["reversal"] + per["chargeback"],
    })
    mismatches = Counter({"currency": per["currency"], "account": per["account"], "payer": per["unidentified"]})
    # After the run: settled (inside the tolerance too), paid in part, open again or never paid
    # past grace, and not due yet.
    statuses = Counter({
        "paid": per["reference"] * 4 + per["customer_amount"] + per["tolerance"] + per["overpayment"]
        + per["duplicate"] + per["account"],
        "partially_paid": per["underpayment"] + per["variance"],
        "overdue": per["missing"] + per["reversal"] + per["chargeback"],
        "upcoming": per["currency"],
    })
    return {
        "allocations by rule": Counter({k: v * blocks for k, v in allocations.items()}),
        "findings by kind": Counter({k: v * blocks for k, v in findings.items()}),
        "mismatches by field": Counter({k: v * blocks for k, v in mismatches.items()}),
        "allocations undone": Counter({"reversal": (per["reversal"] + per["chargeback"]) * blocks}),
        "scheduled payments by status": Counter({k: v * blocks for k, v in statuses.items()}),
    }


# ----------------------------------------------------------------------------------------------
# Data: COPY text rows (tab-separated, \N for NULL), written to files in one pass, then loaded.

N = r"\N"


def _line(*values) -> str:
    return "\t".join(N if v is None else str(v) for v in values) + "\n"


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class _Ids:
    """Contiguous ids taken from each table's sequence up front (the bench database is its own)."""

    def __init__(self, model, count: int):
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s)", [sequence])
            self.first = cursor.fetchone()[0]
            cursor.execute("SELECT setval(%s, %s)", [sequence, self.first + count])
        self.next = self.first

    def take(self) -> int:
        taken = self.next
        self.next += 1
        return taken


COLUMNS = {
    Customer: ("id", "client_id", "external_ref", "name", "email", "phone", "timezone", "email_consent",
               "email_consent_at", "sms_consent", "sms_consent_at", "bank_account", "bank_account_last4",
               "bank_account_hash", "version", "created_at", "updated_at"),
    PaymentSchedule: ("id", "client_id", "customer_id", "number", "kind", "status", "currency", "amount", "method",
                      "start_date", "end_date", "cycles", "frequency", "interval", "anchor_day", "cycle_start",
                      "cycle_start_sequence", "installment_count", "down_payment", "deferred_until",
                      "deferral_reason", "autopay_method", "autopay_account", "autopay_account_last4",
                      "mandate_reference", "mandate_consented_at", "external_ref", "description", "next_due_date",
                      "is_overdue", "horizon_until", "version", "created_at", "updated_at"),
    ScheduledPayment: ("id", "client_id", "schedule_id", "sequence", "reference", "due_date", "original_due_date",
                       "amount_due", "amount_paid", "status", "paid_at", "updated_at"),
    Payment: ("id", "client_id", "customer_id", "payment_import_id", "source", "kind", "amount", "currency",
              "value_date", "booking_date", "source_account", "bank_transaction_id", "payer_name", "payer_account",
              "payer_account_last4", "payer_account_hash", "reference", "remittance", "bank_code", "return_code",
              "entry_ref", "batch_detail", "notes", "reverses_id", "confirmed_source_account",
              "confirmed_transaction_id", "created_at"),
    Allocation: ("client_id", "payment_id", "scheduled_payment_id", "amount", "rule", "explanation", "created_at"),
}


def _status(due: dt.date, grace: int) -> str:
    if due > AS_OF:
        return "upcoming"
    return "overdue" if due + dt.timedelta(days=grace) < AS_OF else "due"


def write_data(folder: Path, client: Client, payment_import: PaymentImport, blocks: int) -> dict[type, Path]:
    """Write every table's rows of `blocks` blocks to COPY files; returns {model: path}."""
    customers = blocks * CUSTOMERS_PER_BLOCK
    ids = {model: _Ids(model, count) for model, count in (
        (Customer, customers), (PaymentSchedule, customers), (ScheduledPayment, blocks * BLOCK),
        (Payment, blocks * BLOCK))}
    paths = {model: folder / f"{model._meta.model_name}.tsv" for model in COLUMNS}
    files = {model: path.open("w") for model, path in paths.items()}
    write = {model: f.write for model, f in files.items()}
    now = timezone.now().isoformat()
    cid, pid, grace = client.pk, payment_import.pk, client.grace_days
    txid = 0

    def pay(customer_id, amount, value_date, reference, payer, account_hash, *, kind="credit", currency="USD",
            reverses=None, return_code="", remittance="Invoice payment", last4=""):
        nonlocal txid
        txid += 1
        payment_id = ids[Payment].take()
        write[Payment](_line(
            payment_id, cid, customer_id, pid, "bank_file", kind, _cents(amount) if amount > 0 else "-" + _cents(-amount),
            currency, value_date, value_date, ACCOUNT, f"BT{txid:09d}", payer, "", last4, account_hash, reference,
            remittance, "", return_code, "", "f", "", reverses, "", "", now))
        return payment_id, f"BT{txid:09d}"

    number = 0
    for _block in range(blocks):
        for case, count, expected_each, _ in CASES:
            for _case in range(count):
                number += 1
                i = number
                name = f"Customer {i:07d}"
                account = f"GB{i:020d}"
                account_hash = account_lookup_hash(account)
                customer_id = ids[Customer].take()
                write[Customer](_line(
                    customer_id, cid, f"CUST{i:07d}", name, "", "", "", "f", None, "f", None, "", account[-4:],
                    account_hash, 1, now, now))
                due_cents = 5000 + (i * 7919) % 95000  # 50.00 to 999.99
                spread = i % 40
                if case == "currency":
                    first_due = AS_OF + dt.timedelta(days=3)
                elif case == "chargeback":
                    first_due = AS_OF - dt.timedelta(days=25 + spread % 5)
                elif case == "reversal":
                    # Paid inside the duplicate window plus the window after the due date (17 days
                    # here): the run reads settled payments that recent, so it can reopen them.
                    first_due = AS_OF - dt.timedelta(days=10 + spread % 5)
                else:
                    first_due = AS_OF - dt.timedelta(days=10 + spread)
                if case == "reference":
                    first_due -= dt.timedelta(days=90)  # four monthly payments, the last 10-49 days ago
                schedule_id = ids[PaymentSchedule].take()
                if expected_each:
                    recurring = expected_each > 1
                    last_due = first_due + dt.timedelta(days=30 * (expected_each - 1))
                    write[PaymentSchedule](_line(
                        schedule_id, cid, customer_id, i, "recurring" if recurring else "one_time", "active", "USD",
                        _cents(due_cents), "bank_transfer", first_due, None, expected_each if recurring else None,
                        "monthly" if recurring else "", 1, None, None, 1, None, "0.00", None, "", "", "", "", "",
                        None, "", case, last_due, "f", last_due, 1, now, now))
                for seq in range(1, expected_each + 1):
                    due = first_due + dt.timedelta(days=30 * (seq - 1))
                    reference = f"{CODE}-{i:06d}-{seq:02d}"
                    expected_id = ids[ScheduledPayment].take()
                    paid = case in ("reversal", "chargeback")
                    write[ScheduledPayment](_line(
                        expected_id, cid, schedule_id, seq, reference, due, due, _cents(due_cents),
                        _cents(due_cents) if paid else "0.00", "paid" if paid else _status(due, grace),
                        f"{due}T12:00:00+00:00" if paid else None, now))
                    last4 = account[-4:]
                    if case in ("reference", "tolerance", "overpayment", "underpayment"):
                        amount = due_cents + {"reference": 0, "tolerance": -40, "overpayment": 2500,
                                              "underpayment": -2500}[case]
                        pay(customer_id, amount, due, reference, name, account_hash, last4=last4)
                    elif case in ("customer_amount", "variance"):
                        amount = due_cents - (2500 if case == "variance" else 0)
                        pay(customer_id, amount, due + dt.timedelta(days=1), "", name, account_hash, last4=last4)
                    elif case == "duplicate":
                        pay(customer_id, due_cents, due, reference, name, account_hash, last4=last4)
                        pay(customer_id, due_cents, due + dt.timedelta(days=2), reference, name, account_hash, last4=last4)
                    elif case == "currency":
                        pay(customer_id, due_cents, AS_OF - dt.timedelta(days=1), reference, name, account_hash,
                            currency="EUR", last4=last4)
                    elif case == "account":
                        other = f"FR{i:020d}"
                        pay(None, due_cents, due, reference, f"{name} (employer)", account_lookup_hash(other),
                            last4=other[-4:])
                    elif case in ("reversal", "chargeback"):
                        original, original_txid = pay(customer_id, due_cents, due, reference, name, account_hash,
                                                      last4=last4)
                        write[Allocation](_line(cid, original, expected_id, _cents(due_cents), "reference",
                                                f"matched by reference {reference}", now))
                        if case == "reversal":
                            pay(customer_id, -due_cents, due + dt.timedelta(days=3), original_txid, name,
                                account_hash, kind="reversal", reverses=original, return_code="AC04",
                                remittance="RETURN AC04", last4=last4)
                        else:
                            pay(customer_id, -due_cents, due + dt.timedelta(days=20), original_txid, name,
                                account_hash, kind="chargeback", reverses=original, return_code="4837",
                                remittance="CHARGEBACK 4837 NO CARDHOLDER AUTHORIZATION", last4=last4)
                if case == "unidentified":
                    stranger = f"ZZ{i:020d}"
                    pay(None, 1234 + i % 5000, AS_OF - dt.timedelta(days=2), "", f"Custmer {i - 1:07d}",
                        account_lookup_hash(stranger), remittance="Thanks", last4=stranger[-4:])
    for f in files.values():
        f.close()
    return paths


def load(paths: dict[type, Path]) -> dict[str, float]:
    """COPY each file into its table; returns seconds per table."""
    seconds = {}
    with connection.cursor() as cursor:
        for model, path in paths.items():
            start = time.perf_counter()
            names = ", ".join(connection.ops.quote_name(c) for c in COLUMNS[model])
            with cursor.copy(f"COPY {model._meta.db_table} ({names}) FROM STDIN") as copy, path.open("rb") as f:  # noqa: S608
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            seconds[model._meta.model_name] = time.perf_counter() - start
        for model in COLUMNS:
            cursor.execute(f"ANALYZE {model._meta.db_table}")  # noqa: S608
    return seconds


def make_matching_client() -> tuple[Client, PaymentImport]:
    from reconciliation.models import BankAccount, ImportedStatement

    client = Client(code=CODE, name="Bench matching", currency="USD", timezone="UTC", country="US",
                    match_tolerance_amount=Decimal("1.00"), match_tolerance_percent=Decimal("0"),
                    payment_window_days_before=5, payment_window_days_after=10, grace_days=3,
                    duplicate_window_days=7)
    client.full_clean()
    client.save()
    payment_import = PaymentImport.objects.create(
        client=client, file_name="bench-statement.xml", sha256=hashlib.sha256(b"bench-matching").hexdigest(),
        format="camt053", source="bench", accounts=[ACCOUNT])
    BankAccount.objects.create(client=client, account=ACCOUNT, currency="USD", first_seen_at=timezone.now(),
                               first_import=payment_import, last_sequence="1")
    # The collection account's statements are in through the run's date, without a gap: "missing"
    # is not held back.
    ImportedStatement.objects.create(
        client=client, payment_import=payment_import, account=ACCOUNT, currency="USD", statement_id="BENCH-1",
        sequence="1", created=AS_OF, period_start=AS_OF - dt.timedelta(days=200), period_end=AS_OF)
    return client, payment_import


# ----------------------------------------------------------------------------------------------
# The run, in a child process


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _run(client_id: int) -> dict:
    from discrepancies.models import Discrepancy
    from reconciliation.services.runs import reconciliation_run

    client = Client.objects.get(pk=client_id)
    before = _rss_mib()
    audit_before = AuditEvent.objects.filter(client=client).aggregate(last=Max("seq"))["last"] or 0
    last_allocation = Allocation.objects.filter(client=client).aggregate(last=Max("id"))["last"] or 0
    start = time.perf_counter()
    profile_to = os.environ.get("BENCH_PROFILE")  # a file for cProfile's figures of the run
    profiler = cProfile.Profile() if profile_to else None
    try:
        if profiler:
            profiler.enable()
        outcome = reconciliation_run(client=client, as_of=AS_OF, actor=ACTOR, trigger="command", dry_run=False)
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{profile_to}.{os.getpid()}")  # one file per run
    except Exception as exc:  # noqa: BLE001 - told by the parent; an exception may not pickle
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = outcome.result
    run = outcome.run
    stored = Counter(dict(Discrepancy.objects.filter(client=client, detected_by=run.detected_by)
                          .values_list("kind").annotate(n=Count("id")).order_by()))
    stored_rules = Counter(dict(Allocation.objects.filter(client=client, pk__gt=last_allocation)
                                .values_list("rule").annotate(n=Count("id")).order_by()))
    statuses = Counter(dict(ScheduledPayment.objects.filter(client=client).values_list("status")
                            .annotate(n=Count("id")).order_by()))
    verbs = Counter(dict(AuditEvent.objects.filter(client=client, seq__gt=audit_before)
                         .values_list("verb").annotate(n=Count("id")).order_by()))
    return {
        "seconds": seconds, "phase_seconds": dict(outcome.phase_seconds), "counts": dict(outcome.counts),
        "logged": outcome.logged, "resolved": outcome.resolved, "status": run.status, "error": run.error,
        "rss_before": before, "peak": peak,
        "allocations by rule": Counter(a.rule for a in result.allocations),
        "findings by kind": Counter(f.kind for f in result.findings),
        "mismatches by field": Counter(f.mismatch_field for f in result.findings if f.kind == "mismatch"),
        "allocations undone": Counter({"reversal": len(result.unallocations)}) if result.unallocations else Counter(),
        "scheduled payments by status": statuses,
        "discrepancies stored by kind": stored, "allocations stored by rule": stored_rules,
        "audit events by verb": verbs,
    }


# ----------------------------------------------------------------------------------------------
# Baseline: the same work set-based, rolled back


class _Rollback(Exception):
    pass


def baseline(client: Client, verbs: Counter) -> tuple[float, dict[str, float], int]:
    """Hash join on reference, COPY of the allocations, one UPDATE ... FROM, the audit events, and
    the foreign-key checks a commit would make."""
    from bpo_ledger.audit import PendingEvent, audit_record_many
    from bpo_ledger.bulk import copy_rows

    phases = {}
    allocations = 0
    start = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            mark = time.perf_counter()
            cursor.execute(
                f"SELECT p.id, s.id, s.reference, LEAST(p.amount, s.amount_due) "  # noqa: S608
                f"FROM {Payment._meta.db_table} p JOIN {ScheduledPayment._meta.db_table} s "
                "ON s.client_id = p.client_id AND s.reference = p.reference "
                "WHERE p.client_id = %s AND p.amount > 0 AND p.currency = %s",
                [client.pk, client.currency])
            rows = cursor.fetchall()
            phases["join"] = time.perf_counter() - mark
            mark = time.perf_counter()
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {Allocation._meta.db_table}")  # noqa: S608
            last = cursor.fetchone()[0]
            now = timezone.now().isoformat()
            allocations = copy_rows(Allocation, COLUMNS[Allocation], (
                (client.pk, payment_id, expected_id, amount, "reference", f"matched by reference {reference}", now)
                for payment_id, expected_id, reference, amount in rows))
            phases["copy"] = time.perf_counter() - mark
            mark = time.perf_counter()
            cursor.execute(
                f"UPDATE {ScheduledPayment._meta.db_table} s SET amount_paid = s.amount_paid + a.total, "  # noqa: S608
                "status = CASE WHEN s.amount_paid + a.total >= s.amount_due THEN 'paid' ELSE 'partially_paid' END, "
                "paid_at = now(), updated_at = now() "
                f"FROM (SELECT scheduled_payment_id, sum(amount) AS total FROM {Allocation._meta.db_table} "
                "WHERE id > %s GROUP BY scheduled_payment_id) a WHERE s.id = a.scheduled_payment_id",
                [last])
            phases["update"] = time.perf_counter() - mark
            mark = time.perf_counter()
            events = [PendingEvent(verb, ("payment", n), {"bench": True, "n": n})
                      for verb, count in sorted(verbs.items()) for n in range(count)]
            audit_record_many(client=client, actor=ACTOR, events=events)
            phases["audit"] = time.perf_counter() - mark
            # The run pays its deferred foreign-key checks at its commit; the baseline, rolled
            # back, would never pay them: they are fired here, as the commit would.
            mark = time.perf_counter()
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            phases["checks"] = time.perf_counter() - mark
            raise _Rollback
    except _Rollback:
        pass
    return time.perf_counter() - start, phases, allocations


# ----------------------------------------------------------------------------------------------


def _table(title: str, known: Counter, got: Counter) -> bool:
    keys = sorted(set(known) | set(got))
    same = known == got
    print(f"  {title}: {'equal to the known mix' if same else 'DIFFERENT FROM THE KNOWN MIX'}")
    for key in keys:
        flag = "" if known[key] == got[key] else "   <-- differs"
        print(f"    {key:<20} known {known[key]:>10,}  run {got[key]:>10,}{flag}")
    return same


def bench_matching(scale):
    blocks = max(1, round(10_000 * scale))
    n = blocks * BLOCK
    client, payment_import = make_matching_client()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        paths = write_data(Path(folder), client, payment_import, blocks)
        generated = time.perf_counter() - start
        size = sum(os.path.getsize(p) for p in paths.values()) / 2**20
        loaded = load(paths)
    print(f"matching: {n:,} expected x {n:,} received payments ({blocks:,} blocks of the known mix), "
          f"{blocks * CUSTOMERS_PER_BLOCK:,} customers; generated in {generated:.1f} s ({size:,.0f} MiB), "
          f"COPY in {sum(loaded.values()):.1f} s")

    first, _ = _in_child(_run, client.pk)
    if first["status"] != "succeeded":
        raise SystemExit(f"matching: the run failed: {first['error']}")
    phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in first["phase_seconds"].items())
    phases += f", outside them (the run's record, its lock, the commit) {first['seconds'] - sum(first['phase_seconds'].values()):.2f} s"
    print(f"  reconciliation_run: {first['seconds']:.2f} s end to end ({phases}); "
          f"read {first['counts'].get('payments_in', 0):,} payments and {first['counts'].get('expected_in', 0):,} "
          f"expected payments; logged {first['logged']:,}, resolved {first['resolved']:,}")
    print(f"  peak memory of the run's process: {first['peak']:,.0f} MiB "
          f"({first['peak'] - first['rss_before']:,.0f} MiB above the {first['rss_before']:,.0f} MiB before it)")

    known = known_mix(blocks)
    same = all([_table(title, known[title], first[title]) for title in known])
    same &= _table("discrepancies stored by kind", known["findings by kind"], first["discrepancies stored by kind"])
    same &= _table("allocations stored by rule", known["allocations by rule"], first["allocations stored by rule"])
    print("  audit events of the run: " + ", ".join(f"{v} {n:,}" for v, n in sorted(first["audit events by verb"].items())))

    second, _ = _in_child(_run, client.pk)
    if second["status"] != "succeeded":
        raise SystemExit(f"matching: the second run failed: {second['error']}")
    new = sum(second["discrepancies stored by kind"].values()) + sum(second["allocations stored by rule"].values())
    print(f"  the same data again: {second['seconds']:.2f} s (target < 2 s), logged {second['logged']}, "
          f"new allocations and discrepancies {new}, audit events "
          + (", ".join(f"{v} {n}" for v, n in sorted(second["audit events by verb"].items())) or "none"))
    quiet = second["logged"] == 0 and new == 0
    if not quiet:
        print("    logged again: " + ", ".join(f"{k} {n:,}" for k, n in sorted(second["discrepancies stored by kind"].items()))
              + "; allocated again: " + (", ".join(f"{k} {n:,}" for k, n in sorted(second["allocations stored by rule"].items())) or "nothing"))

    base_seconds, base_phases, base_allocations = baseline(client, first["audit events by verb"])
    report_line = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in base_phases.items())
    ratio = first["seconds"] / base_seconds if base_seconds else float("nan")
    print(f"  baseline, set-based SQL rolled back ({report_line}; {base_allocations:,} allocations): "
          f"{base_seconds:.2f} s; ratio {ratio:.2f}x (target <= 2x)")
    if not same:
        raise SystemExit("matching: the run's findings or allocations differ from the known mix (see above)")
    if not quiet:
        raise SystemExit("matching: the second run over the same data logged or allocated something")
