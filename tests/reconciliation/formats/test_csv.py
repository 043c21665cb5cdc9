"""The CSV reader: the shared samples, a written statement read back, and bad files refused."""

import contextlib
import datetime as dt
import io
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.formats import Kind, Line, Statement, StatementError, Status
from reconciliation.formats import csv as csv_format

from .write_csv import write_csv

# The real files of ../shared/samples (see SOURCES.md there).
SAMPLES = Path(os.environ.get("BPO_SAMPLES", "/work/shared/samples")) / "csv"

# The OCA samples: "Date","Label","Currency","Amount",...,"Partner Name","Bank Account".
OCA = {
    "account": "GB29NWBK60161331926819",
    "currency": "USD",
    "value_date_column": "Date",
    "amount_column": "Amount",
    "currency_column": "Currency",
    "reference_column": "Label",
    "payer_name_column": "Partner Name",
    "payer_account_column": "Bank Account",
    "date_format": "%m/%d/%Y",
    "thousands_separator": ",",
}


def read(data: bytes, **options) -> list:
    return list(csv_format.read(io.BytesIO(data), **options))


def lines(items) -> list[Line]:
    return [item for item in items if isinstance(item, Line)]


def test_it_reads_the_sample_statement():
    with open(f"{SAMPLES}/oca_sample_statement_en.csv", "rb") as f:
        items = list(csv_format.read(f, **OCA))
    # One statement of the mapping's account, then the file's two data lines (lines 2 and 3).
    assert isinstance(items[0], Statement) and items[0].account == OCA["account"]
    got = lines(items)
    assert len(got) == 2
    # Line 2: "12/15/2018","Your best supplier on 12/15/2018","USD","-33.50",...,"John Doe","123456789"
    assert got[0].value_date == dt.date(2018, 12, 15)
    assert got[0].amount == Decimal("-33.50") and got[0].currency == "USD" and got[0].kind == Kind.DEBIT
    assert (got[0].payer_name, got[0].payer_account) == ("John Doe", "123456789")
    assert got[0].reference == "Your best supplier on 12/15/2018"
    # Line 3: "12/15/2018","Your payment on 12/15/2018","EUR","1,525.00",...,"Azure Interior",""
    assert got[1].amount == Decimal("1525.00") and got[1].currency == "EUR" and got[1].kind == Kind.CREDIT
    assert (got[1].payer_name, got[1].payer_account) == ("Azure Interior", "")
    assert got[1].where == "line 3"
    assert all(line.status == Status.BOOKED for line in got)


def test_it_reads_the_multi_currency_sample():
    with open(f"{SAMPLES}/oca_multi_currency.csv", "rb") as f:
        got = lines(csv_format.read(f, **OCA))
    # Totals per currency from the file: USD -33.50 (line 2), EUR 1,525.00 (line 3).
    totals = {}
    for line in got:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount
    assert totals == {"USD": Decimal("-33.50"), "EUR": Decimal("1525.00")}
    assert [line.reference for line in got] == ["Your best supplier", "Your payment"]


def test_the_same_file_gives_the_same_keys_and_identical_lines_stay_apart():
    data = (
        b"Date,Amount,Ref\n"
        b"2026-11-02,10.00,INV-1\n"
        b"2026-11-02,10.00,INV-1\n"
        b"2026-11-02,12.00,INV-2\n"
    )
    options = {"account": "ACC", "currency": "EUR", "value_date_column": "Date", "amount_column": "Amount",
               "reference_column": "Ref"}
    first = [line.bank_transaction_id for line in lines(read(data, **options))]
    again = [line.bank_transaction_id for line in lines(read(data, **options))]
    assert first == again
    assert len(set(first)) == 3
    # A later file that starts with the same lines gives them the same keys (overlap is found).
    longer = data + b"2026-11-03,5.00,INV-3\n"
    assert [line.bank_transaction_id for line in lines(read(longer, **options))][:3] == first
    # The key is the documented one.
    assert first[1] == csv_format.stable_key("ACC", dt.date(2026, 11, 2), Decimal("10.00"), "EUR", "INV-1", "", "", 1)


