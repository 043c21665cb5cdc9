"""Statements at scale: 1,000,000 lines as CSV and as camt.053 through the import service.

Baselines measured in the same run: COPY of the same rows into the payments table (with its
indexes), and a parse-only pass over the camt.053 file with the same hardened parser (lxml,
no entities, no network). Peak memory is each import's own, in a child process.
"""

import csv
import datetime as dt
import multiprocessing
import os
import random
import resource
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from django.db import connection, connections

from bench.schedules_bench import make_client, report
from bpo_ledger.models import Payment

START = dt.date(2026, 1, 1)
ACCOUNT = "DE89370400440532013000"


def _rows(n: int, seed: int = 7):
    """(value date, amount, reference, payer name, payer account, transaction id) of n lines."""
    rng = random.Random(seed)
    for i in range(n):
        yield (
            START + dt.timedelta(days=i % 300), Decimal(rng.randint(100, 10_000_000)) / 100,
            f"ACME-{i % 200_000:06d}-{i % 12 + 1:02d}", f"Customer {i % 50_000}",
            f"GB29NWBK6016{i % 50_000:010d}", f"TX{i:09d}",
        )


def write_csv(path: Path, n: int) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Date", "Amount", "Reference", "Payer", "Payer account", "Transaction ID"])
        for value_date, amount, reference, payer, account, txid in _rows(n):
            writer.writerow([value_date.isoformat(), f"{amount:.2f}", reference, payer, account, txid])


