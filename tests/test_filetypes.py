"""File types are judged by content; names cannot point anywhere."""

import pytest

from core.documents import FileType
from core.errors import IngestError
from ingestion.filetypes import detect_file_type, safe_filename


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("a.pdf", b"%PDF-1.7\n...", FileType.PDF),
        ("no_extension", b"%PDF-1.4\n...", FileType.PDF),
        ("mail", b"From: a@b.example\nSubject: hi\n\nbody", FileType.EML),
        ("page", b"<!DOCTYPE html><html><body>x</body></html>", FileType.HTML),
        ("notes.md", b"# Title\n\ntext", FileType.MARKDOWN),
        ("latin1.txt", "Qualit\xe4t".encode("cp1252"), FileType.TEXT),
    ],
)
def test_detected_by_content(name, data, expected):
    assert detect_file_type(name, data) == expected


@pytest.mark.parametrize("name", ["../x.pdf", "/etc/passwd", "a\\b.pdf", "C:evil.pdf", "..", "", "bad\nname.pdf"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(IngestError):
        safe_filename(name)


def test_plain_names_pass():
    assert safe_filename("DEV-2024-031 (final) v2.pdf") == "DEV-2024-031 (final) v2.pdf"
