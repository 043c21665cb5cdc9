"""Bank statements in: one service reads a file whole, stores its payments once, or nothing.

``statement_import`` is what the command, the upload page and the import job all call. The file
is read by its format's reader (detected from its content unless named) into a temporary staging
table, streamed (COPY on PostgreSQL), inside the one transaction of the import: a reader error
anywhere rolls everything back, so a bad file leaves nothing behind. Payments go in from staging
with INSERT ... SELECT ... ON CONFLICT (client, source account, bank transaction id) DO NOTHING,
so the same file twice or overlapping statements never store a payment twice.

Every identifier in this module's SQL is a constant or a model's table name; every value travels
as a parameter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from bpo_ledger import locks
from bpo_ledger.access import SUPERVISE_ROLES, WRITE_ROLES, require_role
from bpo_ledger.audit import Actor, audit_record
from bpo_ledger.clock import local_time_text
from bpo_ledger.crypto import account_lookup_hash, encrypt, normalize_account
from bpo_ledger.errors import DomainError
from bpo_ledger.models import (
    Client,
    ImportFormat,
    ImportStatus,
    Payment,
    PaymentImport,
    PaymentKind,
    PaymentSource,
)
from schedules import duedates
from schedules.models import Allocation, PaymentStatus, ScheduledPayment
from schedules.services.planning import _initial_status, client_today, schedules_refresh_rollups

from .. import formats
from ..formats import Line, Notice, Statement, StatementError, Status, Warning
from ..models import BankAccount, CsvMapping, ImportedStatement, ImportItem, ItemKind

# A NACHA notification of change is to be applied within six banking days (NACHA Rules).
NOTICE_BANKING_DAYS = 6
PROGRESS_EVERY = 10_000
STORE_BATCH = 100_000  # staged rows per INSERT ... SELECT, so the job can tell rows stored
MAX_WARNINGS = 1000  # kept on the import; more are counted
STAGING = "reconciliation_staging"
# How far back a return's original is looked for when the return names no trace we hold.
RETURN_LOOKBACK_DAYS = 90
JOB_STALE_AFTER = dt.timedelta(hours=2)

# The format names people may give (the reader's or the import's) -> the reader's module.
READER_OF_FORMAT = {
    ImportFormat.CAMT052: "camt", ImportFormat.CAMT053: "camt", ImportFormat.CAMT054: "camt",
    ImportFormat.OFX: "ofx", ImportFormat.MT940: "mt940", ImportFormat.MT942: "mt940",
    ImportFormat.BAI2: "bai2", ImportFormat.NACHA: "nacha", ImportFormat.CSV: "csv",
    **{name: name for name in formats.FORMATS},
}

Progress = Callable[[int, int], None]


def file_sha256(stream: BinaryIO) -> str:
    """The sha256 of a seekable stream's bytes, read in chunks; the stream is left at its start."""
    stream.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1024 * 1024), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def import_format(reader_name: str, head: bytes, given: str | None = None) -> str:
    """The ImportFormat of a file its reader reads: the camt message or MT type from its head."""
    if given in ImportFormat.values:
        return given
    if reader_name == "camt":
        for message in ("052", "054", "053"):
            if f"camt.{message}".encode() in head:
                return f"camt{message}"
        return ImportFormat.CAMT053
    if reader_name == "mt940":
        return ImportFormat.MT942 if (b"942" in head[:200] or b":34F:" in head) else ImportFormat.MT940
    return reader_name


def _already_imported(client: Client, sha256: str) -> DomainError | None:
    earlier = PaymentImport.objects.filter(client=client, sha256=sha256, status=ImportStatus.STORED).first()
    if earlier is None:
        return None
    when = local_time_text(earlier.created_at, client.timezone)
    return DomainError(
        f"{earlier.file_name} was already imported on {when} as import #{earlier.pk}: "
        "nothing was imported again."
    )


@dataclass
class _Place:
    """Where each statement of the file stands, for its record and its gap check."""

    statement: Statement
    previous_sequence: str = ""
    gap: bool = False
    entries: int = 0


@dataclass
class _Reading:
    """What reading the file found besides its lines."""

    places: list[_Place] = field(default_factory=list)
    current: dict[str, _Place] = field(default_factory=dict)  # account -> its statement now
    notices: list[Notice] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    warnings_count: int = 0
    entries: int = 0
    pending: int = 0
    new_accounts: dict[str, str] = field(default_factory=dict)  # normalized -> (account, currency)


def _sequence_number(sequence: str) -> int | None:
    head = sequence.split("/")[0].strip()
    return int(head) if head.isdigit() else None


class _Accounts:
    """The client's accounts: known ones, new ones (listed as they come), refused ones."""

    def __init__(self, client: Client):
        self.client = client
        self.known = {
            normalize_account(account.account): account
            for account in BankAccount.objects.filter(client=client)
        }
        self.sequences = {key: account.last_sequence for key, account in self.known.items()}
        self.new: dict[str, tuple[str, str]] = {}

    def check(self, account: str, currency: str, where: str) -> str:
        key = normalize_account(account)
        if not key:
            raise StatementError("a statement without an account", where)
        if key in self.known or key in self.new:
            return key
        if self.client.statement_accounts_listed_only:
            raise DomainError(
                f"The file is for account {account}, which is not listed for {self.client.code}: "
                "an admin must list it (Bank accounts) before its statements are imported."
            )
        self.new[key] = (account, currency)
        self.sequences[key] = ""
        return key