def write_camt053(path: Path, n: int) -> None:
    """One camt.053.001.02 statement of n booked credit entries, with its balances and summary."""
    total = sum(row[1] for row in _rows(n))
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
    with path.open("w", encoding="utf-8") as f:
        f.write(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2026-11-02T06:00:00</CreDtTm></GrpHdr>"
            f"<Stmt><Id>STMT-1</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>2026-11-02T06:00:00</CreDtTm>"
            f"<Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
            '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
            "<Dt><Dt>2026-01-01</Dt></Dt></Bal>"
            f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{total:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
            "<Dt><Dt>2026-11-01</Dt></Dt></Bal>"
            f"<TxsSummry><TtlNtries><NbOfNtries>{n}</NbOfNtries><Sum>{total:.2f}</Sum></TtlNtries>"
            f"<TtlCdtNtries><NbOfNtries>{n}</NbOfNtries><Sum>{total:.2f}</Sum></TtlCdtNtries></TxsSummry>\n"
        )
        for value_date, amount, reference, payer, account, txid in _rows(n):
            day = value_date.isoformat()
            f.write(
                f'<Ntry><Amt Ccy="EUR">{amount:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
                f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>{txid}</AcctSvcrRef>"
                "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
                f"<NtryDtls><TxDtls><Refs><EndToEndId>{reference}</EndToEndId></Refs>"
                f"<RltdPties><Dbtr><Nm>{payer}</Nm></Dbtr><DbtrAcct><Id><IBAN>{account}</IBAN></Id></DbtrAcct></RltdPties>"
                f"<RmtInf><Ustrd>{reference}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
            )
        f.write("</Stmt></BkToCstmrStmt></Document>\n")


def _in_child(function, *args):
    """Run function(*args) in a forked process; returns (its result, its peak RSS in MiB)."""
    connections.close_all()
    queue = multiprocessing.get_context("fork").Queue()

    def child():
        try:
            result = function(*args)
            queue.put((result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        except Exception as exc:  # reported, not hidden: the parent prints it
            queue.put((exc, 0))
        finally:
            connections.close_all()

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    result, peak = queue.get()
    process.join()
    if isinstance(result, Exception):
        raise result
    return result, peak


def _import(client_id: int, path: str, fmt: str, mapping_id: int | None):
    from bpo_ledger.models import Client
    from reconciliation import services
    from reconciliation.models import CsvMapping

    client = Client.objects.get(pk=client_id)
    mapping = CsvMapping.objects.get(pk=mapping_id) if mapping_id else None
    start = time.perf_counter()
    with open(path, "rb") as stream:
        imported = services.statement_import(client=client, actor="system:bench", file_name=Path(path).name,
                                             stream=stream, format=fmt, mapping=mapping, source="bench")
    return time.perf_counter() - start, imported.created_count


def _copy_baseline(client_id: int, path: str) -> tuple[float, int]:
    """COPY of the CSV's rows into the payments table, read with Python's csv module."""
    columns = ("client_id", "source", "kind", "amount", "currency", "value_date", "source_account",
               "bank_transaction_id", "payer_name", "payer_account", "payer_account_last4", "payer_account_hash",
               "reference", "remittance", "bank_code", "return_code", "entry_ref", "batch_detail", "notes",
               "confirmed_source_account", "confirmed_transaction_id", "created_at")
    now = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    count = 0
    with open(path, newline="") as f, connection.cursor() as cursor:
        reader = csv.reader(f)
        next(reader)
        names = ", ".join(columns)
        with cursor.copy(f"COPY {Payment._meta.db_table} ({names}) FROM STDIN") as copy:  # noqa: S608
            for value_date, amount, reference, payer, account, txid in reader:
                copy.write_row((client_id, "bank_file", "credit", amount, "EUR", value_date, ACCOUNT, txid, payer,
                                account, account[-4:], "", reference, "", "", "", "", False, "", "", "", now))
                count += 1
    seconds = time.perf_counter() - start
    return seconds, count


def _camt_parse_only(path: str) -> tuple[float, int]:
    """The hardened parser alone: iterparse every entry, read its fields, free it."""
    from lxml import etree

    start = time.perf_counter()
    count = 0
    for _, element in etree.iterparse(path, events=("end",), tag="{*}Ntry", resolve_entities=False,
                                      no_network=True, huge_tree=False, load_dtd=False):
        element.findtext("{*}Amt")
        count += 1
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    return time.perf_counter() - start, count


def _reader_only(path: str, fmt: str) -> tuple[float, int]:
    """The format's reader alone, no database: how much of an import is reading."""
    from reconciliation.formats import Line, reader

    start = time.perf_counter()
    with open(path, "rb") as stream:
        count = sum(1 for item in reader(fmt).read(stream) if isinstance(item, Line))
    return time.perf_counter() - start, count


def bench_statements(scale):
    from reconciliation.models import CsvMapping

    n = int(1_000_000 * scale)
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "statement.csv"
        camt_path = Path(folder) / "statement.xml"
        write_csv(csv_path, n)
        print(f"statements: {n:,} lines; CSV {os.path.getsize(csv_path) / 2**20:.0f} MiB")

        baseline_client = make_client("BENCHCOPY")
        (copy_seconds, copied), _ = _in_child(_copy_baseline, baseline_client.pk, str(csv_path))
        client = make_client("BENCHCSV")
        mapping = CsvMapping.objects.create(
            client=client, name="bench", account=ACCOUNT, currency="EUR", value_date_column="Date",
            amount_column="Amount", reference_column="Reference", payer_name_column="Payer",
            payer_account_column="Payer account", transaction_id_column="Transaction ID",
        )
        (seconds, stored), peak = _in_child(_import, client.pk, str(csv_path), "csv", mapping.pk)
        assert stored == n == copied, (stored, copied, n)
        report("CSV import", n, seconds, "COPY of the same rows", copy_seconds)
        print(f"  CSV import peak memory: {peak:,.0f} MiB")
        (again, stored_again), _ = _in_child(_import_again, client.pk, str(csv_path), mapping.pk)
        print(f"  the same lines again (another file name, so not refused by its sha256): {again:.2f} s, "
              f"{stored_again} stored")

        try:
            from reconciliation.formats import reader

            reader("camt")
        except Exception as exc:  # a build without the camt reader (StatementError, ImportError)
            print(f"  camt.053: no reader in this build ({exc}); skipped")
            return
        write_camt053(camt_path, n)
        print(f"  camt.053 file {os.path.getsize(camt_path) / 2**20:.0f} MiB")
        (parse_seconds, parsed), parse_peak = _in_child(_camt_parse_only, str(camt_path))
        client = make_client("BENCHCAMT")
        (seconds, stored), peak = _in_child(_import, client.pk, str(camt_path), "camt053", None)
        assert parsed == n and stored == n, (parsed, stored, n)
        report("camt.053 import", n, seconds, "parse-only pass, same parser", parse_seconds)
        (read_seconds, _), _ = _in_child(_reader_only, str(camt_path), "camt")
        print(f"  camt.053 reader alone (no database): {read_seconds:.2f} s ({n / read_seconds:,.0f} lines/s)")
        print(f"  camt.053 import peak memory: {peak:,.0f} MiB (parse-only: {parse_peak:,.0f} MiB)")


def _import_again(client_id: int, path: str, mapping_id: int):
    """Every line already known: the cost of an overlapping statement."""
    again = Path(path).with_name("again.csv")
    shutil.copyfile(path, again)
    with again.open("ab") as f:
        f.write(b"\n")  # another file (another sha256), the same lines
    return _import(client_id, str(again), "csv", mapping_id)


