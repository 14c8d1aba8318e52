"""Which ledger ids can no longer appear below a bound: the reads the usage export's scan
(exports.py) and the analytics copy (analytics_copy.py) both move their bound by.

nextval holds a lock on `ledger_entries_id_seq` until its transaction ends, so the open
transactions holding that lock are the only ones that may still commit an id already given
out (another open transaction, however long, holds none). Once every one listed has ended,
no id at or below the sequence's value when they were listed can still appear.
"""

from __future__ import annotations

import asyncpg

# The open transactions that took a ledger id, by virtual id: in this database only (a
# database cloned from a template has the same relation ids as its siblings).
HOLDING_IDS = (
    "SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') FROM pg_locks"
    " WHERE locktype = 'relation' AND relation = 'ledger_entries_id_seq'::regclass"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND pid IS DISTINCT FROM pg_backend_pid()"
)
# Whether any of those ($1) is still open.
STILL_OPEN = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'virtualxid'"
    " AND virtualxid = ANY($1::text[]))"
)
# The last id given out: 0 before the first (a fresh sequence reads last_value 1 with
# is_called false, and a bound at 1 would pass over the first entry when it comes).
LAST_GIVEN = (
    "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM ledger_entries_id_seq"
)
# The reasoning needs every id taken in the transaction that commits it. A sequence with
# CACHE > 1 hands a session ids it took earlier, possibly below a bound set since.
SEQUENCE_CACHE = (
    "SELECT seqcache FROM pg_sequence WHERE seqrelid = 'ledger_entries_id_seq'::regclass"
)


async def moved_bound(
    conn: asyncpg.Connection, safe: int, next_id: int | None, next_vxids: list[str] | None
) -> tuple[int, int | None, list[str] | None]:
    """(safe, next_id, next_vxids) after one step of the rule above, for a bound kept in a
    row locked by the caller's transaction: `safe` moves to `next_id` once the transactions
    listed with it have ended, and up to the last id given out when none holds one."""
    if await conn.fetchval(SEQUENCE_CACHE) != 1:
        return safe, next_id, next_vxids  # ids handed out in blocks: the reasoning fails
    if next_id is not None:
        if await conn.fetchval(STILL_OPEN, next_vxids):
            return safe, next_id, next_vxids
        safe = max(safe, next_id)
    upto = int(await conn.fetchval(LAST_GIVEN))
    holding = await conn.fetchval(HOLDING_IDS)
    if not holding:  # nobody holds an id: every one given out has settled
        return max(safe, upto), None, None
    return safe, upto, list(holding)
