"""Specification of `manage.py import_schedules` and of the CSV parser under it
(schedules.csv_import, pure: its tests need no database)."""

import ast
import dataclasses
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection

from schedules import csv_import
from schedules.csv_import import RowError, parse_schedules_csv

DATA = Path(__file__).parent / "data"
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)
HEADER = "customer_ref,customer_name,schedule_ref,kind,amount,start_date"


def run(client_code: str, path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_schedules", "--client", client_code, str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_rejected(client_code: str, path) -> tuple[str, list[str]]:
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_schedules", "--client", client_code, str(path), stdout=io.StringIO(), stderr=err)
    return str(exc.value), err.getvalue().splitlines()


def counts(client) -> dict[str, int]:
    from bpo_ledger.models import AuditEvent, Customer
    from schedules.models import PaymentSchedule, ScheduledPayment

    return {
        "customers": Customer.objects.filter(client=client).count(),
        "schedules": PaymentSchedule.objects.filter(client=client).count(),
        "payments": ScheduledPayment.objects.filter(client=client).count(),
        "events": AuditEvent.objects.filter(client=client).count(),
    }


def parse(text: str):
    return parse_schedules_csv(text.encode())


def messages(parsed) -> list[str]:
    return [str(error) for error in parsed.errors]


# The command


def test_it_creates_the_customers_and_schedules_of_all_five_kinds(client_a):
    from schedules.models import PaymentSchedule

    out, err = run("ACME", DATA / "good.csv")

    assert out.strip() == "3 customers created, 5 schedules created, 0 rows already imported"
    assert err == ""
    assert counts(client_a) == {"customers": 3, "schedules": 5, "payments": 16, "events": 8}
    schedules = {s.external_ref: s for s in PaymentSchedule.objects.filter(client=client_a)}
    assert {ref: s.kind for ref, s in schedules.items()} == {
        "SUB-1": "recurring",
        "PLAN-1": "installment",
        "DEF-1": "deferred",
        "ONE-1": "one_time",
        "AUTO-1": "autopay",
    }
    assert {ref: s.payments.count() for ref, s in schedules.items()} == {
        "SUB-1": 4, "PLAN-1": 7, "DEF-1": 1, "ONE-1": 1, "AUTO-1": 3,
    }


def test_it_stores_every_column_where_it_belongs(client_a):
    from bpo_ledger.models import Customer
    from schedules.models import PaymentSchedule

    run("ACME", DATA / "good.csv")

    s = {s.external_ref: s for s in PaymentSchedule.objects.filter(client=client_a).select_related("customer")}
    recurring = s["SUB-1"]
    assert (recurring.amount, recurring.currency, recurring.frequency, recurring.cycles, recurring.method) == (
        Decimal("49.90"), "USD", "weekly", 4, "card",
    )
    assert recurring.description == "Gym membership"
    plan = s["PLAN-1"]
    assert (plan.amount, plan.installment_count, plan.down_payment, plan.anchor_day) == (
        Decimal("1200.00"), 6, Decimal("200.00"), 15,
    )
    assert sum(p.amount_due for p in plan.payments.all()) == Decimal("1200.00")
    deferred = s["DEF-1"]
    assert (deferred.deferred_until, deferred.deferral_reason, deferred.method) == (
        dt.date(2027, 3, 10), "hardship", "check",
    )
    assert deferred.payments.get().original_due_date >= dt.date(2027, 3, 10)
    assert (s["ONE-1"].currency, s["ONE-1"].method) == ("EUR", "wallet")
    autopay = s["AUTO-1"]
    assert (autopay.autopay_method, autopay.method, autopay.mandate_reference) == (
        "bank_account", "direct_debit", "MDT-102",
    )
    assert autopay.mandate_consented_at == dt.datetime(2026, 12, 15, tzinfo=dt.UTC)
    assert autopay.autopay_account_masked == "•••• 3000"

    assert recurring.customer == plan.customer
    ana = Customer.objects.get(client=client_a, external_ref="CRM-100")
    assert (ana.name, ana.email, ana.phone, ana.timezone) == (
        "Ana Souza", "ana@example.com", "+12125550100", "America/Chicago",
    )
    assert ana.email_consent and ana.email_consent_at is not None and not ana.sms_consent
    assert ana.bank_account_masked == "•••• 6819"
    ben = Customer.objects.get(client=client_a, external_ref="CRM-101")
    assert (ben.sms_consent, ben.email_consent, ben.timezone) == (True, False, "Europe/London")
    chen = Customer.objects.get(client=client_a, external_ref="CRM-102")
    assert chen.email_consent and chen.timezone == ""


def test_it_records_the_import_on_the_log(client_a):
    from bpo_ledger.models import AuditEvent

    run("ACME", DATA / "good.csv")

    events = AuditEvent.objects.filter(client=client_a).order_by("seq")
    assert sorted(e.verb for e in events) == ["customer.created"] * 3 + ["schedule.created"] * 5
    assert {e.actor_label for e in events} == {"system:import_schedules"}
    assert {e.details["source"] for e in events} == {"import"}
    call_command("verify_audit", "--client", "ACME", stdout=io.StringIO())


def test_the_same_file_again_creates_nothing_and_says_so(client_a):
    run("ACME", DATA / "good.csv")
    before = counts(client_a)

    out, _ = run("ACME", DATA / "good.csv")

    assert out.strip() == "0 customers created, 0 schedules created, 5 rows already imported"
    assert counts(client_a) == before


def test_only_the_new_rows_of_a_longer_file_are_imported(client_a, tmp_path):
    run("ACME", DATA / "good.csv")
    longer = tmp_path / "longer.csv"
    longer.write_text(
        (DATA / "good.csv").read_text()
        + "CRM-100,,,,,,,,SUB-2,recurring,10.00,,2027-02-01,monthly,,,,2,,,,,,,,,,\n"
        + "CRM-103,Dev Patel,,,,,,,ONE-2,one_time,5.00,,2027-02-01,,,,,,,,,,,,,,,\n"
    )

    out, _ = run("ACME", longer)

    assert out.strip() == "1 customers created, 2 schedules created, 5 rows already imported"
    assert counts(client_a)["schedules"] == 7


def test_a_file_with_bad_rows_reports_every_one_and_creates_nothing(client_a):
    before = counts(client_a)

    message, errors = run_rejected("ACME", DATA / "bad.csv")

    assert errors[:7] == [
        'line 3, column start_date: "2027-02-30" is not a date (YYYY-MM-DD)',
        'line 4, column amount: "12,x" is not an amount (such as 1234.50 or 1,234.50)',
        'line 5, column kind: "monthly" is not a kind (recurring, installment, deferred, one_time, autopay)',
        "line 6, column schedule_ref: a value is required",
        'line 7, column installments: "6" does not apply to recurring schedules: leave it empty',
        'line 8, column phone: "555-0100": Use international format, e.g. +14155550123.',
        "line 9, column customer_name: customer CRM-202 is not on file yet: give its name",
    ]
    # A kind rule may be reported for the whole row or for the column it misses.
    assert re.fullmatch(
        r"line 10(, column deferral_reason)?: A deferred payment needs a deferred-until date and a reason\.",
        errors[7],
    )
    assert len(errors) == 8
    assert message.endswith("bad.csv: 8 problems found; nothing was imported.")
    assert counts(client_a) == before


def test_the_domain_rules_name_the_column_they_are_about(client_a, tmp_path):
    path = tmp_path / "domain.csv"
    path.write_text(
        f"{HEADER},timezone,email,frequency,interval,end_date\n"
        "C-1,Ann,S-1,recurring,5.00,2027-03-01,Mars/Olympus,ann@,monthly,30,2027-01-01\n"
    )

    _, errors = run_rejected("ACME", path)

    # In the order of the file's columns, whichever record (customer, schedule) they come from.
    assert errors[:3] == [
        "line 2, column timezone: Mars/Olympus is not an IANA time zone (such as Europe/London).",
        'line 2, column email: "ann@": Enter a valid email address.',
        'line 2, column interval: "30": Ensure this value is less than or equal to 24.',
    ]
    # A kind rule may be reported for the whole row or for the column it is about.
    assert re.fullmatch(
        r'line 2(, column end_date: "2027-01-01")?: The end date is before the start date\.', errors[3]
    )
    assert len(errors) == 4
    assert counts(client_a)["customers"] == 0


def test_an_unknown_header_column_is_named_and_nothing_is_created(client_a):
    before = counts(client_a)

    _, errors = run_rejected("ACME", DATA / "unknown_column.csv")

    assert errors == ['line 1: unknown columns "Notes", "Priority" (import_schedules --help lists the columns)']
    assert counts(client_a) == before


def test_it_reads_a_bom_mixed_case_headers_and_thousands_separators(client_a):
    from schedules.models import PaymentSchedule

    out, _ = run("ACME", DATA / "bom.csv")

    assert out.startswith("1 customers created, 1 schedules created")
    plan = PaymentSchedule.objects.get(client=client_a, external_ref="INST-300")
    assert plan.customer.name == "Zoë Müller"
    assert plan.amount == Decimal("1234.50")
    assert [p.amount_due for p in plan.payments.order_by("sequence")] == [Decimal("411.50")] * 3


def test_an_existing_customer_is_reused_and_not_changed(client_a, customer_a):
    from bpo_ledger.models import AuditEvent, Customer
    from schedules.models import PaymentSchedule

    before = Customer.objects.values().get(pk=customer_a.pk)

    out, _ = run("ACME", DATA / "existing_customer.csv")

    assert out.strip() == "0 customers created, 1 schedules created, 0 rows already imported"
    assert Customer.objects.values().get(pk=customer_a.pk) == before
    assert Customer.objects.filter(client=client_a).count() == 1
    assert PaymentSchedule.objects.get(external_ref="ONE-900").customer == customer_a
    assert not AuditEvent.objects.filter(client=client_a, verb="customer.updated").exists()


def test_customers_and_schedule_refs_of_another_client_do_not_count(client_a, client_b):
    run("GLOBEX", DATA / "good.csv")

    out, _ = run("ACME", DATA / "good.csv")

    assert out.strip() == "3 customers created, 5 schedules created, 0 rows already imported"
    assert counts(client_a)["schedules"] == counts(client_b)["schedules"] == 5


def test_an_unknown_client_is_named(db):
    with pytest.raises(CommandError, match="No client with code 'NOPE'"):
        run("NOPE", DATA / "good.csv")


def test_a_missing_file_is_named(client_a):
    with pytest.raises(CommandError, match="No such file: .*nowhere.csv"):
        run("ACME", DATA / "nowhere.csv")


def test_from_the_command_line_it_prints_the_problems_and_exits_non_zero(client_a, capsys, monkeypatch):
    from django.db import connections

    # run_from_argv closes the connections when it ends; the test's transaction needs its own.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    before = counts(client_a)
    utility = ManagementUtility(
        ["manage.py", "import_schedules", "--skip-checks", "--client", "ACME", str(DATA / "bad.csv")]
    )

    with pytest.raises(SystemExit) as exc:
        utility.execute()

    assert exc.value.code == 1
    stderr = capsys.readouterr().err
    assert 'line 4, column amount: "12,x" is not an amount' in stderr
    assert "8 problems found; nothing was imported." in stderr
    assert counts(client_a) == before


def test_the_help_documents_every_column(capsys):
    with pytest.raises(SystemExit):
        ManagementUtility(["manage.py", "import_schedules", "--help"]).execute()

    text = capsys.readouterr().out
    for column in csv_import.COLUMNS:
        assert f"\n  {column.name}" in text


# The service under the command, for an upload page or a task


def test_the_service_imports_a_file_given_as_text_and_counts_what_it_did(client_a, agent):
    from bpo_ledger.models import AuditEvent
    from schedules.services import ImportResult, schedules_import_csv

    text = (DATA / "good.csv").read_text()

    assert schedules_import_csv(client=client_a, data=text, actor=agent) == ImportResult(
        customers_created=3, schedules_created=5, already_imported=0
    )
    assert schedules_import_csv(client=client_a, data=text, actor=agent) == ImportResult(
        customers_created=0, schedules_created=0, already_imported=5
    )
    assert counts(client_a)["schedules"] == 5
    assert {e.actor for e in AuditEvent.objects.filter(client=client_a)} == {agent}


def test_the_service_rejects_a_bad_file_with_every_problem_and_keeps_nothing(client_a):
    from schedules.services import ImportRejected, schedules_import_csv

    before = counts(client_a)

    with pytest.raises(ImportRejected) as rejected:
        schedules_import_csv(client=client_a, data=(DATA / "bad.csv").read_bytes())

    assert str(rejected.value) == "8 problems found; nothing was imported."
    assert [error.line for error in rejected.value.errors] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert str(rejected.value.errors[1]) == 'line 4, column amount: "12,x" is not an amount (such as 1234.50 or 1,234.50)'
    assert counts(client_a) == before  # the customers made to check the rows are gone too


def long_file(good_rows: int, last_row: str) -> str:
    """A file of one-time schedules, each of its own new customer, and then `last_row`."""
    lines = [HEADER] + [f"C-{n},Customer {n},S-{n},one_time,10.00,2027-01-04" for n in range(good_rows)]
    return "\n".join([*lines, last_row]) + "\n"


DATE_OUT_OF_RANGE = "9999-12-31 is out of range: schedule dates lie between 1990-01-01 and 2100-12-31."


def test_a_long_file_with_a_bad_last_row_is_refused_naming_its_line_and_keeps_nothing(client_a, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(long_file(2000, "C-LAST,Last One,S-LAST,one_time,10.00,9999-12-31"))

    message, errors = run_rejected("ACME", path)

    assert errors == [f"line 2002, column start_date: {DATE_OUT_OF_RANGE}"]
    assert message.endswith("long.csv: 1 problem found; nothing was imported.")
    assert counts(client_a) == {"customers": 0, "schedules": 0, "payments": 0, "events": 0}


@pytest.mark.parametrize(
    "row,error",
    [
        ("C-1,Ann\x00,S-1,one_time,10.00,2027-01-04", "line 2, column customer_name: contains a NUL byte (0x00), which no text may hold"),
        ("C-1,Ann,S-1\x00,one_time,10.00,2027-01-04", "line 2, column schedule_ref: contains a NUL byte (0x00), which no text may hold"),
        ("C-1,Ann,S-1,one_time,10.00,9999-12-31", f"line 2, column start_date: {DATE_OUT_OF_RANGE}"),
        ("C-1,Ann,S-1,one_time,10.00,0001-01-01",
         "line 2, column start_date: 0001-01-01 is out of range: schedule dates lie between 1990-01-01 and 2100-12-31."),
    ],
)
def test_a_nul_byte_or_a_date_out_of_range_is_a_line_and_column_message(client_a, tmp_path, row, error):
    path = tmp_path / "crafted.csv"
    path.write_bytes(f"{HEADER}\n{row}\n".encode())

    _, errors = run_rejected("ACME", path)

    assert errors == [error]
    assert counts(client_a)["customers"] == 0


def test_a_weekly_recurring_row_from_1990_has_too_many_payments(client_a, tmp_path):
    path = tmp_path / "weekly.csv"
    path.write_text(f"{HEADER},frequency\nC-1,Ann,S-1,recurring,10.00,1990-01-01,weekly\n")

    _, errors = run_rejected("ACME", path)

    assert len(errors) == 1
    assert errors[0].startswith("line 2, column start_date: From 1990-01-01 to ")
    assert "payments is more than a schedule may have (600 at most)" in errors[0]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_checking_a_file_holds_up_no_writer_of_the_client(client_a, monkeypatch):
    """Checking a long file takes no lock and opens no transaction: while it checks the last
    row, another connection creates a customer of the same client (which locks the client's
    row for its audit event) without waiting."""
    import threading

    from django.db import connections

    from bpo_ledger.services import customer_create
    from schedules.services import ImportRejected, planning, schedules_import_csv

    rows = 1000
    text = long_file(rows, "C-LAST,Last One,S-LAST,one_time,10.00,9999-12-31")
    checking_last_row, probe_done = threading.Event(), threading.Event()
    build = planning._build_schedule
    checked = []

    def check_and_wait_at_the_last_row(**kwargs):
        # Each row is checked by building its schedule; the last one waits here for the probe.
        checked.append(kwargs["spec"].external_ref)
        if kwargs["spec"].external_ref == "S-LAST":
            checking_last_row.set()
            probe_done.wait(30)
        return build(**kwargs)

    monkeypatch.setattr(planning, "_build_schedule", check_and_wait_at_the_last_row)
    outcome = {}

    def run_import():
        try:
            schedules_import_csv(client=client_a, data=text)
        except ImportRejected as rejected:
            outcome["errors"] = [str(error) for error in rejected.errors]
        finally:
            connections.close_all()

    importer = threading.Thread(target=run_import)
    importer.start()
    try:
        assert checking_last_row.wait(60), "the import never reached its last row"
        assert connection.in_atomic_block is False
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        try:
            walk_in = customer_create(client=client_a, actor="system:test", external_ref="WALK-IN", name="Walk In")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        probe_done.set()
        importer.join(60)

    assert len(checked) == rows + 1
    assert outcome["errors"] == [f"line {rows + 2}, column start_date: {DATE_OUT_OF_RANGE}"]
    from bpo_ledger.models import Customer

    assert list(Customer.objects.filter(client=client_a)) == [walk_in]
    assert counts(client_a)["schedules"] == 0


@pytest.mark.parametrize("who", ["auditor", "outsider"])
def test_the_service_refuses_an_auditor_and_an_outsider(client_a, request, who):
    from django.core.exceptions import PermissionDenied

    from schedules.services import schedules_import_csv

    with pytest.raises(PermissionDenied):
        schedules_import_csv(client=client_a, data=(DATA / "good.csv").read_text(), actor=request.getfixturevalue(who))
    assert counts(client_a) == {"customers": 0, "schedules": 0, "payments": 0, "events": 0}


# The parser (no database)


def test_the_parser_imports_nothing_of_django():
    tree = ast.parse(Path(csv_import.__file__).read_text())
    imported = [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.startswith("django")]


def test_the_parser_reads_the_good_file_into_rows_and_customers():
    parsed = parse_schedules_csv((DATA / "good.csv").read_bytes())

    assert parsed.errors == []
    assert [row.line for row in parsed.rows] == [2, 3, 4, 5, 6]
    assert list(parsed.customers) == ["CRM-100", "CRM-101", "CRM-102"]
    plan = parsed.rows[1]
    assert (plan.kind, plan.amount, plan.installment_count, plan.down_payment) == (
        "installment", Decimal("1200.00"), 6, Decimal("200.00"),
    )
    assert isinstance(plan.amount, Decimal)
    assert parsed.rows[3].currency == "EUR"
    assert parsed.rows[4].mandate_consented_at == dt.datetime(2026, 12, 15, tzinfo=dt.UTC)
    ben = parsed.customers["CRM-101"]
    assert (ben.name, ben.phone, ben.sms_consent, ben.line) == ("Ben Okafor", "+447700900123", True, 4)


def test_a_row_gives_the_keyword_arguments_of_a_schedule_spec():
    from schedules.services import ScheduleSpec

    row = parse(f"{HEADER}\nC-1,Ann,S-1,one_time,5.00,2027-01-01\n").rows[0]

    spec = ScheduleSpec(customer=None, **row.spec_fields())
    assert (spec.external_ref, spec.kind, spec.amount, spec.method) == ("S-1", "one_time", Decimal("5.00"), "bank_transfer")


def test_the_parser_collects_every_problem_not_only_the_first():
    parsed = parse(
        f"{HEADER},email_consent\n"
        "C-1,Ann,S-1,one_time,12.345,2027-01-01,\n"
        "C-1,Ann,S-2,one_time,0,2027/01/01,maybe\n"
        "C-1,Ann,S-3,one_time,-5.00,20270101,\n"
    )

    assert messages(parsed) == [
        'line 2, column amount: "12.345" has more than 2 decimals',
        'line 3, column amount: "0" must be more than zero',
        'line 3, column start_date: "2027/01/01" is not a date (YYYY-MM-DD)',
        'line 3, column email_consent: "maybe" is not yes or no (yes, no, true, false, 1, 0 or empty)',
        'line 4, column amount: "-5.00" must be more than zero',
        'line 4, column start_date: "20270101" is not a date (YYYY-MM-DD)',
    ]
    assert parsed.rows == []


@pytest.mark.parametrize(
    ("text", "amount"),
    [("1234.50", "1234.50"), ("1,234.50", "1234.50"), ("1,234,567", "1234567.00"), ("7", "7.00"), ("12.500", "12.50")],
)
def test_amounts_are_decimals_with_or_without_thousands_separators(text, amount):
    assert csv_import.parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["12,x", "1,23.00", "12,3456", "$12", "1.2.3", "1e3", "12.", "NaN", "99999999999999999.00"])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(ValueError, match="amount"):
        csv_import.parse_amount(text)


@pytest.mark.parametrize(("text", "value"), [("yes", True), ("TRUE", True), ("1", True), ("No", False), ("false", False), ("0", False)])
def test_booleans(text, value):
    assert csv_import.parse_boolean(text) is value


def test_an_empty_boolean_is_no():
    parsed = parse(f"{HEADER},email_consent,sms_consent\nC-1,Ann,S-1,one_time,5.00,2027-01-01,,\n")

    assert (parsed.customers["C-1"].email_consent, parsed.customers["C-1"].sms_consent) == (False, False)


def test_headers_are_case_insensitive_and_trimmed_and_a_bom_is_dropped():
    parsed = parse_schedules_csv(
        "\ufeff CUSTOMER_REF , Customer_Name,Schedule_Ref,KIND,amount,start_date\r\n"
        'C-1,Ann,S-1,One_Time,"1,000.00",2027-01-01\r\n'.encode()
    )

    assert parsed.errors == []
    assert (parsed.rows[0].kind, parsed.rows[0].amount) == ("one_time", Decimal("1000.00"))


def test_a_file_without_a_bom_or_given_as_text_reads_the_same():
    text = f"{HEADER}\nC-1,Ann,S-1,one_time,5.00,2027-01-01\n"

    assert parse_schedules_csv(text).rows == parse_schedules_csv(("\ufeff" + text).encode()).rows


def test_unknown_and_missing_and_repeated_columns_are_named():
    parsed = parse("customer_ref,Kind,amount,kind,notes,\nC-1,one_time,5.00,one_time,x,\n")

    assert messages(parsed) == [
        'line 1: unknown columns "notes", column 6 (no name) (import_schedules --help lists the columns)',
        "line 1: required columns schedule_ref, start_date missing",
        "line 1: column kind appears more than once",
    ]
    assert parsed.rows == []


def test_an_empty_file_is_refused():
    assert messages(parse_schedules_csv(b"")) == ["line 1: the file is empty: the first line must name the columns"]


def test_a_file_that_is_not_utf8_is_refused_naming_the_line():
    data = f"{HEADER}\nC-1,Ann,S-1,one_time,5.00,2027-01-01\nC-2,J".encode() + b"\xe9r\xf4me,S-2,one_time,5.00,2027-01-01\n"

    assert messages(parse_schedules_csv(data)) == ["line 3: the file is not UTF-8 text (byte 0xe9)"]


def test_a_row_with_too_few_or_too_many_values_is_refused():
    parsed = parse(f"{HEADER}\nC-1,Ann,S-1,one_time,5.00\nC-1,Ann,S-2,one_time,5.00,2027-01-01,x\n")

    assert messages(parsed) == [
        "line 2: 5 values, but the header names 6 columns",
        "line 3: 7 values, but the header names 6 columns",
    ]


def test_blank_lines_are_skipped_and_lines_keep_their_numbers():
    parsed = parse(f'{HEADER},description\n\nC-1,Ann,S-1,one_time,5.00,2027-01-01,"two\nlines"\n\nC-1,Ann,S-2,one_time,x,2027-01-01,\n')

    assert parsed.rows[0].line == 3
    assert parsed.rows[0].description == "two\nlines"
    assert messages(parsed) == ['line 6, column amount: "x" is not an amount (such as 1234.50 or 1,234.50)']


def test_fields_of_another_kind_are_errors_not_dropped():
    parsed = parse(
        f"{HEADER},frequency,installments,deferred_until,method,mandate_reference\n"
        "C-1,Ann,S-1,recurring,5.00,2027-01-01,monthly,3,,,\n"
        "C-1,Ann,S-2,one_time,5.00,2027-01-01,monthly,,2027-02-01,,\n"
        "C-1,Ann,S-3,autopay,5.00,2027-01-01,monthly,,,card,M-1\n"
        "C-1,Ann,S-4,deferred,5.00,2027-01-01,,,2027-02-01,cash,M-2\n"
    )

    assert messages(parsed) == [
        'line 2, column installments: "3" does not apply to recurring schedules: leave it empty',
        'line 3, column frequency: "monthly" does not apply to one_time schedules: leave it empty',
        'line 3, column deferred_until: "2027-02-01" does not apply to one_time schedules: leave it empty',
        'line 4, column method: "card" does not apply to autopay schedules: leave it empty',
        'line 5, column mandate_reference: "M-2" does not apply to deferred schedules: leave it empty',
    ]


def test_choices_are_checked_and_named():
    parsed = parse(
        f"{HEADER},frequency,method,deferral_reason,deferred_until\n"
        "C-1,Ann,S-1,recurring,5.00,2027-01-01,fortnightly,paypal,,\n"
        "C-1,Ann,S-2,deferred,5.00,2027-01-01,,,sick,2027-02-01\n"
    )

    assert messages(parsed) == [
        'line 2, column frequency: "fortnightly" is not a frequency (weekly, biweekly, monthly, quarterly, semiannual, annual)',
        'line 2, column method: "paypal" is not a payment method (bank_transfer, direct_debit, card, wallet, check, cash)',
        'line 3, column deferral_reason: "sick" is not a deferral reason (agreement, promotion, hardship, other)',
    ]


def test_whole_numbers_are_checked():
    parsed = parse(f"{HEADER},frequency,cycles,interval\nC-1,Ann,S-1,recurring,5.00,2027-01-01,monthly,three,1.5\n")

    assert messages(parsed) == [
        'line 2, column cycles: "three" is not a whole number',
        'line 2, column interval: "1.5" is not a whole number',
    ]


def test_a_schedule_ref_twice_in_the_file_is_an_error():
    parsed = parse(f"{HEADER}\nC-1,Ann,S-1,one_time,5.00,2027-01-01\nC-2,Bob,S-1,one_time,6.00,2027-01-01\n")

    assert messages(parsed) == ['line 3, column schedule_ref: "S-1" is already on line 2']


def test_a_customer_repeated_on_rows_may_leave_details_empty_but_not_contradict_them():
    parsed = parse(
        f"{HEADER},email,sms_consent\n"
        "C-1,,S-1,one_time,5.00,2027-01-01,,\n"
        "C-1,Ann,S-2,one_time,5.00,2027-01-01,ann@example.com,yes\n"
        "C-1,Ann,S-3,one_time,5.00,2027-01-01,,\n"
        "C-1,Anne,S-4,one_time,5.00,2027-01-01,ann@example.com,no\n"
    )

    assert messages(parsed) == [
        'line 5, column customer_name: "Anne" differs from what line 3 gives for customer C-1',
        'line 5, column sms_consent: "no" differs from what line 3 gives for customer C-1',
    ]
    ann = parsed.customers["C-1"]
    assert (ann.line, ann.name, ann.email, ann.sms_consent) == (2, "Ann", "ann@example.com", True)
    assert ann.line_of("customer_name") == 3 and ann.line_of("phone") == 2


# The parser's copies of the domain's choices stay in step with it.


def test_the_parsers_choices_are_the_models():
    from schedules.models import (
        AutopayMethod,
        DeferralReason,
        Frequency,
        PaymentMethod,
        ScheduleKind,
    )

    assert set(csv_import.KINDS) == set(ScheduleKind.values)
    assert set(csv_import.FREQUENCIES) == set(Frequency.values)
    assert set(csv_import.METHODS) == set(PaymentMethod.values)
    assert set(csv_import.AUTOPAY_METHODS) == set(AutopayMethod.values)
    assert set(csv_import.DEFERRAL_REASONS) == set(DeferralReason.values)


def test_the_parsers_kind_columns_are_the_services_kind_fields():
    from schedules.services import KIND_FIELDS, ScheduleSpec

    for kind, columns in csv_import.KIND_COLUMNS.items():
        as_fields = {csv_import.SCHEDULE_FIELD_OF_COLUMN.get(c, c) for c in columns}
        # Who approved a deferral is a person of the BPO, not something a CRM export knows.
        assert as_fields == KIND_FIELDS[kind] - {"deferral_approved_by"}, kind
    row_fields = {f.name for f in dataclasses.fields(csv_import.ScheduleRow)} - {"line", "customer_ref"}
    assert row_fields <= {f.name for f in dataclasses.fields(ScheduleSpec)}


def test_row_error_reads_like_a_sentence():
    assert str(RowError(7, "amount", '"12,x" is not an amount')) == 'line 7, column amount: "12,x" is not an amount'
    assert str(RowError(1, "", "unknown column")) == "line 1: unknown column"


def test_errors_are_put_in_the_order_of_the_files_lines_and_columns():
    parsed = parse(f"amount,{HEADER.replace(',amount', '')}\n5.00,C-1,Ann,S-1,one_time,2027-01-01\n")
    errors = [RowError(3, "", "row"), RowError(2, "customer_ref", "b"), RowError(2, "amount", "a"), RowError(1, "", "header")]

    assert [e.message for e in parsed.in_file_order(errors)] == ["header", "a", "b", "row"]
