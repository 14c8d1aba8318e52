"""Batches the gateway created: the files they read, who owns each, and settling them.

A batch input file is priced when it is uploaded (llm/reading/batch_input.py) and remembered with
its owner. Creating a batch reserves that file's worst case at the batch tier's rates; the
reservation stays open (its deadline moved on at each look) until Meterway first sees the
batch `completed`, `expired`, `cancelled` or `failed`, on the owner's retrieve or cancel or
on its own poll. Then the output file is read and the lines that succeeded are billed, each
priced on its own at the model it reports or the batch's if dearer
(billing/pricing/batches.py), once
(settle.lua closes a reservation once, so two processes seeing the same end never bill it
twice); a batch none of whose lines ran is released. Every later look answers with the
debit recorded (services/money/recorded_cost.py), and the output file, downloaded through the
gateway, with each billed line's share of it. A key sees only its own files and batches:
another's id answers the 404 an unknown id gets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.pricing import PricingTable
from billing.pricing.batches import (
    BATCH_TIER,
    PricedLine,
    bill_of,
    is_terminal,
    priced_lines,
    shares_of,
)
from gateway.errors import NotFound
from gateway.llm.cost_field import COST_FIELD, with_cost
from gateway.llm.reading.batch_input import BATCH_ROUTES, BatchInput, line_usage
from gateway.llm.reading.calls import Call
from gateway.services.money.meter.metering import Meter, priced_cap, worst_case_micros
from gateway.services.money.recorded_cost import RequestEntries, recorded_cost
from gateway.stores.ports import FileOwners, HotStorePort, ResponseOwners
from gateway.stores.records import KeyRecord, OwnedFile, OwnedResponse

log = logging.getLogger("meterway.batches")
HOLD_MS = 26 * 3600 * 1000  # past a 24 h completion window: moved on at each look
LINE_USAGE = ("response", "body", "usage")  # where an output line's usage sits
FetchBatch = Callable[[OwnedResponse], Awaitable[tuple[int, Any]]]
FetchOutput = Callable[[str], Awaitable[bytes]]
LineBilled = tuple[int, Usage, int]  # a billed line's index in the output file, usage, share


def _lines_billed(priced: list[PricedLine], markup_bps: int, cap: int) -> list[LineBilled]:
    shares = shares_of(priced, markup_bps, cap)
    return [(i, usage, shares[i]) for i, usage, _ in priced if usage is not None and i in shares]


class BatchBook:
    def __init__(
        self,
        files: FileOwners,
        owned: ResponseOwners,
        hot: HotStorePort,
        meter: Meter,
        pricing: PricingTable,
        entries: RequestEntries,
        poll_interval_ms: int = 60_000,
    ) -> None:
        self.files = files
        self.entries = entries
        self.owned = owned
        self.hot = hot
        self.meter = meter
        self.pricing = pricing
        self.poll_interval_ms = poll_interval_ms
        # Told each billed line's usage and share of the debit as a batch settles (the
        # batch's span gives each line a span event: http/observability/tracer.py).
        self.on_lines: Callable[[str, list[LineBilled]], None] | None = None

    async def file_uploaded(self, key: KeyRecord, file_id: str, batch: BatchInput) -> None:
        await self.files.put(
            OwnedFile(
                file_id,
                key.key_id,
                key.account_id,
                batch.model,
                batch.endpoint,
                batch.lines,
                batch.input_tokens,
                batch.output_tokens,
                batch.fees_micros,
                batch.worst_micros,
            )
        )

    async def file_of(self, key: KeyRecord, file_id: str) -> OwnedFile:
        rec = await self.files.get(file_id)
        if rec is None or rec.key_id != key.key_id:
            raise NotFound(f"No such File object: {file_id}", param="file_id")
        return rec

    def call_for(self, rec: OwnedFile) -> Call:
        """What a batch of this file reserves: every line's worst case at batch rates, each
        at its own band (summed when the file was uploaded)."""
        price = self.pricing.lookup(rec.model)
        endpoint = BATCH_ROUTES.get(rec.endpoint)
        if price is None or endpoint is None:
            raise NotFound(f"The model '{rec.model}' is no longer served.", param="input_file_id")
        price = self.pricing.booked(price, rec.account_id)
        return Call(
            endpoint=replace(endpoint, clamps=False, scope="batches"),
            price=price,
            body={},
            stream=False,
            client_wants_usage=False,
            input_tokens=rec.input_tokens,
            max_output_tokens=rec.output_tokens,
            service_tier=BATCH_TIER,
            fees_micros=rec.fees_micros,
            reserve_micros=rec.worst_micros,
        )

    async def created(self, batch_id: str, call: Call, admitted: Admitted) -> None:
        """Remember the owner and the open reservation before the client sees the id."""
        a = admitted
        rec = OwnedResponse(
            batch_id, a.key_id, a.account_id, a.shard, a.request_id, call.price.name,
            call.input_tokens, a.held_micros, True, a.markup_bps, a.now_ms,
            worst_micros=worst_case_micros(call),
        )  # fmt: skip
        now = await self.hot.now_ms()
        await self.owned.record(rec, now + self.poll_interval_ms)
        await self.owned.hold(rec, now + HOLD_MS)

    async def owned_by(self, key: KeyRecord, batch_id: str) -> OwnedResponse:
        rec = await self.owned.get(batch_id)
        if rec is None or rec.key_id != key.key_id:
            raise NotFound(f"No such batch: {batch_id}", param="batch_id")
        return rec

    async def observe(self, rec: OwnedResponse, batch: Any, output: FetchOutput) -> int | None:
        """Own the batch's output files; settle it the first time it is seen ended, and
        return its debit then (None otherwise, or when nothing is billed)."""
        if not isinstance(batch, dict):
            return None
        for name in ("output_file_id", "error_file_id"):
            file_id = batch.get(name)
            if isinstance(file_id, str) and file_id:
                made_by = rec.response_id if name == "output_file_id" else ""
                await self.files.put(
                    OwnedFile(
                        file_id, rec.key_id, rec.account_id, rec.model, "", 0, 0, 0, 0, 0, made_by
                    )
                )
        if rec.pending and is_terminal(batch):
            return await self._settle(rec, batch, output)
        return None

    async def _settle(
        self, rec: OwnedResponse, batch: dict[str, Any], output: FetchOutput
    ) -> int | None:
        price = self.pricing.lookup(rec.model)
        if price is None:
            log.error("batch %s of unserved model %s not settled", rec.response_id, rec.model)
            return None
        price = self.pricing.booked(price, rec.account_id, rec.admitted_at_ms or None)
        file_id = batch.get("output_file_id")
        lines = (await output(file_id)).split(b"\n") if isinstance(file_id, str) else []
        at_ms = rec.admitted_at_ms
        priced = priced_lines(lines, line_usage, price, self.pricing.lookup, at_ms)
        bill = bill_of(priced, price, at_ms)
        if self.on_lines is not None and bill.succeeded:  # before the debit the span is made at
            cap = priced_cap(_admitted(rec), price, bill.usage, rec.worst_micros)
            self.on_lines(rec.request_id, _lines_billed(priced, rec.markup_bps, cap))
        cost = None
        if bill.succeeded:
            cost = await self.meter.settle_priced(
                _admitted(rec), price, bill.usage, bill.priced, worst_micros=rec.worst_micros
            )
        else:
            self.meter.release_later(_admitted(rec), forwarded=True)
        await self.owned.settled(rec.response_id, cost)
        return cost

    async def cost_of(self, rec: OwnedResponse, batch: Any, output: FetchOutput) -> int | None:
        """The debit a retrieve or cancel answers with: its settlement's when this one
        settles it, else, once it is settled, the recorded one."""
        cost = await self.observe(rec, batch, output)
        if cost is None and (not rec.pending or is_terminal(batch)):
            cost = await recorded_cost(self.entries, self.owned, rec)
        return cost

    async def own_page(
        self, key: KeyRecord, batches: list[Any], output: FetchOutput
    ) -> list[dict[str, Any]]:
        """The batches of a provider's list page that this key created, each settled one
        with its debit as `cost_micros` (in its `usage`, else top-level)."""
        kept: list[dict[str, Any]] = []
        for batch in batches:
            batch_id = batch.get("id") if isinstance(batch, dict) else None
            rec = await self.owned.get(batch_id) if isinstance(batch_id, str) else None
            if rec is None or rec.key_id != key.key_id:
                continue
            cost = await self.cost_of(rec, batch, output)
            if cost is not None:
                usage = batch.get("usage")
                (usage if isinstance(usage, dict) else batch)[COST_FIELD] = cost
            kept.append(batch)
        return kept

    async def costed_output(self, rec: OwnedFile, raw: bytes) -> bytes:
        """A settled batch's output file with each billed line's share of the batch's debit
        as `cost_micros` in its response body's usage (billing/pricing/batches.py's line_shares,
        under the batch's charge cap as its debit was); any other file as it is."""
        batch = await self.owned.get(rec.batch_id) if rec.batch_id else None
        price = self.pricing.lookup(batch.model) if batch is not None else None
        if batch is None or batch.pending or price is None:
            return raw
        lookup, at_ms, markup = self.pricing.lookup, batch.admitted_at_ms, batch.markup_bps

        def costed() -> bytes:  # every line parsed and priced: off the event loop
            lines = raw.split(b"\n")
            priced = priced_lines(lines, line_usage, price, lookup, at_ms)
            usage = bill_of(priced, price, at_ms).usage
            cap = priced_cap(_admitted(batch), price, usage, batch.worst_micros)
            shares = shares_of(priced, markup, cap)
            for index, share in shares.items():
                lines[index] = with_cost(lines[index], LINE_USAGE, share) or lines[index]
            return b"\n".join(lines)

        return await asyncio.to_thread(costed)

    async def poll_once(self, fetch: FetchBatch, output: FetchOutput) -> int:
        """Look at every running batch due a poll; how many were seen ended."""
        now = await self.hot.now_ms()
        ended = 0
        for batch_id in await self.owned.due(now):
            rec = await self.owned.get(batch_id)
            if rec is None or not rec.pending:
                await self.owned.settled(batch_id)
                continue
            status, batch = await fetch(rec)
            if status == 200:
                await self.observe(rec, batch, output)
            if is_terminal(batch):
                ended += 1
                continue
            await self.owned.poll_later(batch_id, now + self.poll_interval_ms)
            await self.owned.hold(rec, now + HOLD_MS)
        return ended


def _admitted(rec: OwnedResponse) -> Admitted:
    return Admitted(
        rec.request_id, rec.account_id, rec.key_id, rec.shard, rec.held_micros,
        rec.admitted_at_ms, None, None, "", rec.markup_bps,
    )  # fmt: skip
