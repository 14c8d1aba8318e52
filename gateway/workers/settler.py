"""Moves settlements from the per-shard Redis streams into the PostgreSQL ledger.

Read with a consumer group, write one batch per transaction, acknowledge and delete only after
the commit. A crash before the ack leaves messages pending; they are re-read by this consumer
or claimed by another, and the unique request id makes the second write a no-op.

No message may stop the others. A message no ledger row can be made of (a field missing, a
count beyond bigint) is parked at once; a batch PostgreSQL refuses for its data
(`LedgerRejected`: a foreign key, a check) is bisected until the refused message stands alone,
and that one is parked. Parking moves the message to its shard's dead-letter stream with the
reason, in one script with its acknowledgement; it is counted in /metrics, flagged in /readyz
and by `meterway reconcile`, and `meterway settler dead-letters --requeue` sends it back.
Everything else (a store away, a timeout) is transient: the same batch is retried with
backoff, and an error nobody foresaw escapes to the supervisor, which logs and restarts.

With a fence (serve's and `meterway settler`'s), a batch is read and written under the
restore lock held shared, so a restore of an emptied Redis reads the ledger only once the
batches read from the old Redis have landed (stores/postgres/restore/runs.py: RestoreFence).

A full batch is written in `lanes` transactions at once, one per group of shards (shard
modulo lanes). Every account lives in one shard, so lanes never share an account row or a usage
rollup row: they do not wait for each other's locks, and PostgreSQL works on as many cores
as there are lanes. One transaction for a whole batch would lock every account it touches
and make every other settler's batch queue behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from gateway.stores.drift_rows import compared
from gateway.stores.errors import LedgerRejected, StoreError
from gateway.stores.ports.money.settlement import RestoreFence, SettlementLedger, SettlementStream
from gateway.stores.records import Queued
from gateway.stores.stream_fields import (
    LEDGER_COLUMNS,
    UNCOLLECTED,
    MalformedSettlement,
    ledger_row_raw,
)
from gateway.telemetry import metrics
from gateway.workers.tasks import pause, raise_if_cancelling, running

log = logging.getLogger("meterway.settler")
WRITE_TIMEOUT_S = 30.0
FORGET_CONSUMERS_IDLE_MS = 3_600_000  # a consumer name unused for an hour is a gone process
FORGET_EVERY_S = 300.0
# A thin batch is followed by a pause for more settlements to gather: LINGER_S when the
# traffic is light (a request reaches the ledger within ~50 ms), BUSY_LINGER_S once a read
# brings BUSY_READ messages or more. Each batch costs a stream read over every shard, a
# PostgreSQL transaction and an acknowledgement per shard whatever its size, so at ~1,000
# requests/s the longer pause halves the settler's CPU per request (bench, 2026-11-22).
LINGER_S = 0.05
BUSY_LINGER_S = 0.2
BUSY_READ = 32
# The settler usually shares the event loop with the gateway's requests, so a batch of
# hundreds gives the loop back every ROWS_SLICE messages instead of holding it for the whole
# batch (docs/performance.md, "The figures behind the code").
ROWS_SLICE = 32
# What a lost or sick store raises; the loop backs off and retries the same batch.
TRANSIENT: tuple[type[BaseException], ...] = (TimeoutError, OSError, StoreError)
_KIND, _AMOUNT, _PROVIDER = (LEDGER_COLUMNS.index(c) for c in ("kind", "amount_micros", "provider"))


def _count_uncollected(rows: Sequence[tuple[object, ...]]) -> None:
    """The receivables' metric: what debits of this batch could not collect, by provider
    (a batch read again after a crash counts its rows again: alert on any increase)."""
    for row in rows:
        if row[_KIND] == UNCOLLECTED:
            amount = row[_AMOUNT]
            assert isinstance(amount, int)
            metrics().uncollected.labels(str(row[_PROVIDER] or "")).inc(-amount)


def _count_drift(rows: Sequence[tuple[object, ...]]) -> None:
    """Price drift's metrics: debits whose provider stated a cost, and those of them whose
    figure was further from the card's than billing/proof/drift.py allows, by model."""
    m = metrics()
    for found in compared(rows):
        m.price_checked.labels(found.model).inc()
        if found.drifted:
            m.price_drift.labels(found.model).inc()
            log.warning(
                "price drift on %s (%s): the provider states %d nano-USD, the card %d micros",
                found.request_id, found.model, found.stated_nanos, found.card_micros,
            )  # fmt: skip


