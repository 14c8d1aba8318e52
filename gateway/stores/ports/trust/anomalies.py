"""What the spend anomaly detector and the pause routes ask of PostgreSQL
(`stores/postgres/trust/anomalies.py`): the hourly sums, the flags, the opt-ins and the pauses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.stores.records import Row


@dataclass(frozen=True, slots=True)
class NetworkSighting:
    """A key's calls from one network since the last batch: when first seen in it, how many,
    and the first one's request id."""

    key_id: str
    account_id: str
    network: str
    first_seen: datetime
    last_seen: datetime
    calls: int
    first_request_id: str


@dataclass(frozen=True, slots=True)
class RepeatedPrompt:
    """A key's calls with one prompt within an hour, sent in bursts: how many, and the
    first one's request id."""

    key_id: str
    account_id: str
    digest: str
    hour: datetime
    calls: int
    first_request_id: str


class AnomaliesPort(Protocol):
    async def fresh(self, since: datetime) -> list[Row]:
        """Keys with use settled since `since` (the settler's `last_at`): `account_id`,
        `key_id`, `team_id` (None outside a team), `last_at` (the newest)."""
        ...

    async def hours(self, scope: str, scope_id: str, account_id: str, since: datetime) -> list[Row]:
        """A key's, team's or account's use per hour (`hour`, `requests`, `spend_micros`)
        from `since` on."""
        ...

    async def models(self, key_id: str, account_id: str, since: datetime) -> list[Row]:
        """A key's use per hour and model (`hour`, `model`, `requests`, `spend_micros`)."""
        ...

    async def first_seen(self, scope: str, scope_id: str, account_id: str) -> datetime | None:
        """The first hour the scope used anything, by the hourly sums."""
        ...

    async def examples(
        self, scope: str, scope_id: str, account_id: str, hour: datetime, limit: int = 5
    ) -> list[str]:
        """Request ids of the hour's use, newest first."""
        ...

    async def record(self, flag: Mapping[str, Any], pause: bool) -> Row | None:
        """Record a flag, its notification (`spend.anomaly`) and, with `pause` and the key
        opted in and not revoked, the key's pause, in one transaction; None when this
        (scope, rule, hour) was flagged already. The flag as `of_account` shows it, saying
        whether it paused."""
        ...

    async def of_account(self, account_id: str | None, limit: int = 100) -> list[Row]:
        """The newest flags of an account (every account's with None), as the API shows
        them: `id`, `object`, `account_id`, `key_id`, `scope`, `scope_id`, `rule`,
        `summary`, `figures`, `window_start`, `window_end` (ISO 8601), `request_ids`,
        `paused`, `detected_at`."""
        ...

    async def set_opt_in(self, account_id: str, key_id: str, pause: bool | None) -> None:
        """Pause on a flag: an account's choice (`key_id` ''), or a key's over it; None
        forgets the key's own choice."""
        ...

    async def opt_ins(self, account_id: str) -> dict[str, bool]:
        """The account's choice ('') and its keys' own, by key id."""
        ...

    async def paused(self, key_ids: Sequence[str]) -> dict[str, Row]:
        """The pauses of these keys (`paused_at`, `anomaly_id`), by key id."""
        ...

    async def resume(self, key_id: str) -> bool:
        """Lift a key's pause; False when it was not paused."""
        ...

    async def is_revoked(self, key_id: str) -> bool: ...

    async def prune(self, before: datetime) -> int:
        """Forget the hourly sums of hours before `before` (the rules read 4 weeks back);
        how many rows went."""
        ...

    async def all_paused(self) -> list[str]:
        """Every paused key's id (`meterway rebuild` writes them back to the hot store)."""
        ...

    async def record_networks(self, seen: Sequence[NetworkSighting]) -> None:
        """Add a batch of sightings: a key's new network is kept with its first use, a known
        one has its calls added and its last use moved."""

    async def new_networks(self, since: datetime) -> list[Row]:
        """The key networks first recorded at or after `since` (PostgreSQL's clock)."""

    async def networks(self, key_id: str) -> dict[str, datetime]:
        """Every network a key was used from, with its first use."""

    async def record_repeats(self, seen: Sequence[RepeatedPrompt]) -> None:
        """Add a batch of repeated prompts to their hour's counts."""

    async def new_repeats(self, since: datetime) -> list[Row]:
        """The (key, prompt, hour) counts added to at or after `since` (PostgreSQL's clock)."""

    async def busiest_repeat(
        self, key_id: str, digest: str, before: datetime, since: datetime
    ) -> int:
        """The most calls of a key's prompt in one hour in [since, before)."""
