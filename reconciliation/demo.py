"""Demo data of reconciliation: CSV column mappings, and bank statements whose nightly run finds
every kind of discrepancy.

ACME gets nine more customers with one payment each (schedules DEMO-R01 to DEMO-R09) and two
camt.053 statements of its collection account, made for today's date: clean matches (by
reference, and by the payer's account and the amount), an overpayment, an underpayment, the same
payment twice, a payment that never came (missing, with the statements in), a payment in the
wrong currency, one from an account that is not the customer's, one from a payer nobody knows,
and a card payment charged back after it was matched by hand. GLOBEX gets a short CSV export
read with its mapping. The run itself is the nightly job's (or `manage.py reconcile --client
ACME`, or "reconcile now" on the import's page).
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.db import transaction

from bpo_ledger import services as core_services
from bpo_ledger.clock import client_today
from bpo_ledger.models import Client, Customer, Payment, PaymentImport
from schedules import services as schedule_services
from schedules.models import PaymentSchedule, ScheduledPayment

from .models import CsvMapping
from .services.imports import statement_import

ACTOR = "system:seed_demo"

MAPPINGS = {
    "ACME": dict(name="Bank export (US)", account="US-CHK-0001", currency="USD", date_format="%m/%d/%Y",
                 thousands_separator=",", value_date_column="Date", amount_column="Amount",
                 reference_column="Description", payer_name_column="Payer", payer_account_column="Payer account",
                 transaction_id_column="Transaction ID"),
    "GLOBEX": dict(name="Kontoauszug (DE)", account="DE89370400440532013000", currency="EUR", delimiter=";",
                   encoding="cp1252", date_format="%d.%m.%Y", decimal_separator=",", thousands_separator=".",
                   sign="debit_credit", debit_column="Soll", credit_column="Haben", value_date_column="Valuta",
                   booking_date_column="Buchungstag", reference_column="Verwendungszweck",
                   payer_name_column="Auftraggeber", payer_account_column="IBAN"),
}

ACME_ACCOUNT = "US-CHK-0001"

# schedule, (CRM ref, name, email, bank account), amount due, due date in days from today, what
# the statements hold for it.
ACME_CASES = [
    ("DEMO-R01", ("CRM-1101", "Grace Lee", "grace.lee@example.com", "021000021 2223334445"), "120.00", -8,
     "paid by reference"),
    ("DEMO-R02", ("CRM-1102", "Daniel Kim", "daniel.kim@example.com", "021000021 3334445556"), "75.50", -6,
     "paid from the account on file, no reference"),
    ("DEMO-R03", ("CRM-1103", "Emma Brown", "emma.brown@example.com", "026009593 4445556667"), "200.00", -9,
     "overpaid: 250.00"),
    ("DEMO-R04", ("CRM-1104", "Liam Davis", "liam.davis@example.com", "026009593 5556667778"), "300.00", -7,
     "underpaid: 150.00"),
    ("DEMO-R05", ("CRM-1105", "Noah Wilson", "noah.wilson@example.com", "111000025 6667778889"), "60.00", -12,
     "paid twice"),
    ("DEMO-R06", ("CRM-1106", "Olivia Martin", "olivia.martin@example.com", "111000025 7778889990"), "95.00", -15,
     "never paid"),
    ("DEMO-R07", ("CRM-1107", "Ava Thompson", "ava.thompson@example.com", "021000021 8889990001"), "180.00", 3,
     "paid in EUR"),
    ("DEMO-R08", ("CRM-1108", "Mia Garcia", "mia.garcia@example.com", "021000021 9990001112"), "140.00", -5,
     "paid from another account"),
    ("DEMO-R09", ("CRM-1109", "Lucas Anderson", "lucas.anderson@example.com", "026009593 1112223334"), "220.00", -16,
     "paid by card, matched by hand, charged back"),
]
STRANGER = ("Maria Gonzales", "091000019 4443332221")  # not Maria Gonzalez's account: an unknown payer
FAMILY_TRUST = ("Garcia Family Trust", "021000021 0001112223")  # pays for Mia Garcia


class Entry:
    """One camt.053 entry: money in (CRDT) or a reversal of money in (DBIT with RvslInd)."""

    def __init__(self, *, txid: str, amount: str, day: dt.date, party: tuple[str, str], reference: str = "",
                 remittance: str = "", currency: str = "USD", reversal_of: str = "", reason: str = ""):
        self.txid, self.amount, self.day, self.party = txid, Decimal(amount), day, party
        self.reference, self.remittance, self.currency = reference, remittance, currency
        self.reversal, self.reason = bool(reversal_of), reason
        if reversal_of:
            self.reference = reversal_of

    def xml(self) -> str:
        name, account = (escape(v) for v in self.party)
        direction, role = ("DBIT", "Cdtr") if self.reversal else ("CRDT", "Dbtr")
        sub = "RRTN" if self.reversal else "ESCT"
        day = self.day.isoformat()
        returned = f"<RtrInf><Rsn><Cd>{self.reason}</Cd></Rsn></RtrInf>" if self.reason else ""
        return (
            f'<Ntry><Amt Ccy="{self.currency}">{self.amount:.2f}</Amt><CdtDbtInd>{direction}</CdtDbtInd>'
            + ("<RvslInd>true</RvslInd>" if self.reversal else "")
            + f"<Sts>BOOK</Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
            f"<AcctSvcrRef>{self.txid}</AcctSvcrRef>"
            f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>{escape(self.reference) or 'NOTPROVIDED'}</EndToEndId></Refs>"
            f"<RltdPties><{role}><Nm>{name}</Nm></{role}><{role}Acct><Id><Othr><Id>{account}</Id></Othr></Id>"
            f"</{role}Acct></RltdPties>"
            + (f"<RmtInf><Ustrd>{escape(self.remittance)}</Ustrd></RmtInf>" if self.remittance else "")
            + f"{returned}</TxDtls></NtryDtls></Ntry>\n"
        )


def camt053(*, statement_id: str, sequence: int, account: str, start: dt.date, end: dt.date,
            opening: Decimal, entries: list[Entry]) -> tuple[bytes, Decimal]:
    """A camt.053.001.02 statement of `entries`, with its balances; returns (content, closing balance)."""
    closing = opening + sum((-e.amount if e.reversal else e.amount) for e in entries if e.currency == "USD")
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
    created = f"{end.isoformat()}T06:00:00"

    def balance(code: str, amount: Decimal, day: dt.date) -> str:
        sign = "CRDT" if amount >= 0 else "DBIT"
        return (f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="USD">{abs(amount):.2f}</Amt>'
                f"<CdtDbtInd>{sign}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>")

    text = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{statement_id}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{statement_id}</Id><ElctrncSeqNb>{sequence}</ElctrncSeqNb><CreDtTm>{created}</CreDtTm>"
        f"<FrToDt><FrDtTm>{start.isoformat()}T00:00:00</FrDtTm><ToDtTm>{end.isoformat()}T23:59:59</ToDtTm></FrToDt>"
        f"<Acct><Id><Othr><Id>{account}</Id></Othr></Id><Ccy>USD</Ccy></Acct>"
        + balance("OPBD", opening, start) + balance("CLBD", closing, end) + "\n"
        + "".join(e.xml() for e in sorted(entries, key=lambda e: (e.day, e.txid)))
        + "</Stmt></BkToCstmrStmt></Document>\n"
    )
    return text.encode(), closing


def _customer(client: Client, ref: str, name: str, email: str, account: str) -> Customer:
    found = Customer.objects.filter(client=client, external_ref=ref).first()
    if found:
        return found
    return core_services.customer_create(
        client=client, actor=ACTOR, external_ref=ref, name=name, email=email, email_consent=True,
        bank_account=account, source="seed_demo",
    )


def _import(client: Client, name: str, content: bytes, *, fmt: str | None = None, mapping=None) -> PaymentImport:
    return statement_import(client=client, actor=ACTOR, file_name=name, stream=io.BytesIO(content), format=fmt,
                            mapping=mapping, source="seed_demo")


def _seed_acme(client: Client) -> int:
    """The ACME customers and schedules of the cases, and its two statements; 0 when they are in."""
    if PaymentImport.objects.filter(client=client, file_name__startswith="acme-statement-").exists():
        return 0
    today = client_today(client)
    created = 0
    due: dict[str, ScheduledPayment] = {}
    accounts: dict[str, tuple[str, str]] = {}
    for schedule_ref, (ref, name, email, account), amount, days, _ in ACME_CASES:
        customer = _customer(client, ref, name, email, account)
        accounts[schedule_ref] = (name, account)
        schedule = PaymentSchedule.objects.filter(client=client, external_ref=schedule_ref).first()
        if schedule is None:
            spec = schedule_services.ScheduleSpec(
                customer=customer, kind="one_time", amount=Decimal(amount),
                start_date=today + dt.timedelta(days=days), external_ref=schedule_ref, description="Service invoice",
            )
            schedule = schedule_services.schedule_create(client=client, actor=ACTOR, spec=spec, source="seed_demo")
            created += 2
        due[schedule_ref] = schedule.payments.get()

    def ref(key):
        return due[key].reference

    def day(key, after=0):
        return min(due[key].due_date + dt.timedelta(days=after), today)

    # The first statement: the card payment of DEMO-R09, which an agent then matched by hand.
    start1, end1 = today - dt.timedelta(days=45), today - dt.timedelta(days=13)
    first = [Entry(txid="ACME-D-0001", amount="220.00", day=min(day("DEMO-R09"), end1), party=accounts["DEMO-R09"],
                   reference=ref("DEMO-R09"), remittance="Card payment")]
    content, closing = camt053(statement_id="ACME-STMT-1", sequence=1, account=ACME_ACCOUNT, start=start1,
                               end=end1, opening=Decimal("10000.00"), entries=first)
    _import(client, "acme-statement-1.xml", content)
    card = Payment.objects.get(client=client, bank_transaction_id="ACME-D-0001")
    schedule_services.scheduled_payment_record(
        scheduled_payment=due["DEMO-R09"], actor=ACTOR, amount=card.amount, paid_on=card.value_date,
        method="card", note="card payment matched by hand (demo)", received=card,
    )

    # The second statement, through today.
    second = [
        Entry(txid="ACME-D-0101", amount="120.00", day=day("DEMO-R01"), party=accounts["DEMO-R01"],
              reference=ref("DEMO-R01"), remittance="Invoice"),
        Entry(txid="ACME-D-0102", amount="75.50", day=day("DEMO-R02", 1), party=accounts["DEMO-R02"],
              remittance="Monthly bill"),
        Entry(txid="ACME-D-0103", amount="250.00", day=day("DEMO-R03"), party=accounts["DEMO-R03"],
              reference=ref("DEMO-R03")),
        Entry(txid="ACME-D-0104", amount="150.00", day=day("DEMO-R04"), party=accounts["DEMO-R04"],
              reference=ref("DEMO-R04"), remittance="first half"),
        Entry(txid="ACME-D-0105", amount="60.00", day=day("DEMO-R05"), party=accounts["DEMO-R05"],
              reference=ref("DEMO-R05")),
        Entry(txid="ACME-D-0106", amount="60.00", day=day("DEMO-R05", 2), party=accounts["DEMO-R05"],
              reference=ref("DEMO-R05")),
        Entry(txid="ACME-D-0107", amount="180.00", day=today - dt.timedelta(days=2), party=accounts["DEMO-R07"],
              reference=ref("DEMO-R07"), currency="EUR"),
        Entry(txid="ACME-D-0108", amount="140.00", day=day("DEMO-R08"), party=FAMILY_TRUST,
              reference=ref("DEMO-R08"), remittance="for Mia"),
        Entry(txid="ACME-D-0109", amount="42.00", day=today - dt.timedelta(days=3), party=STRANGER,
              remittance="my bill"),
        Entry(txid="ACME-D-0110", amount="220.00", day=today - dt.timedelta(days=4), party=accounts["DEMO-R09"],
              reversal_of=ref("DEMO-R09"), reason="MD06", remittance="Chargeback: not recognised"),
    ]
    content, _ = camt053(statement_id="ACME-STMT-2", sequence=2, account=ACME_ACCOUNT,
                         start=end1 + dt.timedelta(days=1), end=today, opening=closing, entries=second)
    _import(client, "acme-statement-2.xml", content)
    return created + 3


def _seed_globex(client: Client) -> int:
    """A short CSV export: one installment of DEMO-G2 paid by reference, one line nobody matches."""
    if PaymentImport.objects.filter(client=client, file_name__startswith="globex-export-").exists():
        return 0
    mapping = CsvMapping.objects.filter(client=client, name=MAPPINGS["GLOBEX"]["name"]).first()
    installment = (ScheduledPayment.objects.filter(client=client, schedule__external_ref="DEMO-G2",
                                                   status__in=["due", "overdue", "upcoming"])
                   .order_by("sequence").first())
    if mapping is None or installment is None:
        return 0
    today = client_today(client)
    day = min(installment.due_date, today).strftime("%d.%m.%Y")
    amount = f"{installment.amount_due:.2f}".replace(".", ",")
    rows = [
        "Buchungstag;Valuta;Auftraggeber;IBAN;Verwendungszweck;Soll;Haben",
        f"{day};{day};Jonas Weber;DE02120300000000202051;{installment.reference} Rate;;{amount}",
        f"{(today - dt.timedelta(days=1)).strftime('%d.%m.%Y')};{(today - dt.timedelta(days=1)).strftime('%d.%m.%Y')};"
        "Müller Bäckerei;DE75512108001245126199;Rechnung 4711;;19,90",
    ]
    _import(client, "globex-export-1.csv", ("\r\n".join(rows) + "\r\n").encode("cp1252"), fmt="csv", mapping=mapping)
    return 1


@transaction.atomic
def seed() -> int:
    created = 0
    for code, fields in MAPPINGS.items():
        client = Client.objects.filter(code=code).first()
        if client is None:
            continue
        _, made = CsvMapping.objects.get_or_create(client=client, name=fields["name"], defaults=fields)
        created += made
    acme = Client.objects.filter(code="ACME").first()
    if acme is not None:
        created += _seed_acme(acme)
    globex = Client.objects.filter(code="GLOBEX").first()
    if globex is not None:
        created += _seed_globex(globex)
    return created