class Settler:
    def __init__(
        self,
        stream: SettlementStream,
        ledger: SettlementLedger,
        *,
        batch: int = 2000,
        claim_idle_ms: int = 15_000,
        lanes: int = 2,
        fence: RestoreFence | None = None,
    ) -> None:
        self.stream = stream
        self.ledger = ledger
        self.batch = batch
        self.lanes = max(1, lanes)
        self.claim_idle_ms = claim_idle_ms
        self._own_pending = True  # re-read our own unacked messages first
        self._prefetch: asyncio.Future[list[Queued]] | None = None
        self.written = 0
        self.fence = fence

    async def _read(self, *, pending: bool = False, block_ms: int | None = None) -> list[Queued]:
        return await self.stream.read(max(1, self.batch // 8), pending=pending, block_ms=block_ms)

    async def _commit(self, messages: Sequence[Queued]) -> int:
        """Write the batch lane by lane at once, parking what the ledger can never take;
        each lane is acknowledged when its transaction committed. A lane that failed is
        raised once the others finished (its messages stay pending, re-read first)."""
        # A thin batch is one transaction: lanes pay off only when PostgreSQL is the limit.
        width = self.lanes if len(messages) >= self.batch // 4 else 1
        lanes: dict[int, tuple[list[Queued], list[tuple[object, ...]]]] = {}
        for n, message in enumerate(messages):
            if n and n % ROWS_SLICE == 0:
                await asyncio.sleep(0)  # see ROWS_SLICE
            try:
                row = ledger_row_raw(message.fields)
            except MalformedSettlement as exc:
                await self._park(message, str(exc))
                continue
            good, rows = lanes.setdefault(message.shard % width, ([], []))
            good.append(message)
            rows.append(row)
        outcomes = await asyncio.gather(
            *(self._commit_lane(good, rows) for good, rows in lanes.values()),
            return_exceptions=True,
        )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        written = sum(o for o in outcomes if isinstance(o, int))
        self.written += written
        if failed:
            raise failed[0]
        return written

    async def _commit_lane(
        self, messages: Sequence[Queued], rows: Sequence[tuple[object, ...]]
    ) -> int:
        refused: set[str] = set()
        written = await self._write(messages, rows, refused)
        _count_uncollected(rows)
        _count_drift(rows)
        # A parked message was acknowledged by the move itself.
        await self.stream.ack([m for m in messages if m.message_id not in refused], written)
        return written

    async def _write(
        self, messages: Sequence[Queued], rows: Sequence[tuple[object, ...]], refused: set[str]
    ) -> int:
        """One transaction; a refused one is split in halves until the refused row is alone
        (parked, and its message id added to `refused`).

        Each half commits on its own: a crash between halves leaves the batch pending, and
        the rows already committed are skipped when it is read again."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                return await self.ledger.write_settlements(rows)
        except LedgerRejected as exc:
            if len(rows) == 1:
                await self._park(messages[0], f"ledger refused: {exc}")
                refused.add(messages[0].message_id)
                return 0
        mid = len(rows) // 2
        first = await self._write(messages[:mid], rows[:mid], refused)
        return first + await self._write(messages[mid:], rows[mid:], refused)

    async def _park(self, message: Queued, reason: str) -> None:
        if await self.stream.dead_letter(message, reason):
            metrics().dead_lettered.inc()
            log.error(
                "settler: parked message %s of shard %d in the dead-letter stream: %s",
                message.message_id,
                message.shard,
                reason,
            )

    async def run_once(self, claim: bool = False, block_ms: int | None = None) -> int:
        """One cycle: own pending (after a failure), stale claims, or new messages; with a
        fence, held from the read to the acknowledgement."""
        if self.fence is None:
            return await self._cycle(claim, block_ms)
        await self.fence.hold()
        try:
            n = await self._cycle(claim, block_ms)
        except BaseException:
            await self._let_go()
            raise
        if self._prefetch is None:  # a batch read ahead under this hold lands under it too
            await self.fence.let_go_if_due()
        return n

    async def _cycle(self, claim: bool, block_ms: int | None) -> int:
        if claim:
            messages = await self.stream.claim_stale(self.claim_idle_ms, self.batch // 8)
        elif self._own_pending:
            messages = await self._read(pending=True)
            self._own_pending = bool(messages)
            if not messages:
                messages = await self._read()
        elif self._prefetch is not None:
            messages, self._prefetch = await self._prefetch, None
        else:
            messages = await self._read(block_ms=block_ms)
        if not messages:
            return 0
        if len(messages) >= self.batch and not claim and not (self.fence and self.fence.due):
            # A full batch: read the next one while PostgreSQL writes this one.
            self._prefetch = asyncio.ensure_future(self._read())
        try:
            await self._commit(messages)
        except BaseException:
            self._own_pending = True  # the batch stays pending for us: re-read it first
            await self._drop_prefetch()
            raise
        return len(messages)

    async def _drop_prefetch(self) -> None:
        """Prefetched messages are pending for us; the own-pending read will take them."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            with contextlib.suppress(Exception):
                await prefetch

    async def run(
        self,
        retry_min_s: float = 0.05,
        claim_every_s: float = 5.0,
        stop: asyncio.Event | None = None,
        idle_block_ms: int = 50,
        linger_s: float = LINGER_S,
        busy_linger_s: float = BUSY_LINGER_S,
    ) -> None:
        """Forever; a lost PostgreSQL or Redis only delays settlement, the queue waits."""
        last_claim = last_forget = 0.0
        delay = retry_min_s
        groups_ok = False
        try:
            while running(stop):
                try:
                    if not groups_ok:
                        await self.stream.ensure_groups()
                        groups_ok = True
                    claim = time.monotonic() - last_claim > claim_every_s
                    if claim:
                        last_claim = time.monotonic()
                    if time.monotonic() - last_forget > FORGET_EVERY_S:
                        last_forget = time.monotonic()
                        await self.stream.forget_idle_consumers(FORGET_CONSUMERS_IDLE_MS)
                    n = await self.run_once(claim=claim, block_ms=idle_block_ms)
                    delay = retry_min_s
                    if 0 < n < self.batch // 4:
                        # A thin batch: let more settlements gather rather than pay a
                        # PostgreSQL transaction per request on the gateway's own core.
                        await pause(stop, busy_linger_s if n >= BUSY_READ else linger_s)
                except TRANSIENT as exc:
                    raise_if_cancelling()
                    # A flushed Redis loses the consumer groups: make them again.
                    groups_ok = groups_ok and "NOGROUP" not in str(exc)
                    log.warning("settler: %s; retrying in %.2fs", exc, delay)
                    await pause(stop, delay)
                    delay = min(delay * 2, 2.0)
        finally:
            await self._let_go()

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Write everything queued now (tests, shutdown, rebuild), our own pending first."""
        await self.stream.ensure_groups()
        self._own_pending = True
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if await self.run_once():
                    continue
                claimed = await self.run_once(claim=True)
                if claimed == 0 and (await self.stream.backlog()).length == 0:
                    return
        finally:
            await self._let_go()
        raise TimeoutError("settlement backlog did not drain")

    async def _let_go(self) -> None:
        """A stopped settler holds no fence (a restore must not wait for it)."""
        if self.fence is not None:
            with contextlib.suppress(Exception):
                await self.fence.let_go()
