"""OFX / QFX bank and credit-card statements: v1 (SGML, 1.0.2 to 1.6) and v2 (XML, 2.0.x to 2.2).

Read to the OFX specification (2.1.1 chapter 11 for the statements, 3.2.8 for dates, 3.2.9 for
amounts, 5.2 for currencies), tolerant of harmless strays (an element longer than the spec allows,
an empty element, extension elements, unknown elements outside the statements) and strict about
what decides money (inside a statement, its account, its transaction lists and its transactions,
an element the spec does not define there refuses the file: a damaged tag never drops a field):

- v1 bodies are read by our own streaming SGML tokenizer: leaf elements need no end tag,
  aggregates must be closed explicitly, a file that ends before ``</OFX>`` is refused. v2 bodies
  are read by lxml's pull parser with entities, DTDs and the network all off (a DOCTYPE is refused).
- Control: OFX has no counts or totals, so the reader makes its own: a byte-level scan counts the
  ``<STMTTRN>``/``<STMTTRNP>`` tags opened in each statement, and the parse must produce exactly
  that many rows (lines or notices), else the file is refused. A transaction that cannot be read
  (no amount, a bad date, a TRNTYPE the spec does not list) refuses the file with its line;
  nothing is skipped. In SGML a '>' in data must be written ``&gt;``, so text such as ``x/MEMO>``
  (a tag that lost its '<') is refused as damage; a raw '&' that starts no entity is kept.
- Text: v1 decodes by its header (ENCODING USASCII with CHARSET 1252, ISO-8859-1 or NONE as
  Windows-1252, or another numeric code page; ENCODING UTF-8), a headerless body as UTF-8; a byte
  the declared set cannot decode refuses the file with its line. v2 follows its XML declaration.
- Statement: ``account`` is ACCTID as written, BANKID/BRANCHID and ACCTTYPE go to their own fields
  (CREDITCARD for a CCSTMTRS). OFX has no statement number, so ``sequence`` stays empty and
  ``statement_id`` is ``TRNUID/DTEND`` (``TRNUID/DTASOF`` of the ledger balance when the statement
  lists no transactions). ``closing_balance`` is LEDGERBAL; OFX gives no opening balance, so none
  is computed and no balance warning is possible. LEDGERBAL follows the transactions in the file;
  the same scan reads it so the Statement can come first, and the parse must find the same value.
  A statement without LEDGERBAL, DTSTART or DTEND is read, with a Warning for the missing balance.
- Line: TRNAMT is already signed from the account holder's side (3.2.9.2), so it is kept as is.
  FITID is the bank transaction id; without one, SRVRTID is used (``SRVRTID:<id>``), else the
  stable key ``ofx-key:<sha256 of account, DTPOSTED's date, amount, TRNTYPE, name, memo,
  reference>:<n>`` where n counts identical transactions in the statement, so two equal payments on
  one day stay two (and a later statement repeating that day gives them the same keys); a
  Warning counts them. A FITID used twice in one statement is a Warning (the import keeps the first).
  Booking date DTPOSTED, value date DTUSER (else DTPOSTED); a date is the calendar date written
  in the file, i.e. the date in the file's own ``[offset:TZ]``, never shifted to UTC.
  NAME (EXTDNAME when given, PAYEE/NAME otherwise) is the payer, BANKACCTTO/CCACCTTO/ACCTID the
  payer's account, MEMO the remittance, REFNUM (else CHECKNUM) the reference, TRNTYPE the bank code.
- Kind: a positive amount is a CREDIT whatever its TRNTYPE (a deposit, a transfer in, interest, a
  refund, on a credit card a merchant's refund or a payment of the card: OFX cannot tell a card
  chargeback from a refund, so no OFX row is ever a CHARGEBACK). A negative FEE/SRVCHG is a FEE;
  a negative CREDIT/DEP/DIRECTDEP is a REVERSAL (a credit taken back); any other negative amount
  is a DEBIT.
- Currencies: with ORIGCURRENCY the amount is already in CURDEF (the original currency and rate
  go to ``notes``). With CURRENCY the amount is in CURSYM: the line keeps that amount and
  currency as the file states them, and ``notes`` give the rate and the CURDEF equivalent
  (amount × CURRATE, CURRATE being the ratio of CURDEF to CURSYM).
- Amounts: a point or a comma is the radix (3.2.9.1); digit grouping is not allowed, so
  ``1,234.56`` or ``1.234,56`` is refused rather than guessed.
- Corrections (CORRECTFITID with CORRECTACTION REPLACE or DELETE) are never imported as payments:
  each becomes a Notice naming the transaction to correct, for an agent to act on.
- Pending transactions (BANKTRANLISTP/STMTTRNP, and TRNTYPE HOLD) are lines with status PENDING.
- Investment and loan statements are not read: each yields a Warning naming it.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

from .base import Item, Kind, Line, Notice, Statement, StatementError, Status, Warning

CHUNK = 1 << 20
MAX_DEPTH = 64  # OFX nests about ten deep; a deeper SGML stack is damage (and would cost quadratic time)

STATEMENTS = {"STMTRS": "BANKACCTFROM", "CCSTMTRS": "CCACCTFROM"}
TRNRS = {"STMTTRNRS", "CCSTMTTRNRS"}
TRANSACTIONS = {"STMTTRN": Status.BOOKED, "STMTTRNP": Status.PENDING}
NOT_READ = {"INVSTMTRS": "investment statement", "LOANSTMTRS": "loan statement"}

# Aggregates the reader relies on: in SGML they must be closed explicitly.
AGGREGATES = frozenset(
    """OFX SIGNONMSGSRSV1 SONRS STATUS FI BANKMSGSRSV1 CREDITCARDMSGSRSV1 STMTTRNRS CCSTMTTRNRS
    STMTRS CCSTMTRS BANKACCTFROM CCACCTFROM BANKTRANLIST BANKTRANLISTP STMTTRN STMTTRNP PAYEE
    BANKACCTTO CCACCTTO CURRENCY ORIGCURRENCY LEDGERBAL AVAILBAL BALLIST BAL REWARDINFO
    IMAGEDATA INVSTMTMSGSRSV1 INVSTMTTRNRS INVSTMTRS LOANMSGSRSV1 LOANSTMTTRNRS LOANSTMTRS
    MFACHALLENGERS""".split()
)
# Leaves of a transaction (2.1.1 11.4.3 and 11.4.2.3 for STMTTRNP); others are listed in a Warning.
TRANSACTION_ELEMENTS = frozenset(
    """TRNTYPE DTPOSTED DTUSER DTAVAIL DTTRAN DTEXPIRE TRNAMT FITID CORRECTFITID CORRECTACTION
    SRVRTID CHECKNUM REFNUM SIC PAYEEID NAME EXTDNAME MEMO INV401KSOURCE""".split()
)
TRANSACTION_AGGREGATES = frozenset("PAYEE BANKACCTTO CCACCTTO CURRENCY ORIGCURRENCY IMAGEDATA".split())
# What each aggregate that carries money may hold (2.1.1 chapter 11, 5.2, 12.5.2.1). Anything else
# there, other than an extension element (its name has a '.'), refuses the file: a misspelt or
# damaged tag must not silently drop a field.
CONTENT = {
    "STMTRS": "CURDEF BANKACCTFROM BANKTRANLIST BANKTRANLISTP LEDGERBAL AVAILBAL CASHADVBALAMT INTRATE "
              "BALLIST MKTGINFO",
    "CCSTMTRS": "CURDEF CCACCTFROM BANKTRANLIST BANKTRANLISTP LEDGERBAL AVAILBAL CASHADVBALAMT "
                "INTRATEPURCH INTRATECASH INTRATEXFER REWARDINFO BALLIST MKTGINFO",
    "BANKACCTFROM": "BANKID BRANCHID ACCTID ACCTTYPE ACCTKEY",
    "BANKACCTTO": "BANKID BRANCHID ACCTID ACCTTYPE ACCTKEY",
    "CCACCTFROM": "ACCTID ACCTKEY",
    "CCACCTTO": "ACCTID ACCTKEY",
    "BANKTRANLIST": "DTSTART DTEND STMTTRN",
    "BANKTRANLISTP": "DTASOF STMTTRNP",
    "LEDGERBAL": "BALAMT DTASOF",
    "CURRENCY": "CURRATE CURSYM",
    "ORIGCURRENCY": "CURRATE CURSYM",
    "PAYEE": "NAME ADDR1 ADDR2 ADDR3 CITY STATE POSTALCODE COUNTRY PHONE",
    "STMTTRN": " ".join(sorted(TRANSACTION_ELEMENTS - {"DTTRAN", "DTEXPIRE"} | TRANSACTION_AGGREGATES)),
    "STMTTRNP": "TRNTYPE DTTRAN DTEXPIRE TRNAMT REFNUM NAME EXTDNAME MEMO CURRENCY ORIGCURRENCY INV401KSOURCE",
}
CONTENT = {name: frozenset(names.split()) for name, names in CONTENT.items()}
REPEATED = {"STMTTRN", "STMTTRNP"}
XML_EVENTS = frozenset({"OFX", "SONRS", *TRNRS, *STATEMENTS, *TRANSACTIONS, *NOT_READ})
TAG_NAMES = AGGREGATES.union(*CONTENT.values(), "CODE SEVERITY MESSAGE DTSERVER LANGUAGE TRNUID ORG FID".split())
# In SGML text, "NAME>" or "/NAME>" with NAME a tag of ours is a tag that lost its "<": the spec
# wants '>' in data written "&gt;", so this is damage, not data.
DAMAGED_TAG = re.compile(r"/?([A-Za-z0-9.]+)>")

# 2.1.1 11.4.4.3 (HOLD: 2.1 and later, for pending amounts)
TRNTYPES = frozenset("""CREDIT DEBIT INT DIV FEE SRVCHG DEP ATM POS XFER CHECK PAYMENT CASH DIRECTDEP
    DIRECTDEBIT REPEATPMT HOLD OTHER""".split())
FEE_TYPES = {"FEE", "SRVCHG"}
CREDIT_TYPES = {"CREDIT", "DEP", "DIRECTDEP"}

CHARSETS = {"1252": "cp1252", "ISO-8859-1": "latin-1", "8859-1": "latin-1", "NONE": "cp1252",
            "UTF-8": "utf-8", "CSUNICODE": "utf-8"}

DATETIME = re.compile(
    r"(\d{4})(\d{2})(\d{2})"
    r"(?:(\d{2})(\d{2})(?:(\d{2})(?:[.,](\d{1,6}))?)?)?"
    # The offset only says where the written date is; "-0500" seen from some servers passes too.
    r"\s*(?:\[\s*[+-]?\d{1,4}(?:[.:]\d{1,2})?\s*(?::[^\]]*)?\])?"
)
AMOUNT = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")
ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z]+);")
NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": "\u00a0"}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
HEADER_PAIR = re.compile(rb"([A-Za-z]+)[ \t]*:[ \t]*([^\s<]*)")
XML_ATTR = re.compile(rb'([A-Za-z]+)\s*=\s*"([^"]*)"')

# One SGML token: a tag with the text after it, a CDATA section or a comment (with their text).
TOKEN = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9_.:-]*)[ \t\r\n]*>([^<]*)"
    r"|<!\[CDATA\[(.*?)\]\]>([^<]*)"
    r"|<!--.*?-->([^<]*)",
    re.S,
)
SCAN = re.compile(rb"<(/?)(STMTRS|CCSTMTRS|STMTTRN|STMTTRNP|LEDGERBAL|BALAMT)[ \t\r\n]*>([^<]*)", re.I)


def sniff(head: bytes) -> bool:
    """An OFX header in the first kilobyte, or an <OFX> element near the start."""
    start = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return b"OFXHEADER" in start[:1024] or b"<OFX>" in start


def read(stream: BinaryIO, **options) -> Iterator[Item]:
    """The statements, lines, notices and warnings of an OFX file, in file order."""
    stream = _seekable(stream)
    head = stream.read(64 * 1024)
    stream.seek(0)
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff") or b"\x00<\x00" in head[:512]:
        raise StatementError("UTF-16 OFX files are not read: ask the bank for UTF-8", "line 1")
    controls = _scan(stream)
    stream.seek(0)
    reader = _Reader(controls)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<?xml") or re.search(rb"<\?OFX\b", head[: head.find(b"<OFX") + 1 or 4096]):
        yield from reader.run_xml(stream, head)
    else:
        yield from reader.run_sgml(stream, head)


def _seekable(stream: BinaryIO) -> BinaryIO:
    try:
        if stream.seekable():
            stream.tell()
            return stream
    except (AttributeError, OSError, ValueError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=16 * CHUNK)  # noqa: SIM115 (the caller reads it)
    while chunk := stream.read(CHUNK):
        spool.write(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _scan(stream: BinaryIO) -> list[dict]:
    """Per statement, in order: the transaction tags opened and the LEDGERBAL amount as written.

    This is the reader's own control record: the parse must account for every tag counted here.
    """
    found: list[dict] = []
    current: dict | None = None
    in_ledger = False
    carry = b""
    while True:
        chunk = stream.read(CHUNK)
        buf = carry + chunk
        if not chunk:
            end = len(buf)
        else:
            cut = buf.rfind(b"<")
            end = cut if cut > 0 else len(buf)
        for match in SCAN.finditer(buf, 0, end):
            closing, name, text = match.group(1), match.group(2).upper(), match.group(3)
            if name in (b"STMTRS", b"CCSTMTRS"):
                if closing:
                    current = None
                else:
                    current = {"transactions": 0, "balance": None}
                    found.append(current)
            elif current is None:
                continue
            elif name in (b"STMTTRN", b"STMTTRNP"):
                if not closing:
                    current["transactions"] += 1
            elif name == b"LEDGERBAL":
                in_ledger = not closing
            elif in_ledger and not closing and current["balance"] is None:
                current["balance"] = text.strip()
        if not chunk:
            return found
        carry = buf[end:]
        if len(carry) > CHUNK:
            carry = carry[-256:]


class _Node:
    """An aggregate; ``kids`` holds nested nodes and leaves ``(name, value, line)``."""

    __slots__ = ("name", "line", "kids", "known")

    def __init__(self, name: str, line: int, known: bool = True):
        self.name = name
        self.line = line
        self.kids: list = []
        self.known = known

    def leaf(self, name: str) -> str | None:
        for kid in self.kids:
            if type(kid) is tuple and kid[0] == name:
                return kid[1]
        return None

    def node(self, name: str) -> _Node | None:
        for kid in self.kids:
            if type(kid) is _Node and kid.name == name:
                return kid
        return None


def _check(node: _Node, where: str = "") -> None:
    """Refuse an element the spec does not put in this aggregate, or a field given twice."""
    allowed = CONTENT[node.name]
    seen: set[str] = set()
    for kid in node.kids:
        name, line = (kid[0], kid[2]) if type(kid) is tuple else (kid.name, kid.line)
        if name not in allowed:
            if "." in name:
                continue
            raise StatementError(f"<{name}> has no place in <{node.name}> (an extension element's name "
                                 "has a '.')", where or _where(line))
        if name in seen and name not in REPEATED:
            raise StatementError(f"<{name}> appears twice in one <{node.name}>", where or _where(line))
        seen.add(name)


def _damaged(value: str) -> bool:
    for match in DAMAGED_TAG.finditer(value):
        name = match.group(1).upper()
        if name in TAG_NAMES or name[1:] in TAG_NAMES:
            return True
    return False


def _where(line: int, path: str = "") -> str:
    return f"line {line}, {path}" if path else f"line {line}"


def _unescape(value: str) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name[0] == "#":
            try:
                return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))
            except (ValueError, OverflowError):
                return match.group(0)
        return NAMED_ENTITIES.get(name.lower(), match.group(0))

    return ENTITY.sub(one, value)


def _amount(value: str | None, what: str, where: str) -> Decimal:
    if value is None or value == "":
        raise StatementError(f"{what} is missing", where)
    text = value.strip()
    if len(text) > 32 or not AMOUNT.fullmatch(text):
        raise StatementError(
            f"{what} {value!r} is not an OFX amount (digits with one point or comma as the "
            "radix, no digit grouping)", where)
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise StatementError(f"{what} {value!r} is not an amount", where) from None


def _date(value: str | None, what: str, where: str, required: bool = True) -> date | None:
    if value is None or value == "":
        if required:
            raise StatementError(f"{what} is missing", where)
        return None
    match = DATETIME.fullmatch(value.strip())
    if not match:
        raise StatementError(f"{what} {value!r} is not an OFX date (YYYYMMDD[HHMMSS[.XXX]][[offset:TZ]])", where)
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups()[:6])
    if hour > 23 or minute > 59 or second > 60:
        raise StatementError(f"{what} {value!r} has no such time of day", where)
    try:
        return date(year, month, day)
    except ValueError:
        raise StatementError(f"{what} {value!r} is no calendar date", where) from None


class _Reader:
    def __init__(self, controls: list[dict]):
        self.controls = controls
        self.statements = 0  # statement responses met (STMTRS/CCSTMTRS), in file order
        self.created: date | None = None
        self.signon_checked = False
        self.closed = False
        self.stmt: dict | None = None
        self.not_read: list[tuple[str, int]] = []

    # ---- v1: SGML -----------------------------------------------------------------------------

    def run_sgml(self, stream: BinaryIO, head: bytes) -> Iterator[Item]:
        start = head.find(b"<")
        if start < 0:
            raise StatementError("no <OFX> element in the file", "line 1")
        header_bytes = head[:start].removeprefix(b"\xef\xbb\xbf")
        header = {k.upper().decode(): v.decode("ascii", "replace") for k, v in HEADER_PAIR.findall(header_bytes)}
        if header_bytes.strip() and "OFXHEADER" not in header:
            raise StatementError("the text before <OFX> is not an OFX header", "line 1")
        encoding = self._sgml_encoding(header)
        stream.seek(start)
        line = 1 + head[:start].count(b"\n")
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        stack: list[_Node] = []
        buf = ""
        # The leaf just read, kept open for CDATA continuations and an optional end tag.
        leaf_name: str | None = None
        leaf_parts: list[str] = []
        leaf_line = 0
        last_leaf: str | None = None
        eof = False
        while not eof:
            raw = stream.read(CHUNK)
            eof = not raw
            try:
                buf += decoder.decode(raw, final=eof)
            except UnicodeDecodeError as error:
                good = (buf + raw[: error.start].decode(encoding, "replace")).count("\n")
                raise StatementError(
                    f"byte {raw[error.start:error.start + 1]!r} is not {encoding} text "
                    "(the header's ENCODING/CHARSET)", _where(line + good)) from None
            control = CONTROL.search(buf)
            if control:
                bad = _where(line + buf.count("\n", 0, control.start()))
                raise StatementError(f"control character {control.group()!r} in the file", bad)
            pos = 0
            size = len(buf)
            match_at = TOKEN.match
            while pos < size:
                m = match_at(buf, pos)
                if m is None or (not eof and size - m.end() < 16):
                    if eof or size - pos > CHUNK:
                        raise StatementError(f"unreadable markup {buf[pos:pos + 30]!r}", _where(line))
                    break
                pos = m.end()
                closing, name, text = m.group(1, 2, 3)
                if name is None:  # CDATA or comment: continues the current leaf's text
                    cdata, after = m.group(4, 5)
                    if cdata is not None:
                        if leaf_name is None:
                            raise StatementError("CDATA outside an element", _where(line))
                        leaf_parts.append(cdata)
                    else:
                        after = m.group(6)
                    if leaf_name is None and after.strip():
                        raise StatementError(f"text {after.strip()[:30]!r} outside an element", _where(line))
                    if leaf_name is not None:
                        if ">" in after and _damaged(after):
                            raise StatementError(f"<{leaf_name}> holds a damaged tag: {after.strip()[:40]!r}",
                                                 _where(line))
                        leaf_parts.append(_unescape(after) if "&" in after else after)
                    line += m.group(0).count("\n")
                    continue
                if leaf_name is not None:
                    stack[-1].kids.append((leaf_name, "".join(leaf_parts).strip(), leaf_line))
                    last_leaf, leaf_name = leaf_name, None
                name = name.upper()
                tag_line = line
                line += m.group(0).count("\n")
                if self.closed:
                    raise StatementError(f"<{closing}{name}> after </OFX>", _where(tag_line))
                if closing:
                    if text.strip():
                        raise StatementError(f"text {text.strip()[:30]!r} after </{name}>", _where(tag_line))
                    if last_leaf == name and (not stack or stack[-1].name != name):
                        last_leaf = None
                        continue
                    last_leaf = None
                    yield from self._sgml_close(stack, name, tag_line)
                    continue
                last_leaf = None
                if not stack and name != "OFX":
                    raise StatementError(f"<{name}> before <OFX>", _where(tag_line))
                blank = not text.strip()
                nxt = buf.startswith("<![CDATA[", pos)
                if name in AGGREGATES and (blank and not nxt):
                    node = _Node(name, tag_line)
                    stack.append(node)
                    if name in STATEMENTS:
                        self._open_statement(tag_line)
                    elif name in TRANSACTIONS and self.stmt is not None and not self.stmt["yielded"]:
                        yield from self._begin_transaction(stack)
                elif name in AGGREGATES:
                    raise StatementError(f"<{name}> is an aggregate but holds text {text.strip()[:30]!r}",
                                         _where(tag_line))
                elif blank and not nxt and name not in TRANSACTION_ELEMENTS:
                    # An unknown tag with nothing after it: an aggregate if it is closed later,
                    # otherwise an empty element (settled when its parent closes).
                    stack.append(_Node(name, tag_line, known=False))
                    if len(stack) > MAX_DEPTH:
                        raise StatementError(f"elements nested more than {MAX_DEPTH} deep", _where(tag_line))
                else:
                    if ">" in text and _damaged(text):
                        raise StatementError(f"<{name}> holds a damaged tag: {text.strip()[:40]!r}", _where(tag_line))
                    leaf_name, leaf_line = name, tag_line
                    leaf_parts = [_unescape(text) if "&" in text else text]
            buf = buf[pos:]
        if leaf_name is not None and stack:
            stack[-1].kids.append((leaf_name, "".join(leaf_parts).strip(), leaf_line))
        if buf.strip():
            raise StatementError(f"unreadable markup {buf.strip()[:30]!r}", _where(line))
        if not self.closed:
            inside = next((n for n in reversed(stack) if n.known), None)
            if inside is None:
                raise StatementError("no <OFX> element in the file", _where(line))
            raise StatementError(
                f"the file ends inside <{inside.name}> opened at line {inside.line}: truncated "
                "(no </OFX>)", _where(line))
        yield from self._end_of_file(line)

    def _sgml_encoding(self, header: dict) -> str:
        if not header:
            return "utf-8"
        if header.get("OFXHEADER") not in (None, "100"):
            raise StatementError(f"OFXHEADER:{header['OFXHEADER']} is not an OFX 1 header", "line 1")
        data = header.get("DATA", "OFXSGML").upper()
        if data != "OFXSGML":
            raise StatementError(f"DATA:{data} is not OFXSGML", "header")
        enc = header.get("ENCODING", "USASCII").upper()
        charset = header.get("CHARSET", "NONE").upper()
        if enc in ("UTF-8", "UTF8", "UNICODE"):
            return "utf-8"
        if enc != "USASCII":
            raise StatementError(f"ENCODING:{enc} is not an OFX encoding (USASCII or UTF-8)", "header")
        if charset in CHARSETS:
            return CHARSETS[charset]
        if charset.isdigit():
            try:
                return codecs.lookup(f"cp{charset}").name
            except LookupError:
                pass
        raise StatementError(f"CHARSET:{charset} is not a character set this reader knows", "header")

    def _sgml_close(self, stack: list[_Node], name: str, line: int) -> Iterator[Item]:
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth].name == name:
                break
        else:
            raise StatementError(f"</{name}> closes nothing that is open", _where(line))
        while len(stack) - 1 > depth:
            inner = stack.pop()
            if inner.known:
                raise StatementError(
                    f"<{inner.name}> opened at line {inner.line} is not closed before </{name}>",
                    _where(line))
            # An unknown tag never closed: an empty element; what followed it belongs above.
            stack[-1].kids.append((inner.name, "", inner.line))
            stack[-1].kids.extend(inner.kids)
        node = stack.pop()
        keep = True
        if name in AGGREGATES or name in NOT_READ or name in TRNRS:
            names = [n.name for n in stack]
            path = "/" + "/".join(names) + "/" + name
            keep = yield from self._close(node, names, lambda: stack[-1], path)
        if keep and stack:
            stack[-1].kids.append(node)

    # ---- v2: XML ------------------------------------------------------------------------------

    def run_xml(self, stream: BinaryIO, head: bytes) -> Iterator[Item]:
        from lxml import etree

        root_at = head.find(b"<OFX")
        prolog = head[: root_at if root_at >= 0 else len(head)]
        if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper():
            raise StatementError("a DOCTYPE or entity declaration is not allowed in an OFX file", "line 1")
        pi = re.search(rb"<\?OFX\b([^?]*)\?>", prolog)
        attrs = dict(XML_ATTR.findall(pi.group(1))) if pi else {}
        if attrs.get(b"OFXHEADER", b"200") != b"200":
            raise StatementError(f"OFXHEADER=\"{attrs[b'OFXHEADER'].decode('ascii', 'replace')}\" is not an OFX 2 header", "header")
        # Events only for the aggregates the reader acts on: the others are read as subtrees.
        parser = etree.XMLPullParser(
            events=("start", "end"), tag=sorted(XML_EVENTS), resolve_entities=False, no_network=True,
            load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True)
        first = True
        skipped = 0
        while True:
            raw = stream.read(CHUNK)
            try:
                if raw:
                    if first:
                        stripped = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
                        skipped = raw[: len(raw) - len(stripped)].count(b"\n")
                        raw, first = stripped, False
                    parser.feed(raw)
                else:
                    parser.close()
                events = list(parser.read_events())
            except etree.XMLSyntaxError as error:
                raise StatementError(f"not well-formed XML: {error.msg}",
                                     _where((error.lineno or 0) + skipped)) from None
            for event, elem in events:
                name = elem.tag
                line = (elem.sourceline or 0) + skipped
                if event == "start":
                    if name == "OFX" and elem.getparent() is not None:
                        raise StatementError("<OFX> inside another element", _where(line))
                    if name in STATEMENTS:
                        self._open_statement(line)
                    elif name in TRANSACTIONS and self.stmt is not None and not self.stmt["yielded"]:
                        yield from self._begin_transaction(
                            [_xml_node(e, skipped, shallow=True) for e in _xml_ancestors(elem)[-4:]])
                    continue
                ancestors = _xml_ancestors(elem)[:-1]
                names = [e.tag.upper() for e in ancestors]
                path = "/" + "/".join(names + [name])
                node = _xml_node(elem, skipped)
                parent = ancestors[-1] if ancestors else None
                yield from self._close(node, names, lambda p=parent, k=skipped: _xml_node(p, k, shallow=True), path)
                if name in TRANSACTIONS or name in NOT_READ:
                    elem.clear()
                    while elem.getprevious() is not None:
                        del elem.getparent()[0]
            if not raw:
                break
        if not self.closed:
            raise StatementError("the file ends before </OFX> (truncated, or not an OFX document)", "end of file")
        yield from self._end_of_file(0)

    # ---- shared: what each aggregate means ---------------------------------------------------

    def _open_statement(self, line: int) -> None:
        if self.stmt is not None:
            raise StatementError("a statement opens inside another", _where(line))
        if self.statements >= len(self.controls):
            raise StatementError("a statement the file's scan did not find", _where(line))
        self.stmt = {"control": self.controls[self.statements], "yielded": False, "read": 0, "keyed": 0,
                     "fitids": {}, "keys": Counter()}
        self.statements += 1

    def _begin_transaction(self, stack: list[_Node]) -> Iterator[Item]:
        """Before a statement's first transaction (at its opening tag), the Statement itself."""
        if len(stack) >= 3 and stack[-2].name in ("BANKTRANLIST", "BANKTRANLISTP") and stack[-3].name in STATEMENTS:
            tranlist = stack[-2] if stack[-2].name == "BANKTRANLIST" else None
            yield self._statement(stack[-3], stack[-4] if len(stack) >= 4 else None, tranlist)

    def _close(self, node: _Node, names: list[str], parent, path: str):
        """Handle a closed aggregate (``names``: its ancestors; ``parent()``: the parent node);
        returns whether the parent keeps it."""
        name = node.name
        where = _where(node.line, path)
        if name in TRANSACTIONS:
            if (len(names) >= 2 and names[-1] in ("BANKTRANLIST", "BANKTRANLISTP")
                    and names[-2] in STATEMENTS and self.stmt is not None and self.stmt["yielded"]):
                yield from self._transaction(node, where)
                return False
            if self._inside_not_read(path):
                return False
            raise StatementError(f"<{name}> outside a statement's transaction list", where)
        if name == "SONRS":
            status = node.node("STATUS")
            if status is not None and (status.leaf("SEVERITY") or "").upper() == "ERROR":
                message = f"{status.leaf('CODE') or ''} {status.leaf('MESSAGE') or ''}".strip()
                raise StatementError(f"the bank refused the sign-on (status {message})", where)
            try:
                self.created = _date(node.leaf("DTSERVER"), "DTSERVER", where, required=False)
            except StatementError:
                self.created = None
            return False
        if name == "OFX":
            self.closed = True
            return False
        if name in NOT_READ:
            self.not_read.append((NOT_READ[name], node.line))
            return False
        if name in TRNRS:
            if node.node("STMTRS") is None and node.node("CCSTMTRS") is None:
                status = node.node("STATUS")
                code = status.leaf("CODE") if status is not None else "?"
                message = (status.leaf("MESSAGE") if status is not None else "") or ""
                yield Warning(f"the bank sent no statement in {name} {node.leaf('TRNUID') or ''}: "
                              f"status {code} {message}".strip(), where)
            return False
        if name in STATEMENTS:
            yield from self._end_statement(node, parent() if names else None, where)
            return True
        return True

    def _inside_not_read(self, path: str) -> bool:
        return any(f"/{name}/" in path + "/" for name in NOT_READ)

    def _statement(self, stmtrs: _Node, trnrs: _Node | None, tranlist: _Node | None = None) -> Statement:
        """The Statement item for a statement response whose header has been read."""
        where = _where(stmtrs.line)
        stmt = self.stmt
        assert stmt is not None
        _check(stmtrs)
        currency = (stmtrs.leaf("CURDEF") or "").upper()
        if not CURRENCY_CODE.fullmatch(currency):
            raise StatementError(f"CURDEF {currency!r} is not an ISO 4217 currency code", where)
        acct_tag = STATEMENTS[stmtrs.name]
        acct = stmtrs.node(acct_tag)
        if acct is None:
            raise StatementError(f"<{stmtrs.name}> has no <{acct_tag}> before its transactions", where)
        _check(acct)
        account = acct.leaf("ACCTID") or ""
        if not account:
            raise StatementError(f"<{acct_tag}> has no ACCTID", _where(acct.line))
        tranlist = tranlist or stmtrs.node("BANKTRANLIST")
        dtstart = dtend = None
        dtend_raw = ""
        if tranlist is not None:
            _check(tranlist)
            dtstart = _date(tranlist.leaf("DTSTART"), "DTSTART", _where(tranlist.line), required=False)
            dtend_raw = tranlist.leaf("DTEND") or ""
            dtend = _date(dtend_raw, "DTEND", _where(tranlist.line), required=False)
        else:
            ledger = stmtrs.node("LEDGERBAL")
            dtend_raw = (ledger.leaf("DTASOF") if ledger is not None else "") or ""
        trnuid = (trnrs.leaf("TRNUID") if trnrs is not None else "") or ""
        control = stmt["control"]
        balance = None
        if control["balance"]:
            try:
                balance = _amount(_unescape(control["balance"].decode("latin-1")), "BALAMT", where)
            except StatementError:
                balance = None
        stmt.update(account=account, currency=currency, yielded=True, balance=balance,
                    statement_id=f"{trnuid}/{dtend_raw}")
        stmt["statement"] = Statement(
            account=account, currency=currency, statement_id=stmt["statement_id"],
            created=self.created, period_start=dtstart, period_end=dtend, closing_balance=balance,
            where=where, bank_id=acct.leaf("BANKID") or "", branch_id=acct.leaf("BRANCHID") or "",
            account_type=(acct.leaf("ACCTTYPE") or "") if acct_tag == "BANKACCTFROM" else "CREDITCARD",
        )
        return stmt["statement"]

    def _transaction(self, node: _Node, where: str) -> Iterator[Item]:
        stmt = self.stmt
        assert stmt is not None
        stmt["read"] += 1
        allowed = CONTENT[node.name]
        leaves: dict[str, str] = {}
        aggs: dict[str, _Node] = {}
        for kid in node.kids:
            if type(kid) is tuple:
                name, seen = kid[0], leaves
                if name not in leaves:
                    leaves[name] = kid[1]
                    seen = None
            else:
                name, seen = kid.name, aggs
                if name not in aggs:
                    aggs[name] = kid
                    seen = None
                    if name in CONTENT:
                        _check(kid, where)
            if name not in allowed and "." not in name:
                raise StatementError(f"<{name}> has no place in <{node.name}> (an extension element's "
                                     "name has a '.')", where)
            if seen is not None:
                raise StatementError(f"<{name}> appears twice in one <{node.name}>", where)
        pending = node.name == "STMTTRNP"
        trntype = (leaves.get("TRNTYPE") or "").upper()
        if trntype not in TRNTYPES:
            raise StatementError(f"TRNTYPE {trntype!r} is not one of the spec's: {' '.join(sorted(TRNTYPES))}"
                                 if trntype else "TRNTYPE is missing", where)
        amount = _amount(leaves.get("TRNAMT"), "TRNAMT", where)
        if pending:
            booking = None
            value_date = _date(leaves.get("DTTRAN"), "DTTRAN", where)
        else:
            booking = _date(leaves.get("DTPOSTED"), "DTPOSTED", where)
            value_date = _date(leaves.get("DTUSER"), "DTUSER", where, required=False) or booking
        _date(leaves.get("DTAVAIL"), "DTAVAIL", where, required=False)
        notes: list[str] = []
        currency = stmt["currency"]
        converted = aggs.get("CURRENCY")
        original = aggs.get("ORIGCURRENCY")
        if converted is not None and original is not None:
            raise StatementError("a transaction has both CURRENCY and ORIGCURRENCY", where)
        for agg in (converted, original):
            if agg is None:
                continue
            sym = (agg.leaf("CURSYM") or "").upper()
            if not CURRENCY_CODE.fullmatch(sym):
                raise StatementError(f"CURSYM {sym!r} is not an ISO 4217 currency code", where)
            rate = _amount(agg.leaf("CURRATE"), "CURRATE", where)
            if agg is converted:
                notes.append(f"amount in {sym}; {stmt['currency']} equivalent {amount * rate} at rate {rate}")
                currency = sym
            else:
                notes.append(f"originally in {sym}, converted to {currency} at rate {rate}")
        payee = aggs.get("PAYEE")
        payer_name = leaves.get("EXTDNAME") or leaves.get("NAME") or (
            (payee.leaf("NAME") or "") if payee is not None else "")
        payer_account = ""
        for tag in ("BANKACCTTO", "CCACCTTO"):
            to = aggs.get(tag)
            if to is not None:
                payer_account = to.leaf("ACCTID") or ""
                if to.leaf("BANKID"):
                    notes.append(f"counterparty bank {to.leaf('BANKID')}")
        reference = leaves.get("REFNUM") or leaves.get("CHECKNUM") or ""
        if leaves.get("REFNUM") and leaves.get("CHECKNUM"):
            notes.append(f"check {leaves['CHECKNUM']}")
        memo = leaves.get("MEMO") or ""
        kind = _kind(trntype, amount)
        status = Status.PENDING if pending or trntype == "HOLD" else Status.BOOKED
        fitid = leaves.get("FITID") or ""
        correct = leaves.get("CORRECTFITID") or ""
        action = (leaves.get("CORRECTACTION") or "").upper()
        if correct or action:
            if action not in ("REPLACE", "DELETE") or not correct:
                raise StatementError("a correction needs CORRECTFITID and CORRECTACTION REPLACE or DELETE", where)
            what = "deletes" if action == "DELETE" else f"replaces by FITID {fitid or '?'}: {amount} {currency} on {booking}"
            yield Notice(
                account=stmt["account"], code=f"OFX {action}",
                message=(f"the bank {what} its earlier transaction FITID {correct}; not imported: "
                         "an agent corrects that payment by hand"),
                reference=correct, payer_name=payer_name,
                corrected={"action": action, "fitid": fitid, "amount": str(amount), "currency": currency,
                           "date": booking.isoformat() if booking else "", "memo": memo},
                where=where)
            return
        if not fitid:
            if pending:
                fitid = "pending:" + _stable_key(stmt, (value_date, amount, trntype, payer_name, memo, reference))
            elif leaves.get("SRVRTID"):
                fitid = "SRVRTID:" + leaves["SRVRTID"]
            else:
                stmt["keyed"] += 1
                fitid = "ofx-key:" + _stable_key(stmt, (booking, amount, trntype, payer_name, memo, reference))
        elif fitid in stmt["fitids"]:
            yield Warning(f"FITID {fitid} was already used at {stmt['fitids'][fitid]} of this statement; "
                          "the import keeps only the first", where)
        else:
            stmt["fitids"][fitid] = where.split(",")[0]
        yield Line(
            account=stmt["account"], statement_id=stmt["statement_id"], value_date=value_date,
            amount=amount, currency=currency, bank_transaction_id=fitid, kind=kind, status=status,
            booking_date=booking, payer_name=payer_name, payer_account=payer_account,
            reference=reference, remittance=memo, bank_code=trntype, notes=tuple(notes), where=where)

    def _end_statement(self, node: _Node, parent: _Node | None, where: str) -> Iterator[Item]:
        stmt = self.stmt
        assert stmt is not None
        if not stmt["yielded"]:
            yield self._statement(node, parent)
        ledger = node.node("LEDGERBAL")
        for agg in (node, ledger, node.node("BANKTRANLIST"), node.node("BANKTRANLISTP")):
            if agg is not None:
                _check(agg)
        if ledger is None:
            # Required by the spec, but it moves no money: the statement simply has no balance.
            yield Warning("the statement gives no ledger (closing) balance", where)
            balance = None
        else:
            balance = _amount(ledger.leaf("BALAMT"), "LEDGERBAL/BALAMT", _where(ledger.line))
            _date(ledger.leaf("DTASOF"), "LEDGERBAL/DTASOF", _where(ledger.line), required=False)
        if balance is None:
            pass
        elif stmt["balance"] is None:
            yield Warning(f"closing (ledger) balance {balance} {stmt['currency']}", where)
        elif stmt["balance"] != balance:
            raise StatementError(
                f"LEDGERBAL {balance} read, but the file's scan found {stmt['balance']}", where)
        counted = stmt["control"]["transactions"]
        if stmt["read"] != counted:
            raise StatementError(
                f"{counted} <STMTTRN>/<STMTTRNP> opened in this statement but {stmt['read']} read", where)
        if stmt["keyed"]:
            yield Warning(f"{stmt['keyed']} transaction(s) without FITID: a stable key stands in for the "
                          "bank's id", where)
        self.stmt = None

    def _end_of_file(self, line: int) -> Iterator[Item]:
        for what, at in self.not_read:
            yield Warning(f"the {what} at line {at} is not read: this reader imports bank and "
                          "credit-card statements", _where(at))
        if self.statements != len(self.controls):
            raise StatementError(
                f"{len(self.controls)} statements found by the scan but {self.statements} read", "end of file")
        if self.statements == 0:
            raise StatementError("no bank or credit-card statement (STMTRS or CCSTMTRS) in the file",
                                 "end of file")


