"""The text-only PDF writer, read back by an independent parser (pypdf): the text comes
back, the cross-reference offsets point at their objects (strict parsing fails otherwise),
long documents flow onto more pages, and what WinAnsi cannot hold becomes '?'."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from gateway.http.pdf import LINES_PER_PAGE, Line, text_pdf


def _read(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data), strict=True)


def test_text_comes_back_with_escapes_and_a_title() -> None:
    lines = [Line("Receipt R-1", bold=True, size=16), Line("Paid (by card) \\ $10.00 · café")]
    reader = _read(text_pdf(lines, title="Receipt R-1"))
    text = reader.pages[0].extract_text()
    assert "Receipt R-1" in text and "Paid (by card) \\ $10.00 · café" in text
    assert reader.metadata is not None and reader.metadata.title == "Receipt R-1"


def test_every_xref_offset_points_at_its_object() -> None:
    data = text_pdf([Line(f"line {i}") for i in range(3)])
    start = int(re.search(rb"startxref\n(\d+)", data).group(1))  # type: ignore[union-attr]
    assert data[start:].startswith(b"xref\n")
    rows = re.findall(rb"(\d{10}) 00000 n ", data[start:])
    for number, offset in enumerate(rows, start=1):
        assert data[int(offset) :].startswith(f"{number} 0 obj".encode())


def test_long_documents_flow_onto_more_pages_and_odd_characters_are_replaced() -> None:
    lines = [Line(f"row {i}") for i in range(LINES_PER_PAGE * 2 + 1)] + [Line("名前 ok")]
    reader = _read(text_pdf(lines))
    assert len(reader.pages) == 3
    last = reader.pages[2].extract_text()
    assert f"row {LINES_PER_PAGE * 2}" in last and "?? ok" in last
    assert f"row {LINES_PER_PAGE - 1}" in reader.pages[0].extract_text()
