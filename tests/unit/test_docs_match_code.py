"""docs/reference/metrics.md lists every metric family `/metrics` can answer, and the audit
log's table every action, and no other: read off the code (the registry of gateway/telemetry.py,
the `# TYPE` lines written by hand in gateway/, billing/proof/audit_phrases.py's WORDS)."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest

from billing.proof.audit_phrases import WORDS
from gateway import telemetry

ROOT = Path(__file__).resolve().parents[2]
_TYPE = re.compile(r"# TYPE (meterway_\w+)")


def _code_families() -> set[str]:
    text = generate_latest(telemetry._build().registry).decode()
    found = {f for f in _TYPE.findall(text) if not f.endswith("_created")}
    for path in (ROOT / "gateway").rglob("*.py"):
        found |= set(_TYPE.findall(path.read_text()))
    return found


def _documented() -> set[str]:
    page = (ROOT / "docs/reference/metrics.md").read_text()
    return set(re.findall(r"^\| `(meterway_\w+)`", page, re.M))


def test_every_metric_family_has_its_row_and_every_row_a_family() -> None:
    code, docs = _code_families(), _documented()
    assert sorted(code - docs) == [], "families missing from docs/reference/metrics.md"
    assert sorted(docs - code) == [], "rows in docs/reference/metrics.md no code writes"


def test_every_audit_action_is_in_the_audit_logs_table_and_no_other() -> None:
    """docs/guides/audit-log.md's table of actions is every action the log can hold (each
    has its words, billing/proof/audit_phrases.py), and only those."""
    page = (ROOT / "docs/guides/audit-log.md").read_text()
    table = page[page.index("| changes | actions |") :].split("\n\n")[0]
    documented = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", table))
    assert sorted(set(WORDS) - documented) == [], "actions missing from the table"
    assert sorted(documented - set(WORDS)) == [], "actions in the table the log never holds"
