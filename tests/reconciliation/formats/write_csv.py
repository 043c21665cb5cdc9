"""A CSV statement written from plain rows, under a mapping, for the reader's round-trip tests."""

import csv
import io
from decimal import Decimal


def format_amount(amount: Decimal, *, decimal: str = ".", thousands: str = "") -> str:
    sign = "-" if amount < 0 else ""
    whole, _, cents = f"{abs(amount):.2f}".partition(".")
    if thousands:
        groups = []
        while len(whole) > 3:
            whole, groups = whole[:-3], [whole[-3:], *groups]
        whole = thousands.join([whole, *groups])
    return f"{sign}{whole}{decimal}{cents}"


def write_csv(rows: list[dict], options: dict) -> bytes:
    """rows: dicts with value_date, amount, currency, reference, payer_name, payer_account and
    transaction_id (when the options name that column), written as the options describe."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=options.get("delimiter", ","), quotechar=options.get("quote", '"'),
                        quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    columns = [
        (options["value_date_column"], lambda r: r["value_date"].strftime(options.get("date_format", "%Y-%m-%d"))),
        (options.get("reference_column"), lambda r: r["reference"]),
        (options.get("payer_name_column"), lambda r: r["payer_name"]),
        (options.get("payer_account_column"), lambda r: r["payer_account"]),
        (options.get("currency_column"), lambda r: r["currency"]),
        (options.get("transaction_id_column"), lambda r: r["transaction_id"]),
    ]
    amount = lambda value: format_amount(  # noqa: E731
        value, decimal=options.get("decimal_separator", "."), thousands=options.get("thousands_separator", "")
    )
    sign = options.get("sign", "as_is")
    if sign == "debit_credit":
        columns.append((options["debit_column"], lambda r: amount(-r["amount"]) if r["amount"] < 0 else ""))
        columns.append((options["credit_column"], lambda r: amount(r["amount"]) if r["amount"] > 0 else ""))
    else:
        factor = -1 if sign == "inverted" else 1
        columns.append((options["amount_column"], lambda r: amount(factor * r["amount"])))
    columns = [(name, get) for name, get in columns if name]
    for _ in range(options.get("header_row", 1) - 1):
        writer.writerow(["Export of the bank"])
    if options.get("header_row", 1):
        writer.writerow([name for name, _ in columns])
    for row in rows:
        writer.writerow([get(row) for _, get in columns])
    return out.getvalue().encode(options.get("encoding", "utf-8"))