_COLUMNS = (
    ("seq", "bigint"), ("account", "varchar(64)"), ("value_date", "date"), ("booking_date", "date"),
    ("amount", "numeric(18,2)"), ("currency", "varchar(3)"), ("txid", "varchar(128)"),
    ("kind", "varchar(16)"), ("status", "varchar(8)"), ("payer_name", "varchar(200)"),
    ("payer_account", "text"), ("payer_last4", "varchar(4)"), ("payer_hash", "varchar(64)"),
    ("reference", "varchar(500)"), ("remittance", "text"), ("return_code", "varchar(16)"),
    ("bank_code", "varchar(64)"), ("entry_ref", "varchar(128)"), ("batch", "boolean"),
    ("notes", "varchar(500)"), ("place", "varchar(200)"),
)
_COLUMN_NAMES = tuple(name for name, _ in _COLUMNS)
_ANALYZED = ("seq", "account", "txid", "status", "kind", "amount", "value_date", "entry_ref", "batch", "payer_hash",
             "skip", "confirms")


class _Staging:
    """The temporary table the file's lines are streamed into before anything is stored."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.postgres = connection.vendor == "postgresql"
        self._rows: list[tuple] = []
        self._copy = None
        self._copy_cm = None

    def __enter__(self):
        columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS)
        self.cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        on_commit = " ON COMMIT DROP" if self.postgres else ""
        self.cursor.execute(
            f"CREATE TEMP TABLE {STAGING} ({columns}, confirms bigint, skip boolean NOT NULL DEFAULT false){on_commit}"
        )
        if self.postgres:
            self._copy_cm = self.cursor.copy(f"COPY {STAGING} ({', '.join(_COLUMN_NAMES)}) FROM STDIN")
            self._copy = self._copy_cm.__enter__()
        return self

    def write(self, row: tuple) -> None:
        if self._copy is not None:
            self._copy.write_row(row)
            return
        self._rows.append(row)
        if len(self._rows) >= 1000:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            marks = ", ".join(["%s"] * len(_COLUMN_NAMES))
            self.cursor.executemany(
                f"INSERT INTO {STAGING} ({', '.join(_COLUMN_NAMES)}) VALUES ({marks})", self._rows  # noqa: S608
            )
            self._rows = []

    def close_copy(self) -> None:
        """End the COPY (the rows are all in); an error ends it too, and the transaction goes."""
        if self._copy_cm is not None:
            cm, self._copy_cm, self._copy = self._copy_cm, None, None
            cm.__exit__(None, None, None)
        self.flush()

    def __exit__(self, kind, error, trace):
        if self._copy_cm is not None:
            cm, self._copy_cm, self._copy = self._copy_cm, None, None
            try:
                cm.__exit__(kind, error, trace)
            except Exception:  # the COPY's own error after the reader's: the reader's is the one to show
                if error is None:
                    raise
        if error is None:
            self.flush()
        return False


class _PayerAccounts:
    """A payer's account as stored: encrypted, its last four digits and its lookup hash. Statements
    repeat payers, so each account is encrypted once per import."""

    NONE = ("", "", "")

    def __init__(self):
        self.seen: dict[str, tuple[str, str, str]] = {"": self.NONE}

    def __call__(self, account: str) -> tuple[str, str, str]:
        found = self.seen.get(account)
        if found is None:
            normalized = normalize_account(account)
            found = (encrypt(account), normalized[-4:], account_lookup_hash(normalized)) if account else self.NONE
            if len(self.seen) > 100_000:
                self.seen.clear()
                self.seen[""] = self.NONE
            self.seen[account] = found
        return found


def _check_line(line: Line) -> None:
    if len(line.bank_transaction_id) > 128:
        raise StatementError("a bank transaction id longer than 128 characters", line.where)
    if not line.bank_transaction_id:
        raise StatementError("a line without a bank transaction id", line.where)
    if len(line.account) > 64:
        raise StatementError("an account longer than 64 characters", line.where)
    if abs(line.amount) >= Decimal("1e16") or line.amount != line.amount.quantize(Decimal("0.01")):
        raise StatementError(f"the amount {line.amount} does not fit (16 digits, 2 decimals)", line.where)
    if len(line.currency) != 3:
        raise StatementError(f"{line.currency!r} is not a currency code", line.where)


def _stage(
    reader_items, staging: _Staging, accounts: _Accounts, reading: _Reading, progress: Progress | None
) -> int:
    """Stream the reader's items into staging; returns the number of items read."""
    payer_accounts = _PayerAccounts()
    keys: dict[str, str] = {}  # a statement's account as written -> normalized (one per file, mostly)
    write = staging.write
    current = reading.current
    booked_status, booked_text, info_text = Status.BOOKED, "booked", str(Status.INFO)
    read = 0
    for item in reader_items:
        read += 1
        if progress is not None and read % PROGRESS_EVERY == 0:
            progress(read, 0)
        if type(item) is Line:
            _check_line(item)
            key = keys.get(item.account)
            if key is None:
                key = keys[item.account] = normalize_account(item.account)
            if key not in current:
                accounts.check(item.account, item.currency, item.where)
                place = _Place(Statement(account=item.account, currency=item.currency, where=item.where))
                reading.places.append(place)
                reading.current[key] = place
            current[key].entries += 1
            reading.entries += 1
            if item.status == booked_status:
                status = booked_text if item.amount else info_text
            else:
                status = str(item.status)
            if status != booked_text:
                reading.pending += 1
            encrypted, last4, lookup = payer_accounts(item.payer_account)
            write((
                read, item.account, item.value_date, item.booking_date, item.amount, item.currency,
                item.bank_transaction_id, str(item.kind), status,
                item.payer_name[:200], encrypted, last4, lookup, item.reference[:500], item.remittance,
                item.return_code[:16], item.bank_code[:64], item.entry_ref[:128], item.batch,
                "; ".join(item.notes)[:500], item.where[:200],
            ))
        elif isinstance(item, Statement):
            key = accounts.check(item.account, item.currency, item.where)
            place = _Place(item, previous_sequence=accounts.sequences.get(key, ""))
            number, before = _sequence_number(item.sequence), _sequence_number(place.previous_sequence)
            if number is not None and before is not None:
                place.gap = number > before + 1
            if number is not None and (before is None or number > before):
                accounts.sequences[key] = item.sequence
            reading.places.append(place)
            reading.current[key] = place
        elif isinstance(item, Notice):
            reading.notices.append(item)
        elif isinstance(item, Warning):
            reading.warnings_count += 1
            if len(reading.warnings) < MAX_WARNINGS:
                reading.warnings.append(item)
        else:  # pragma: no cover - a reader yields only the four kinds
            raise StatementError(f"the reader gave an unknown item {type(item).__name__}")
    return read


