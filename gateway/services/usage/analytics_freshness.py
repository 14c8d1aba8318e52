"""Whether usage reports may read ClickHouse now, and how far behind its copy of the ledger
is, measured afresh: the ledger's watermark (one PostgreSQL read) and the store's own marker
and highest entry id (one ClickHouse read, within the read timeout), at most once a second.

The lag is the age of the oldest ledger entry the store lacks: above the watermark when the
store is the one it counts (so it grows while ClickHouse is down or refuses writes), above
the store's own highest id when the store lacks what the watermark says, and every entry
when the store is another. Reports read ClickHouse only while it is the store the watermark
counts and that lag is within CLICKHOUSE_MAX_LAG_S; /readyz and /metrics show the same.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime

from gateway.stores.errors import AnalyticsUnavailable, StoreUnavailable
from gateway.stores.ports.usage.analytics import (
    AnalyticsLedgerPort,
    AnalyticsStorePort,
    Target,
    Watermark,
)

CACHE_S = 1.0


def lacks(seen: Target, before: Watermark, after: Watermark) -> str:
    """Why the store is not the one the watermark counts ('' when it is), from the
    watermark read before the store was and after it: a copier acknowledging a batch
    meanwhile moves `high` only after the store has the rows, and records a batch in `sent`
    before it sends it, so neither makes a store that is the counted one look another."""
    if not seen.marker or seen.marker != before.target_id or seen.marker != after.target_id:
        return "ClickHouse is not the store the copy filled (a new server, database or volume)"
    if seen.high < before.high:
        return f"ClickHouse lacks entries the copy sent (its highest {seen.high} < {before.high})"
    if seen.high > after.sent:
        return f"ClickHouse holds entries the copy never sent (id {seen.high} > {after.sent})"
    return ""


@dataclass(frozen=True)
class Verdict:
    lag_s: float
    reason: str  # why reports read PostgreSQL; '' when they read ClickHouse
    target: Target | None = None  # the store found to be the counted one

    @property
    def serve(self) -> bool:
        return not self.reason

    def report(self) -> dict[str, object]:
        reads = {"reports_from": "clickhouse" if self.serve else "postgres"}
        return {"lag_seconds": round(self.lag_s, 3), **reads, "reason": self.reason}


def _age(at: datetime | None) -> float:
    return 0.0 if at is None else max(0.0, time.time() - at.timestamp())


@dataclass
class Freshness:
    ledger: AnalyticsLedgerPort
    store: AnalyticsStorePort
    max_lag_s: float
    clock: float = -CACHE_S
    last: Verdict = Verdict(0.0, "not checked yet")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def verdict(self, fresh: bool = False) -> Verdict:
        """The last check's, when under a second old and not asked `fresh` (/readyz and
        /metrics are: an operator reads the lag now); else a new one (readers arriving
        meanwhile share it)."""
        async with self.lock:
            if fresh or time.monotonic() - self.clock >= CACHE_S:
                self.last = await self._check()
                self.clock = time.monotonic()
            return self.last

    async def serving(self) -> Target | None:
        """The store reports may read now (None: read PostgreSQL)."""
        return (await self.verdict()).target

    async def still(self, approved: Target) -> bool:
        """Whether the store is still the one approved, with at least what it had: asked
        after a report read it, so a store replaced or emptied (the copy empties one it
        fills again) since the verdict never answers a report."""
        try:
            seen = await self.store.identity(for_report=True)
        except AnalyticsUnavailable:
            return False
        return seen.marker == approved.marker and seen.high >= approved.high

    async def _check(self) -> Verdict:
        try:
            before = await self.ledger.watermark()
        except StoreUnavailable as exc:
            return Verdict(self.last.lag_s, f"PostgreSQL did not answer: {exc}")
        try:
            seen = await self.store.identity(for_report=True)
        except AnalyticsUnavailable as exc:
            return Verdict(_age(before.oldest), f"ClickHouse did not answer: {exc}")
        try:
            mark = await self.ledger.watermark()
            if why := lacks(seen, before, mark):
                return Verdict(await self._lag_of(seen, mark), why)
        except StoreUnavailable as exc:
            return Verdict(self.last.lag_s, f"PostgreSQL did not answer: {exc}")
        lag = _age(mark.oldest)
        if lag > self.max_lag_s:
            return Verdict(lag, f"the copy lags {lag:.1f} s, over CLICKHOUSE_MAX_LAG_S")
        return Verdict(lag, "", seen)

    async def _lag_of(self, seen: Target, mark: Watermark) -> float:
        """The age of the oldest entry a store that is not the counted one lacks."""
        same = seen.marker and seen.marker == mark.target_id and seen.high < mark.high
        return _age(await self.ledger.oldest_uncopied(seen.high if same else 0))
