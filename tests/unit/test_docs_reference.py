"""The reference pages are what the code says now: a setting, command, flag, route or error
type added without its page fails here, naming it. Regenerate with
`python -m gateway.devtools.docs_reference`."""

from __future__ import annotations

import pytest

from gateway.devtools.docs_reference import DOCS, pages


@pytest.mark.parametrize("name", ["cli.md", "http-api.md", "error-types.md", "settings.md"])
def test_the_committed_page_is_the_generated_one(name: str) -> None:
    committed = (DOCS / name).read_text().splitlines()
    generated = pages()[name].splitlines()
    missing = [line for line in generated if line not in committed]
    stale = [line for line in committed if line not in generated]
    assert not missing and not stale, f"docs/reference/{name}: missing {missing}, stale {stale}"


def test_every_setting_has_a_meaning() -> None:
    """The meanings come from the guides' settings tables (docs/guides/*.md)."""
    blank = [line for line in pages()["settings.md"].splitlines() if line.endswith("|  |")]
    assert not blank, f"settings without a row in a guide's table: {blank}"


def test_every_command_says_what_it_does() -> None:
    """Each command's section opens with its help (or its description), a command that runs
    without a subcommand (`meterway settler`) included."""
    sections = pages()["cli.md"].split("\n## ")[1:]
    unsaid = [
        s.splitlines()[0] for s in sections if len(s.splitlines()) < 3 or not s.splitlines()[2]
    ]
    assert not unsaid, f"commands without a summary: {unsaid}"
    assert any(s.startswith("`meterway settler`\n") for s in sections)
