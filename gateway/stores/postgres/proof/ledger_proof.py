"""The ledger's side of its proof (migration 090): the bound below which entries may be
sealed, their leaf values (live or archived) and the checkpoints.

A range is sealed only at or below `safe_id` (id_bound.py), so no entry can commit into a
range after it was sealed: one that appears there later was put there by hand, and
`meterway ledger verify` says so. Leaf values are read in SQL casts that do not depend on the
session (timestamps as integer microseconds, jsonb as its own normalized text).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import asyncpg

from billing.proof.ledger_proof import LEAF_COLUMNS, Checkpoint, Leaf, LeafValue
from gateway.stores.ports.proof.ledger_proof import ArchiveGap, SealedCheckpoint
from gateway.stores.postgres import archives
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.usage.id_bound import moved_bound

_TIMES = frozenset({"occurred_at", "created_at"})
_JSON = frozenset({"metadata", "usage_detail", "tags"})


def _leaf_expr(column: str) -> str:
    if column in _TIMES:
        return f"(extract(epoch FROM {column}) * 1000000)::bigint"
    if column in _JSON:
        return f"{column}::text"
    return column


_LEAF_SELECT = ", ".join(_leaf_expr(c) for c in LEAF_COLUMNS)
_RANGE = f"SELECT {_LEAF_SELECT} FROM {{table}} WHERE id > $1 AND id <= $2"
_ARCHIVES = """
SELECT archive_table FROM ledger_archives
WHERE min_id <= $2 AND max_id > $1 AND to_regclass(archive_table) IS NOT NULL
"""
_NEXT_IDS = "SELECT id FROM ledger_entries WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
_PAGE = 5_000  # leaves read per statement
_CHECKPOINT = """
SELECT seq, version, after_id, last_id, entries, root, prev_head, head, kid, signature,
       sealed_at
FROM ledger_checkpoints
"""


def _sealed(row: asyncpg.Record) -> SealedCheckpoint:
    cp = Checkpoint(
        seq=row["seq"],
        after_id=row["after_id"],
        last_id=row["last_id"],
        entries=row["entries"],
        root=row["root"],
        prev_head=row["prev_head"],
        version=row["version"],
    )
    return SealedCheckpoint(cp, row["head"], row["kid"], row["signature"], row["sealed_at"])


class LedgerProof:
    """Implements `stores.ports.proof.LedgerProofPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def advance_safe(self) -> int:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow("SELECT * FROM ledger_seal_bound FOR UPDATE")
                safe, next_id, vxids = await moved_bound(
                    conn, int(row["safe_id"]), row["next_id"], row["next_vxids"]
                )
                await conn.execute(
                    "UPDATE ledger_seal_bound SET safe_id = $1, next_id = $2, next_vxids = $3",
                    safe, next_id, vxids,
                )  # fmt: skip
                return safe

    async def last(self) -> SealedCheckpoint | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(_CHECKPOINT + " ORDER BY seq DESC LIMIT 1")
        return None if row is None else _sealed(row)

    async def next_range(self, after: int, limit: int) -> int | None:
        with map_postgres_errors():
            safe = int(await self.pool.fetchval("SELECT safe_id FROM ledger_seal_bound"))
            if safe <= after:
                return None
            ids = await self.pool.fetch(_NEXT_IDS, after, safe, limit)
        # A short page reaches `safe`: the range takes the gaps (and archived ids) up to it.
        return int(ids[-1]["id"]) if len(ids) == limit else safe

    async def leaves(self, after: int, last: int) -> AsyncIterator[Sequence[LeafValue]]:
        start = after
        while start < last:
            end = min(last, start + _PAGE)
            with map_postgres_errors():
                tables = ["ledger_entries"] + [
                    r["archive_table"] for r in await self.pool.fetch(_ARCHIVES, start, end)
                ]
                found = await archives.fetch_each(self.pool, tables, _RANGE, start, end)
            for row in sorted(found, key=lambda r: int(r["id"])):
                yield tuple(row.values())
            start = end

    async def add(self, sealed: SealedCheckpoint, leaves: Sequence[Leaf] = ()) -> bool:
        cp = sealed.checkpoint
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                done = await conn.fetchval(
                    "INSERT INTO ledger_checkpoints (seq, version, after_id, last_id, entries,"
                    " root, prev_head, head, kid, signature) VALUES ($1, $2, $3, $4, $5, $6,"
                    " $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING true",
                    cp.seq, cp.version, cp.after_id, cp.last_id, cp.entries, cp.root,
                    cp.prev_head, sealed.head, sealed.kid, sealed.signature,
                )  # fmt: skip
                if done and leaves:
                    await conn.execute(
                        "INSERT INTO ledger_checkpoint_leaves (seq, ids, hashes)"
                        " VALUES ($1, $2, $3)",
                        cp.seq, [i for i, _ in leaves], b"".join(h for _, h in leaves),
                    )  # fmt: skip
        return bool(done)

    async def sealed_leaves(self, seq: int) -> list[Leaf] | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "SELECT ids, hashes FROM ledger_checkpoint_leaves WHERE seq = $1", seq
            )
        if row is None:
            return None
        hashes = bytes(row["hashes"])
        return [(int(i), hashes[32 * n : 32 * n + 32]) for n, i in enumerate(row["ids"])]

    async def checkpoints(self) -> AsyncIterator[SealedCheckpoint]:
        after = 0
        while True:
            with map_postgres_errors():
                rows = await self.pool.fetch(
                    _CHECKPOINT + " WHERE seq > $1 ORDER BY seq LIMIT 1000", after
                )
            for row in rows:
                yield _sealed(row)
            if len(rows) < 1000:
                return
            after = int(rows[-1]["seq"])

    async def dropped_archives(self) -> list[ArchiveGap]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT archive_table, min_id, max_id FROM ledger_archives"
                " WHERE min_id IS NOT NULL AND to_regclass(archive_table) IS NULL"
            )
        return [ArchiveGap(r["archive_table"], r["min_id"], r["max_id"]) for r in rows]

    async def covering(self, entry_id: int) -> SealedCheckpoint | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                _CHECKPOINT + " WHERE last_id >= $1 ORDER BY last_id LIMIT 1", entry_id
            )
        return None if row is None or row["after_id"] >= entry_id else _sealed(row)

    async def leaf(self, entry_id: int) -> Sequence[LeafValue] | None:
        found = [values async for values in self.leaves(entry_id - 1, entry_id)]
        return found[0] if len(found) == 1 else None
