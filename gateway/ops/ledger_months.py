"""`meterway ledger partitions|retention` and the keeper `serve` runs: the ledger's months.

Months are UTC calendar months. Partitions are created ahead so an insert never waits for
DDL and the DEFAULT partition stays empty; retention is only ever an operator's command, a
dry run unless confirmed, and detaches (never drops) whole months that are over.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from gateway.stores.connect import Stores
from gateway.stores.records import MonthAdded, MonthSummary

KEEP_AHEAD = 2  # months the keeper keeps created beyond the current one
KEEPER_EVERY_S = 3600.0


class MonthError(Exception):
    """A month argument that is malformed or not allowed (one line, for the operator)."""


def parse_month(text: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}", text) or not 1 <= int(text[5:]) <= 12:
        raise MonthError(f"{text!r} is not a month: write YYYY-MM, e.g. 2025-01")
    return date(int(text[:4]), int(text[5:]), 1)


def month_of(now: datetime) -> date:
    utc = now.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def months_ahead(now: datetime, ahead: int) -> list[date]:
    """The current month and `ahead` more."""
    if ahead < 0:
        raise MonthError(f"--ahead must be 0 or more, not {ahead}")
    current = month_of(now)
    return [add_months(current, n) for n in range(ahead + 1)]


async def ensure_ahead(stores: Stores, now: datetime, ahead: int) -> list[MonthAdded]:
    """Create the current month and `ahead` more (idempotent), moving any of their rows out
    of the DEFAULT partition."""
    return await stores.partitions().add_months(months_ahead(now, ahead))


async def keep_ahead(stores: Stores, now: datetime) -> list[MonthAdded]:
    """The keeper's round: only when a month is missing does it take the DDL lock."""
    wanted = await stores.partitions().missing(months_ahead(now, KEEP_AHEAD))
    return await stores.partitions().add_months(wanted) if wanted else []


def retention_cut(before: date, now: datetime) -> date:
    """`before` if retention may detach every month before it; the current month and the
    future are refused (rows are still arriving there, late debits included)."""
    current = month_of(now)
    if before >= current:
        newest = add_months(current, -1)
        raise MonthError(
            f"refused: {before:%Y-%m} is the current month or later; months before it are"
            f" still live. The latest --before allowed now is {newest:%Y-%m}"
        )
    return before


async def _months_before(stores: Stores, before: date, now: datetime) -> list[date]:
    """The attached months before the cut, oldest first."""
    cut = retention_cut(before, now)
    return [m for m in await stores.partitions().attached() if m < cut]


async def retention_plan(stores: Stores, before: date, now: datetime) -> list[MonthSummary]:
    """The attached months before the cut and what each holds."""
    return await stores.partitions().summarize(await _months_before(stores, before, now))


async def retain(stores: Stores, before: date, now: datetime) -> list[MonthSummary]:
    """Detach every month before the cut, oldest first, each in its own transaction (each
    summed inside it, as it leaves)."""
    return [await stores.partitions().detach(m) for m in await _months_before(stores, before, now)]
