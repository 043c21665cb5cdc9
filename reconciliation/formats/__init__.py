"""Statement readers, one pure module per format, and detection of a file's format by content.

See ``base`` for what a reader yields. Detection reads only the first bytes of a file.
"""

from __future__ import annotations

import importlib

from .base import Item, Kind, Line, Notice, Statement, StatementError, Status, Warning

# Most specific first: XML and OFX say what they are; CSV accepts almost anything, so it is
# never detected, only chosen with a saved column mapping.
FORMATS = {
    "camt": "ISO 20022 camt.052 / camt.053 / camt.054",
    "ofx": "OFX / QFX",
    "mt940": "SWIFT MT940 / MT942",
    "bai2": "BAI2",
    "nacha": "NACHA",
    "csv": "CSV (with the client's column mapping)",
}
DETECTED = ["camt", "ofx", "mt940", "bai2", "nacha"]
HEAD_BYTES = 64 * 1024


def reader(name: str):
    """The module that reads format ``name``."""
    if name not in FORMATS:
        raise StatementError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{name}")


def detect(head: bytes) -> str:
    """The format of a file from its first bytes, or StatementError naming what was tried."""
    for name in DETECTED:
        try:
            module = reader(name)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue  # a reader this build does not have yet
        if module.sniff(head):
            return name
    raise StatementError(
        "not a bank statement this application reads (tried "
        + ", ".join(FORMATS[name] for name in DETECTED)
        + "); for a CSV file choose CSV and the client's column mapping"
    )


__all__ = [
    "FORMATS", "Item", "Kind", "Line", "Notice", "Statement", "StatementError", "Status", "Warning",
    "detect", "reader",
]
