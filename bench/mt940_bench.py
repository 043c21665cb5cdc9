"""The MT940 reader over a generated file of 100,000 lines, against reading and decoding the
same lines (what any reader must do), measured in the same run."""

import random
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal

from reconciliation.formats import mt940

from .schedules_bench import report

LINES = 100_000
PER_STATEMENT = 1000  # :61: lines per message


def write_mt940(path: str, lines: int) -> int:
    """Statements of :61: lines with structured or free :86: text; the number of lines written."""
    rng = random.Random(940)
    written = 0
    balance = Decimal(0)
    number = 0
    with open(path, "w", encoding="utf-8", newline="\r\n") as f:
        while written < lines:
            number += 1
            day = date(2024, 1, 1) + timedelta(days=number)
            out = [f":20:STMT{number}", ":25:NL91ABNA0417164300", f":28C:{number}/1",
                   f":60F:{'D' if balance < 0 else 'C'}{day:%y%m%d}EUR{abs(balance):f}".replace(".", ",")]
            for i in range(PER_STATEMENT):
                amount = Decimal(rng.randint(1, 10**7)).scaleb(-2)
                mark = rng.choice("CD")
                balance += amount if mark == "C" else -amount
                out.append(f":61:{day:%y%m%d}{day:%m%d}{mark}{amount:f}NTRFINV{i}//B{number}X{i}".replace(".", ","))
                if i % 2:
                    out.append(f":86:/EREF/E{number}-{i}/ORDP//NAME/CUSTOMER {i}/IBAN/DE89370400440532013000"
                               f"/REMI/USTD//INVOICE {i}/")
                else:
                    out.append(f":86:INVOICE {i} PAYMENT FOR SERVICES")
                    out.append("RENDERED IN THE PERIOD")
            out.append(f":62F:{'D' if balance < 0 else 'C'}{day:%y%m%d}EUR{abs(balance):f}".replace(".", ","))
            out.append("-")
            f.write("\n".join(out) + "\n")
            written += len(out)
    return written


def bench_mt940(scale: float) -> None:
    print("MT940 reader")
    with tempfile.NamedTemporaryFile(suffix=".sta") as tmp:
        lines = write_mt940(tmp.name, max(1000, int(LINES * scale)))

        def baseline():
            with open(tmp.name, "rb") as f:
                for raw in f:
                    raw.decode("utf-8").rstrip("\r\n")

        def parse():
            with open(tmp.name, "rb") as f:
                return sum(1 for _ in mt940.read(f))

        start = time.perf_counter()
        baseline()
        base_seconds = time.perf_counter() - start
        start = time.perf_counter()
        items = parse()
        seconds = time.perf_counter() - start
    report(f"read ({items:,} items)", lines, seconds, "read and decode the lines", base_seconds,
           unit="lines")