def test_separate_debit_and_credit_columns_and_european_numbers():
    data = (
        "Buchungstag;Valuta;Soll;Haben;Verwendungszweck;Auftraggeber;Währung\n"
        "02.11.2026;03.11.2026;1.234,50;;Gebühr;;EUR\n"
        "02.11.2026;03.11.2026;;2.000,00;RE 77;Müller GmbH;EUR\n"
    ).encode("cp1252")
    got = lines(read(
        data, account="DE89370400440532013000", encoding="cp1252", delimiter=";", sign="debit_credit",
        debit_column="Soll", credit_column="Haben", value_date_column="Valuta", booking_date_column="Buchungstag",
        reference_column="Verwendungszweck", payer_name_column="Auftraggeber", currency_column="Währung",
        date_format="%d.%m.%Y", decimal_separator=",", thousands_separator=".",
    ))
    assert [line.amount for line in got] == [Decimal("-1234.50"), Decimal("2000.00")]
    assert got[1].payer_name == "Müller GmbH"
    assert got[0].booking_date == dt.date(2026, 11, 2) and got[0].value_date == dt.date(2026, 11, 3)


def test_inverted_sign_and_kinds_from_a_type_column():
    data = b"id,date,amt,type\nT1,2026-11-02,-50.00,PAY\nT2,2026-11-02,3.00,CHG\nT3,2026-11-03,20.00,RET\n"
    got = lines(read(
        data, account="ACC", currency="USD", transaction_id_column="id", value_date_column="date",
        amount_column="amt", sign="inverted", kind_column="type", kinds={"CHG": "fee", "RET": "reversal"},
    ))
    assert [(line.bank_transaction_id, line.amount, line.kind) for line in got] == [
        ("T1", Decimal("50.00"), Kind.CREDIT), ("T2", Decimal("-3.00"), Kind.FEE), ("T3", Decimal("-20.00"), Kind.REVERSAL),
    ]


def test_columns_the_mapping_does_not_name_are_left_alone_wherever_they_are():
    data = b"Notes;Date;Amount;Payer;Extra\nx;2026-11-02;10.00;Ann;GB11\n"
    got = lines(read(data, account="A", currency="USD", delimiter=";", value_date_column="Date", amount_column="Amount"))
    assert (got[0].value_date, got[0].amount, got[0].payer_name, got[0].reference) == (dt.date(2026, 11, 2), Decimal("10.00"), "", "")


def test_a_file_without_a_header_names_columns_by_number():
    got = lines(read(b"2026-11-02;7,00\n", account="A", currency="EUR", header_row=0, delimiter=";",
                     value_date_column="1", amount_column="2", decimal_separator=","))
    assert got[0].amount == Decimal("7.00")


@pytest.mark.parametrize(
    ("data", "where", "words"),
    [
        (b"Date,Amount\n2026-11-02,12.5.0\n", "line 2, column Amount", "not an amount"),
        (b"Date,Amount\n2026-11-02,1.234\n", "line 2, column Amount", "more than two decimals"),
        (b"Date,Amount\n2026-02-30,1.00\n", "line 2, column Date", "not a date"),
        (b"Date,Amount\n2026-11-02,1.00\n2026-11-02\n", "line 3", "1 fields, the header 2"),
        (b"Date,Amount\n2026-11-02,\n", "line 2, column Amount", "empty"),
        (b"Date,Amount\n2026-11-02,NaN\n", "line 2, column Amount", "not an amount"),
        (b"Date,Amount\n2026-11-02,1e3\n", "line 2, column Amount", "not an amount"),
        (b"Date,Betrag\n2026-11-02,1.00\n", "line 1", "amount column 'Amount' is not in the header"),
        (b"Date,Amount\n2026-11-02,\"1.00\x00\"\n", "line 2", "NUL"),
        (b"Date,Amount\n2026-11-02,\xff1.00\n", "line 2", "not utf-8"),
        (b"Date,Amount\n", "", "no statement lines"),
        (b"Date,Amount\n2026-11-02,\"1.00\n", "line", "CSV"),
    ],
)
def test_it_refuses_a_bad_file_naming_the_place(data, where, words):
    with pytest.raises(StatementError) as caught:
        read(data, account="A", currency="EUR", value_date_column="Date", amount_column="Amount")
    assert caught.value.where.startswith(where)
    assert words in caught.value.message


def test_an_unusable_mapping_is_refused_in_words():
    with pytest.raises(StatementError, match="amount column is needed"):
        read(b"x", account="A", currency="EUR", value_date_column="Date")
    with pytest.raises(StatementError, match="unknown options: colour"):
        read(b"x", account="A", currency="EUR", value_date_column="Date", amount_column="A", colour="red")


# --- Properties ---------------------------------------------------------------------------------