def _refuse_repeated_ids(cursor) -> None:
    """Two lines of one file with the same account and transaction id: the file contradicts itself."""
    cursor.execute(
        f"SELECT account, txid, min(place), max(place) FROM {STAGING} WHERE status = 'booked' "  # noqa: S608
        "GROUP BY account, txid HAVING count(*) > 1 LIMIT 1"
    )
    row = cursor.fetchone()
    if row:
        raise StatementError(
            f"the bank transaction id {row[1]} of account {row[0]} appears twice (also at {row[3]})", row[2]
        )


def _replace_batches(cursor, client: Client, payment_import: PaymentImport) -> int:
    """A batch's details (camt.054, camt TxDtls) replace its single line, whichever came first."""
    # Details came first: this file's batch line of the same account and entry is not stored.
    cursor.execute(
        f"UPDATE {STAGING} SET skip = true WHERE status = 'booked' AND NOT batch AND entry_ref <> '' "  # noqa: S608
        f"AND EXISTS (SELECT 1 FROM {Payment._meta.db_table} p WHERE p.client_id = %s "
        f"AND p.source_account = {STAGING}.account AND p.entry_ref <> '' AND p.entry_ref = {STAGING}.entry_ref "
        "AND p.batch_detail)",
        [client.pk],
    )
    skipped = cursor.rowcount
    # The batch line came first: its details now replace it.
    cursor.execute(f"SELECT DISTINCT account, entry_ref FROM {STAGING} WHERE batch AND entry_ref <> ''")  # noqa: S608
    pairs = cursor.fetchall()
    replaced = 0
    for account, entry_ref in pairs:
        lines = list(Payment.objects.filter(
            client=client, source_account=account, entry_ref=entry_ref, batch_detail=False,
            source=PaymentSource.BANK_FILE,
        ))
        for line in lines:
            if Allocation.objects.filter(client=client, payment=line).exists():
                raise DomainError(
                    f"The batch entry {entry_ref} of account {account} (payment {line.bank_transaction_id}) "
                    "is already applied to scheduled payments: undo its matches before importing its details."
                )
            ImportItem.objects.create(
                client=client, payment_import=payment_import, kind=ItemKind.REPLACED, account=account,
                message=f"Batch line {line.bank_transaction_id} replaced by the details of entry {entry_ref}.",
                amount=line.amount, currency=line.currency, value_date=line.value_date,
                bank_transaction_id=line.bank_transaction_id, reference=line.reference[:500],
                payer_name=line.payer_name, snapshot=_snapshot(line),
            )
            line.discrepancies.clear()
            line.delete()
            replaced += 1
    return skipped + replaced


def _snapshot(payment: Payment) -> dict:
    return {f.attname: f.value_to_string(payment) for f in Payment._meta.concrete_fields}


def _restore(snapshot: dict) -> Payment:
    values = {}
    for f in Payment._meta.concrete_fields:
        raw = snapshot.get(f.attname)
        values[f.attname] = None if raw in (None, "", "None") and f.null else f.to_python(raw)
    payment = Payment(**values)
    payment.save(force_insert=True)
    return payment


