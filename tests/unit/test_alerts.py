"""Alert decisions: fire once per crossing, resolve only clearly past the threshold."""

from __future__ import annotations

import hashlib
import hmac

from billing.trust.alerts import Window, account_checks, balance_check, transitions
from gateway.outbound.notify import sign


def _events(available: int, active: set[str], windows: tuple[Window, ...] = ()) -> list[str]:
    return [t.event for t in transitions(account_checks(available, 1_000, windows), active)]


def test_balance_low_fires_once_and_resolves_only_clearly_above() -> None:
    assert _events(999, set()) == ["balance.low"]
    assert _events(500, {"balance.low"}) == []
    assert _events(1_050, {"balance.low"}) == []  # above, but not clearly
    assert _events(1_100, {"balance.low"}) == ["balance.low.resolved"]
    assert not balance_check(0, 0).clear and balance_check(1, 0).clear  # one micro above zero


def test_budget_levels_and_quota_exhaustion() -> None:
    month = Window("month", "spend_micros", 810, 1_000)
    fired = transitions(account_checks(10**9, 1, (month,)), set())
    assert [(t.event, t.data.get("level_pct")) for t in fired] == [
        ("budget.threshold", 50),
        ("budget.threshold", 80),
    ]
    active = {t.key for t in fired}
    full = Window("month", "spend_micros", 1_000, 1_000)
    assert _events(10**9, active, (full,)) == ["budget.threshold", "quota.exhausted"]
    reset = Window("month", "spend_micros", 0, 1_000)
    active |= {"budget.threshold:month:100", "quota.exhausted:month:spend_micros"}
    assert sorted(_events(10**9, active, (reset,))) == [
        "budget.threshold.resolved",
        "budget.threshold.resolved",
        "budget.threshold.resolved",
        "quota.exhausted.resolved",
    ]
    day = Window("day", "meter:gpu_seconds", 97, 100)
    assert _events(10**9, {"quota.exhausted:day:meter:gpu_seconds"}, (day,)) == []


def test_webhook_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    body = b'{"id":"dlv_1"}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("secret", "1700000000", body) == "v1=" + expected
