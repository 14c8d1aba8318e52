"""billing/contracts/statements.py: months, grouping, totals and reconciliation, with no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.contracts.statements import (
    ARCHIVED,
    LLM_CALLS,
    TOOL_CALLS,
    InvalidMonth,
    Month,
    Movement,
    build,
    csv_rows,
    month_of,
    parse_month,
)

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
OCT = Month(2026, 10)
MOVES = [
    Movement("credit", 1, 5_000_000, grant_kind="paid"),
    Movement("credit", 1, 2_000_000, grant_kind="promotional"),
    Movement("debit", 3, -300, model="gpt-4o-mini", team_id="team_a", team_name="A", requests=3),
    Movement("debit", 1, -200, model="claude", requests=1),
    Movement("debit", 2, -50, meter="gpu_seconds"),
    Movement("expire", 1, -1_999_700, grant_kind="promotional"),
    Movement("refund", 1, -1_000_000, grant_kind="paid"),
    Movement("adjustment", 2, 25),
    Movement("void", 1, 0),
]
MOVED = 5_000_000 + 2_000_000 - 550 - 1_999_700 - 1_000_000 + 25


def test_months_parse_and_step_across_years() -> None:
    assert parse_month("2026-10", NOW) == OCT
    assert (OCT.start, OCT.end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert Month(2025, 12).next() == Month(2026, 1) and Month(2026, 1).previous() == Month(2025, 12)
    assert str(Month(2026, 1)) == "2026-01" and month_of(NOW) == Month(2026, 11)
    assert parse_month("2026-11", NOW) == Month(2026, 11)  # the current month, so far


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "26-10", "2026-1", "1999-12", "2026-12", "x"]
)
def test_a_month_that_is_not_one_or_has_not_begun_is_refused(text: str) -> None:
    with pytest.raises(InvalidMonth):
        parse_month(text, NOW)


def test_sections_group_and_reconcile() -> None:
    s = build("acct_1", OCT, 1_000, 1_000 + MOVED, MOVES, now=NOW)
    assert s.reconciles and s.final and s.complete
    credits = {ln.key: ln.amount_micros for ln in s.sections["credits"].lines}
    assert credits == {"paid": 5_000_000, "promotional": 2_000_000}
    by_model = {ln.key: (ln.requests, ln.amount_micros) for ln in s.usage_views["by_model"].lines}
    assert by_model == {"": (0, -50), "claude": (1, -200), "gpt-4o-mini": (3, -300)}
    by_team = {ln.label: ln.amount_micros for ln in s.usage_views["by_team"].lines}
    assert by_team == {"(no team)": -250, "A": -300}
    by_kind = {ln.key: ln.amount_micros for ln in s.usage_views["by_kind"].lines}
    assert by_kind == {LLM_CALLS: -500, "meter:gpu_seconds": -50}
    assert s.sections["expiries"].total_micros == -1_999_700
    assert s.sections["refunds"].total_micros == -1_000_000
    assert s.sections["adjustments"].entries == 2 and s.sections["other"].total_micros == 0


def test_mcp_tool_calls_are_their_own_kind() -> None:
    tool = Movement("debit", 2, -4_000, model="mcp:tools/search", requests=2)
    moved = MOVED + tool.amount_micros
    s = build("acct_1", OCT, 1_000, 1_000 + moved, [*MOVES, tool], now=NOW)
    by_kind = {ln.key: ln.amount_micros for ln in s.usage_views["by_kind"].lines}
    assert by_kind == {LLM_CALLS: -500, TOOL_CALLS: -4_000, "meter:gpu_seconds": -50}
    assert s.reconciles


def test_a_statement_that_does_not_add_up_says_so() -> None:
    assert not build("acct_1", OCT, 0, MOVED + 1, MOVES, now=NOW).reconciles


def test_the_current_month_is_not_final() -> None:
    assert not build("acct_1", Month(2026, 11), 0, 0, [], now=NOW).final


def test_a_dropped_archive_is_summed_by_kind_and_named() -> None:
    moves = [Movement("debit", 4, -400, itemized=False), Movement("credit", 1, 900, itemized=False)]
    s = build("acct_1", OCT, 0, 500, moves, now=NOW, missing=["ledger_archive_2026_10"])
    assert s.reconciles and not s.complete and s.missing == ("ledger_archive_2026_10",)
    for view in s.usage_views.values():
        assert [(ln.label, ln.amount_micros) for ln in view.lines] == [(ARCHIVED, -400)]
    assert [ln.label for ln in s.sections["credits"].lines] == [ARCHIVED]


def test_csv_rows_carry_the_same_figures() -> None:
    s = build("acct_1", OCT, 1_000, 1_000 + MOVED, MOVES, now=NOW)
    rows = csv_rows(s)
    assert rows[0][2:] == ("opening_balance", "", "opening balance", 0, 0, 1_000)
    assert rows[-1][-1] == s.closing_micros
    totals = {r[2]: r[-1] for r in rows if r[2].endswith("_total")}
    assert totals["credits_total"] == 7_000_000
    assert {totals[f"usage_{v}_total"] for v in ("by_model", "by_team", "by_kind")} == {-550}
    sections = sum(v for k, v in totals.items() if not k.startswith("usage_"))
    assert rows[0][-1] + sections + totals["usage_by_model_total"] == rows[-1][-1]
