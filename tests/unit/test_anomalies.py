"""The spend anomaly rules (billing/trust/anomalies.py): a runaway, a new key's first calls, a
switch to a dearer model, and a month of quiet and of growing traffic never flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.trust.alert_words import describe
from billing.trust.anomalies import (
    FLOOR_REQUESTS,
    FLOOR_SPEND_MICROS,
    HOUR,
    NETWORK_HISTORY,
    REPEAT_MIN,
    WEEK,
    Use,
    median,
    new_network_flag,
    pricier_flag,
    rate_flag,
    repeat_flag,
    sample_hours,
    threshold,
)
from gateway.services.trust.network_sightings import prompt_digest
from tests.support.traffic import month

START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday


def test_median_and_threshold_are_integers_and_robust() -> None:
    assert median([]) == 0 and median([5]) == 5 and median([1, 2, 3, 10]) == 2
    # One wild sample moves neither the median nor the MAD.
    limit, m, mad = threshold([100, 110, 90, 105, 95, 10_000], 0)
    assert (m, mad) == (102, 7) and limit == 408  # 4 x the median beats 102 + 6 x 1.4826 x 7
    assert threshold([0] * 12, FLOOR_REQUESTS)[0] == FLOOR_REQUESTS


def test_samples_are_the_same_hours_of_the_week_since_first_seen() -> None:
    hour = START + 4 * WEEK + 10 * HOUR
    assert len(sample_hours(hour, START)) == 12
    assert sample_hours(hour, START)[-1] == hour - WEEK + HOUR
    assert sample_hours(hour, hour - 10 * 24 * HOUR) == [
        hour - WEEK - HOUR, hour - WEEK, hour - WEEK + HOUR
    ]  # fmt: skip
    assert sample_hours(hour, hour - HOUR) == []


def _steady(first: datetime, until: datetime, use: Use) -> dict[datetime, Use]:
    out, at = {}, first
    while at < until:
        out[at] = use
        at += HOUR
    return out


def test_a_runaway_at_fifty_times_the_baseline_is_flagged() -> None:
    hour = START + 4 * WEEK
    history = _steady(START, hour, Use(40, 400_000))  # 40 calls, $0.40 an hour
    flag = rate_flag(Use(2_000, 20_000_000), history, hour, START)
    assert flag is not None and flag.rule == "rate"
    assert flag.figures["measure"] == "spend_micros" and flag.figures["median"] == 400_000
    assert flag.figures["threshold"] == 4 * 400_000  # RATIO x the median: above the floor
    assert "$20.00" in flag.summary
    assert rate_flag(Use(120, 1_200_000 - 1), history, hour, START) is None  # 3x: not far above


def test_a_new_key_is_held_only_to_the_floor() -> None:
    hour = START + HOUR
    assert rate_flag(Use(FLOOR_REQUESTS - 1, FLOOR_SPEND_MICROS - 1), {}, hour, hour) is None
    flag = rate_flag(Use(FLOOR_REQUESTS, 0), {}, hour, hour)
    assert flag is not None and flag.figures["measure"] == "requests"
    assert "no history yet" in flag.summary


def test_a_switch_to_a_much_dearer_model_is_flagged() -> None:
    history = {"gpt-4o-mini": Use(500, 500 * 450)}
    now = {"gpt-4o-mini": Use(10, 4_500), "o1-pro": Use(3, 3 * 90_000)}
    flag = pricier_flag(now, history)
    assert flag is not None and flag.figures["model"] == "o1-pro"
    assert flag.figures["usual_model"] == "gpt-4o-mini"
    assert flag.figures["usual_per_call_micros"] == 450
    # Two calls, a model it used before, a model under ten times dearer, no history: none.
    assert pricier_flag({"o1-pro": Use(2, 180_000)}, history) is None
    assert pricier_flag({"gpt-4o-mini": Use(900, 900 * 90_000)}, history) is None
    assert pricier_flag({"gpt-4o": Use(30, 30 * 4_000)}, history) is None
    assert pricier_flag(now, {"gpt-4o-mini": Use(19, 19 * 450)}) is None


@pytest.mark.parametrize("kind", ["quiet", "growing"])
@pytest.mark.parametrize("seed", range(5))
def test_a_month_of_quiet_or_growing_traffic_is_never_flagged(kind: str, seed: int) -> None:
    """Four weeks of history, then a month judged hour by hour."""
    traffic = month(kind, START, seed, days=28 + 31)
    flagged = []
    for hour, use in sorted(traffic.items()):
        if hour < START + 4 * WEEK:
            continue
        history = {h: u for h, u in traffic.items() if h < hour}
        # The hour is judged as it fills: its whole is the most it ever reads.
        if rate_flag(use, history, hour, START) is not None:
            flagged.append(hour)
    assert flagged == []


def test_the_growing_month_does_reach_the_floors() -> None:
    """The month above is not trivially quiet: its busy hours pass both floors."""
    traffic = month("growing", START, 0).values()
    assert max(u.requests for u in traffic) > 2 * FLOOR_REQUESTS
    assert max(u.spend_micros for u in traffic) > 2 * FLOOR_SPEND_MICROS
    assert min(u.requests for u in traffic) < FLOOR_REQUESTS // 10


def test_the_notification_reads_as_a_sentence_with_its_evidence() -> None:
    data = {
        "scope": "key", "scope_id": "key_1", "key_id": "key_1", "paused": True,
        "summary": "requests of 300 this hour, against a median of 6 over 12 like hours",
        "window_start": "2026-11-27T19:00:00+00:00", "window_end": "2026-11-27T19:14:03+00:00",
        "request_ids": ["req_a", "req_b"],
    }  # fmt: skip
    title, sentence = describe("spend.anomaly", data)
    assert title == "Unusual spend on key key_1"
    assert "req_a, req_b" in sentence and "median of 6" in sentence
    assert "/v1/account/keys/key_1/resume" in sentence
    assert "paused" not in describe("spend.anomaly", data | {"paused": False})[1]


def test_a_network_is_new_only_to_a_key_known_elsewhere_a_day_before() -> None:
    now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    home = {"203.0.113.0/24": now - timedelta(days=30)}
    flag = new_network_flag("198.51.100.0/24", 5, now, home)
    assert flag is not None and flag.rule == "new_network"
    assert flag.figures["network"] == "198.51.100.0/24" and flag.figures["known_networks"] == 1
    # a network it used before, a new key's first network, a key known for under a day
    assert new_network_flag("203.0.113.0/24", 5, now, home) is None
    assert new_network_flag("198.51.100.0/24", 5, now, {"198.51.100.0/24": now}) is None
    recent = {"203.0.113.0/24": now - NETWORK_HISTORY + timedelta(seconds=1)}
    assert new_network_flag("198.51.100.0/24", 5, now, recent) is None
    assert new_network_flag("198.51.100.0/24", 5, now, {"203.0.113.0/24": now - NETWORK_HISTORY})
    assert new_network_flag("", 5, now, home) is None  # no IP address: no network


def test_a_prompt_repeated_in_bursts_is_flagged_only_above_its_own_busiest_hour() -> None:
    flag = repeat_flag("abcd", REPEAT_MIN, 0)
    assert flag is not None and flag.rule == "repeated_request" and flag.figures["calls"] == 50
    assert repeat_flag("abcd", REPEAT_MIN - 1, 0) is None  # under the floor
    assert repeat_flag("abcd", 100, 30) is None  # a job that repeats it every hour: 4x is 120
    assert repeat_flag("abcd", 120, 30) is not None


def test_a_prompt_digest_names_what_is_asked_and_nothing_else() -> None:
    ask = {"messages": [{"role": "user", "content": "same"}], "model": "a", "user": "u1"}
    same = {"model": "b", "messages": [{"role": "user", "content": "same"}]}
    other = {"messages": [{"role": "user", "content": "other"}]}
    assert prompt_digest(ask) == prompt_digest(same) != prompt_digest(other)
    assert len(prompt_digest(ask)) == 16
    assert prompt_digest({"input": "hi"}) == prompt_digest({"input": "hi", "model": "x"})
    assert prompt_digest({"model": "text-embedding"}) == ""
