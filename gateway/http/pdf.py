"""A text-only PDF, enough for a receipt a person keeps: A4 pages of lines in the standard
Type1 Helvetica (every PDF reader has it, so nothing is embedded), WinAnsi-encoded, with
the cross-reference table's byte offsets counted as the file is written. No dependency:
the project needs this one small thing of PDF, not a library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 595, 842  # A4 in points
MARGIN = 56
LEADING = 16
LINES_PER_PAGE = (HEIGHT - 2 * MARGIN) // LEADING


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    bold: bool = False
    size: int = 11


def _literal(text: str) -> bytes:
    """A PDF string literal in WinAnsi (cp1252): what it cannot encode becomes '?'."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(lines: Sequence[Line]) -> bytes:
    ops = [b"BT", f"{LEADING} TL {MARGIN} {HEIGHT - MARGIN} Td".encode()]
    for line in lines:
        font = b"/F2" if line.bold else b"/F1"
        ops.append(font + f" {line.size} Tf ".encode() + _literal(line.text) + b" Tj T*")
    ops.append(b"ET")
    return b"\n".join(ops)


def text_pdf(lines: Sequence[Line], title: str = "") -> bytes:
    """The lines on as many pages as they need, top to bottom."""
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)]
    pages = pages or [[]]
    first_page = 5  # 1 catalog, 2 pages, 3 and 4 the fonts, 5 the info; then page, content
    kids = " ".join(f"{first_page + 1 + 2 * i} 0 R" for i in range(len(pages)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + _literal(title) + b" /Producer (Meterway) >>",
    ]
    for i, page in enumerate(pages):
        content = first_page + 2 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {WIDTH} {HEIGHT}]"
            f" /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content} 0 R >>".encode()
        )
        stream = _content(page)
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    return _file(objects)


def _file(objects: Sequence[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
