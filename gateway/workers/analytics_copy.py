"""The copy of the ledger to the analytics store (ClickHouse), from the ledger's own
watermark (stores/postgres/usage/analytics_copy.py): at least once, each batch under an insert
token that the store drops when it comes again, so every entry is there exactly once.

The watermark counts one store, the one whose marker it names; each round first reads the
store's marker and highest entry id back from it, and a store that is another (a new server,
database or volume) or lacks what the watermark says it has is emptied, marked anew and
filled again from the first entry, the reports reading PostgreSQL until it has caught up
(services/usage/analytics_freshness.py).

It runs under the supervisor; ClickHouse being away is a warning and the next round retries
the same batch. Nothing on a request's path waits on it: reports read PostgreSQL until the
copy has caught up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.services.usage.analytics_freshness import lacks
from gateway.stores.ports.usage.analytics import (
    AnalyticsLedgerPort,
    AnalyticsStorePort,
    DaySums,
    Target,
)

log = logging.getLogger("meterway.analytics")


def batch_token(target: str, after: int, last: int) -> str:
    """The insert token of the batch (after, last] to the store marked `target`: the same
    range, the same rows; a store filled again takes the range anew."""
    return f"meterway-ledger-{target}-{after}-{last}"


@dataclass
class Copier:
    ledger: AnalyticsLedgerPort
    store: AnalyticsStorePort
    batch_rows: int
    prepared: bool = False
    copied_rows: int = 0
    copied_through: int = 0
    refills: int = 0
    rounds: int = 0

    async def round(self, wait: bool = False) -> int:
        """Copy every safe entry not yet copied to the store the watermark counts, after
        making it that store (filling it again from the first entry) when it is not; the
        rows sent. One process copies at a time: another's turn makes this round a no-op,
        unless `wait` (the CLI's backfill waits for it)."""
        async with self.ledger.turn(wait) as mine:
            return await self._round() if mine else 0

    async def _round(self) -> int:
        await self.ledger.advance_safe()  # the ledger's side moves while the store is away
        target = await self._target()
        sent = 0
        try:
            while (batch := await self.ledger.next_batch(self.batch_rows)) is not None:
                after, last = batch
                rows = await self.ledger.rows(after, last)
                if rows:
                    await self.store.insert_ledger(rows, batch_token(target, after, last))
                high = int(rows[-1]["id"]) if rows else 0
                await self.ledger.acknowledged(last, datetime.now(UTC), high)
                sent += len(rows)
            self.copied_through = await self.ledger.copied()
        finally:
            self.copied_rows += sent  # the batches acknowledged, before any failure too
        self.rounds += 1
        return sent

    async def _target(self) -> str:
        """The store's marker, once the store is the one the watermark counts: made where
        it has no schema or marker, emptied and marked anew where it is another."""
        before = await self.ledger.watermark()
        seen = await self._identity()
        if why := lacks(seen, before, await self.ledger.watermark()):
            log.warning("analytics: %s; filling it again from the ledger", why)
            marker = await self.store.reset()
            await self.ledger.retarget(marker)
            self.refills += before.target_id is not None  # not the first store filled
            return marker
        return seen.marker

    async def _identity(self) -> Target:
        """The store's own account, made first where it has no schema or marker (and once
        a process, for a schema older than this one)."""
        if self.prepared and (seen := await self.store.identity()).marker:
            return seen
        await self.store.prepare()
        self.prepared = True
        return await self.store.identity()

    async def run_round(self) -> None:
        """A round for the supervisor's periodic loop."""
        await self.round()

    def report(self) -> dict[str, object]:
        return {
            "copied_through_id": self.copied_through,
            "copied_rows": self.copied_rows,
            "refills": self.refills,
        }


async def differences(
    ledger: AnalyticsLedgerPort, store: AnalyticsStorePort, through: int
) -> list[str]:
    """Every (account, day) whose entries or micros differ between the ledger and the store,
    up to entry `through`, and between the store's rows and its hourly rollup: empty when
    both stores agree."""
    theirs, ours = await store.day_sums(through), await ledger.day_sums(through)
    lines = _compare("ledger", ours, "clickhouse", theirs)
    rollup = await store.hourly_day_sums()
    every = await store.day_sums(2**63 - 1)
    return lines + _compare("clickhouse rows", every, "hourly rollup", rollup)


def _compare(a: str, left: DaySums, b: str, right: DaySums) -> list[str]:
    out = []
    for key in sorted(left.keys() | right.keys()):
        if left.get(key, (0, 0)) != right.get(key, (0, 0)):
            account, day = key
            out.append(f"{account} {day}: {a} {left.get(key)} != {b} {right.get(key)}")
    return out
