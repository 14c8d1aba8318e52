"""The analytics store's reads and writes: ledger rows in, sums out (for the copy and for
`meterway analytics verify`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.stores.clickhouse.http import ClickHouseHttp
from gateway.stores.clickhouse.schema import FILLED, LEDGER_COLUMNS, MARKER, ensure_schema
from gateway.stores.clickhouse.usage import literal
from gateway.stores.errors import AnalyticsMissing
from gateway.stores.ports.usage.analytics import Target


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    """A ledger row as JSONEachRow takes it: the time as UTC text with microseconds."""
    out = {name: row[name] for name in LEDGER_COLUMNS}
    for name in ("images", "audio_seconds", "characters"):  # PostgreSQL sums them as numeric
        out[name] = int(out[name])
    tags = row["tags"]  # jsonb: text from asyncpg
    out["tags"] = json.loads(tags) if isinstance(tags, str) else dict(tags or {})
    at: datetime = row["occurred_at"]
    out["occurred_at"] = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return out


class ClickHouseAnalytics:
    """Implements `stores.ports.AnalyticsStorePort` over ClickHouse's HTTP interface."""

    def __init__(self, client: ClickHouseHttp) -> None:
        self.client = client
        self.db = client.settings.database

    async def prepare(self) -> None:
        """The schema, and a marker where there is none (two copiers at once may both write
        one: the least is the store's)."""
        await ensure_schema(self.client)
        await self.client.execute(
            f"INSERT INTO {self.db}.{MARKER} SELECT {literal(secrets.token_hex(12))}"
            f" WHERE (SELECT count() FROM {self.db}.{MARKER}) = 0"
        )

    async def identity(self, for_report: bool = False) -> Target:
        """One read: the marker and the highest entry id; a store without the database or
        its tables (a new server, a lost volume) has neither. Within the read timeout when
        a report waits on it, else the copy's."""
        try:
            rows = await self.client.select(
                f"SELECT (SELECT min(id) FROM {self.db}.{MARKER}) AS marker,"
                f" (SELECT max(id) FROM {self.db}.ledger) AS high",
                timeout_s=self.client.settings.read_timeout_s if for_report else 0,
            )
        except AnalyticsMissing:
            return Target("", 0)
        return Target(str(rows[0]["marker"]), int(rows[0]["high"]))

    async def reset(self) -> str:
        marker = secrets.token_hex(12)
        for table in FILLED:
            await self.client.execute(f"TRUNCATE TABLE IF EXISTS {self.db}.{table}")
        await self.client.execute(f"INSERT INTO {self.db}.{MARKER} VALUES ({literal(marker)})")
        return marker

    async def insert_ledger(self, rows: Sequence[dict[str, Any]], token: str) -> None:
        await self.client.insert(f"{self.db}.ledger", (_wire(r) for r in rows), token)

    async def day_sums(self, through: int) -> dict[tuple[str, str], tuple[int, int]]:
        """(account, UTC day) -> (entries, micros) of the copied rows at or below `through`,
        each row once (FINAL)."""
        rows = await self.client.select(
            "SELECT account_id, toString(toDate(occurred_at)) AS day, count() AS n,"
            f" sum(amount_micros) AS micros FROM {self.db}.ledger FINAL"
            f" WHERE id <= {int(through)} GROUP BY account_id, day"
        )
        return {(r["account_id"], r["day"]): (int(r["n"]), int(r["micros"])) for r in rows}

    async def hourly_day_sums(self) -> dict[tuple[str, str], tuple[int, int]]:
        """The same from the hourly rollup the materialized view keeps."""
        rows = await self.client.select(
            "SELECT account_id, toString(toDate(hour)) AS day, sum(entries) AS n,"
            f" sum(amount_micros) AS micros FROM {self.db}.usage_hourly"
            " GROUP BY account_id, day"
        )
        return {(r["account_id"], r["day"]): (int(r["n"]), int(r["micros"])) for r in rows}
