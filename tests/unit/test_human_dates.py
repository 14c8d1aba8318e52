"""Times as people read them (billing/dates.py `human`): the CLI printed raw RFC 3339
("2026-11-26T14:05:00.123456+00:00"); every time it prints goes through this one function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from billing.dates import human

NOW = datetime(2026, 11, 26, 14, 5, 30, tzinfo=UTC)


def test_an_instant_reads_in_utc_to_the_minute() -> None:
    assert human(NOW) == "26 Nov 2026 14:05 UTC"
    assert human("2026-11-06T09:00:00Z") == "6 Nov 2026 09:00 UTC"
    paris = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=1)))
    assert human(paris.isoformat()) == "31 Dec 2026 22:59 UTC"
    assert human(datetime(2026, 1, 2, 3, 4)) == "2 Jan 2026 03:04 UTC"  # naive: UTC


def test_how_far_off_it_is_when_that_helps() -> None:
    assert human(NOW + timedelta(days=3, hours=2), NOW).endswith("(in 3 days 2 h)")
    assert human(NOW - timedelta(hours=2, minutes=5), NOW).endswith("(2 h 5 min ago)")
    assert human(NOW + timedelta(seconds=20), NOW).endswith("(now)")
    assert human(NOW + timedelta(days=90), NOW) == "24 Feb 2027 14:05 UTC"  # far: the date


def test_no_instant_reads_as_the_words_given() -> None:
    assert human(None) == "never" and human("", none="the end of the period") == (
        "the end of the period"
    )
