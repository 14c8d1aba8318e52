# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Every metered call's tokens, cost and the gateway's own time, for OTLP metrics
(outbound/otlp_metrics.py): from the settlement record, as the meter finishes a debit.

On a call's path the hooks only append a record to a bounded queue; the exporter's task
folds the queue into its totals (`fold`), reading the settlement's model, provider, usage
and cost there. Built only when OTLP metrics are on (settings.metrics.enabled); otherwise
nothing here runs.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any, Final

from billing.money.admission import Admitted
from gateway.config.traces import MetricSettings
from gateway.http.observability.observe import Timing
from gateway.outbound.otlp_metrics import Totals
from gateway.stores.records import Settlement
from gateway.telemetry import metrics

# A queued record's kind, its first field (Final: the compiled build reads no dict for them).
CHARGED: Final = 0
OWED: Final = 1
TIMED: Final = 2
REMEMBERED = 4096  # request ids kept to find the group of an uncollected part told late


CLIENT_LEFT = 499  # the middleware's status for a client gone before its answer


def _outcome(status: int) -> str:
    """A call's outcome as the client saw it: answered, refused (4xx), failed (5xx), or
    left (the client went away first)."""
    if status == CLIENT_LEFT:
        return "left"
    return "answered" if status < 400 else "refused" if status < 500 else "failed"


class CallMetrics:
    """The queue between the meter's debits and the metrics exporter, bounded. A list, not
    a deque: the exporter's `fold` takes it whole, and a list's append is the compiled
    build's own (a deque's is a method looked up by name)."""

    def __init__(self, settings: MetricSettings) -> None:
        self.queue: list[tuple[Any, ...]] = []
        self.size = settings.queue_size
        self.dropped = 0
        self.wake: Callable[[], object] | None = None  # the exporter's, to fold a half-full queue
        self._groups: dict[str, tuple[str, str, str, str]] = {}  # request id -> its group
        self._owed: dict[str, int] = {}  # uncollected micros told before their debit

    def _put(self, record: tuple[Any, ...]) -> None:
        queue = self.queue
        if len(queue) >= self.size:
            self.dropped += 1
            metrics().otlp_metrics_failed.labels("queue_full").inc()
            return
        queue.append(record)
        if len(queue) == self.size // 2 and self.wake is not None:
            self.wake()

    def charged(self, admitted: Admitted, settlement: Settlement, billed: bool) -> None:
        """The meter's hook once a debit was taken (billed) or found nothing to debit (not)."""
        self._put((CHARGED, admitted.request_id, admitted.plan, settlement, billed))

    def uncollected(self, request_id: str, micros: int) -> None:
        """The settlement's hook: part of a debit no balance could pay."""
        self._put((OWED, request_id, micros))

    def timed(self, clock: Timing, status: int) -> None:
        """The middleware's, at a call's end: the time the gateway added to it."""
        spent = perf_counter() - clock.began - clock.upstream_s
        self._put((TIMED, clock.model, status, spent if spent > 0 else 0.0))

    def report(self) -> dict[str, object]:
        return {"queued": len(self.queue), "dropped_queue_full": self.dropped}

    def fold(self, totals: Totals) -> None:
        """Add what is queued to `totals`, in the exporter's task. An uncollected part is
        told inside the debit, before or (when the debit is retried) after the meter's hook:
        either order finds its group."""
        queue, groups, owed = self.queue, self._groups, self._owed
        self.queue = []
        for record in queue:
            kind = record[0]
            if kind == CHARGED:
                _, rid, plan, s, billed = record
                u = s.usage
                group = (s.model, s.provider, plan, "billed" if billed else "unbilled")
                tokens = (
                    u.input_tokens,
                    u.output_tokens,
                    u.cached_input_tokens,
                    u.cache_write_tokens,
                    u.reasoning_tokens,
                )
                totals.charge(group, s.cost_micros, tokens)
                if rid in owed:
                    totals.owe(group, owed.pop(rid))
                if len(groups) >= REMEMBERED:
                    groups.clear()
                groups[rid] = group
            elif kind == OWED:
                _, rid, micros = record
                if rid in groups:
                    totals.owe(groups[rid], micros)
                elif len(owed) < REMEMBERED:
                    owed[rid] = micros
            else:
                _, model, status, seconds = record
                totals.time(model, _outcome(status), seconds)
