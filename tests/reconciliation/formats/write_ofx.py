"""OFX statements written from plain rows, as v1 SGML or v2 XML, for the reader's round-trip tests.

A statement is a dict: kind ("bank" or "cc"), account, bank_id, currency, trnuid, start, end
(dates), balance, rows. A row is a dict: trntype, posted (date), user (date or None), offset
(the "[-5:EST]" part or ""), amount (Decimal), fitid, name, memo, reference, payer_account.
"""

from __future__ import annotations

from decimal import Decimal
from xml.sax.saxutils import escape


def ofx_amount(amount: Decimal, comma: bool = False) -> str:
    text = str(amount)
    return text.replace(".", ",") if comma else text


def ofx_datetime(day, offset: str = "", time: str = "120000.000") -> str:
    return day.strftime("%Y%m%d") + (time + offset if offset else "")


def _transaction(row: dict, comma: bool) -> list[tuple[str, str | list]]:
    fields: list[tuple[str, str | list]] = [
        ("TRNTYPE", row["trntype"]),
        ("DTPOSTED", ofx_datetime(row["posted"], row["offset"])),
    ]
    if row["user"] is not None:
        fields.append(("DTUSER", ofx_datetime(row["user"], row["offset"], "235959")))
    fields += [("TRNAMT", ofx_amount(row["amount"], comma)), ("FITID", row["fitid"])]
    if row["reference"]:
        fields.append(("REFNUM", row["reference"]))
    if row["name"]:
        fields.append(("NAME", row["name"]))
    if row["payer_account"]:
        fields.append(("BANKACCTTO", [("BANKID", "123456789"), ("ACCTID", row["payer_account"]),
                                      ("ACCTTYPE", "CHECKING")]))
    if row["memo"]:
        fields.append(("MEMO", row["memo"]))
    return [("STMTTRN", fields)]


def _statement(stmt: dict, comma: bool) -> list[tuple[str, str | list]]:
    if stmt["kind"] == "bank":
        acct = ("BANKACCTFROM", [("BANKID", stmt["bank_id"]), ("ACCTID", stmt["account"]),
                                 ("ACCTTYPE", "CHECKING")])
        rs, trnrs, msgs = "STMTRS", "STMTTRNRS", "BANKMSGSRSV1"
    else:
        acct = ("CCACCTFROM", [("ACCTID", stmt["account"])])
        rs, trnrs, msgs = "CCSTMTRS", "CCSTMTTRNRS", "CREDITCARDMSGSRSV1"
    tranlist: list = [("DTSTART", ofx_datetime(stmt["start"])), ("DTEND", ofx_datetime(stmt["end"]))]
    for row in stmt["rows"]:
        tranlist += _transaction(row, comma)
    body = [
        ("CURDEF", stmt["currency"]),
        acct,
        ("BANKTRANLIST", tranlist),
        ("LEDGERBAL", [("BALAMT", ofx_amount(stmt["balance"], comma)),
                       ("DTASOF", ofx_datetime(stmt["end"]))]),
    ]
    return [(msgs, [(trnrs, [("TRNUID", stmt["trnuid"]),
                             ("STATUS", [("CODE", "0"), ("SEVERITY", "INFO")]),
                             (rs, body)])])]


def _document(statements: list[dict], comma: bool) -> list:
    signon = ("SIGNONMSGSRSV1", [("SONRS", [("STATUS", [("CODE", "0"), ("SEVERITY", "INFO")]),
                                            ("DTSERVER", "20240131120000.000"), ("LANGUAGE", "ENG")])])
    body = [signon]
    for stmt in statements:
        body += _statement(stmt, comma)
    return [("OFX", body)]


def _render(tree: list, *, xml: bool, layout: str, close_elements: bool, cdata: bool, depth: int = 0) -> str:
    parts = []
    pad, nl = ("  " * depth, "\n") if layout == "indented" else ("", "\n" if layout == "lines" else "")
    for name, value in tree:
        if isinstance(value, list):
            inner = _render(value, xml=xml, layout=layout, close_elements=close_elements, cdata=cdata,
                            depth=depth + 1)
            parts.append(f"{pad}<{name}>{nl}{inner}{pad}</{name}>{nl}")
            continue
        text = f"<![CDATA[{value}]]>" if cdata and name in ("NAME", "MEMO") else escape(value)
        end = f"</{name}>" if xml or close_elements else ""
        parts.append(f"{pad}<{name}>{text}{end}{nl}")
    return "".join(parts)


def write_sgml(statements: list[dict], *, layout: str = "indented", close_elements: bool = False,
               comma: bool = False, crlf: bool = False, charset: str = "1252") -> bytes:
    """An OFX 1.0.2 SGML file (leaf end tags left out unless close_elements)."""
    header = ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\n"
              f"CHARSET:{charset}\nCOMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n")
    text = header + _render(_document(statements, comma), xml=False, layout=layout,
                            close_elements=close_elements, cdata=False)
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode({"1252": "cp1252", "ISO-8859-1": "latin-1"}[charset])


def write_xml(statements: list[dict], *, layout: str = "indented", comma: bool = False,
              cdata: bool = False, version: str = "211") -> bytes:
    """An OFX 2.x XML file in UTF-8."""
    text = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            f'<?OFX OFXHEADER="200" VERSION="{version}" SECURITY="NONE" OLDFILEUID="NONE" '
            'NEWFILEUID="NONE"?>\n')
    text += _render(_document(statements, comma), xml=True, layout=layout, close_elements=True, cdata=cdata)
    return text.encode("utf-8")