MAPPINGS = [
    {"account": "ACC-1", "currency": "EUR", "value_date_column": "Date", "amount_column": "Amount",
     "reference_column": "Ref", "payer_name_column": "Payer", "payer_account_column": "From",
     "transaction_id_column": "Id"},
    {"account": "ACC-2", "currency": "USD", "value_date_column": "Valuta", "sign": "debit_credit",
     "debit_column": "Soll", "credit_column": "Haben", "reference_column": "Zweck", "payer_name_column": "Name",
     "payer_account_column": "IBAN", "currency_column": "Cur", "delimiter": ";", "decimal_separator": ",",
     "thousands_separator": ".", "date_format": "%d.%m.%Y", "header_row": 3, "encoding": "cp1252"},
    {"account": "ACC-3", "currency": "GBP", "value_date_column": "Date", "amount_column": "Amount",
     "reference_column": "Ref", "payer_name_column": "Payer", "payer_account_column": "From",
     "sign": "inverted", "thousands_separator": ",", "date_format": "%m/%d/%Y", "quote": "'"},
]
text = st.text(alphabet=st.characters(codec="cp1252", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20)
rows = st.lists(
    st.fixed_dictionaries({
        "value_date": st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)),
        "amount": st.decimals(min_value=Decimal("-9999999.99"), max_value=Decimal("9999999.99"), places=2)
        .filter(lambda d: d != 0),
        "currency": st.sampled_from(["EUR", "USD", "CHF"]),
        "reference": text, "payer_name": text, "payer_account": text,
        "transaction_id": st.uuids().map(str),
    }),
    min_size=1, max_size=20,
)


def expected(row: dict, options: dict) -> tuple:
    return (
        row["value_date"], row["amount"], row["currency"] if "currency_column" in options else options["currency"],
        row["reference"].strip(), row["payer_name"].strip(), row["payer_account"].strip(),
    )


def got(line: Line) -> tuple:
    return (line.value_date, line.amount, line.currency, line.reference, line.payer_name, line.payer_account)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MAPPINGS), rows)
def test_written_rows_read_back_the_same(options, rows):
    read_back = lines(read(write_csv(rows, options), **options))
    assert [got(line) for line in read_back] == [expected(row, options) for row in rows]
    if "transaction_id_column" in options:
        assert [line.bank_transaction_id for line in read_back] == [row["transaction_id"] for row in rows]
    else:
        assert len({line.bank_transaction_id for line in read_back}) == len(rows)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MAPPINGS), rows, st.data())
def test_a_damaged_file_is_refused_or_reads_back_what_it_says(options, rows, data):
    """Cut or change bytes of a valid file: the reader refuses it, or reads exactly the rows the
    damaged file holds (checked by reading what the damage left with Python's own csv module).
    CSV has no control totals: a changed digit reads as the changed number, and no more."""
    written = write_csv(rows, options)
    position = data.draw(st.integers(0, len(written) - 1))
    damage = data.draw(st.sampled_from(["cut", "byte", "drop"]))
    if damage == "cut":
        damaged = written[:position]
    elif damage == "byte":
        damaged = written[:position] + bytes([data.draw(st.integers(0, 255))]) + written[position + 1:]
    else:
        damaged = written[:position] + written[position + 1:]
    try:
        read_back = lines(read(damaged, **options))
    except StatementError:
        return
    # Accepted: every line read is a line of the damaged text, field for field.
    import csv

    text = damaged.decode(options.get("encoding", "utf-8"))
    records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=options.get("delimiter", ","),
                                     quotechar=options.get("quote", '"')) if any(f.strip() for f in r)]
    records = records[options.get("header_row", 1) - 1 + 1:] if options.get("header_row", 1) else records
    assert len(read_back) == len(records)
    header = write_csv(rows[:0], options).decode(options.get("encoding", "utf-8")).splitlines()[-1]
    names = next(csv.reader([header], delimiter=options.get("delimiter", ","), quotechar=options.get("quote", '"')))
    for line, record in zip(read_back, records, strict=True):
        field = dict(zip(names, (v.strip() for v in record), strict=True))
        assert line.reference == field[options["reference_column"]]
        assert line.payer_name == field[options["payer_name_column"]]
        date_format = options.get("date_format", "%Y-%m-%d")
        assert line.value_date == dt.datetime.strptime(field[options["value_date_column"]], date_format).date()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_statement_errors(data):
    with contextlib.suppress(StatementError):
        read(data, **MAPPINGS[0])
