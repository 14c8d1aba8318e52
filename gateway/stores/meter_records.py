"""The values the metering API's holds and services cross the store ports as: a metered
hold to reserve, its state once open or closed, and a metering service's record. Moved out
of records.py, unchanged."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A metered hold's id (`services/money/meter/metered.py` makes it: kind, the account's shard, a
# digest).
METERED_ID = re.compile(r"^(mtr|mev)_([0-9]{1,2})_[0-9a-f]{32}$")


def is_metered(request_id: str) -> bool:
    """Whether an id names a metered hold (else an LLM call's reservation)."""
    return METERED_ID.match(request_id) is not None


@dataclass(frozen=True, slots=True)
class MeterHold:
    """A metered authorization (or a reported event) to reserve through reserve.lua."""

    request_id: str
    account_id: str
    key_id: str  # '' when a service acts on the account by id
    meter: str  # the meter's name
    quantity: int
    hold_micros: int
    service: str
    ttl_ms: int
    charge_on_expiry: bool
    occurred_at_ms: int | None = None
    refuse_over_quota: bool = True
    refuse_over_balance: bool = True
    metadata: bytes = b""  # the client's metadata object as compact JSON; b"" = none


@dataclass(frozen=True, slots=True)
class MeterClosed:
    """A metered id already closed: how (debit|void|release), the quantity and the cost, and
    for a settle through the API the quantity it asked for (None: expired, or restored)."""

    kind: str
    quantity: int
    cost_micros: int
    asked: int | None = None


@dataclass(frozen=True, slots=True)
class MeterOpen:
    """A metered id that is reserved and not closed yet (a concurrent duplicate)."""


@dataclass(frozen=True, slots=True)
class OpenHold:
    """An open metered hold, as its reservation record says."""

    account_id: str
    key_id: str
    meter: str
    max_quantity: int
    held_micros: int
    service: str


@dataclass(frozen=True, slots=True)
class Extended:
    now_ms: int
    held_micros: int
    max_quantity: int


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A service allowed to call /v1/metering, and the meters it may charge."""

    service_id: str
    name: str
    meters: tuple[str, ...]
