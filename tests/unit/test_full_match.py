"""Every validator of a caller's or an operator's text matches it whole: a pattern ending in
`$` (kept so for the OpenAPI document, where ECMA reads it) matches before a final newline
under Python's `re.match`, which let a tag value, a database name, an MCP server or header
name, a meter name, a quota metric and a month end in one (issue 70). Each case here was
accepted before the validators took `fullmatch`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from billing.contracts.statements import InvalidMonth, parse_month
from billing.money.quotas import QuotaSpecError, parse_quota
from billing.pricing.meters import MeterError, parse_meters
from billing.usage.tags import TagSpecError, parse_tags
from gateway.config.analytics import analytics_settings
from gateway.config.mcp import read_mcp
from gateway.config.values import ConfigError

METER = {"unit": "second", "price": "0.01"}


def _database(name: str) -> object:
    return analytics_settings(
        lambda key, default=None: name if key == "CLICKHOUSE_DATABASE" else default
    )


CASES: list[tuple[str, Callable[[str], object], type[Exception], str]] = [
    ("tag value", lambda s: parse_tags({"cost_center": s}), TagSpecError, "cc-1"),
    ("CLICKHOUSE_DATABASE", _database, ConfigError, "meterway"),
    ("MCP server", lambda s: read_mcp({}, {s: {"url": "http://127.0.0.1:9"}}), ConfigError,
     "tools"),
    ("MCP header", lambda s: read_mcp({}, {"t": {"url": "http://127.0.0.1:9", "auth_header": s}}),
     ConfigError, "X-Key"),
    ("meter name", lambda s: parse_meters({"meters": {s: METER}}), MeterError, "gpu_seconds"),
    ("meter quota metric",
     lambda s: parse_meters({"meters": {"gpu": {**METER, "quota_metric": s}}}), MeterError,
     "meter:gpu"),
    ("quota metric", lambda s: parse_quota({"window": "day", "metric": s, "limit": 1}),
     QuotaSpecError, "meter:gpu"),
    ("month", lambda s: parse_month(s, datetime(2026, 11, 1, tzinfo=UTC)), InvalidMonth,
     "2026-10"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "check", "error", "valid"), CASES, ids=[c[0] for c in CASES])
def test_a_trailing_newline_is_refused(
    what: str, check: Callable[[str], object], error: type[Exception], valid: str
) -> None:
    check(valid)  # the same text without it passes
    with pytest.raises(error):
        check(valid + "\n")