def _confirm_manual(cursor, client: Client, payment_import: PaymentImport) -> int:
    """A bank line carrying a payment recorded by hand (same customer, amount, currency, within the
    client's duplicate window) confirms it: the line is linked to it, not stored a second time."""
    cursor.execute(f"SELECT min(value_date), max(value_date) FROM {STAGING} WHERE status = 'booked'")  # noqa: S608
    first, last = cursor.fetchone()
    if first is None:
        return 0
    window = dt.timedelta(days=client.duplicate_window_days)
    manual = list(
        Payment.objects.filter(
            client=client, source=PaymentSource.MANUAL, confirmed_transaction_id="", amount__gt=0,
            value_date__gte=_day(first) - window, value_date__lte=_day(last) + window,
        ).values("id", "amount", "currency", "value_date", "reference", "customer__bank_account_hash")
    )
    if not manual:
        return 0
    amounts = sorted({m["amount"] for m in manual})
    marks = ", ".join(["%s"] * len(amounts))
    cursor.execute(
        f"SELECT s.seq, s.account, s.txid, s.amount, s.currency, s.value_date, s.payer_hash, s.reference, "  # noqa: S608
        f"s.remittance FROM {STAGING} s WHERE s.status = 'booked' AND NOT s.skip AND s.kind = 'credit' "
        f"AND s.amount IN ({marks}) AND NOT EXISTS (SELECT 1 FROM {Payment._meta.db_table} p "
        "WHERE p.client_id = %s AND p.source_account = s.account AND p.bank_transaction_id = s.txid) "
        "ORDER BY s.seq",
        [*amounts, client.pk],
    )
    used: set[int] = set()
    confirmed = 0
    for seq, account, txid, amount, currency, value_date, payer_hash, reference, remittance in cursor.fetchall():
        text = f"{reference} {remittance}"
        candidates = [
            m for m in manual
            if m["id"] not in used and m["amount"] == amount and m["currency"] == currency
            and abs(m["value_date"] - value_date) <= window
            and (
                (payer_hash and payer_hash == m["customer__bank_account_hash"])
                or (_reference_of_manual(m["reference"]) and _reference_of_manual(m["reference"]) in text)
            )
        ]
        if not candidates:
            continue
        chosen = min(candidates, key=lambda m: (abs(m["value_date"] - value_date), m["id"]))
        used.add(chosen["id"])
        Payment.objects.filter(pk=chosen["id"]).update(
            confirmed_import=payment_import, confirmed_source_account=account, confirmed_transaction_id=txid
        )
        with connection.cursor() as update:
            update.execute(f"UPDATE {STAGING} SET confirms = %s WHERE seq = %s", [chosen["id"], seq])  # noqa: S608
        confirmed += 1
    return confirmed


def _day(value) -> dt.date:
    """A date from the database (SQLite gives text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _reference_of_manual(reference: str) -> str:
    """The scheduled payment's reference a manual payment was recorded against ("ACME-000123-03")."""
    return reference.split(" (")[0].strip()


def _mark_known_confirmations(cursor, client: Client) -> None:
    """Lines that already confirmed a payment recorded by hand (an earlier, overlapping file) are
    known: marked here with one join, so the insert needs no look-up per line."""
    cursor.execute(
        f"UPDATE {STAGING} AS s SET skip = true, confirms = m.id FROM {Payment._meta.db_table} m "  # noqa: S608
        "WHERE m.client_id = %s AND m.confirmed_transaction_id <> '' AND m.confirmed_source_account = s.account "
        "AND m.confirmed_transaction_id = s.txid AND s.status = 'booked' AND NOT s.skip",
        [client.pk],
    )


