"""docs/concepts/security.md names, for every threat, the test that holds it: each named file
and test must exist, so a renamed or deleted test cannot leave a promise unheld."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "concepts" / "security.md"
CITED = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)((?:::\w+)?)`|`::(\w+)`")


def cited_tests() -> list[tuple[Path, str]]:
    """(file, test name or '') for every test a table row names; a bare `::name` or a file
    without its folder refers to the file last named in full."""
    found: list[tuple[Path, str]] = []
    last: Path | None = None
    for row in (line for line in DOC.read_text().splitlines() if line.startswith("| ")):
        for file, name, bare in CITED.findall(row):
            if file:
                path = ROOT / file if file.startswith("tests/") else _beside(last, file)
                last = path
                found.append((path, name.removeprefix("::")))
            else:
                assert last is not None, row
                found.append((last, bare))
    return found


def _beside(last: Path | None, file: str) -> Path:
    assert last is not None, file
    return last.parent / file


def test_every_threat_names_a_test_that_exists() -> None:
    cited = cited_tests()
    assert len(cited) >= 25
    for path, name in cited:
        assert path.is_file(), path
        if name:
            assert re.search(rf"^(async )?def {name}\(", path.read_text(), re.M), (path, name)
