"""The simulation's own checks beside `money_violations`: what only the scheduler knows.

- after every settler drain, each account's Redis balance equals its ledger's sum (the
  ledger is caught up: nothing queued, nothing pending);
- drained at the end, every request settled is billed its cost exactly, split between the
  customer's debit and the operator's receivable (`uncollected_debits`), unless Redis lost
  the debit with its data before the settler wrote it (docs/concepts/durability.md)."""

from __future__ import annotations

from tests.simulation.world import World


async def ledger_equals_balance(w: World) -> list[str]:
    rows = await w.stores.pool.fetch(
        "SELECT a.id, coalesce(sum(l.amount_micros), 0)::bigint AS total FROM accounts a"
        " LEFT JOIN ledger_kind_sums l ON l.account_id = a.id"
        " WHERE a.id = ANY($1::text[]) GROUP BY a.id ORDER BY a.id",
        w.accounts,
    )
    broken = []
    for r in rows:
        hot = await w.stores.store.balance(r["id"])
        if hot is None or hot[0] != r["total"]:
            broken.append(f"{r['id']}: drained, Redis balance {hot} != ledger sum {r['total']}")
    return broken


async def written(w: World, rids: list[str]) -> set[str]:
    """The requests among `rids` whose debit the ledger has."""
    rows = await w.stores.pool.fetch(
        "SELECT request_id FROM ledger_entries WHERE request_id = ANY($1::text[])"
        " AND kind = 'debit'",
        rids,
    )
    return {r["request_id"] for r in rows}


async def billed_as_priced(w: World) -> list[str]:
    rids = sorted(w.costs)
    debits = {
        r["request_id"]: -r["amount_micros"]
        for r in await w.stores.pool.fetch(
            "SELECT request_id, amount_micros FROM ledger_entries"
            " WHERE request_id = ANY($1::text[]) AND kind = 'debit'",
            rids,
        )
    }
    owed = {
        r["request_id"]: r["amount_micros"]
        for r in await w.stores.pool.fetch(
            "SELECT request_id, amount_micros FROM uncollected_debits"
            " WHERE request_id = ANY($1::text[])",
            rids,
        )
    }
    broken = []
    for rid in rids:
        if rid not in debits:
            if rid not in w.vanished:
                broken.append(f"{rid}: settled at {w.costs[rid]}, never debited")
            continue
        billed = debits[rid] + owed.get(rid, 0)
        if billed != w.costs[rid]:
            broken.append(
                f"{rid}: cost {w.costs[rid]}, debited {debits[rid]} + uncollected"
                f" {owed.get(rid, 0)}"
            )
    return broken
