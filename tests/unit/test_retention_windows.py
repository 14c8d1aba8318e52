"""No quota window but `total` reaches a month retention may detach, so the rebuild adds
archived usage to `total` windows only (gateway/stores/postgres/money/window_usage.py).

Retention refuses the current UTC month and the last one (`retention_cut`), so every
detached row is older than the first instant of last month. Every other window starts at
or after it, in any quota time zone (UTC-12 to UTC+14, in half hours) and at any instant
(here: every hour of the three days around a month's turn, a short February's included).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.money.quotas import WINDOWS
from billing.money.windows import window_start
from gateway.ops.ledger_months import MonthError, add_months, month_of, retention_cut

TURNS = [datetime(y, m, 1, tzinfo=UTC) for y, m in ((2026, 1), (2026, 3), (2026, 12), (2028, 3))]
OFFSETS_MS = range(-12 * 3_600_000, 14 * 3_600_000 + 1, 1_800_000)


def _first_detachable_end(now: datetime) -> datetime:
    """The first instant retention keeps live at `now`: the start of last month."""
    last = add_months(month_of(now), -1)
    with pytest.raises(MonthError):
        retention_cut(add_months(last, 1), now)
    assert retention_cut(last, now) == last
    return datetime(last.year, last.month, 1, tzinfo=UTC)


@pytest.mark.parametrize("turn", TURNS, ids=lambda t: f"{t:%Y-%m}")
def test_every_window_but_total_starts_in_a_month_retention_keeps(turn: datetime) -> None:
    for hour in range(-36, 37):
        now = turn + timedelta(hours=hour, minutes=59, seconds=59)
        floor_ms = int(_first_detachable_end(now).timestamp() * 1000)
        now_ms = int(now.timestamp() * 1000)
        for window in WINDOWS:
            for offset in OFFSETS_MS:
                start = window_start(window, now_ms, offset)
                if window == "total":
                    assert start is None
                else:
                    assert start is not None and start >= floor_ms, (window, now, offset)
