"""Format detection by content: every real sample is recognised as the format it is, and
nothing else claims it."""

from pathlib import Path

import pytest

from reconciliation.formats import DETECTED, StatementError, detect, reader

SAMPLES = Path("/work/shared/samples")
if not SAMPLES.is_dir():
    SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "samples"

# Folder of ../shared/samples -> the reader that must recognise its files.
FOLDERS = {"camt053": "camt", "camt054": "camt", "ofx": "ofx", "mt940": "mt940", "bai2": "bai2", "nacha": "nacha"}
FILES = sorted(p for folder in FOLDERS for p in (SAMPLES / folder).iterdir() if p.is_file())


def test_every_folder_of_samples_is_read():
    assert {p.parent.name for p in FILES} == set(FOLDERS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_sample_is_detected_as_its_format_and_claimed_by_no_other(path):
    head = path.read_bytes()[:65536]
    assert detect(head) == FOLDERS[path.parent.name]
    claimed = [name for name in DETECTED if reader(name).sniff(head)]
    assert claimed == [FOLDERS[path.parent.name]]


@pytest.mark.parametrize("path", sorted((SAMPLES / "csv").iterdir()), ids=lambda p: p.name)
def test_a_csv_file_is_not_guessed_but_named_as_needing_a_mapping(path):
    with pytest.raises(StatementError, match="choose CSV and the client's column mapping"):
        detect(path.read_bytes()[:65536])


@pytest.mark.parametrize("head", [b"", b"\x00\x01\x02", b"hello world\n", b"<?xml version='1.0'?><Document/>"])
def test_what_is_no_statement_is_refused_naming_the_formats_tried(head):
    with pytest.raises(StatementError, match="tried ISO 20022"):
        detect(head)