def _store(cursor, client: Client, payment_import: PaymentImport, progress: Progress | None, read: int) -> tuple[int, int]:
    """Insert the staged booked lines as payments; returns (candidates, stored)."""
    table = Payment._meta.db_table
    customer_table = Payment._meta.get_field("customer").related_model._meta.db_table
    now = timezone.now()
    cursor.execute(f"SELECT min(seq), max(seq), count(*) FILTER (WHERE status = 'booked' AND (NOT skip OR confirms IS NOT NULL)) FROM {STAGING}"  # noqa: S608
                   if connection.vendor == "postgresql" else
                   f"SELECT min(seq), max(seq), sum(CASE WHEN status = 'booked' AND (NOT skip OR confirms IS NOT NULL) THEN 1 ELSE 0 END) FROM {STAGING}")  # noqa: S608
    low, high, candidates = cursor.fetchone()
    stored = 0
    if low is None:
        return 0, 0
    # A customer is named when exactly one of the client's customers has the payer's account.
    customers = (
        f"(SELECT bank_account_hash, min(id) AS id FROM {customer_table} WHERE client_id = %s "  # noqa: S608
        "AND bank_account_hash <> '' GROUP BY bank_account_hash HAVING count(*) = 1)"
    )
    for start in range(low, high + 1, STORE_BATCH):
        end = start + STORE_BATCH
        cursor.execute(
            f"INSERT INTO {table} (client_id, customer_id, payment_import_id, source, kind, amount, currency, "  # noqa: S608
            "value_date, booking_date, source_account, bank_transaction_id, payer_name, payer_account, "
            "payer_account_last4, payer_account_hash, reference, remittance, bank_code, return_code, entry_ref, "
            "batch_detail, notes, confirmed_source_account, confirmed_transaction_id, created_at) "
            "SELECT %s, c.id, %s, %s, s.kind, s.amount, s.currency, s.value_date, s.booking_date, s.account, "
            "s.txid, s.payer_name, s.payer_account, s.payer_last4, s.payer_hash, s.reference, s.remittance, "
            "s.bank_code, s.return_code, s.entry_ref, s.batch, s.notes, '', '', %s "
            f"FROM {STAGING} s LEFT JOIN {customers} c ON c.bank_account_hash = s.payer_hash "
            "WHERE s.seq >= %s AND s.seq < %s AND s.status = 'booked' AND NOT s.skip AND s.confirms IS NULL "
            "ON CONFLICT (client_id, source_account, bank_transaction_id) DO NOTHING",
            [client.pk, payment_import.pk, PaymentSource.BANK_FILE, now, client.pk, start, end],
        )
        stored += cursor.rowcount
        if progress is not None:
            progress(read, stored)
    return candidates or 0, stored


def _link_reversals(client: Client, payment_import: PaymentImport) -> int:
    """A return or chargeback points at the payment it takes back: by trace number (the return's
    reference), else by the payer's account, the amount and an earlier date."""
    linked = 0
    reversals = Payment.objects.filter(
        payment_import=payment_import, kind__in=[PaymentKind.REVERSAL, PaymentKind.CHARGEBACK]
    )
    for reversal in reversals.iterator():
        originals = Payment.objects.filter(client=client, kind=PaymentKind.CREDIT).exclude(pk=reversal.pk)
        original = None
        if reversal.reference:
            original = (
                originals.filter(Q(bank_transaction_id=reversal.reference) | Q(reference=reversal.reference))
                .order_by("-value_date", "-id").first()
            )
        if original is None and reversal.payer_account_hash:
            original = (
                originals.filter(
                    payer_account_hash=reversal.payer_account_hash, amount=-reversal.amount,
                    currency=reversal.currency, value_date__lte=reversal.value_date,
                    value_date__gte=reversal.value_date - dt.timedelta(days=RETURN_LOOKBACK_DAYS),
                    reversals__isnull=True,
                )
                .order_by("-value_date", "-id").first()
            )
        if original is not None:
            Payment.objects.filter(pk=reversal.pk).update(reverses=original)
            linked += 1
    return linked


def notice_deadline(client: Client, day: dt.date) -> dt.date:
    """Six banking days after `day` under the client's holiday calendar."""
    calendar = duedates.holiday_calendar(client.country, years=[day.year, day.year + 1])
    for _ in range(NOTICE_BANKING_DAYS):
        day += dt.timedelta(days=1)
        while not duedates.is_business_day(day, holidays=calendar):
            day += dt.timedelta(days=1)
    return day


def _record_items(client: Client, payment_import: PaymentImport, reading: _Reading, cursor) -> None:
    table = ImportItem._meta.db_table
    cursor.execute(
        f"INSERT INTO {table} (client_id, payment_import_id, kind, account, code, message, amount, currency, "  # noqa: S608
        "value_date, bank_transaction_id, reference, payer_name, corrected, snapshot, place) "
        "SELECT %s, %s, s.status, s.account, '', s.remittance, s.amount, s.currency, s.value_date, s.txid, "
        f"s.reference, s.payer_name, '{{}}', '{{}}', s.place FROM {STAGING} s WHERE s.status <> 'booked' ORDER BY s.seq",
        [client.pk, payment_import.pk],
    )
    deadline = notice_deadline(client, client_today(client)) if reading.notices else None
    ImportItem.objects.bulk_create(
        [
            ImportItem(
                client=client, payment_import=payment_import, kind=ItemKind.NOTICE, account=notice.account,
                code=notice.code[:16], message=notice.message, reference=notice.reference[:500],
                payer_name=notice.payer_name[:200], corrected=dict(notice.corrected), deadline=deadline,
                place=notice.where[:200],
            )
            for notice in reading.notices
        ]
        + [
            ImportItem(client=client, payment_import=payment_import, kind=ItemKind.WARNING, message=w.message,
                       place=w.where[:200])
            for w in reading.warnings
        ],
        batch_size=1000,
    )


