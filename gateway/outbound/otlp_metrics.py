"""Metrics to an OpenTelemetry collector: tokens and cost as monotonic Sums, the gateway's
own time per call as a Histogram, over OTLP/HTTP protobuf every OTEL_METRIC_EXPORT_INTERVAL.

`Totals` adds up what the recorder (http/observability/call_metrics.py) folds into it, in the
exporter's
task; `MetricExporter.run` sends them. Cumulative by default (every export carries the
totals since the process started, which any collector can turn into rates, and a failed
export loses nothing: the next one says it all); `delta` sends what changed since the last
export the collector took, for backends that want it (Datadog's intake).

Attributes are a few bounded sets only: the priced model, its provider, the account's plan
and the outcome. Never an account, key or end-user id (the usage API answers those).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from time import time_ns

import aiohttp

from gateway.config.traces import MetricSettings
from gateway.outbound import otlp_wire as wire
from gateway.outbound.otlp import SCOPE, OnceAMinute, nap, post
from gateway.telemetry import LATENCY_BUCKETS, metrics

log = logging.getLogger("meterway.metrics")
# The token kinds counted, in the order `Totals.charge` takes them: semconv's
# gen_ai.token.type (input, output) and the kinds its usage attributes name.
TOKEN_KINDS = ("input", "output", "cache_read", "cache_creation", "reasoning")
Group = tuple[str, str, str, str]  # model, provider, plan, outcome
GROUP_KEYS = ("gen_ai.response.model", "gen_ai.provider.name", "meterway.plan", "meterway.outcome")
Timed = tuple[str, str]  # model, outcome
TIMED_KEYS = ("gen_ai.request.model", "meterway.outcome")
COST, UNCOLLECTED = 0, 1  # a group's sums: these two, then the tokens by TOKEN_KINDS


class Totals:
    """Every count since the process started, by group (plain dicts of ints: money and
    tokens add exactly)."""

    def __init__(self) -> None:
        self.charged: dict[Group, list[int]] = {}
        self.timed: dict[Timed, list[float]] = {}  # a count per bucket (+Inf last), the sum

    def _sums(self, group: Group) -> list[int]:
        sums = self.charged.get(group)
        if sums is None:
            sums = self.charged[group] = [0] * (2 + len(TOKEN_KINDS))
        return sums

    def charge(self, group: Group, cost: int, tokens: tuple[int, ...]) -> None:
        sums = self._sums(group)
        sums[COST] += cost
        for i, n in enumerate(tokens, 2):
            sums[i] += n

    def owe(self, group: Group, micros: int) -> None:
        self._sums(group)[UNCOLLECTED] += micros

    def time(self, model: str, outcome: str, seconds: float) -> None:
        key = (model, outcome)
        sums = self.timed.get(key)
        if sums is None:
            sums = self.timed[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        sums[_bucket(seconds)] += 1
        sums[-1] += seconds

    def copy(self) -> Totals:
        out = Totals()
        out.charged = {k: list(v) for k, v in self.charged.items()}
        out.timed = {k: list(v) for k, v in self.timed.items()}
        return out


def _bucket(seconds: float) -> int:
    """The bucket a value falls in: the first bound it does not exceed (OTLP's rule)."""
    for i, bound in enumerate(LATENCY_BUCKETS):
        if seconds <= bound:
            return i
    return len(LATENCY_BUCKETS)


def encode(totals: Totals, base: Totals, start_ns: int, at_ns: int, s: MetricSettings) -> bytes:
    """An ExportMetricsServiceRequest of `totals` less `base` (nothing, when cumulative)."""
    number = wire.number_point
    cost: list[bytes] = []
    owed: list[bytes] = []
    tokens: list[bytes] = []
    for group, sums in totals.charged.items():
        was = base.charged.get(group)
        d = sums if was is None else [a - b for a, b in zip(sums, was, strict=True)]
        attrs = tuple(zip(GROUP_KEYS, group, strict=True))
        cost.append(number(attrs, start_ns, at_ns, d[COST]))
        if sums[UNCOLLECTED]:  # a point once a total is not zero: no series of zeros
            owed.append(number(attrs, start_ns, at_ns, d[UNCOLLECTED]))
        for i, kind in enumerate(TOKEN_KINDS, 2):
            if sums[i]:
                kind_attrs = (*attrs, ("gen_ai.token.type", kind))
                tokens.append(number(kind_attrs, start_ns, at_ns, d[i]))
    timed = []
    for key, seen in totals.timed.items():
        was_t = base.timed.get(key)
        dt = seen if was_t is None else [a - b for a, b in zip(seen, was_t, strict=True)]
        attrs = tuple(zip(TIMED_KEYS, key, strict=True))
        counts = [int(n) for n in dt[:-1]]
        timed.append(wire.histogram_point(attrs, start_ns, at_ns, counts, dt[-1], LATENCY_BUCKETS))
    delta = s.delta
    metrics_ = [
        wire.metric("meterway.tokens", "Tokens metered, by kind.", "{token}", tokens, delta, True),
        wire.metric(
            "meterway.cost",
            "What metered calls were charged, in USD micros (the ledger's debits plus"
            " meterway.uncollected).",
            "{USD_micro}",
            cost,
            delta,
            True,
        ),
        wire.metric(
            "meterway.uncollected",
            "The part of meterway.cost no balance could pay, in USD micros.",
            "{USD_micro}",
            owed,
            delta,
            True,
        ),
        wire.metric(
            "meterway.gateway.duration",
            "The gateway's own time per call, the provider's excluded.",
            "s",
            timed,
            delta,
            False,
        ),
    ]
    resource = dict(s.resource)
    resource["service.name"] = s.service_name
    return wire.request(resource.items(), SCOPE, metrics_)


class MetricExporter:
    """Folds the recorder's queue into `totals` when woken (the queue is half full) and at
    every interval, and sends them then. A collector that is down or refuses costs that
    export, counted and shown in /readyz; no request waits for it."""

    def __init__(self, settings: MetricSettings, fold: Callable[[Totals], None]) -> None:
        self.settings = settings
        self.fold = fold
        self.totals = Totals()
        self.wake = asyncio.Event()
        self.exports = 0
        self.failed = 0
        self.last_error = ""
        self._start_ns = time_ns()
        self._sent = Totals()  # what the collector last took (delta's base), and when
        self._sent_ns = self._start_ns
        self._warn = OnceAMinute()

    def report(self) -> dict[str, object]:
        return {
            "endpoint": self.settings.endpoint,
            "exports": self.exports,
            "failed": self.failed,
            "last_error": self.last_error,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Every OTEL_METRIC_EXPORT_INTERVAL: add up what is queued, send the totals. A stop
        sends them once more."""
        loop = asyncio.get_running_loop()
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        due = loop.time() + self.settings.interval_s
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                await nap(stop, self.wake, max(due - loop.time(), 0.0))
                self.fold(self.totals)
                if loop.time() >= due:
                    due = loop.time() + self.settings.interval_s
                    await self.export(session)
            self.fold(self.totals)
            await self.export(session)

    async def export(self, session: aiohttp.ClientSession) -> None:
        now = time_ns()
        if self.settings.delta:
            base, start = self._sent, self._sent_ns
        else:
            base, start = Totals(), self._start_ns
        body = encode(self.totals, base, start, now, self.settings)
        why = await post(session, self.settings, body)
        if why:
            self.failed += 1
            self.last_error = why
            metrics().otlp_metrics_failed.labels("export_failed").inc()
            if self._warn.due():
                log.warning("metrics not exported: %s", why)
            return
        self.exports += 1
        if self.settings.delta:
            self._sent, self._sent_ns = self.totals.copy(), now
