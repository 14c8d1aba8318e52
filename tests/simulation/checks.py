"""The simulation's own checks beside `money_violations`: what only the scheduler knows.

- after every settler drain, each account's Redis balance equals its ledger's sum (the
  ledger is caught up: nothing queued, nothing pending);
- drained at the end, every request settled is billed its cost exactly, split between the
  customer's debit and the operator's receivable (`uncollected_debits`), unless Redis lost
  the debit or its uncollected part with its data before the settler wrote it
  (docs/concepts/durability.md): then at most its cost."""

from __future__ import annotations

from gateway.stores.redis.keys import SHARDS
from gateway.stores.redis.records import decode_reservation
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


async def billed(w: World, rids: list[str]) -> dict[str, int]:
    """What the ledger billed each of `rids`: its debit plus its receivable (absent: none)."""
    debits = await w.stores.pool.fetch(
        "SELECT request_id, amount_micros FROM ledger_entries"
        " WHERE request_id = ANY($1::text[]) AND kind = 'debit'",
        rids,
    )
    owed = await w.stores.pool.fetch(
        "SELECT request_id, amount_micros FROM uncollected_debits"
        " WHERE request_id = ANY($1::text[])",
        rids,
    )
    out = {r["request_id"]: -r["amount_micros"] for r in debits}
    for r in owed:
        out[r["request_id"]] = out.get(r["request_id"], 0) + r["amount_micros"]
    return out


async def unwritten(w: World) -> set[str]:
    """The settled requests the ledger does not bill in full yet (their debit, or its
    uncollected part, is still a stream message)."""
    done = await billed(w, sorted(w.costs))
    return {rid for rid, cost in w.costs.items() if done.get(rid) != cost}


async def billed_as_priced(w: World) -> list[str]:
    """Each settled request billed its cost; one whose messages Redis lost, at most it."""
    done = await billed(w, sorted(w.costs))
    broken = []
    for rid, cost in sorted(w.costs.items()):
        got = done.get(rid, 0)
        if got != cost and not (rid in w.vanished and got <= cost):
            broken.append(f"{rid}: cost {cost}, billed {got} (debit and uncollected)")
    return broken


async def commitments_held(w: World) -> list[str]:
    """Each account's commitment holds exactly what its calls held against it hold, and
    never draws past what its period allows (holds of the period before may: they carry)."""
    store = w.stores.store
    held: dict[str, int] = {}
    for shard in range(SHARDS):
        for raw in (await store.redis.hgetall(store.keys.reservations(shard))).values():
            record = decode_reservation(raw)
            if record.committed:
                held[record.account_id] = held.get(record.account_id, 0) + record.held_micros
    broken = []
    for account in w.accounts:
        f = {k: int(v) for k, v in (await store.commitments.fields(account)).items()
             if k in ("cma", "cmu", "cmh")}  # fmt: skip
        if f.get("cmh", 0) != held.get(account, 0):
            broken.append(f"{account}: commitment holds {f.get('cmh')}, calls {held.get(account)}")
        if "cma" in f and f.get("cmu", 0) > f["cma"]:
            broken.append(f"{account}: commitment drew past its allowance: {f}")
    return broken