def _record_statements(client: Client, payment_import: PaymentImport, reading: _Reading, accounts: _Accounts,
                       actor: Actor) -> None:
    now = timezone.now()
    for key, (account, currency) in accounts.new.items():
        try:
            with transaction.atomic():
                bank_account = BankAccount.objects.create(
                    client=client, account=account, currency=currency, first_seen_at=now,
                    first_import=payment_import, last_sequence=accounts.sequences.get(key, ""),
                )
        except IntegrityError:
            # Another import listed the account meanwhile (it waited on this one's row): it is known.
            accounts.known[key] = BankAccount.objects.get(client=client, account=account)
            continue
        accounts.known[key] = bank_account
        audit_record(
            client=client, actor=actor, verb="bank_account.added", subject=bank_account,
            details={"account": account, "currency": currency, "file_name": payment_import.file_name,
                     "import": payment_import.pk},
        )
    for key, bank_account in accounts.known.items():
        sequence = accounts.sequences.get(key, "")
        if sequence and sequence != bank_account.last_sequence:
            BankAccount.objects.filter(pk=bank_account.pk).update(last_sequence=sequence)
    ImportedStatement.objects.bulk_create([
        ImportedStatement(
            client=client, payment_import=payment_import, account=place.statement.account[:64],
            currency=place.statement.currency[:3], statement_id=place.statement.statement_id[:128],
            sequence=place.statement.sequence[:35], previous_sequence=place.previous_sequence,
            sequence_gap=place.gap, created=place.statement.created, period_start=place.statement.period_start,
            period_end=place.statement.period_end, opening_balance=place.statement.opening_balance,
            closing_balance=place.statement.closing_balance, entries_count=place.entries,
            place=place.statement.where[:200],
        )
        for place in reading.places
    ])


def _totals(payment_import: PaymentImport) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT currency, sum(amount) FROM {Payment._meta.db_table} WHERE payment_import_id = %s "  # noqa: S608
            "GROUP BY currency ORDER BY currency",
            [payment_import.pk],
        )
        return {currency: f"{Decimal(total):.2f}" for currency, total in cursor.fetchall()}


def _reader_options(reader_name: str, mapping: CsvMapping | None, client: Client) -> dict:
    if reader_name != "csv":
        # The client's own accounts: a NACHA offset entry to one of them is no payment. Readers
        # ignore options that are not theirs.
        return {"own_accounts": list(BankAccount.objects.filter(client=client).values_list("account", flat=True))}
    if mapping is None:
        raise DomainError("A CSV file needs one of the client's column mappings: choose one.")
    if mapping.client_id != client.pk:
        raise DomainError("This column mapping belongs to another client.")
    return mapping.reader_options()


@transaction.atomic
def statement_import(
    *,
    client: Client,
    actor: Actor,
    file_name: str,
    stream: BinaryIO,
    format: str | None = None,  # noqa: A002  (the word people use)
    mapping: CsvMapping | None = None,
    source: str = "upload",
    progress: Progress | None = None,
) -> PaymentImport:
    """Import one bank file whole, or nothing of it (StatementError with its place, DomainError)."""
    require_role(actor, client, WRITE_ROLES)
    if isinstance(stream, File):
        # Django's File iterates by seeking back to its start: readers get the plain file under it.
        stream = stream.file
    sha256 = file_sha256(stream)
    refused = _already_imported(client, sha256)
    if refused:
        raise refused
    head = stream.read(formats.HEAD_BYTES)
    stream.seek(0)
    if format:
        if format not in READER_OF_FORMAT:
            raise DomainError(f"Unknown format {format!r}; known: {', '.join(ImportFormat.values)}.")
        reader_name = READER_OF_FORMAT[format]
    else:
        try:
            reader_name = formats.detect(head)
        except StatementError:
            if mapping is None:
                raise
            reader_name = "csv"  # CSV is never detected: a mapping chosen says what the file is
    options = _reader_options(reader_name, mapping, client)
    payment_import = PaymentImport(
        client=client, file_name=file_name[:255], sha256=sha256,
        format=import_format(reader_name, head, format), imported_by=None if isinstance(actor, str) else actor,
        source=source[:32], mapping_name=mapping.name if reader_name == "csv" and mapping else "",
    )
    try:
        with transaction.atomic():
            payment_import.save(force_insert=True)
    except IntegrityError:
        # Another import of the same file committed while this one waited on it.
        raise _already_imported(client, sha256) or DomainError("This file has already been imported.") from None
    reading = _Reading()
    accounts = _Accounts(client)
    with connection.cursor() as cursor:
        with _Staging(cursor) as staging:
            read = _stage(formats.reader(reader_name).read(stream, **options), staging, accounts, reading, progress)
        if progress is not None:
            progress(read, 0)
        if not reading.places and not reading.notices:
            raise StatementError("the file holds no statement")
        if connection.vendor == "postgresql":
            # Rows lie in file order: a BRIN index finds each batch of _store without a full scan.
            cursor.execute(f"CREATE INDEX ON {STAGING} USING brin (seq)")
            # A temporary table has no statistics until asked: those of the columns the steps below
            # filter and join on (the others, long texts among them, cost time and guide no plan).
            cursor.execute(f"ANALYZE {STAGING} ({', '.join(_ANALYZED)})")
        _refuse_repeated_ids(cursor)
        replaced = _replace_batches(cursor, client, payment_import)
        _mark_known_confirmations(cursor, client)
        confirmed = _confirm_manual(cursor, client, payment_import)
        candidates, stored = _store(cursor, client, payment_import, progress, read)
        _record_items(client, payment_import, reading, cursor)
        cursor.execute(f"DROP TABLE {STAGING}")
    _link_reversals(client, payment_import)
    _record_statements(client, payment_import, reading, accounts, actor)
    payment_import.statements_count = len(reading.places)
    payment_import.entries_count = reading.entries
    payment_import.created_count = stored
    payment_import.skipped_count = candidates - stored - confirmed
    payment_import.pending_count = reading.pending
    payment_import.notices_count = len(reading.notices)
    payment_import.warnings_count = reading.warnings_count
    payment_import.confirmed_count = confirmed
    payment_import.replaced_count = replaced
    payment_import.totals = _totals(payment_import)
    payment_import.accounts = sorted({place.statement.account for place in reading.places})
    payment_import.save()
    audit_record(
        client=client, actor=actor, verb="statement.imported", subject=payment_import,
        details={
            "file_name": payment_import.file_name, "format": payment_import.format, "sha256": sha256,
            "source": source, "accounts": payment_import.accounts, "totals": payment_import.totals,
            "counts": payment_import_counts(payment_import),
        },
    )
    return payment_import


