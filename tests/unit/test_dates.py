"""One meaning for an expiry date (issue 48: `admin credit --expires 2026-12-31` ended at
00:00 that day, the dashboard's form at 23:59:59): the end of that day in QUOTA_TIMEZONE."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billing.dates import NoOffset, end_of_day, expiry, in_zone
from gateway.errors import InvalidRequest
from gateway.http.bodies import expiry_field, grant_field


def test_a_date_ends_at_the_last_second_of_that_day_in_the_zone() -> None:
    assert end_of_day(date(2026, 12, 31), "UTC") == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    paris = end_of_day(date(2026, 12, 31), "Europe/Paris")  # UTC+1 in winter
    assert paris == datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)
    summer = end_of_day(date(2026, 7, 1), "America/New_York")  # UTC-4
    assert summer == datetime(2026, 7, 2, 3, 59, 59, tzinfo=UTC)


def test_an_instant_keeps_its_offset_and_a_naive_one_is_refused() -> None:
    assert expiry("2026-12-31T10:00:00+02:00", "Europe/Paris") == datetime(
        2026, 12, 31, 8, 0, tzinfo=UTC
    )
    with pytest.raises(NoOffset):
        expiry("2026-12-31T10:00:00", "UTC")


def test_the_api_reads_a_bare_date_the_same_way() -> None:
    body = {"expires_at": "2026-12-31"}
    assert expiry_field(body, zone="Europe/Paris") == end_of_day(date(2026, 12, 31), "Europe/Paris")
    spec = grant_field({"grant": {"kind": "promo", **body}}, "Europe/Paris")
    assert spec is not None and spec.expires_at == datetime(2026, 12, 31, 22, 59, 59, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="needs a UTC offset"):
        expiry_field({"expires_at": "2026-12-31T10:00:00"})
    with pytest.raises(InvalidRequest, match="or a date"):
        expiry_field({"expires_at": "next tuesday"})


def test_an_expiry_is_shown_with_its_zone() -> None:
    moment = end_of_day(date(2026, 12, 31), "Europe/Paris")
    assert in_zone(moment, "Europe/Paris") == "2026-12-31 23:59 Europe/Paris"
