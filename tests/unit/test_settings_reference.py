"""The reference says one thing per setting (issue 48: 11 pairs of settings shared one
description), lists a setting's allowed values, and no two pages share a title."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.devtools.docs_reference import DOCS, described_settings

GUIDES = sorted((DOCS.parent / "guides").glob("*.md"))
ROW = re.compile(r"^\| `(?P<name>[A-Z][A-Z0-9_]+)` \| [^|]* \| (?P<meaning>.*) \|$")


def test_no_two_settings_share_a_description() -> None:
    rows = [ROW.match(line) for line in (DOCS / "settings.md").read_text().splitlines()]
    meanings = [m["meaning"] for m in rows if m and m["meaning"]]
    shared = {m for m in meanings if meanings.count(m) > 1}
    assert shared == set()


def test_a_row_naming_two_settings_is_refused(tmp_path: Path) -> None:
    guide = tmp_path / "g.md"
    guide.write_text("| `SMTP_URL` / `SMTP_USER` | (off) | mail |\n")
    with pytest.raises(ValueError, match="one setting a row"):
        described_settings([guide])


def test_a_setting_with_a_closed_set_of_values_lists_them() -> None:
    meaning = described_settings(GUIDES)["PAYMENTS_PROVIDER"]
    assert "`stripe`" in meaning and "`local`" in meaning and "`none`" in meaning


def test_every_page_has_its_own_title() -> None:
    titles: dict[str, Path] = {}
    for page in sorted(DOCS.parent.rglob("*.md")):
        lines = [line for line in page.read_text().splitlines() if line.startswith("# ")]
        if not lines:
            continue
        title = lines[0]
        assert title not in titles, (title, page, titles.get(title))
        titles[title] = page
