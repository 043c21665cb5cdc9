"""The camt reader against its parse-only baseline, in the same run.

    python -m bench.camt_read --entries 100000 [--repeat 3] [--file F] [--profile]

Writes a camt.053.001.08 file of N entries (statements of up to 10,000 entries, each with its
balances and TxsSummry; customers' credits with counterparty, IBAN, end-to-end id, creditor
reference and remittance; some batches of 2 to 5 TxDtls, a few with charges deducted; fees,
returns and pending entries), then times in turn, each run in a fresh interpreter:

- the baseline: the same hardened parser (``lxml.etree.iterparse`` with the reader's options)
  over the file, clearing each ``Ntry`` once it ends and touching nothing else;
- ``reconciliation.formats.camt.read`` consuming every item.

Runs alternate (baseline, read, baseline, read, ...) so that load on the machine falls on both;
the figures are the medians, the ratio is read / baseline (wall clock, and CPU time, which a
loaded machine disturbs less). Peak memory is each run's own peak RSS
(``resource.getrusage``), the interpreter included. Targets (issue 10): ratio at most 1.5, peak
memory under 1 GiB at 1,000,000 entries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
PER_STATEMENT = 10_000
NAMES = ["Acme Trading GmbH", "Dupont & Fils SARL", "Müller Logistik AG", "Rossi S.p.A.",
         "Jansen B.V.", "Nordic Supplies AB", "O'Brien Ltd", "García y Asociados S.L.",
         "Kowalski Sp. z o.o.", "Smith Hardware Inc."]
WORDS = ["Invoice", "INV", "Order", "Contract", "Rent", "Subscription", "Payment", "Balance"]


# -- the file ---------------------------------------------------------------------------------

def _iban(rng: random.Random) -> str:
    return f"DE{rng.randint(10, 99)}{rng.randint(10**17, 10**18 - 1)}"


def _amt(value: Decimal) -> str:
    return f'<Amt Ccy="EUR">{value}</Amt>'


def _code(domain: str, family: str, sub: str) -> str:
    return (f"<BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd>"
            f"<SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>")


def _tx(rng, n, amount, indicator, role, ref=None, return_code="") -> str:
    name = escape(rng.choice(NAMES))
    invoice = f"{rng.choice(WORDS)} {rng.randint(10000, 99999)}"
    refs = f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else ""
    e2e = f"E2E-{n}" if rng.random() < 0.8 else "NOTPROVIDED"
    strd = ""
    if rng.random() < 0.3:
        strd = f"<Strd><CdtrRefInf><Ref>RF{rng.randint(10, 99)}{n:010d}</Ref></CdtrRefInf></Strd>"
    rtr = f"<RtrInf><Rsn><Cd>{return_code}</Cd></Rsn></RtrInf>" if return_code else ""
    return (
        f"<TxDtls><Refs>{refs}<EndToEndId>{e2e}</EndToEndId></Refs>"
        f"{_amt(amount)}<CdtDbtInd>{indicator}</CdtDbtInd>"
        f"<RltdPties><{role}><Pty><Nm>{name}</Nm></Pty></{role}>"
        f"<{role}Acct><Id><IBAN>{_iban(rng)}</IBAN></Id></{role}Acct></RltdPties>"
        f"<RmtInf><Ustrd>{invoice}</Ustrd>{strd}</RmtInf>{rtr}</TxDtls>"
    )


def _entry(rng: random.Random, n: int, day: date) -> tuple[str, Decimal, str, bool]:
    """One Ntry: (xml, amount, CRDT/DBIT, booked)."""
    roll = rng.random()
    status = "BOOK"
    reversal = ""
    info = "SEPA CREDIT TRANSFER"
    if roll < 0.80:  # a customer's credit transfer
        amount = Decimal(rng.randint(100, 500_000)) / 100
        indicator, code = "CRDT", _code("PMNT", "RCDT", "ESCT")
        details = _tx(rng, n, amount, indicator, "Dbtr")
        if rng.random() < 0.03:
            status = "PDNG"
    elif roll < 0.88:  # a batch of 2 to 5 customers' payments, sometimes with charges deducted
        count = rng.randint(2, 5)
        parts = [Decimal(rng.randint(100, 200_000)) / 100 for _ in range(count)]
        charges = Decimal(rng.randint(50, 500)) / 100 if rng.random() < 0.25 else Decimal(0)
        amount = sum(parts, Decimal(0)) - charges
        indicator, code = "CRDT", _code("PMNT", "RCDT", "BOOK")
        info = "SEPA BATCH"
        details = f"<Btch><NbOfTxs>{count}</NbOfTxs></Btch>" + "".join(
            _tx(rng, n, part, indicator, "Dbtr", ref=f"TX{n}-{k}") for k, part in enumerate(parts, 1))
        if charges:
            details = (f"<Chrgs><Rcrd>{_amt(charges)}<CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>"
                       f"<NtryDtls>{details}</NtryDtls>")
            return _ntry(n, amount, indicator, status, reversal, day, code, details, info, True)
    elif roll < 0.93:  # the bank's fees
        amount = Decimal(rng.randint(100, 5000)) / 100
        indicator, code = "DBIT", _code("ACMT", "MDOP", "CHRG")
        info = "ACCOUNT FEES"
        details = ""
    elif roll < 0.97:  # a returned direct debit
        amount = Decimal(rng.randint(100, 100_000)) / 100
        indicator, code = "DBIT", _code("PMNT", "RDDT", "UPDD")
        reversal = "<RvslInd>true</RvslInd>"
        info = "SEPA DIRECT DEBIT RETURN"
        details = _tx(rng, n, amount, indicator, "Cdtr", return_code="AC06")
    else:  # a payment out
        amount = Decimal(rng.randint(100, 1_000_000)) / 100
        indicator, code = "DBIT", _code("PMNT", "ICDT", "ESCT")
        info = "SEPA CREDIT TRANSFER OUT"
        details = _tx(rng, n, amount, indicator, "Cdtr")
    if details:
        details = f"<NtryDtls>{details}</NtryDtls>"
    return _ntry(n, amount, indicator, status, reversal, day, code, details, info, False)


def _ntry(n, amount, indicator, status, reversal, day, code, details, info, charges_first):
    booked = status == "BOOK"
    booking = f"<BookgDt><Dt>{day}</Dt></BookgDt>" if booked else ""
    chrgs = ""
    if charges_first:  # Chrgs comes before NtryDtls in the schema
        chrgs, _, details = details.partition("<NtryDtls>")
        details = "<NtryDtls>" + details
    xml = (
        f"<Ntry><NtryRef>{n}</NtryRef>{_amt(amount)}<CdtDbtInd>{indicator}</CdtDbtInd>{reversal}"
        f"<Sts><Cd>{status}</Cd></Sts>{booking}<ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>BANK-{n:09d}</AcctSvcrRef>{code}{chrgs}{details}"
        f"<AddtlNtryInf>{info}</AddtlNtryInf></Ntry>\n"
    )
    return xml, amount, indicator, booked


def write_file(path: str, entries: int, seed: int = 10) -> None:
    """A camt.053.001.08 of ``entries`` entries, written as it goes (never held whole)."""
    rng = random.Random(seed)
    start = date(2026, 1, 2)
    with open(path, "w", encoding="utf-8") as out:
        out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}">'
                  "<BkToCstmrStmt><GrpHdr><MsgId>BENCH-1</MsgId>"
                  "<CreDtTm>2026-01-02T06:00:00</CreDtTm></GrpHdr>\n")
        n = 0
        s = 0
        balance = Decimal("100000.00")
        while n < entries:
            s += 1
            day = start + timedelta(days=s - 1)
            size = min(PER_STATEMENT, entries - n)
            body = []
            totals = {"CRDT": [0, Decimal(0)], "DBIT": [0, Decimal(0)]}
            booked_net = Decimal(0)
            for _ in range(size):
                n += 1
                xml, amount, indicator, booked = _entry(rng, n, day)
                body.append(xml)
                totals[indicator][0] += 1
                totals[indicator][1] += amount
                if booked:
                    booked_net += amount if indicator == "CRDT" else -amount
            closing = balance + booked_net
            net = totals["CRDT"][1] - totals["DBIT"][1]

            def bal(code, value, day=day):
                return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amt(abs(value))}"
                        f"<CdtDbtInd>{'CRDT' if value >= 0 else 'DBIT'}</CdtDbtInd>"
                        f"<Dt><Dt>{day}</Dt></Dt></Bal>")

            out.write(
                f"<Stmt><Id>STMT-{s}</Id><ElctrncSeqNb>{s}</ElctrncSeqNb>"
                f"<CreDtTm>{day}T06:00:00</CreDtTm>"
                "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>"
                f"{bal('OPBD', balance)}{bal('CLBD', closing)}"
                "<TxsSummry><TtlNtries>"
                f"<NbOfNtries>{size}</NbOfNtries><Sum>{totals['CRDT'][1] + totals['DBIT'][1]}</Sum>"
                f"<TtlNetNtry><Amt>{abs(net)}</Amt><CdtDbtInd>{'CRDT' if net >= 0 else 'DBIT'}"
                "</CdtDbtInd></TtlNetNtry></TtlNtries>"
                f"<TtlCdtNtries><NbOfNtries>{totals['CRDT'][0]}</NbOfNtries>"
                f"<Sum>{totals['CRDT'][1]}</Sum></TtlCdtNtries>"
                f"<TtlDbtNtries><NbOfNtries>{totals['DBIT'][0]}</NbOfNtries>"
                f"<Sum>{totals['DBIT'][1]}</Sum></TtlDbtNtries></TxsSummry>\n"
            )
            out.writelines(body)
            out.write("</Stmt>\n")
            balance = closing
        out.write("</BkToCstmrStmt></Document>\n")


# -- one run, in a fresh interpreter -------------------------------------------------------------

def run_baseline(path: str) -> dict:
    from lxml import etree

    entries = 0
    with open(path, "rb") as stream:
        for _, elem in etree.iterparse(
            stream, events=("end",), tag="{*}Ntry", resolve_entities=False, no_network=True,
            load_dtd=False, dtd_validation=False, remove_comments=True, remove_pis=True,
        ):
            entries += 1
            elem.clear()
            parent = elem.getparent()
            while elem.getprevious() is not None:
                del parent[0]
    return {"entries": entries, "lines": 0}


def run_read(path: str) -> dict:
    from reconciliation.formats import camt
    from reconciliation.formats.base import Line, Warning

    lines = warnings = other = 0
    with open(path, "rb") as stream:
        for item in camt.read(stream):
            if type(item) is Line:
                lines += 1
            elif type(item) is Warning:
                warnings += 1
            else:
                other += 1
    return {"lines": lines, "warnings": warnings, "statements": other}


def child(kind: str, path: str) -> None:
    run = {"baseline": run_baseline, "read": run_read}[kind]
    start = time.perf_counter()
    result = run(path)
    result["seconds"] = time.perf_counter() - start
    result["cpu"] = time.process_time()
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def spawn(kind: str, path: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.camt_read", "--child", kind, path],
        capture_output=True, text=True, check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def profile(path: str, top: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(run_read, path)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def _runs(results: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.2f}" for r in results)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.camt_read")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (median taken)")
    parser.add_argument("--file", help="use (or write, if missing) this file instead of a temporary one")
    parser.add_argument("--profile", action="store_true", help="cProfile one read instead of timing")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    return run(args.entries, args.repeat, args.file, args.profile)


def bench(scale: float) -> None:
    """`make bench`: 1,000,000 entries at scale 1 (one run of each), with the others."""
    print("camt.053 read against a parse-only pass of the same hardened parser:")
    run(int(1_000_000 * scale), repeat=1 if scale >= 0.5 else 3)


def run(entries: int, repeat: int = 3, path: str | None = None, profile_only: bool = False) -> int:
    tmp = None
    if path is None:
        tmp = tempfile.mkdtemp(prefix="camt_read_")
        path = os.path.join(tmp, "camt053.xml")
    try:
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            start = time.perf_counter()
            write_file(path, entries)
            print(f"wrote {entries:,} entries ({os.path.getsize(path) / 2**20:,.0f} MiB) "
                  f"in {time.perf_counter() - start:.1f} s: {path}")
        if profile_only:
            profile(path, 30)
            return 0
        base, read = [], []
        for _ in range(repeat):
            base.append(spawn("baseline", path))
            read.append(spawn("read", path))
        b = statistics.median(r["seconds"] for r in base)
        t = statistics.median(r["seconds"] for r in read)
        pairs = statistics.median(r["seconds"] / q["seconds"] for r, q in zip(read, base, strict=True))
        entries, lines = base[0]["entries"], read[0]["lines"]
        print(f"camt.053, {entries:,} entries, {lines:,} lines, {read[0]['warnings']} warnings "
              f"(medians of {repeat} runs)")
        print(f"  parse-only baseline: {b:.2f} s ({entries / b:,.0f} entries/s), "
              f"peak RSS {max(r['peak_rss_mib'] for r in base):,.0f} MiB   "
              f"[runs: {_runs(base)}]")
        print(f"  camt.read:           {t:.2f} s ({lines / t:,.0f} lines/s, {entries / t:,.0f} "
              f"entries/s), peak RSS {max(r['peak_rss_mib'] for r in read):,.0f} MiB   "
              f"[runs: {_runs(read)}]")
        print(f"  ratio read / baseline: {t / b:.2f}x (median of per-pair ratios {pairs:.2f}x; "
              "target at most 1.5x)")
        cb = statistics.median(r["cpu"] for r in base)
        ct = statistics.median(r["cpu"] for r in read)
        print(f"  CPU time (less sensitive to a loaded machine): baseline {cb:.2f} s, read "
              f"{ct:.2f} s, ratio {ct / cb:.2f}x")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
