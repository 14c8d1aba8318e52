# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""What operators watch, in Prometheus terms: one process-wide set of metric families.

`metrics()` builds the families on first use. With WORKERS > 1, `enable_multiprocess()`
runs in the parent before it forks: prometheus_client then keeps each process's values in
files under PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker sums them all. Labels are
bounded sets (route templates, priced model names, statuses, refusal reasons, store names);
never an account or key id, whose spend is the usage API's job.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics import MetricWrapperBase

F = TypeVar("F", bound=MetricWrapperBase)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    overhead: Histogram
    upstream: Histogram
    refused: Counter
    spend: Counter
    tokens: Counter
    store_errors: Counter
    prompts_counted: Counter
    dead_lettered: Counter
    uncollected: Counter
    price_checked: Counter
    price_drift: Counter
    vanished: Counter
    kept_counts: Counter
    upstream_failures: Counter
    upstream_cooling: Gauge
    mail_failures: Counter
    unknown_betas: Counter
    trace_spans_dropped: Counter
    otlp_metrics_failed: Counter
    lease_grants: Counter
    leased_calls: Counter
    lease_batches: Counter
    lease_reclaims: Counter
    leases_open: Gauge
    children: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    # The totals last added, by their owner's id and family:labels (`_note_total`)
    noted: dict[tuple[int, str], int] = field(default_factory=dict)
    tally: Tally = field(default_factory=lambda: Tally())

    def labelled(self, family: F, *values: str) -> F:
        """`family.labels(*values)`, from a dict after the first time: labels() checks its
        arguments and takes a lock on every call, and a proxied request counts 5 to 8 times.
        The label sets are bounded (see above), so is this dict."""
        if not values:  # a family without labels counts on itself (labels() would raise)
            return family
        key = (family, *values)
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = family.labels(*values)
        return child


class Tally:
    """A proxied request's metric updates (five to seven of them), summed in plain dicts
    and added to the families when they are read (`exposition`): a Prometheus update takes
    a lock and several calls, a sum here a dict update (docs/performance.md).

    Only in single-process mode. With WORKERS > 1 every worker's values live in shared
    files that any worker's scrape sums, so there each update goes straight to its family
    (`direct`): a worker cannot be made to add its sums when another answers the scrape."""

    __slots__ = ("counts", "direct", "observed")

    def __init__(self) -> None:
        self.direct = MULTIPROC_ENV in os.environ
        # (counter, *labels) -> a whole number: requests, tokens, spend in USD micros
        self.counts: dict[tuple[Any, ...], int] = {}
        # (histogram, *labels) -> one count per bucket (+Inf last), then the sum
        self.observed: dict[tuple[Any, ...], list[float]] = {}

    def count(self, family: Counter, *labels: str, amount: int = 1) -> None:
        if self.direct:
            metrics().labelled(family, *labels).inc(amount)
            return
        key = (family, *labels)
        self.counts[key] = self.counts.get(key, 0) + amount

    def observe(self, family: Histogram, value: float, *labels: str) -> None:
        if self.direct:
            metrics().labelled(family, *labels).observe(value)
            return
        key = (family, *labels)
        sums = self.observed.get(key)
        if sums is None:
            sums = self.observed[key] = [0.0] * (len(family._upper_bounds) + 1)
        sums[bisect_left(family._upper_bounds, value)] += 1  # observe(): value <= bound
        sums[-1] += value

    def flush(self, m: Metrics) -> None:
        """Add the sums to the families. Histogram buckets are added through the child's
        bucket and sum values, prometheus_client's own attributes (no public call adds n
        observations at once); tests/unit/test_telemetry.py holds the exposition equal to
        observing each value, so an upgrade that moves them fails there."""
        counts, self.counts = self.counts, {}
        for (family, *labels), amount in counts.items():
            m.labelled(family, *labels).inc(amount)
        observed, self.observed = self.observed, {}
        for (family, *labels), sums in observed.items():
            child = m.labelled(family, *labels)
            for bucket, n in zip(child._buckets, sums, strict=False):
                if n:
                    bucket.inc(n)
            child._sum.inc(sums[-1])


