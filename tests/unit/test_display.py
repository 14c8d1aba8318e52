"""Money and names for people (billing.money.display): the wrong answers issue 38 listed, fixed."""

from __future__ import annotations

from billing.money.display import (
    lifetime,
    metric_label,
    quota_amount,
    quota_label,
    usage_label,
    usd,
    usd_cost,
    usd_input,
    usd_line,
)
from billing.money.micros import parse_usd
from gateway.cli.commands.statement import statement_text


def test_a_balance_is_shown_in_cents_not_micros() -> None:
    assert usd(9_975_423) == "$9.97"  # was "$9.975423"; never a cent it does not hold
    assert usd(9_999_992) == "$9.99"  # 8 micros spent off $10.00 shows
    assert usd(1_234_500_000) == "$1,234.50"
    assert usd(-20_000) == "-$0.02"
    assert usd(-1) == "-$0.01"  # owing anything shows as owing
    assert usd(0) == "$0.00"


def test_a_nonzero_amount_under_a_cent_never_reads_as_nothing() -> None:
    """The issue's "$0.00 available" beside a 402 naming $0.009894."""
    assert usd(9_894) == usd(1) == usd(9_999) == "< $0.01"
    assert usd(10_000) == "$0.01"


def test_request_costs_share_one_precision() -> None:
    assert (usd_cost(-120), usd_cost(-2_000)) == ("-$0.000120", "-$0.002000")  # was -$0.00012
    assert usd_cost(1_234_500_000) == "$1,234.500000"


def test_a_form_field_holds_the_exact_amount() -> None:
    for micros in (5_000_000, 1_234_500_000, 123_456, 10_000):
        assert parse_usd(usd_input(micros)) == micros
    assert usd_input(1_234_500_000) == "1234.50"  # no "$", no thousands comma


def test_windows_and_metrics_read_as_words() -> None:
    assert quota_label("month", "spend_micros") == "spend per month"  # was "spend micros"
    assert quota_label("day", "meter:gpu_seconds") == "GPU seconds per day"
    assert quota_label("total", "tokens") == "tokens in total"
    assert metric_label("input_tokens") == "input tokens"
    assert quota_amount("spend_micros", 5_000_000) == "$5.00"
    assert quota_amount("requests", 12_000) == "12,000"


def test_meter_debits_and_llm_calls_are_labelled_in_usage() -> None:
    assert usage_label("model", None) == "Metered usage (meters)"  # was "—"
    assert usage_label("model", "gpt-4o-mini") == "gpt-4o-mini"
    assert usage_label("meter", "egress_bytes") == "egress bytes"
    assert usage_label("meter", None) == "LLM calls"
    assert usage_label("key", "") == "Metered usage (no key)"


def test_time_left_in_the_two_largest_units() -> None:
    from billing.money.display import time_left

    assert time_left(0) == "now" and time_left(-5) == "now"
    assert time_left(40) == "in 40 s"
    assert time_left(60) == "in 1 min" and time_left(719) == "in 11 min"
    assert time_left(3600) == "in 1 h" and time_left(3600 * 3 + 300) == "in 3 h 5 min"
    assert time_left(86_400) == "in 1 day" and time_left(2 * 86_400 + 4 * 3600) == "in 2 days 4 h"


def test_a_statement_line_is_exact_and_never_a_whole_cent() -> None:
    """Two requests of $0.00045 read "-$0.01" on the statement, against its own rule."""
    assert usd_line(-450) == "-< $0.01" and usd_line(450) == "< $0.01"
    assert usd_line(-1_234_567) == "-$1.234567"  # not "-$1.24"
    assert usd_line(0) == "$0.00" and usd_line(15_000_000) == "$15.00"


def test_the_cli_statement_shows_sub_cent_usage_as_under_a_cent() -> None:
    section: dict[str, object] = {"lines": [], "entries": 0, "total_micros": 0}
    usage: dict[str, object] = {"requests": 2, "entries": 2, "total_micros": -450}
    usage |= {"by_model": [], "by_team": [], "by_kind": []}
    s: dict[str, object] = {"account_id": "acc", "month": "2026-11", "final": False}
    s |= {"missing_archives": []}
    s |= {"opening_balance_micros": 1_000_000, "closing_balance_micros": 999_550, "usage": usage}
    s |= {name: section for name in ("credits", "expiries", "refunds", "adjustments", "other")}
    usage_line = next(x for x in statement_text(s).splitlines() if x.startswith("usage"))
    assert usage_line.endswith("-< $0.01") and "$0.01" not in usage_line.replace("< $0.01", "")
    assert statement_text(s).splitlines()[-1].endswith("$0.99955")


def test_a_lifetime_reads_in_whole_days_from_a_day_up() -> None:
    """`meterway login` said 29 days for a 30-day token: its expires_in was measured a few
    seconds after the token was made, and floored."""
    assert lifetime(30 * 86_400 - 3) == "30 days" and lifetime(86_400) == "1 day"
    assert lifetime(90 * 60) == "1 h 30 min"