def payment_import_counts(payment_import: PaymentImport) -> dict[str, int]:
    return {
        "statements": payment_import.statements_count, "entries": payment_import.entries_count,
        "stored": payment_import.created_count, "already_known": payment_import.skipped_count,
        "confirmed": payment_import.confirmed_count, "replaced": payment_import.replaced_count,
        "pending": payment_import.pending_count, "notices": payment_import.notices_count,
        "warnings": payment_import.warnings_count,
    }


@transaction.atomic
def statement_import_void(*, payment_import: PaymentImport, actor: Actor, reason: str) -> PaymentImport:
    """Undo an import made by mistake (supervisors): its payments and their allocations go, hand-recorded
    payments it confirmed are unconfirmed, batch lines it replaced come back; the import stays, voided."""
    client = payment_import.client
    require_role(actor, client, SUPERVISE_ROLES)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why the import is voided.")
    # Its payments and their allocations go: after any reconciliation run of the client at work
    # (rank 0 of the lock order), never from under it.
    locks.reconciliation_lock(client_id=client.pk)
    now = timezone.now()
    # Only the first of two supervisors voiding at once wins the row.
    won = PaymentImport.objects.filter(pk=payment_import.pk, status=ImportStatus.STORED).update(
        status=ImportStatus.VOIDED, voided_at=now, voided_by=None if isinstance(actor, str) else actor,
        void_reason=reason[:500],
    )
    if not won:
        raise DomainError(f"Import #{payment_import.pk} is already voided.")
    payments = Payment.objects.filter(payment_import=payment_import)
    allocations = list(Allocation.objects.filter(client=client, payment__payment_import=payment_import))
    undone = _undo_allocations(client, allocations)
    Payment.objects.filter(reverses__payment_import=payment_import).exclude(payment_import=payment_import).update(
        reverses=None
    )
    unconfirmed = Payment.objects.filter(client=client, confirmed_import=payment_import).update(
        confirmed_import=None, confirmed_source_account="", confirmed_transaction_id=""
    )
    payments.update(reverses=None)
    count = payments.count()
    Payment.discrepancies.through.objects.filter(payment__payment_import=payment_import).delete()
    payments.delete()
    restored = 0
    for item in ImportItem.objects.filter(payment_import=payment_import, kind=ItemKind.REPLACED):
        _restore(item.snapshot)
        restored += 1
    payment_import.refresh_from_db()
    audit_record(
        client=client, actor=actor, verb="statement.voided", subject=payment_import,
        details={"file_name": payment_import.file_name, "payments": count, "allocations": undone,
                 "unconfirmed": unconfirmed, "batch_lines_restored": restored, "reason": reason},
    )
    return payment_import


def _undo_allocations(client: Client, allocations: list[Allocation]) -> int:
    """Take the allocations back off their scheduled payments (locked in the documented order)."""
    if not allocations:
        return 0
    by_payment: dict[int, Decimal] = {}
    for allocation in allocations:
        by_payment[allocation.scheduled_payment_id] = by_payment.get(allocation.scheduled_payment_id, 0) + allocation.amount
    today = client_today(client)
    scheduled = list(locks.locked(ScheduledPayment.objects.filter(pk__in=by_payment)))
    for payment in scheduled:
        payment.amount_paid = max(payment.amount_paid - by_payment[payment.pk], Decimal("0.00"))
        if payment.status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_PAID):
            if payment.amount_paid == 0:
                payment.status = _initial_status(payment.due_date, today, client.grace_days)
            elif payment.amount_paid < payment.amount_due:
                payment.status = PaymentStatus.PARTIALLY_PAID
        if payment.amount_paid < payment.amount_due:
            payment.paid_at = None
        payment.save(update_fields=["amount_paid", "status", "paid_at", "updated_at"])
    Allocation.objects.filter(pk__in=[a.pk for a in allocations]).delete()
    schedules_refresh_rollups(schedule_ids=list({p.schedule_id for p in scheduled}))
    return len(allocations)


