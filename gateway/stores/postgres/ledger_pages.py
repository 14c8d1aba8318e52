"""The account ledger page (newest first by id), whole or filtered, live and archived rows.

Every filter is an index condition, never a walk of the account's whole ledger to find the
few rows that match (migration 044): a kind other than debit through (account_id, kind, id),
a model through (account_id, model, id), a key, a team's or a member's keys one key at a
time through (key_id, id), each key reading at most a page. A debit filter walks the
account's own index (debits are most of any ledger). The SQL is built per set of filters
given and cached: a `$n IS NULL OR ...` test would keep the generic plan of a prepared
statement off the index.
Archives (detached months) keep the indexes they had when detached: there a filter is a
condition on their (account_id, id) walk.
"""

from __future__ import annotations

from functools import cache

import asyncpg

from gateway.stores.postgres import archives
from gateway.stores.postgres.ledger_shape import ENTRY_SELECT
from gateway.stores.records import EntryFilter

Shape = tuple[str, ...]
# The filters in the order of their parameters.
_NAMES = ("kind", "model", "key_id", "team_id", "since", "until", "member_id")
_ROW = {
    "kind": "kind = {}",
    "model": "model = {}",
    "since": "occurred_at >= {}",
    "until": "occurred_at < {}",
}
_KEY = {"key_id": "id = {}", "team_id": "team_id = {}", "member_id": "member_id = {}"}


def shape_of(f: EntryFilter) -> Shape:
    """The filters given, and whether the kind is one the partial kind index holds."""
    given = tuple(n for n in _NAMES if getattr(f, n) is not None)
    return (*given, "not_debit") if f.kind not in (None, "debit") else given


def values_of(f: EntryFilter) -> list[object]:
    return [getattr(f, n) for n in _NAMES if getattr(f, n) is not None]


def _conditions(shape: Shape, first: int) -> tuple[str, str]:
    """(conditions on the row, conditions on the key) with their parameters from $first."""
    numbered = {n: f"${first + i}" for i, n in enumerate(x for x in shape if x in _NAMES)}
    rows = [_ROW[n].format(p) for n, p in numbered.items() if n in _ROW]
    if "not_debit" in shape:
        rows.append("kind <> 'debit'")  # proves the partial index's predicate
    keys = [_KEY[n].format(p) for n, p in numbered.items() if n in _KEY]
    return "".join(f" AND {c}" for c in rows), "".join(f" AND {c}" for c in keys)


@cache
def live_sql(shape: Shape) -> str:
    """$1 account, $2 below this id, $3 limit, then the filters' values. `id < $2` has no
    NULL case: an index condition in every partition even in a generic plan (`$2 IS NULL OR
    id < $2` made a deep page walk every newer row of the account; docs/performance.md)."""
    rows, keys = _conditions(shape, 4)
    page = (
        f"SELECT {ENTRY_SELECT} FROM ledger_entries WHERE {{key}}account_id = $1 AND id < $2"
        f"{rows} ORDER BY id DESC LIMIT $3"
    )
    if not keys:
        return page.format(key="")
    return (
        f"SELECT e.* FROM (SELECT id FROM api_keys WHERE account_id = $1{keys}) k"
        f" CROSS JOIN LATERAL ({page.format(key='key_id = k.id AND ')}) e"
        " ORDER BY e.id DESC LIMIT $3"
    )


@cache
def archive_sql(shape: Shape) -> str:
    """$1 account, $2 below this id, $3 above this id, $4 limit, then the filters' values;
    `{table}` is the archive's."""
    rows, keys = _conditions(shape, 5)
    if keys:
        rows += f" AND key_id IN (SELECT id FROM api_keys WHERE account_id = $1{keys})"
    return (
        f"SELECT {ENTRY_SELECT} FROM {{table}} WHERE account_id = $1 AND id < $2 AND id > $3"
        f"{rows} ORDER BY id DESC LIMIT $4"
    )


async def page(
    pool: asyncpg.Pool, account_id: str, before: int | None, limit: int, f: EntryFilter
) -> list[asyncpg.Record]:
    """The live page, then the account's archives whose ids can still enter it, highest ids
    first, until the next one's ids are all below a full page. A row seen twice (its month
    detached between two reads) counts once."""
    shape, args = shape_of(f), values_of(f)
    top = archives.ID_MAX if before is None else before
    rows = list(await pool.fetch(live_sql(shape), account_id, top, limit, *args))

    def floor() -> int:  # archived rows must be above this to enter the page
        return rows[-1]["id"] if len(rows) >= limit else -1

    for archive in await archives.of_account(pool, account_id, after=floor(), before=top):
        if archive.max_id <= floor():
            break
        found = await archives.fetch(
            pool, archive.table, archive_sql(shape), account_id, top, floor(), limit, *args
        )
        by_id = {r["id"]: r for r in (*rows, *found)}
        rows = sorted(by_id.values(), key=lambda r: r["id"], reverse=True)[:limit]
    return rows
