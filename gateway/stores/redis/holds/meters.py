"""Metered (non-token) holds on the same engine as LLM calls: reserve.lua, settle.lua and
the settlement stream through the hot store's own calls, plus meter_extend.lua for long work.

A metered request id is closed at most once: reserve.lua refuses an id that is open
(`MeterOpen`) or carries a closed marker (`MeterClosed`, kept for `CLOSED_TTL_MS`), and the
ledger's unique request id guards the row itself.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from billing.money.admission import Decision
from gateway.stores.meter_records import (
    Extended,
    MeterClosed,
    MeterHold,
    MeterOpen,
    OpenHold,
    ServiceRecord,
)
from gateway.stores.ports import MeterDecision
from gateway.stores.records import KeyRecord
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.records import decode_reservation, decode_service, encode_service
from gateway.stores.redis.wire.replies import decode_reserve_reply
from gateway.stores.redis.wire.scripts import load_script

if TYPE_CHECKING:
    from gateway.stores.redis.hot_core import HotCore

DAY_MS = 86_400_000
CLOSED_TTL_MS = 35 * DAY_MS  # as long as an event may be late (Stripe's own horizon)


def shard_of_request(request_id: str) -> int:
    """Metered ids carry their account's shard (`mtr_<shard>_...`): no lookup needed."""
    return int(request_id.split("_", 2)[1])


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_closed(marker: object) -> MeterClosed:
    """settle.lua's marker: kind|quantity|cost, then |asked for a settle through the API."""
    kind, quantity, cost, *asked = _text(marker).split("|")
    return MeterClosed(kind, int(quantity), int(cost), int(asked[0]) if asked else None)


class MeterHolds:
    """Implements `stores.ports.MeterHoldsPort` on the hot store's Redis."""

    def __init__(self, store: HotCore, closed_ttl_ms: int = CLOSED_TTL_MS) -> None:
        self.store = store
        self.keys = store.keys
        self._closed_ttl = closed_ttl_ms
        self._extend = load_script(store.redis, "meter_extend")

    async def hold(self, h: MeterHold) -> MeterDecision:
        """Reserve a metered quantity: one EVALSHA, like a proxied call's reservation."""
        s = shard_of(h.account_id)
        key = KeyRecord(h.key_id, h.account_id, s, "", (), ())
        args = (
            h.request_id, h.account_id, h.key_id, 0, 0, 0, h.hold_micros,
            self.store.tz_offset_ms(), h.ttl_ms, self.store.clock_flag, self.keys.counters(s),
            "", "", "", "m." + h.meter, h.quantity, h.service, "c" if h.charge_on_expiry else "v",
            "" if h.occurred_at_ms is None else h.occurred_at_ms,
            "1" if h.refuse_over_quota else "0", "1" if h.refuse_over_balance else "0",
            base64.b64encode(h.metadata).decode(),
        )  # fmt: skip
        closed_key = self.keys.closed(s, h.request_id)
        reply, counters = await self.store.reserve_raw(key, args, (closed_key,))
        reason = _text(reply[1]) if reply[0] == 0 else ""
        if reason == "closed":
            return decode_closed(reply[2])
        if reason == "duplicate":
            return MeterOpen()
        return self.store.decided(reply, h.request_id, key, h.hold_micros, counters)

    async def _close(
        self, request_id: str, kind: str, quantity: int, cost: int, asked: int | None = None
    ) -> bool:
        held = await self.open_hold(request_id)
        if held is None:
            return False
        return await self.store.close_metered(
            held.account_id, request_id, kind, quantity, cost, self._closed_ttl, asked
        )

    async def settle(
        self, request_id: str, quantity: int, cost_micros: int, asked: int | None = None
    ) -> bool:
        """Debit the quantity at its cost; the ledger row is queued in the same step."""
        return await self._close(request_id, "debit", quantity, cost_micros, asked)

    async def release(self, request_id: str) -> bool:
        return await self._close(request_id, "release", 0, 0)

    async def expire(self, request_id: str) -> bool:
        """Close by the meter's expiry policy (charge the hold, or void it)."""
        return await self._close(request_id, "expire", 0, 0)

    async def _record(self, request_id: str) -> Any:
        with map_redis_errors():
            return await self.store.redis.hget(
                self.keys.reservations(shard_of_request(request_id)), request_id
            )

    async def open_hold(self, request_id: str) -> OpenHold | None:
        raw = await self._record(request_id)
        if raw is None:
            return None
        r = decode_reservation(raw)
        if not r.meter:
            return None
        return OpenHold(r.account_id, r.key_id, r.meter, r.max_quantity, r.held_micros, r.service)

    async def closed(self, request_id: str) -> MeterClosed | None:
        with map_redis_errors():
            raw = await self.store.redis.get(
                self.keys.closed(shard_of_request(request_id), request_id)
            )
        return None if raw is None else decode_closed(raw)

    async def extend(
        self, request_id: str, service: str, *, ttl_ms: int, max_quantity: int, hold_micros: int
    ) -> Extended | Decision | None:
        """Move the deadline (and grow the hold); None when the id is not open for `service`."""
        raw = await self._record(request_id)
        if raw is None:
            return None
        r = decode_reservation(raw)
        k, s = self.keys, shard_of_request(request_id)
        fixed = (
            k.reservations(s), k.deadlines(s), k.account(s, r.account_id),
            k.api_key(s, r.key_id), k.clock(s),
        )  # fmt: skip
        counters = tuple(c.name for c in r.counters)
        args = (
            request_id, ttl_ms, self.store.clock_flag, max_quantity, hold_micros, k.counters(s),
            service,
        )  # fmt: skip
        with map_redis_errors():
            reply = await self._extend(fixed + counters, args)
        if reply[0] == 1:
            return Extended(int(reply[1]), int(reply[2]), int(reply[3]))
        if _text(reply[1]) == "closed":
            return None
        key = KeyRecord(r.key_id, r.account_id, s, "", (), ())
        return decode_reserve_reply(reply, request_id, key, hold_micros)

    async def put_service(self, key_hash: str, record: ServiceRecord | None) -> None:
        """Publish (or with None, withdraw) a service key on every gateway process."""
        with map_redis_errors():
            if record is None:
                await self.store.redis.delete(self.keys.service(key_hash))
            else:
                await self.store.redis.set(self.keys.service(key_hash), encode_service(record))

    async def lookup_service(self, key_hash: str) -> ServiceRecord | None:
        with map_redis_errors():
            raw = await self.store.redis.get(self.keys.service(key_hash))
        return None if raw is None else decode_service(raw)
