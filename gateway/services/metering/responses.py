"""Responses API responses the gateway created: who owns each, and settling background ones.

A background response answers `queued` at once; its reservation stays open until Meterway
first sees it in a terminal state, on a retrieve or cancel the owner makes, or on the
gateway's own poll when the owner never asks. settle.lua closes a reservation once, so two
processes seeing the same end never bill it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from billing.metering.responses import is_terminal, response_text, usage_from_response
from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.pricing import PricingTable
from gateway.errors import NotFound
from gateway.services.money.meter.metering import Meter
from gateway.services.money.recorded_cost import RequestEntries, recorded_cost
from gateway.stores.ports import HotStorePort, ResponseOwners
from gateway.stores.records import KeyRecord, OwnedResponse

log = logging.getLogger("meterway.responses")
HOLD_MS = 15 * 60 * 1000  # a polled background reservation's deadline, moved on each poll
Fetch = Callable[[OwnedResponse], Awaitable[tuple[int, Any]]]  # (status, parsed JSON)


@dataclass(frozen=True, slots=True)
class Created:
    """What the proxy knows of a response it just relayed."""

    response_id: str
    admitted: Admitted
    model: str
    input_tokens: int
    pending: bool
    worst_micros: int  # the call's worst case (metering.worst_case_micros): its debit's cap


class ResponseBook:
    def __init__(
        self,
        owned: ResponseOwners,
        hot: HotStorePort,
        meter: Meter,
        pricing: PricingTable,
        counter: TokenCounter,
        entries: RequestEntries,
        poll_interval_ms: int = 2000,
    ) -> None:
        self.owned = owned
        self.entries = entries
        self.hot = hot
        self.meter = meter
        self.pricing = pricing
        self.counter = counter
        self.poll_interval_ms = poll_interval_ms

    async def created(self, c: Created) -> None:
        """Record the owner before the client sees the id, so its first retrieve finds it."""
        a = c.admitted
        rec = OwnedResponse(
            c.response_id,
            a.key_id,
            a.account_id,
            a.shard,
            a.request_id,
            c.model,
            c.input_tokens,
            a.held_micros,
            c.pending,
            a.markup_bps,
            a.now_ms,
            worst_micros=c.worst_micros,
        )
        now = await self.hot.now_ms()
        await self.owned.record(rec, now + self.poll_interval_ms)
        if c.pending:
            await self.owned.hold(rec, now + HOLD_MS)

    async def owned_by(self, key: KeyRecord, response_id: str) -> OwnedResponse:
        """The record if this key created the response; another key's looks like no response."""
        rec = await self.owned.get(response_id)
        if rec is None or rec.key_id != key.key_id:
            raise NotFound(f"No response with id '{response_id}' found.", param="response_id")
        return rec

    async def observe(self, rec: OwnedResponse, answer: Any) -> int | None:
        """Settle a pending response the first time it is seen finished; its cost, else None."""
        if not rec.pending or not isinstance(answer, dict) or not is_terminal(answer):
            return None
        price = self.pricing.lookup(rec.model)
        if price is None:  # no longer served: its reservation is left to the sweeper
            log.error("response %s of unserved model %s not settled", rec.response_id, rec.model)
            return None
        at = rec.admitted_at_ms or None  # its book then, as its reservation's
        price = self.pricing.booked(price, rec.account_id, at)
        usage = usage_from_response(answer) or self._counted(rec, price.encoding, answer)
        cost = await self.meter.settle_priced(
            _admitted(rec), price, usage, worst_micros=rec.worst_micros
        )
        await self.owned.settled(rec.response_id, cost)
        return cost

    async def cost_of(self, rec: OwnedResponse, answer: Any) -> int | None:
        """The debit a retrieve or cancel answers with: its settlement's when this one
        settles it, else, once it is settled (or was never background), the recorded one."""
        cost = await self.observe(rec, answer)
        if cost is None and (not rec.pending or is_terminal(answer)):
            cost = await recorded_cost(self.entries, self.owned, rec)
        return cost

    def _counted(self, rec: OwnedResponse, encoding: str, answer: dict[str, Any]) -> Usage:
        text = self.counter.count_text(encoding, "".join(response_text(answer)))
        return Usage(input_tokens=rec.input_tokens, output_tokens=text, source="counted")

    async def gone(self, rec: OwnedResponse) -> None:
        """The provider no longer knows the response: nothing to bill, release the hold."""
        if rec.pending:
            self.meter.release_later(_admitted(rec))
            await self.owned.settled(rec.response_id)

    async def poll_once(self, fetch: Fetch) -> int:
        """Look at every background response due a poll; returns how many were settled."""
        now = await self.hot.now_ms()
        settled = 0
        for response_id in await self.owned.due(now):
            rec = await self.owned.get(response_id)
            if rec is None or not rec.pending:
                await self.owned.settled(response_id)
                continue
            settled += await self._poll(rec, fetch, now)
        return settled

    async def _poll(self, rec: OwnedResponse, fetch: Fetch, now: int) -> int:
        status, answer = await fetch(rec)
        if status == 404:
            await self.gone(rec)
            return 0
        if await self.observe(rec, answer) is not None:
            return 1
        await self.owned.poll_later(rec.response_id, now + self.poll_interval_ms)
        await self.owned.hold(rec, now + HOLD_MS)
        return 0


def _admitted(rec: OwnedResponse) -> Admitted:
    return Admitted(
        rec.request_id,
        rec.account_id,
        rec.key_id,
        rec.shard,
        rec.held_micros,
        rec.admitted_at_ms,
        None,
        None,
        "",
        rec.markup_bps,
    )
