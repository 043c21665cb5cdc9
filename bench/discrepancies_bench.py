"""The discrepancy queue at scale: 1,000,000 items across 20 clients.

Renders the queue page (first page, and a filtered page) 200 times each in process and reports
p50/p95 and queries per page; then times Claim next with 10 concurrent claimers.
"""

import datetime as dt
import json
import random
import statistics
import threading
import time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client as WebClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bpo_ledger.models import Client, Membership
from discrepancies.models import PRIORITY_RANK, Discrepancy
from discrepancies.policy import sla_started
from discrepancies.services import discrepancy_claim_next

CLIENTS = 20
KINDS = ["overpayment", "underpayment", "duplicate", "missing", "mismatch", "chargeback"]
STATUSES = ["open"] * 3 + ["assigned", "in_progress", "awaiting_customer", "escalated"] + ["resolved", "closed"] * 4
PRIORITIES = ["low", "medium", "high", "critical"]
RENDERS = 200


def _setup(total: int):
    User = get_user_model()
    clients = []
    for i in range(CLIENTS):
        client = Client(code=f"Q{i:02d}", name=f"Queue client {i}", currency="USD", timezone="America/New_York", country="US")
        client.full_clean()
        client.save()
        clients.append(client)
    agents = []
    for i, client in enumerate(clients):
        agent = User.objects.create_user(f"agent{i}", f"agent{i}@example.com", "bench-password-123")
        Membership.objects.create(user=agent, client=client, role="agent")
        agents.append(agent)
    # The measured agent works for two clients, like a real shared-service agent.
    Membership.objects.create(user=agents[0], client=clients[1], role="agent")

    rng = random.Random(42)
    now = timezone.now()
    columns = [
        "client_id", "number", "kind", "status", "priority", "priority_rank", "priority_overridden", "summary",
        "currency", "amount_expected", "amount_actual", "amount_difference", "mismatch_field", "root_cause",
        "resolution_code", "resolution_text", "assignee_id", "sla_due_at", "escalation_level", "detected_by",
        "fingerprint", "adjustment_type", "adjustment_before", "adjustment_after", "approval", "approval_comment",
        "approval_reason", "sla_history", "version", "created_at", "updated_at",
    ]
    per_client = total // CLIENTS
    start = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY discrepancies_discrepancy ({', '.join(columns)}) FROM STDIN") as copy:
            for c, client in enumerate(clients):
                for n in range(1, per_client + 1):
                    kind = KINDS[n % len(KINDS)]
                    status = STATUSES[rng.randrange(len(STATUSES))]
                    priority = PRIORITIES[rng.randrange(4)]
                    created = now - dt.timedelta(minutes=rng.randrange(60 * 24 * 120))
                    expected = Decimal(rng.randrange(1000, 500000)) / 100
                    actual = expected - Decimal(rng.randrange(-5000, 5000)) / 100
                    assignee = None if status == "open" else agents[c].pk
                    due = created + dt.timedelta(hours=rng.choice([4, 24, 72, 168]))
                    copy.write_row((
                        client.pk, n, kind, status, priority, PRIORITY_RANK[priority], False,
                        f"{kind} on payment {n}", "USD", expected, actual, actual - expected,
                        "amount" if kind == "mismatch" else "", "", "", "", assignee,
                        due, 0, "run:bench",
                        f"bench:{client.pk}:{n}", "", "{}", "{}", "not_required", "", "",
                        json.dumps(sla_started([], due_at=due, level=0)), 1, created, created,
                    ))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE discrepancies_discrepancy")
    return clients, agents, time.perf_counter() - start


def _render(web, url, count):
    """Times and query counts of `count` renders, and the number of items the last one listed."""
    times, queries = [], []
    for _ in range(count):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = web.get(url)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(captured.captured_queries))
    return times, queries, response.content.decode().count("<tr data-href=")


def _pct(values, p):
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * p / 100), len(ordered) - 1)]