@transaction.atomic
def import_notice_done(*, item: ImportItem, actor: Actor) -> ImportItem:
    """An agent applied a notice's corrected data to the customer."""
    require_role(actor, item.client, WRITE_ROLES)
    won = ImportItem.objects.filter(pk=item.pk, kind=ItemKind.NOTICE, done_at__isnull=True).update(
        done_at=timezone.now(), done_by=None if isinstance(actor, str) else actor
    )
    if not won:
        raise DomainError("This notice is already marked as applied.")
    audit_record(
        client=item.client, actor=actor, verb="statement.notice_done", subject=item.payment_import,
        details={"code": item.code, "payer_name": item.payer_name, "message": item.message[:300]},
    )
    item.refresh_from_db()
    return item


@dataclass(frozen=True)
class CsvPreview:
    lines: list[Line]
    error: StatementError | None


def csv_preview(*, mapping: CsvMapping, stream: BinaryIO, rows: int = 10) -> CsvPreview:
    """The first lines of a CSV file as the mapping reads them, or the first error with its place."""
    lines: list[Line] = []
    if isinstance(stream, File):
        stream = stream.file
    try:
        for item in formats.reader("csv").read(stream, **mapping.reader_options()):
            if isinstance(item, Line):
                lines.append(item)
                if len(lines) >= rows:
                    break
    except StatementError as exc:
        return CsvPreview(lines, exc)
    finally:
        stream.seek(0)
    return CsvPreview(lines, None)


def statement_max_bytes() -> int:
    return settings.STATEMENT_MAX_BYTES


def statement_async_bytes() -> int:
    return settings.STATEMENT_ASYNC_BYTES




# --- Large files: imported by a worker ----------------------------------------------------------

def _job_path(client: Client, job_token: str) -> str:
    return f"{settings.STATEMENT_UPLOAD_DIR}/{client.code}/{job_token}"


def statement_import_queue(
    *, client: Client, actor, upload, format: str | None = None, mapping: CsvMapping | None = None  # noqa: A002
):
    """Keep a large upload for a worker and queue its import; the job's page follows it."""
    import uuid

    from django.core.files.storage import default_storage

    from .. import tasks
    from ..models import ImportJob

    require_role(actor, client, WRITE_ROLES)
    if mapping is not None and mapping.client_id != client.pk:
        raise DomainError("This column mapping belongs to another client.")
    path = default_storage.save(_job_path(client, uuid.uuid4().hex), upload)
    job = ImportJob.objects.create(
        client=client, file_name=upload.name.rsplit("/", 1)[-1][:255], path=path, size=upload.size,
        format=format or "", mapping=mapping, created_by=actor,
    )
    tasks.import_statement_job.delay_on_commit(job.pk)
    return job


def statement_import_job_run(*, job_id: int) -> None:
    """Run a queued import job once: claimed by a conditional UPDATE, so a second delivery does nothing."""
    from django.core.cache import caches
    from django.core.files.storage import default_storage

    from ..models import ImportJob, JobStatus
    from ..selectors import PROGRESS_CACHE, job_progress_key

    # A job whose worker died mid-way (its import rolled back: nothing was kept) is taken again
    # when Celery delivers it anew, once it has been "running" for longer than any import takes.
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, started_at__lt=now - JOB_STALE_AFTER)
    if not ImportJob.objects.filter(claimable, pk=job_id).update(status=JobStatus.RUNNING, started_at=now):
        return
    job = ImportJob.objects.select_related("client", "created_by", "mapping").get(pk=job_id)
    cache = caches[PROGRESS_CACHE]

    def progress(read: int, stored: int) -> None:
        cache.set(job_progress_key(job.pk), (read, stored), timeout=24 * 3600)

    outcome = {"status": JobStatus.FAILED, "finished_at": timezone.now()}
    try:
        with default_storage.open(job.path, "rb") as stream:
            imported = statement_import(
                client=job.client, actor=job.created_by, file_name=job.file_name, stream=stream,
                format=job.format or None, mapping=job.mapping, source="upload (job)", progress=progress,
            )
    except StatementError as exc:
        outcome["error"] = f"Refused at {exc.where or 'the start'}: {exc.message}. Nothing of the file was kept."
    except (DomainError, PermissionDenied) as exc:
        outcome["error"] = str(exc)
    except Exception:
        outcome["error"] = "The import failed on our side; nothing of the file was kept. Try again or tell an admin."
        ImportJob.objects.filter(pk=job.pk).update(**outcome)
        raise
    else:
        outcome.update(status=JobStatus.DONE, payment_import=imported, rows_stored=imported.created_count,
                       rows_read=imported.entries_count)
    finally:
        default_storage.delete(job.path)
    read, stored = cache.get(job_progress_key(job.pk)) or (0, 0)
    outcome.setdefault("rows_read", read)
    outcome.setdefault("rows_stored", stored)
    ImportJob.objects.filter(pk=job.pk).update(**outcome)
    cache.delete(job_progress_key(job.pk))
