"""Plain values that cross the store ports, free of any client library.

Services and handlers see these, never a Redis reply or an asyncpg Record, so a fake store
in a unit test returns exactly what the real one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from billing.usage import Usage

Row = Mapping[str, Any]  # one ledger row by column name (a dict, never an asyncpg Record)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """The immutable facts about an API key, cached per process once looked up."""

    key_id: str
    account_id: str
    shard: int
    name: str
    scopes: tuple[str, ...]
    models: tuple[str, ...]
    on_insufficient: str | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished call consumed and costs; settle.lua moves it into the stream."""

    model: str
    provider: str
    usage: Usage
    cost_micros: int


@dataclass(frozen=True, slots=True)
class CreditResult:
    entry_id: int
    amount_micros: int
    created: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Backlog:
    """Settlements queued in Redis and not yet in the ledger."""

    length: int
    oldest_age_ms: int


@dataclass(frozen=True, slots=True)
class WindowCount:
    """How much of one quota window is used now, and when it resets (None: never)."""

    used: int
    resets_at_ms: int | None


GroupBy = Literal["day", "model", "key"]
# The sums of a usage report bucket, as the rollups keep them.
USAGE_FIELDS = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "spend_micros",
)


@dataclass(frozen=True, slots=True)
class OwnedResponse:
    """Which key created a Responses API response, and (while `pending`) its open reservation."""

    response_id: str
    key_id: str
    account_id: str
    shard: int
    request_id: str  # the reservation's id
    model: str  # the priced model name
    input_tokens: int  # counted at admission: billed if the provider never reports usage
    held_micros: int
    pending: bool  # the reservation is still open