def bench_queue(scale: float) -> None:
    total = int(1_000_000 * scale)
    clients, agents, load_seconds = _setup(total)
    print(f"Discrepancy queue with {total:,} items across {CLIENTS} clients (loaded by COPY in {load_seconds:.1f} s), PostgreSQL:")
    # The supervisor of the measured agent's two clients sees every item there, and the bulk assign.
    supervisor = get_user_model().objects.create_user("supervisor", "supervisor@example.com", "bench-password-123")
    for client in clients[:2]:
        Membership.objects.create(user=supervisor, client=client, role="supervisor")
    web = WebClient()
    web.force_login(agents[0])
    boss = WebClient()
    boss.force_login(supervisor)
    filtered = f"/queue/?client={clients[1].code}&kind=underpayment&priority=high&sla_breached=true"
    pages = [
        ("agent of 2 clients: queue, first page", web, "/queue/"),
        ("agent: filtered (client, kind, priority, SLA breached)", web, filtered),
        ("agent: page 5", web, "/queue/?page=5"),
        ("supervisor of 2 clients: queue, first page", boss, "/queue/"),
        ("supervisor: filtered", boss, filtered),
    ]
    # Baseline in the same run: a page of the same layout that reads no discrepancy.
    _render(web, "/", 20)
    base_times, _, _ = _render(web, "/", RENDERS)
    base_p50 = statistics.median(base_times)
    print(f"  baseline (home page, same layout, no queue): p50 {base_p50:.1f} ms, p95 {_pct(base_times, 95):.1f} ms")
    for label, browser, url in pages:
        _render(browser, url, 10)  # warm caches
        times, queries, items = _render(browser, url, RENDERS)
        # A page that lists nothing would measure nothing.
        assert items > 0, (url, items)
        print(
            f"  {label}: p50 {statistics.median(times):.1f} ms, p95 {_pct(times, 95):.1f} ms over {RENDERS} renders of {items} items; "
            f"{min(queries)}-{max(queries)} queries per page; ratio to baseline p50 {statistics.median(times) / base_p50:.2f}x"
        )
    connections.close_all()
    _bench_claims(clients)


def _bench_claims(clients) -> None:
    User = get_user_model()
    client = clients[2]
    claimers = []
    for i in range(10):
        user = User.objects.create_user(f"claimer{i}", f"claimer{i}@example.com", "bench-password-123")
        Membership.objects.create(user=user, client=client, role="agent")
        claimers.append(user)
    per_claimer = 20
    claimed: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(claimers))

    def claim(user):
        try:
            barrier.wait()
            for _ in range(per_claimer):
                item = discrepancy_claim_next(user=user, clients=[client])
                with lock:
                    claimed.append(item.pk)
        finally:
            connections.close_all()

    # Baseline: one claimer alone, the same number of claims.
    solo = claimers[0]
    start = time.perf_counter()
    solo_claimed = [discrepancy_claim_next(user=solo, clients=[client]).pk for _ in range(per_claimer * len(claimers))]
    solo_seconds = time.perf_counter() - start
    start = time.perf_counter()
    threads = [threading.Thread(target=claim, args=(u,)) for u in claimers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    n = len(claimed)
    twice = n - len(set(claimed))
    overlap = len(set(claimed) & set(solo_claimed))
    print(
        f"Claim next, 10 concurrent claimers x {per_claimer}: {n} claims in {seconds:.2f} s ({n / seconds:,.0f}/s, "
        f"{seconds / n * 1000:.1f} ms each); claimed twice: {twice}; baseline one claimer alone: "
        f"{len(solo_claimed)} claims in {solo_seconds:.2f} s ({len(solo_claimed) / solo_seconds:,.0f}/s); ratio {seconds / solo_seconds:.2f}x"
    )
    assert twice == 0 and overlap == 0, "no item is claimed twice"
    assert Discrepancy.objects.filter(pk__in=claimed, status="assigned").count() == n
