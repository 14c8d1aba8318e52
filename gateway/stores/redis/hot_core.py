"""What the hot store's extensions (leases, meter holds, money out, commitments, lost
reservations, the lease scripts' calls) use of the store they extend: a narrow protocol,
so each takes the store it is built by without importing it (`HotStore` imports them;
they never import `HotStore`, and the package has no import circle)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis

from billing.money.admission import Decision
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.keys import Keys
from gateway.stores.redis.wire.resp import ScriptWire
from gateway.stores.redis.wire.scripts import ScriptFn


class LeaseWaits(Protocol):
    async def wait_out(self, name: str) -> None:
        """After a change to the hash `name`: until no lease granted before it can admit."""


class HotCore(Protocol):
    @property
    def redis(self) -> aioredis.Redis: ...
    @property
    def wire(self) -> ScriptWire | None: ...
    @property
    def keys(self) -> Keys: ...
    @property
    def clock_flag(self) -> str:
        """reserve/settle ARGV: use the test clock (1/0)."""

    @property
    def leases(self) -> LeaseWaits: ...

    def tz_offset_ms(self) -> str: ...
    async def now_ms(self) -> int: ...
    async def call(self, script: ScriptFn, keys: Sequence[str], args: Sequence[Any]) -> Any: ...
    async def command(self, *args: Any) -> Any: ...
    async def reserve_raw(
        self,
        key: KeyRecord,
        args: tuple[Any, ...],
        tail: tuple[str, ...] = (),
        end_user: str = "",
    ) -> tuple[Any, tuple[str, ...]]: ...
    def decided(
        self, reply: Any, request_id: str, key: KeyRecord, held: int, counters: tuple[str, ...]
    ) -> Decision: ...
    async def debit_late(
        self, shard: int, account_id: str, key_id: str, request_id: str, settlement: Settlement
    ) -> int: ...
    async def extend_by(self, shard: int, request_id: str, ttl_ms: str) -> bool: ...
    async def close_metered(
        self,
        account_id: str,
        request_id: str,
        kind: str,
        quantity: int,
        cost: int,
        ttl_ms: int,
        asked: int | None = None,
    ) -> bool: ...
