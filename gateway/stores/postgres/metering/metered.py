"""Service keys (stored by hash) and metered usage read back from the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from gateway.stores.errors import DuplicateService, LedgerRejected
from gateway.stores.postgres import archives
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_METER_USAGE = """
SELECT meter, sum(quantity)::bigint AS quantity, sum(cost)::bigint AS cost_micros,
       sum(events)::bigint AS events
FROM (
    SELECT meter, sum(quantity) AS quantity, -sum(amount_micros) AS cost, count(*) AS events
    FROM ledger_entries WHERE account_id = $1 AND kind = 'debit' AND meter IS NOT NULL
      AND occurred_at >= coalesce($2::timestamptz, '-infinity')
      AND occurred_at < coalesce($3::timestamptz, 'infinity')
    GROUP BY meter
    UNION ALL
    SELECT meter, sum(quantity), sum(spend_micros), sum(debits) FROM ledger_archived_usage
    WHERE account_id = $1 AND meter IS NOT NULL
      AND month::timestamp AT TIME ZONE 'UTC' >= coalesce($2::timestamptz, '-infinity')
      AND (month + interval '1 month') AT TIME ZONE 'UTC'
          <= coalesce($3::timestamptz, 'infinity')
    GROUP BY meter
) u GROUP BY meter ORDER BY meter
"""
# The account's archive tables of months the range cuts through (meets, but not whole).
_CUT_ARCHIVES = """
SELECT DISTINCT archive_table FROM ledger_archived_usage
WHERE account_id = $1 AND meter IS NOT NULL
  AND (month + interval '1 month') AT TIME ZONE 'UTC' > coalesce($2::timestamptz, '-infinity')
  AND month::timestamp AT TIME ZONE 'UTC' < coalesce($3::timestamptz, 'infinity')
  AND NOT (month::timestamp AT TIME ZONE 'UTC' >= coalesce($2::timestamptz, '-infinity')
       AND (month + interval '1 month') AT TIME ZONE 'UTC'
           <= coalesce($3::timestamptz, 'infinity'))
"""
_ARCHIVE_METER_USAGE = """
SELECT meter, sum(quantity)::bigint AS quantity, -sum(amount_micros)::bigint AS cost_micros,
       count(*) AS events
FROM {table} WHERE account_id = $1 AND kind = 'debit' AND meter IS NOT NULL
  AND occurred_at >= coalesce($2::timestamptz, '-infinity')
  AND occurred_at < coalesce($3::timestamptz, 'infinity')
GROUP BY meter
"""


class MeteringLedger:
    """Implements `stores.ports.MeteringLedgerPort` on the ledger's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_service(
        self, service_id: str, name: str, key_hash: str, key_prefix: str, meters: Sequence[str]
    ) -> Row:
        try:
            with map_postgres_errors():
                row = await self.pool.fetchrow(
                    "INSERT INTO service_keys (id, name, key_hash, key_prefix, meters)"
                    " VALUES ($1, $2, $3, $4, $5) RETURNING *",
                    service_id,
                    name,
                    key_hash,
                    key_prefix,
                    list(meters),
                )
        except LedgerRejected as exc:
            raise DuplicateService(name) from exc
        return dict(row)

    async def revoke_service(self, service_id: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE service_keys SET revoked_at = coalesce(revoked_at, now())"
                " WHERE id = $1 RETURNING *",
                service_id,
            )
        return None if row is None else dict(row)

    async def active_services(self) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch("SELECT * FROM service_keys WHERE revoked_at IS NULL")
        return [dict(r) for r in rows]

    async def meter_usage(
        self, account_id: str, since: datetime | None, until: datetime | None
    ) -> list[Row]:
        """Debits of one account grouped by meter: quantity, cost and count per meter, live
        and archived. An archived month the range covers whole is added from its sums
        (ledger_archived_usage); one the range cuts through is read from its archive table
        for the exact range (through the meter usage index the detached partition kept), so
        the answer is the one the same range gave before the month was archived. A dropped
        archive table adds only what its whole months' sums keep.

        The bounds are plain comparisons on occurred_at (open ends as infinities), so even a
        prepared statement's generic plan reads only the months in range: `$2 IS NULL OR ...`
        would scan every partition of the ledger."""
        with map_postgres_errors():
            rows = list(await self.pool.fetch(_METER_USAGE, account_id, since, until))
            cut = await self.pool.fetch(_CUT_ARCHIVES, account_id, since, until)
            tables = [r["archive_table"] for r in cut]
            rows += await archives.fetch_each(
                self.pool, tables, _ARCHIVE_METER_USAGE, account_id, since, until
            )
        if not cut:
            return [dict(r) for r in rows]
        sums: dict[str, list[int]] = {}
        for r in rows:
            into = sums.setdefault(r["meter"], [0, 0, 0])
            for i, column in enumerate(("quantity", "cost_micros", "events")):
                into[i] += int(r[column])
        return [
            {"meter": m, "quantity": q, "cost_micros": c, "events": n}
            for m, (q, c, n) in sorted(sums.items())
        ]
