"""The copy of the ledger to the analytics store (ClickHouse), from the ledger's own
watermark (stores/postgres/analytics_copy.py): at least once, each batch under an insert
token that the store drops when it comes again, so every entry is there exactly once.

It runs under the supervisor; ClickHouse being away is a warning and the next round retries
the same batch. Nothing on a request's path waits on it: reports read PostgreSQL until the
copy has caught up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.stores.ports.analytics import AnalyticsLedgerPort, AnalyticsStorePort, DaySums

log = logging.getLogger("meterway.analytics")


def batch_token(after: int, last: int) -> str:
    """The insert token of the batch (after, last]: the same range, the same rows."""
    return f"meterway-ledger-{after}-{last}"


@dataclass
class Copier:
    ledger: AnalyticsLedgerPort
    store: AnalyticsStorePort
    batch_rows: int
    prepared: bool = False
    copied_rows: int = 0
    copied_through: int = 0
    lag_s: float = 0.0
    rounds: int = 0

    async def round(self) -> int:
        """Copy every safe entry not yet copied; the rows sent."""
        if not self.prepared:
            await self.store.prepare()
            self.prepared = True
        await self.ledger.advance_safe()
        sent = 0
        try:
            while (batch := await self.ledger.next_batch(self.batch_rows)) is not None:
                after, last = batch
                rows = await self.ledger.rows(after, last)
                if rows:
                    await self.store.insert_ledger(rows, batch_token(after, last))
                await self.ledger.acknowledged(last, datetime.now(UTC))
                sent += len(rows)
            through = await self.ledger.copied()
            lag_s = await self._lag(through)
        except BaseException:
            self.copied_rows += sent  # the batches acknowledged before the failure
            raise
        # Set together, after the last await: a report read mid-round never pairs this
        # round's rows with the last round's lag.
        self.copied_rows += sent
        self.copied_through, self.lag_s = through, lag_s
        self.rounds += 1
        return sent

    async def run_round(self) -> None:
        """A round for the supervisor's periodic loop."""
        await self.round()

    async def _lag(self, through: int) -> float:
        oldest = await self.ledger.oldest_uncopied(through)
        return 0.0 if oldest is None else max(0.0, time.time() - oldest.timestamp())

    def caught_up(self, max_lag_s: float) -> bool:
        """Whether reports may read the store: a round has run and the oldest entry not
        yet copied is at most `max_lag_s` old."""
        return self.prepared and self.rounds > 0 and self.lag_s <= max_lag_s

    def report(self) -> dict[str, object]:
        return {
            "copied_through_id": self.copied_through,
            "copied_rows": self.copied_rows,
            "lag_seconds": round(self.lag_s, 3),
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
