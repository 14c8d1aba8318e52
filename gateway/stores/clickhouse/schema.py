"""Meterway's tables in ClickHouse, made at start-up if missing (needs ClickHouse 22.8 or
newer: ReplacingMergeTree, `insert_deduplication_token`, and deduplication of non-replicated
tables and of the views they feed).

- `ledger`: every ledger entry, keyed by its id; a row copied twice is one row (the copy's
  insert token drops a repeated batch, and ReplacingMergeTree any row that got in twice).
- `usage_hourly`: sums by account, hour (UTC), kind, model, key, meter and end user,
  maintained by the materialized view `usage_hourly_mv` as rows arrive.
- `usage_tag_hourly`: the same sums per tag (name and value) the rows carry, without the
  end user, maintained by `usage_tag_hourly_mv`.
- `meterway_target`: the marker, one random id the copy writes into the database it fills;
  the ledger's watermark names it (stores/postgres/usage/analytics_copy.py), so a new server, a
  lost volume or another database is seen as the store the watermark does not count.
"""

from __future__ import annotations

from gateway.stores.clickhouse.http import ClickHouseHttp

LEDGER_COLUMNS = {
    "id": "UInt64",
    "account_id": "String",
    "kind": "LowCardinality(String)",
    "amount_micros": "Int64",
    "occurred_at": "DateTime64(6, 'UTC')",
    "request_id": "String",
    "key_id": "String",
    "model": "String",
    "provider": "LowCardinality(String)",
    "meter": "String",
    "quantity": "Int64",
    "end_user": "String",
    "price_version": "String",
    "provider_cost_micros": "Nullable(Int64)",
    "input_tokens": "Int64",
    "cached_input_tokens": "Int64",
    "cache_write_tokens": "Int64",
    "output_tokens": "Int64",
    "reasoning_tokens": "Int64",
    "images": "Int64",
    "audio_seconds": "Int64",
    "characters": "Int64",
    "tags": "Map(String, String)",
}
# The hourly rollup's sums: each a column's sum, or an expression's (a usage report's
# fields: stores/records.py USAGE_FIELDS and COST_FIELDS, as stores/postgres/usage/rollups.py
# sums them), beside the entries and micros of every kind that verify compares.
SUMS = {
    "entries": "count()",
    "amount_micros": "sum(l.amount_micros)",
    "requests": "countIf(l.meter = '')",
    "input_tokens": "sum(l.input_tokens)",
    "cached_input_tokens": "sum(l.cached_input_tokens)",
    "cache_write_tokens": "sum(l.cache_write_tokens)",
    "output_tokens": "sum(l.output_tokens)",
    "reasoning_tokens": "sum(l.reasoning_tokens)",
    "spend_micros": "-sum(l.amount_micros)",
    "quantity": "sum(l.quantity)",
    "provider_cost_micros": "sum(coalesce(l.provider_cost_micros, -l.amount_micros))",
    "images": "sum(l.images)",
    "audio_seconds": "sum(l.audio_seconds)",
    "characters": "sum(l.characters)",
}
HOURLY_KEYS = ("account_id", "hour", "kind", "model", "key_id", "meter", "end_user")
TAG_HOURLY_KEYS = (
    "account_id",
    "tag_name",
    "hour",
    "kind",
    "model",
    "key_id",
    "meter",
    "tag_value",
)
_WINDOW = "non_replicated_deduplication_window = 10000"
MARKER = "meterway_target"
# Emptied when the store is filled again: the marker first (a report reading meanwhile
# finds it gone, services/usage/analytics_freshness.py), then the rows and their rollups.
FILLED = (MARKER, "ledger", "usage_hourly", "usage_tag_hourly")


def statements(database: str) -> list[str]:
    """The DDL, in order; each is a no-op where its object exists."""
    columns = ", ".join(f"{name} {kind}" for name, kind in LEDGER_COLUMNS.items())
    sums = ", ".join(f"{name} Int64" for name in SUMS)
    selected = ", ".join(f"{expr} AS {name}" for name, expr in SUMS.items())
    keys, tag_keys = ", ".join(HOURLY_KEYS), ", ".join(TAG_HOURLY_KEYS)
    return [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        f"CREATE TABLE IF NOT EXISTS {database}.ledger ({columns})"
        " ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at)"
        f" ORDER BY (account_id, id) SETTINGS {_WINDOW}",
        f"CREATE TABLE IF NOT EXISTS {database}.usage_hourly (account_id String,"
        " hour DateTime('UTC'), kind LowCardinality(String), model String, key_id String,"
        f" meter String, end_user String, {sums})"
        f" ENGINE = SummingMergeTree ORDER BY ({keys}) SETTINGS {_WINDOW}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.usage_hourly_mv"
        f" TO {database}.usage_hourly AS SELECT l.account_id AS account_id,"
        " toStartOfHour(l.occurred_at) AS hour, l.kind AS kind, l.model AS model,"
        " l.key_id AS key_id, l.meter AS meter, l.end_user AS end_user,"
        f" {selected} FROM {database}.ledger AS l GROUP BY {keys}",
        # A store made before tags: its ledger gains the column (older rows read as {}).
        f"ALTER TABLE {database}.ledger ADD COLUMN IF NOT EXISTS tags Map(String, String)",
        f"CREATE TABLE IF NOT EXISTS {database}.usage_tag_hourly (account_id String,"
        " tag_name String, hour DateTime('UTC'), kind LowCardinality(String), model String,"
        f" key_id String, meter String, tag_value String, {sums})"
        f" ENGINE = SummingMergeTree ORDER BY ({tag_keys}) SETTINGS {_WINDOW}",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.usage_tag_hourly_mv"
        f" TO {database}.usage_tag_hourly AS SELECT l.account_id AS account_id,"
        " tag.1 AS tag_name, toStartOfHour(l.occurred_at) AS hour, l.kind AS kind,"
        " l.model AS model, l.key_id AS key_id, l.meter AS meter, tag.2 AS tag_value,"
        f" {selected} FROM {database}.ledger AS l"
        " ARRAY JOIN arrayZip(mapKeys(l.tags), mapValues(l.tags)) AS tag"
        f" GROUP BY {tag_keys}",
        f"CREATE TABLE IF NOT EXISTS {database}.{MARKER} (id String)"
        " ENGINE = MergeTree ORDER BY tuple()",
    ]


async def ensure_schema(client: ClickHouseHttp) -> None:
    """The database first, sent with no current database (the server would refuse to set
    one that does not exist yet), then its objects."""
    database, *rest = statements(client.settings.database)
    await client.execute(database, in_database=False)
    for statement in rest:
        await client.execute(statement)
