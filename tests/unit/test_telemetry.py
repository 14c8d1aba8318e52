"""The request metrics' tally: what a scrape shows equals updating the families directly."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from gateway import telemetry
from gateway.telemetry import LATENCY_BUCKETS, Metrics, Tally

# Below, on and between the bucket bounds, above the last one (+Inf), and zero. Their sums
# in another order differ in the last digits, so the sums are compared for DYADIC values,
# which add exactly in any order.
SECONDS = (0.0, 0.0004, 0.0005, 0.0007, 0.001, 0.3, 2.5, 2.6, 99.0, *LATENCY_BUCKETS)
DYADIC = (0.0, 2**-12, 2**-11, 2**-10, 0.125, 0.25, 0.5, 1.0, 2.5, 99.0)


def _text(m: Metrics, sums: bool = False) -> list[str]:
    """The exposition without the families' creation times, which differ between builds,
    the garbage collector's counts (the process's, moving under the test), and (unless
    `sums`) the histograms' sums."""
    text = generate_latest(m.registry).decode()
    drop = ("_created", "python_gc_") if sums else ("_created", "python_gc_", "_seconds_sum")
    return [line for line in text.splitlines() if not any(d in line for d in drop)]


def _direct(m: Metrics, seconds: tuple[float, ...] = SECONDS) -> None:
    for s in seconds:
        m.labelled(m.overhead, "/v1/chat/completions").observe(s)
        m.labelled(m.requests, "/v1/chat/completions", "gpt-4o-mini", "200").inc()
    m.labelled(m.upstream, "/v1/embeddings").observe(0.2)
    m.labelled(m.spend, "gpt-4o-mini").inc(45)
    m.labelled(m.spend, "gpt-4o-mini").inc(7)
    m.labelled(m.tokens, "gpt-4o-mini", "output").inc(50)


def _tallied(m: Metrics, tally: Tally, seconds: tuple[float, ...] = SECONDS) -> None:
    for s in seconds:
        tally.observe(m.overhead, s, "/v1/chat/completions")
        tally.count(m.requests, "/v1/chat/completions", "gpt-4o-mini", "200")
    tally.observe(m.upstream, 0.2, "/v1/embeddings")
    tally.count(m.spend, "gpt-4o-mini", amount=45)
    tally.count(m.spend, "gpt-4o-mini", amount=7)
    tally.count(m.tokens, "gpt-4o-mini", "output", amount=50)


def test_a_flushed_tally_shows_what_direct_updates_show() -> None:
    direct, tallied = telemetry._build(), telemetry._build()
    _direct(direct)
    tally = Tally()
    tally.direct = False
    _tallied(tallied, tally)
    assert "meterway_requests_total{" not in "\n".join(_text(tallied))  # nothing added yet
    tally.flush(tallied)
    assert _text(tallied) == _text(direct)
    tally.flush(tallied)  # flushing again adds nothing twice
    assert _text(tallied) == _text(direct)


def test_sums_keep_adding_across_flushes() -> None:
    direct, tallied = telemetry._build(), telemetry._build()
    tally = Tally()
    tally.direct = False
    for _ in range(3):
        _direct(direct, DYADIC)
        _tallied(tallied, tally, DYADIC)
        tally.flush(tallied)
    assert _text(tallied, sums=True) == _text(direct, sums=True)


def test_with_workers_each_update_goes_to_its_family_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shared-file mode: any worker may answer a scrape, so nothing may wait in a tally."""
    monkeypatch.setenv(telemetry.MULTIPROC_ENV, "/nonexistent")
    tally = Tally()
    assert tally.direct
    m = telemetry.metrics()
    before = m.labelled(m.prompts_counted, "thread")._value.get()
    tally.count(m.prompts_counted, "thread")
    assert m.labelled(m.prompts_counted, "thread")._value.get() == before + 1
    assert not tally.counts and not tally.observed