def _kind(trntype: str, amount: Decimal) -> Kind:
    if amount > 0:
        return Kind.CREDIT
    if trntype in FEE_TYPES:
        return Kind.FEE
    if amount == 0:
        return Kind.CREDIT if trntype in CREDIT_TYPES else Kind.DEBIT
    if trntype in CREDIT_TYPES:
        return Kind.REVERSAL
    return Kind.DEBIT


def _stable_key(stmt: dict, parts: tuple) -> str:
    values = [format(p.normalize(), "f") if isinstance(p, Decimal) else str(p or "") for p in parts]
    digest = hashlib.sha256("\x1f".join([stmt["account"], *values]).encode()).hexdigest()[:24]
    stmt["keys"][digest] += 1
    return f"{digest}:{stmt['keys'][digest]}"


def _xml_ancestors(elem) -> list:
    """The element and its ancestors, root first."""
    chain = []
    while elem is not None:
        chain.append(elem)
        elem = elem.getparent()
    chain.reverse()
    return chain


def _xml_node(elem, skipped: int, shallow: bool = False) -> _Node:
    """An lxml element as a _Node; shallow skips transactions (a statement's header only)."""
    node = _Node(elem.tag.upper(), (elem.sourceline or 0) + skipped)
    for kid in elem:
        tag = kid.tag
        if not isinstance(tag, str):
            continue
        name = tag.upper()
        if shallow and name in TRANSACTIONS:
            continue
        if len(kid):
            node.kids.append(_xml_node(kid, skipped, shallow))
        elif name in AGGREGATES:
            node.kids.append(_Node(name, (kid.sourceline or 0) + skipped))
        else:
            node.kids.append((name, (kid.text or "").strip(), (kid.sourceline or 0) + skipped))
    return node
