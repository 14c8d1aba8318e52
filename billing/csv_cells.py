"""The one CSV writer: every CSV Meterway writes (FOCUS, usage reports, statements, the audit
log, reconciliation) is text from `csv_text`, so a cell a spreadsheet would run as a formula
is written inert, whoever typed it (an account's or key's name, a tag, a provider's report).

OWASP's CSV-injection rule: a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
return gets a single quote in front (`'=HYPERLINK(...)`), which a spreadsheet shows and does
not evaluate. A cell that is a plain decimal number (`-12.5`, a refund; `-350`) is kept as
it is: it cannot be a formula, and a quote would turn the figure into text. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def cell(value: object) -> str:
    """One cell's text: None is empty, a formula-looking text is quoted inert."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and _NUMBER.fullmatch(text) is None:
        return "'" + text
    return text


def _field(text: str) -> str:
    """RFC 4180: a cell holding a comma, a quote or a line break is quoted, its quotes
    doubled (the csv module's writer leaves a lone carriage return bare when lines end in
    `\n`, which splits the row in a reader)."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _line(values: Sequence[object]) -> str:
    cells = [_field(cell(v)) for v in values]
    return ('""' if cells == [""] else ",".join(cells)) + "\n"


def csv_text(header: Sequence[str] | None, rows: Iterable[Sequence[object]]) -> str:
    """The header line (None: none, for a page after the first) and the rows, as CSV with
    `\n` line ends, every cell through `cell`."""
    lines = [] if header is None else [_line(header)]
    lines += [_line(row) for row in rows]
    return "".join(lines)
