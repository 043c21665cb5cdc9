"""`make bench`: the benchmarks, on PostgreSQL, in a database of their own.

    python -m bench [--scale 0.1] [--only schedules]

DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/); the benchmarks
create and drop the database `bpo_ledger_bench` on it. Each prints its figures with the ratio to
a baseline measured in the same run.
"""

import argparse
import os
import sys
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = os.environ.get("BENCH_DB", "bpo_ledger_bench")  # another name keeps parallel runs apart


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (default 1.0)")
    parser.add_argument("--only", action="append", help="run only this benchmark (due_dates, reminders, queue, mt940, camt, statements, matching); repeatable")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(server)
    if not parts.scheme.startswith("postgres"):
        print("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    os.environ.setdefault("DJANGO_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    admin_url = urlunsplit(parts._replace(path="/postgres"))

    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.db import connection

        from bench import (
            camt_read,
            discrepancies_bench,
            matching_bench,
            mt940_bench,
            schedules_bench,
            statements_bench,
        )

        print(f"PostgreSQL {connection.cursor().connection.info.server_version // 10000}, scale {args.scale}")
        benches = {
            "due_dates": schedules_bench.bench_due_dates,
            "reminders": schedules_bench.bench_reminders,
            "queue": discrepancies_bench.bench_queue,
            "mt940": mt940_bench.bench_mt940,
            "camt": camt_read.bench,
            "statements": statements_bench.bench_statements,
            "matching": matching_bench.bench_matching,
        }
        for name, run in benches.items():
            if not args.only or name in args.only:
                run(args.scale)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
