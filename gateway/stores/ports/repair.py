"""What the operator's repair tools (gateway/ops/: rebuild, reconcile, the self-restore) may
do to the hot store, as ports: `Stores.hot_restore()` and `Stores.balance_repair()` build the
Redis adapters behind them, so ops/ names no Redis module."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.stores.meter_records import ServiceRecord
from gateway.stores.records import ClosedMarker, HotPosition


@dataclass(frozen=True, slots=True)
class Liveness:
    """Signs that gateways are serving from this Redis."""

    ready_shards: int
    open_reservations: int

    @property
    def live(self) -> bool:
        return self.ready_shards > 0 or self.open_reservations > 0


class HotRestorePort(Protocol):
    """Writing the hot store from the ledger (stores/redis/repair/restore.py)."""

    async def liveness(self) -> Liveness: ...

    async def queued_costs(self) -> dict[str, int]: ...

    async def set_balance(
        self, account_id: str, balance: int, credit_ids: Sequence[int]
    ) -> None: ...

    async def restore_held(self, account_id: str) -> int: ...

    async def put_services(self, services: Iterable[tuple[str, ServiceRecord | None]]) -> int: ...

    async def put_closed(self, markers: Iterable[ClosedMarker]) -> int: ...


class BalanceRepairPort(Protocol):
    """An account's hot balance read under a fence and corrected by a fenced delta
    (stores/redis/repair/balances.py)."""

    async def position(self, account_id: str) -> HotPosition | None: ...

    async def unapplied(self, account_id: str, entry_ids: Sequence[int]) -> list[int]: ...

    async def repair(self, pos: HotPosition, delta: int, credit_ids: Sequence[int]) -> bool: ...
