# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Window arithmetic, mirrored from reserve.lua for reading usage outside the hot path.

Calendar windows (day, ISO week from Monday, month) are aligned to a zone's UTC offset and
reset exactly at the boundary. Minute and hour windows are sliding: each is cut into
GRANULES granules and the sum of the last GRANULES + 1 granules is compared to the limit.
That span always contains the true rolling window, so the limit is never exceeded in any
rolling period; the price is that a unit keeps counting for up to one granule (5 s for a
minute window, 5 min for an hour window) longer than the period.
"""

from __future__ import annotations

from datetime import UTC, datetime

from billing.money.quotas import WINDOW_CODES

DAY_MS = 86_400_000
SLIDING_MS = {"minute": 60_000, "hour": 3_600_000}
GRANULES = 12
WINDOW_CODE = WINDOW_CODES  # one table: billing/money/quotas.py


def calendar_period(window: str, now_ms: int, offset_ms: int) -> tuple[str, int | None]:
    """(period id as reserve.lua names it, reset instant in UTC ms or None for total)."""
    day = (now_ms + offset_ms) // DAY_MS
    if window == "day":
        return str(day), (day + 1) * DAY_MS - offset_ms
    if window == "week":
        week = (day + 3) // 7
        return str(week), (week * 7 + 4) * DAY_MS - offset_ms
    if window == "month":
        local = datetime.fromtimestamp(day * 86_400, UTC)
        y, m = local.year, local.month
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        start_next = datetime(ny, nm, 1, tzinfo=UTC)
        return f"{y}-{m}", int(start_next.timestamp()) * 1000 - offset_ms
    return "all", None


def granule_ms(window: str) -> int:
    """Length of one granule of a sliding window (5 s for a minute, 5 min for an hour)."""
    return SLIDING_MS[window] // GRANULES


def window_start(window: str, now_ms: int, offset_ms: int) -> int | None:
    """First instant (UTC ms) a window counts at now_ms: its oldest granule or its period's
    start; None for total, which counts everything."""
    if window in SLIDING_MS:
        g = granule_ms(window)
        return (now_ms // g - GRANULES) * g
    if window == "total":
        return None
    day = (now_ms + offset_ms) // DAY_MS
    if window == "day":
        return day * DAY_MS - offset_ms
    if window == "week":
        return ((day + 3) // 7 * 7 - 3) * DAY_MS - offset_ms
    first = datetime.fromtimestamp(day * 86_400, UTC).replace(day=1)
    return int(first.timestamp()) * 1000 - offset_ms


def sliding_granules(window: str, now_ms: int) -> tuple[list[str], int]:
    """(the granule field names summed now, the instant every one of them has expired)."""
    g = granule_ms(window)
    current = now_ms // g
    fields = [str(current - GRANULES + n) for n in range(GRANULES + 1)]
    return fields, (current + GRANULES + 1) * g


def sliding_reset(window: str, now_ms: int, granules: list[int], limit: int) -> int:
    """When a sliding window read now (`granules`: the counts of `sliding_granules`' fields)
    resets: a full window when one more unit fits, as reserve.lua's refusal says; any other
    when the last unit it counts has expired. It depends on what was used, not on `now_ms`'s
    place in its granule, so two reads a few seconds apart agree."""
    g = granule_ms(window)
    current = now_ms // g
    left = sum(granules)
    if left >= limit:
        for n, count in enumerate(granules, start=1):
            left -= count
            if left < limit:
                return (current + n) * g
    last = max((n for n, count in enumerate(granules, start=1) if count), default=len(granules))
    return (current + last) * g