def _build() -> Metrics:
    r = CollectorRegistry()
    # python_gc_*: collections per generation (see runtime.quiet_collector). prometheus_client
    # leaves it out in multi-process mode, where each worker has its own collector.
    GCCollector(registry=r)
    return Metrics(
        registry=r,
        requests=Counter(
            "meterway_requests",
            "Requests answered, by route template, model and status.",
            ["route", "model", "status"],
            registry=r,
        ),
        overhead=Histogram(
            "meterway_overhead_seconds",
            "Time Meterway adds to a request: its whole time minus the provider's.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        ),
        upstream=Histogram(
            "meterway_upstream_seconds",
            "Time spent waiting on the provider, streams included.",
            ["route"],
            buckets=UPSTREAM_BUCKETS,
            registry=r,
        ),
        refused=Counter(
            "meterway_reservations_refused",
            "Reservations refused, by reason (balance reasons, quota) and quota window.",
            ["reason", "window"],
            registry=r,
        ),
        spend=Counter(
            "meterway_spend_micros", "USD micros debited, by model.", ["model"], registry=r
        ),
        tokens=Counter(
            "meterway_tokens", "Tokens billed, by model and kind.", ["model", "kind"], registry=r
        ),
        store_errors=Counter(
            "meterway_store_errors",
            "Redis and PostgreSQL failures, by store.",
            ["store"],
            registry=r,
        ),
        prompts_counted=Counter(
            "meterway_prompts_counted",
            "Proxied prompts tokenized for a reservation, by where (event loop or thread).",
            ["where"],
            registry=r,
        ),
        dead_lettered=Counter(
            "meterway_settler_dead_lettered",
            "Settlement messages this process parked in the dead-letter stream.",
            registry=r,
        ),
        uncollected=Counter(
            "meterway_uncollected_micros",
            "Micros of debits no account paid, written by this process's settler to the"
            " operator's receivables (a provider reported more than was held, and the balance"
            " or a spend window had no room): alert on any increase. By provider.",
            ["provider"],
            registry=r,
        ),
        price_checked=Counter(
            "meterway_price_drift_checked",
            "Debits whose provider stated its own cost (OpenRouter's usage.cost), compared by"
            " this process's settler with the card that billed them. By model.",
            ["model"],
            registry=r,
        ),
        price_drift=Counter(
            "meterway_price_drift",
            "Of those, the debits whose provider's figure was more than 2% from the card's"
            " (beyond its rounding): the card or the provider's price moved. By model.",
            ["model"],
            registry=r,
        ),
        vanished=Counter(
            "meterway_settlements_vanished",
            "Completed calls whose reservation was gone when they settled (Redis lost it):"
            " delivered, and not debited.",
            registry=r,
        ),
        kept_counts=Counter(
            "meterway_token_counts_kept",
            "Prompt texts long enough to keep the token count of: found kept (hit) or"
            " tokenized and kept (miss). Each worker adds its share when it answers a scrape.",
            ["result"],
            registry=r,
        ),
        upstream_failures=Counter(
            "meterway_upstream_failures",
            "Calls a deployment's upstream failed before answering (connect, 429, 5xx): it"
            " cools down and the next deployment is tried. By upstream (provider/model) and"
            " reason.",
            ["upstream", "reason"],
            registry=r,
        ),
        upstream_cooling=Gauge(
            "meterway_upstream_cooling",
            "1 while a deployment's upstream cools down (no call is sent to it), else 0.",
            ["upstream"],
            multiprocess_mode="max",
            registry=r,
        ),
        mail_failures=Counter(
            "meterway_mail_failures",
            "E-mails sent off the request path (sign-in links, invitations) that could not"
            " be sent; each is logged. By kind.",
            ["kind"],
            registry=r,
        ),
        unknown_betas=Counter(
            "meterway_anthropic_unknown_betas",
            "anthropic-beta names passed that the gateway's table does not list: billed from"
            " the usage Anthropic reports (each name is logged once per process).",
            registry=r,
        ),
        trace_spans_dropped=Counter(
            "meterway_trace_spans_dropped",
            "Spans not delivered to the OpenTelemetry collector: the queue was full"
            " (queue_full) or the collector failed or refused a batch (export_failed). No"
            " request waits for or fails with the collector.",
            ["reason"],
            registry=r,
        ),
        otlp_metrics_failed=Counter(
            "meterway_otlp_metric_exports_failed",
            "Metric exports over OTLP the collector failed or refused (export_failed), or"
            " records not added up because their queue was full (queue_full). A failed"
            " export loses nothing: the next one carries the totals.",
            ["reason"],
            registry=r,
        ),
        lease_grants=Counter(
            "meterway_lease_grants",
            "Leases this process asked Redis for (LEASES=1), by result: granted, or refused"
            " (small headroom, a check refused, or Redis failed: the call took the"
            " per-request path).",
            ["result"],
            registry=r,
        ),
        leased_calls=Counter(
            "meterway_leased_calls",
            "Calls this process admitted under a lease, each asking Redis for no script.",
            registry=r,
        ),
        lease_batches=Counter(
            "meterway_lease_batches",
            "lease_apply.lua runs of this process: batches of appended settlements, unused"
            " parts given back, closes.",
            registry=r,
        ),
        lease_reclaims=Counter(
            "meterway_lease_reclaims",
            "Calls refused while leases of their account could still admit, that asked"
            " those leases for their unused part and were asked once more.",
            registry=r,
        ),
        leases_open=Gauge(
            "meterway_leases_open",
            "Leases held now (summed over the workers).",
            multiprocess_mode="livesum",
            registry=r,
        ),
    )


_built: list[Metrics] = []


def metrics() -> Metrics:
    """The process's families, built on first use (after `enable_multiprocess`, if called)."""
    if not _built:
        _built.append(_build())
    return _built[0]


def enable_multiprocess() -> str:
    """Keep values in files every worker shares; the directory is emptied of a previous
    run's files (they would be summed in). Call before the first metric is used."""
    path = os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="meterway-metrics-")
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    os.environ[MULTIPROC_ENV] = path
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return path


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay in the sums)."""
    if MULTIPROC_ENV in os.environ:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def remove_multiprocess_dir() -> None:
    path = os.environ.get(MULTIPROC_ENV)
    if path and os.path.basename(path).startswith("meterway-metrics-"):
        shutil.rmtree(path, ignore_errors=True)


def _note_total(m: Metrics, owner: int, family: Counter, total: int, *labels: str) -> None:
    """Adds to `family` what `owner`'s running `total` grew by since it was last noted: the
    owner counts in plain ints, and no call it counts costs a Prometheus update."""
    key = (owner, f"{family._name}:{':'.join(labels)}")
    added = total - m.noted.get(key, 0)
    if added > 0:
        m.labelled(family, *labels).inc(added)
        m.noted[key] = total


def note_kept_counts(cache: int, hits: int, misses: int) -> None:
    """Adds what a token-count cache (billing.metering.token_cache.CountCache, `cache` its
    id) counted since the last call. The cache counts under its own lock, so a request that hits it
    costs no Prometheus update; the totals reach the families when a scrape asks."""
    m = metrics()
    _note_total(m, cache, m.kept_counts, hits, "hit")
    _note_total(m, cache, m.kept_counts, misses, "miss")


def note_leases(
    owner: int, granted: int, refused: int, admitted: int, batches: int, reclaims: int, held: int
) -> None:
    """Adds what a process's leases (`owner` their id) counted since the last call, and sets
    how many are held: the lease keeper calls it each round, so a leased call costs no
    Prometheus update, and each worker adds its own counts."""
    m = metrics()
    _note_total(m, owner, m.lease_grants, granted, "granted")
    _note_total(m, owner, m.lease_grants, refused, "refused")
    _note_total(m, owner, m.leased_calls, admitted)
    _note_total(m, owner, m.lease_batches, batches)
    _note_total(m, owner, m.lease_reclaims, reclaims)
    m.leases_open.set(held)


def exposition() -> bytes:
    """Every family in the text format: summed over all workers in multi-process mode."""
    if MULTIPROC_ENV not in os.environ:
        m = metrics()
        m.tally.flush(m)
        return generate_latest(m.registry)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
