"""Window arithmetic: period ids and reset instants, with no Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.money.windows import (
    GRANULES,
    calendar_period,
    granule_ms,
    sliding_granules,
    sliding_reset,
    window_start,
)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("2026-11-21T12:00:00", "2026-11-22T00:00:00"),
        ("2026-11-21T23:59:59.999", "2026-11-22T00:00:00"),
        ("2026-11-22T00:00:00", "2026-11-23T00:00:00"),
        ("2024-02-28T10:00:00", "2024-02-29T00:00:00"),
    ],
)
def test_day_resets_at_utc_midnight(now: str, reset: str) -> None:
    assert calendar_period("day", ms(now), 0)[1] == ms(reset)


def test_day_period_changes_exactly_at_midnight() -> None:
    before = calendar_period("day", ms("2026-11-21T23:59:59.999"), 0)[0]
    after = calendar_period("day", ms("2026-11-22T00:00:00"), 0)[0]
    assert int(after) == int(before) + 1


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("2026-11-21T12:00:00", "2026-11-23T00:00:00"),  # Saturday
        ("2026-11-22T23:59:59", "2026-11-23T00:00:00"),  # Sunday
        ("2026-11-23T00:00:00", "2026-11-30T00:00:00"),  # Monday starts a new week
        ("2026-12-31T08:00:00", "2027-01-04T00:00:00"),  # ISO week across the year end
        ("1970-01-01T00:00:00", "1970-01-05T00:00:00"),  # epoch was a Thursday
    ],
)
def test_week_resets_on_iso_monday(now: str, reset: str) -> None:
    assert calendar_period("week", ms(now), 0)[1] == ms(reset)


def test_week_id_is_shared_from_monday_to_sunday() -> None:
    ids = {calendar_period("week", ms(f"2026-11-{d}T12:00:00"), 0)[0] for d in range(23, 30)}
    assert len(ids) == 1
    assert calendar_period("week", ms("2026-11-22T12:00:00"), 0)[0] not in ids


@pytest.mark.parametrize(
    ("now", "pid", "reset"),
    [
        ("2026-11-21T12:00:00", "2026-11", "2026-12-01T00:00:00"),
        ("2026-12-31T23:59:59", "2026-12", "2027-01-01T00:00:00"),
        ("2027-01-01T00:00:00", "2027-1", "2027-02-01T00:00:00"),
        ("2028-02-15T00:00:00", "2028-2", "2028-03-01T00:00:00"),
    ],
)
def test_month_ids_and_resets_cross_december(now: str, pid: str, reset: str) -> None:
    assert calendar_period("month", ms(now), 0) == (pid, ms(reset))


def test_zone_offset_moves_the_boundary() -> None:
    plus_two = 2 * 3_600_000
    # 23:00Z on the 21st is already the 22nd at UTC+2, so that day ends at 22:00Z on the 22nd.
    assert calendar_period("day", ms("2026-11-21T23:00:00"), plus_two)[1] == ms(
        "2026-11-22T22:00:00"
    )
    assert calendar_period("month", ms("2026-11-30T23:00:00"), plus_two) == (
        "2026-12",
        ms("2026-12-31T22:00:00"),
    )


def test_total_never_resets() -> None:
    assert calendar_period("total", ms("2026-11-21T12:00:00"), 0) == ("all", None)


def test_sliding_granules_span_one_period_plus_one_granule() -> None:
    now = ms("2026-11-21T12:00:07")
    fields, gone = sliding_granules("minute", now)
    granule = 60_000 // GRANULES
    assert len(fields) == GRANULES + 1
    assert int(fields[-1]) == now // granule
    assert int(fields[-1]) - int(fields[0]) == GRANULES
    assert gone == (now // granule + GRANULES + 1) * granule
    assert 60_000 < gone - now <= 65_000


def test_hour_granules_are_five_minutes() -> None:
    now = ms("2026-11-21T12:00:00")
    fields, gone = sliding_granules("hour", now)
    assert int(fields[1]) - int(fields[0]) == 1
    assert gone - now == 65 * 60_000


@pytest.mark.parametrize("window", ["day", "week", "month"])
@pytest.mark.parametrize("offset_ms", [0, 2 * 3_600_000, -5 * 3_600_000])
def test_window_start_is_the_start_of_the_period_calendar_period_names(
    window: str, offset_ms: int
) -> None:
    now = 1_795_264_465_123  # 2026-11-21T12:34:25Z
    start = window_start(window, now, offset_ms)
    assert start is not None
    period, reset = calendar_period(window, now, offset_ms)
    assert reset is not None and start <= now < reset
    assert calendar_period(window, start, offset_ms)[0] == period
    assert calendar_period(window, start - 1, offset_ms)[0] != period


def test_window_start_of_sliding_and_total_windows() -> None:
    now = 1_795_264_465_123
    fields, _ = sliding_granules("minute", now)
    assert window_start("minute", now, 0) == int(fields[0]) * granule_ms("minute")
    assert window_start("total", now, 0) is None


def test_a_full_sliding_window_resets_when_one_more_unit_fits() -> None:
    g = granule_ms("minute")
    now = ms("2026-11-21T12:00:07")
    used = [0] * (GRANULES + 1)
    used[3], used[7] = 1, 1  # two requests of a limit of two
    assert sliding_reset("minute", now, used, 2) == (now // g + 4) * g
    assert sliding_reset("minute", now, used, 1) == (now // g + 8) * g


def test_a_sliding_window_that_is_not_full_resets_when_its_last_unit_expires() -> None:
    g = granule_ms("minute")
    now = ms("2026-11-21T12:00:07")
    used = [0] * (GRANULES + 1)
    used[5] = 1
    assert sliding_reset("minute", now, used, 10) == (now // g + 6) * g
    assert (
        sliding_reset("minute", now, [0] * (GRANULES + 1), 10) == sliding_granules("minute", now)[1]
    )


def test_a_sliding_reset_does_not_move_as_the_clock_crosses_a_granule() -> None:
    """Read one granule later, the same request sits one field further back."""
    g = granule_ms("minute")
    now = ms("2026-11-21T12:00:07")
    before = [0] * GRANULES + [1]
    after = [0] * (GRANULES - 1) + [1, 0]
    assert sliding_reset("minute", now, before, 1) == sliding_reset("minute", now + g, after, 1)
