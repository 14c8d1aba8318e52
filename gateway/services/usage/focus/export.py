"""A month of the ledger as FOCUS 1.2 rows (billing/usage/focus.py), for the account API, the
operator API and `meterway export focus`: read page by page, each debit split by the rate
card its own price_version names (never today's prices), written as CSV or Parquet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from billing import audience
from billing import csv_cells as cells
from billing.contracts import Month
from billing.pricing.explain import row_counts
from billing.usage.focus import Entry, Issuer, Period, Row, entry_rows
from billing.usage.focus_columns import COLUMNS
from gateway.services.usage.focus import parquet
from gateway.stores.ports import FocusPort

FORMATS = ("csv", "parquet")
CUSTOMER_COLUMNS = audience.customer_columns(COLUMNS)
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _tags(raw: object) -> dict[str, str]:
    """A debit's tags as the ledger kept them (jsonb: text from asyncpg), or none."""
    decoded = json.loads(raw) if isinstance(raw, str) else raw
    return {str(k): str(v) for k, v in decoded.items()} if isinstance(decoded, dict) else {}


def _entry(r: Mapping[str, Any], card: Mapping[str, Any] | None) -> Entry:
    return Entry(
        entry_id=r["id"],
        kind=r["kind"],
        occurred_at=r["occurred_at"],
        amount_micros=r["amount_micros"],
        account_id=r["account_id"],
        account_name=r["account_name"],
        request_id=r["request_id"],
        model=r["model"],
        provider=r["provider"],
        meter=r["meter"],
        quantity=r["quantity"],
        service=r["service"],
        grant_kind=r["grant_kind"],
        price_version=r["price_version"],
        provider_cost_micros=r["provider_cost_micros"],
        key_id=r["key_id"],
        key_name=r["key_name"],
        team_id=r["team_id"],
        team_name=r["team_name"],
        end_user=r["end_user"],
        tags=_tags(r.get("tags")),
        counts=row_counts(r) if r["kind"] == "debit" else {},
        card=card,
    )


async def focus_pages(
    source: FocusPort, account_id: str | None, month: Month, issuer: Issuer
) -> AsyncIterator[list[Row]]:
    """The month's FOCUS rows, a page of ledger entries at a time."""
    period = Period(month.start, month.end)
    cards: dict[str, Mapping[str, Any] | None] = {}
    async for page in source.entries(account_id, month.start, month.end):
        wanted = {r["price_version"] for r in page if r["price_version"]} - cards.keys()
        found = await source.cards(wanted)
        cards.update({v: found.get(v) for v in wanted})
        rows: list[Row] = []
        for r in page:
            rows += entry_rows(_entry(r, cards.get(r["price_version"])), period, issuer)
        yield rows


def csv_text(rows: list[Row], header: bool, columns: tuple[str, ...] = COLUMNS) -> str:
    """Rows as CSV (a null as an empty field), with the header line first if asked."""
    return cells.csv_text(columns if header else None, [[r.get(c) for c in columns] for r in rows])


async def for_customer(pages: AsyncIterator[list[Row]]) -> AsyncIterator[list[Row]]:
    """The pages as the account reads them (billing/audience.py): write them with
    CUSTOMER_COLUMNS."""
    async for page in pages:
        yield audience.focus_rows_for_customer(page)


async def parquet_bytes(
    pages: AsyncIterator[list[Row]], columns: tuple[str, ...] = COLUMNS
) -> bytes:
    """Every row as one Parquet file: costs and quantities as exact decimals, periods as
    UTC timestamps, the rest as text. Written in a thread: a month's file takes seconds of
    CPU, and the first imports pyarrow (and pandas, where installed), which no proxied call
    of the process may wait behind."""
    rows: list[Row] = []
    async for page in pages:
        rows += page
    return await asyncio.to_thread(parquet.write, rows, columns)
