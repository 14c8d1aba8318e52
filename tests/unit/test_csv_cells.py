"""The one CSV writer (billing/csv_cells.py): formulas written inert, numbers kept numbers,
and no other module of the package writes CSV on its own (a source scan)."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest

from billing.csv_cells import cell, csv_text

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = (
    '=HYPERLINK("http://evil.example/?x","click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


@pytest.mark.parametrize("text", HOSTILE)
def test_a_formula_is_quoted(text: str) -> None:
    assert cell(text) == "'" + text
    [[read]] = list(csv.reader(io.StringIO(csv_text(None, [[text]]), newline="")))
    assert read == "'" + text


@pytest.mark.parametrize("number", ["-12.5", "-350", "0", "12.000001", "-0.000001"])
def test_a_plain_number_stays_a_number(number: str) -> None:
    assert cell(number) == number


@pytest.mark.parametrize("text", ["-", "-1e5", "-1,000", "--1", "-1.", "+1", "-\u0661"])
def test_what_only_looks_like_a_number_is_quoted(text: str) -> None:
    assert cell(text) == "'" + text


def test_the_stdlib_reader_reads_back_every_cell() -> None:
    row: list[object] = ["a,b", 'say "hi"', "line\nbreak", "cr\ronly", "", None, -12.5]
    rows: list[list[object]] = [row, [""]]
    text = csv_text(["h1", "h2"], rows)
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read == [
        ["h1", "h2"],
        ["a,b", 'say "hi"', "line\nbreak", "cr\ronly", "", "", "-12.5"],
        [""],
    ]


def test_none_is_empty_and_the_header_is_optional() -> None:
    assert csv_text(["a", "b"], [[None, 1]]) == "a,b\n,1\n"
    assert csv_text(None, [["x"]]) == "x\n"


def _writes_csv(source: str) -> bool:
    """The module calls csv.writer or csv.DictWriter (or imports them by name)."""
    names = {"writer", "DictWriter"}
    for node in ast.walk(ast.parse(source)):
        used = isinstance(node, ast.Attribute) and node.attr in names
        if used and getattr(getattr(node, "value", None), "id", "") == "csv":
            return True
        imported = isinstance(node, ast.ImportFrom) and node.module == "csv"
        if imported and names & {a.name for a in getattr(node, "names", ())}:
            return True
    return False


def test_no_module_but_the_one_writer_writes_csv() -> None:
    writers = {
        str(path.relative_to(ROOT))
        for package in ("billing", "gateway")
        for path in sorted((ROOT / package).rglob("*.py"))
        if _writes_csv(path.read_text())
    }
    assert writers == set(), "write CSV with billing/csv_cells.py's csv_text"


def test_the_scan_sees_a_writer() -> None:
    assert _writes_csv("import csv\ncsv.DictWriter(out, ['a'])\n")
    assert _writes_csv("from csv import writer\n")
    assert not _writes_csv("import csv\ncsv.reader(x)\n")
