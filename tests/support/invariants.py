"""The money invariants every fault test ends with, checked against the real stores.

1. each request id has at most one ledger row of each kind, and only a void may precede its
   debit (a reservation voided while its request was alive, then debited late), in the
   order they happened (`occurred_at`: a replayed void may be written after its debit);
2. the ledger's debits add up to what Redis took from the balances (credits - balance,
   less refunds and write-offs);
3. after a drain, every account's ledger balance equals its Redis balance, nothing held;
4. every reservation ended settled or voided: no reservation or deadline entries remain;
5. once every entry is allocated to credit grants, each account's grants hold its balance:
   sum(remaining) - debt == balance, each grant's remaining is its amount less its draws,
   and every debit, refund and write-off drew exactly its amount;
6. per request id, what clients saw: each cost an answer showed is its debit, and each
   answer a client received whole (`delivered`: a 200, a stream that reached its end) has
   one; the Report counts those without.

`money_violations` checks, at any moment (not only drained), the promises of
docs/concepts/reservations.md and names each one broken: no balance below its floor (0, minus
a credit line, none for a postpaid account without one), no spend window past its limit,
no request debited twice, and, when nothing is queued, no uncollected part without its debit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from billing.money.quotas import Quota
from gateway.stores.connect import Stores
from gateway.stores.redis.keys import SHARDS, shard_of


@dataclass(frozen=True)
class Report:
    debits: int
    voids: int
    debited_micros: int
    costed_without_debit: int  # a client saw a cost, the process died before settling
    unbilled: frozenset[str] = frozenset()  # whole answers a client had, never debited

    @property
    def delivered_without_debit(self) -> int:
        return len(self.unbilled)


async def check_invariants(
    stores: Stores,
    account_ids: Iterable[str],
    costs: Mapping[str, int] | None = None,
    delivered: Iterable[str] = (),
) -> Report:
    accounts = sorted(set(account_ids))
    pool = stores.pool
    assert (await stores.store.backlog()).length == 0, "drain the settler first"
    dupes = await pool.fetch(
        "SELECT request_id FROM ledger_entries WHERE request_id IS NOT NULL"
        " GROUP BY request_id HAVING count(*) > 1"
        " AND (count(*) > 2 OR array_agg(kind ORDER BY occurred_at, id)::text[] <> '{void,debit}')"
    )
    assert not dupes, f"request ids written twice: {[d[0] for d in dupes][:5]}"
    rows = await pool.fetch(
        "SELECT a.id, a.balance_micros AS bal,"
        " coalesce(sum(l.amount_micros), 0)::bigint AS total,"
        " coalesce(sum(l.amount_micros) FILTER (WHERE l.kind = 'credit'), 0)::bigint AS cr,"
        " coalesce(sum(-l.amount_micros) FILTER (WHERE l.kind = 'debit'), 0)::bigint AS dr,"
        # write-offs of credit grants, refunds and operators' adjustments (either sign), and a
        # commitment's true-up or write-off, move the balance too, not as debits
        " coalesce(sum(-l.amount_micros)"
        " FILTER (WHERE l.kind IN ('expire', 'refund', 'adjustment', 'true_up',"
        " 'commitment_expire')), 0)::bigint AS other,"
        " coalesce(sum(l.entries) FILTER (WHERE l.kind = 'debit'), 0)::bigint AS nd,"
        " coalesce(sum(l.entries) FILTER (WHERE l.kind = 'void'), 0)::bigint AS nv"
        " FROM accounts a LEFT JOIN ledger_kind_sums l ON l.account_id = a.id"
        " AND l.account_id = ANY($1::text[])"  # archived months count (ledger retention)
        " WHERE a.id = ANY($1::text[]) GROUP BY a.id",
        accounts,
    )
    assert len(rows) == len(accounts)
    taken = 0
    for r in rows:
        hot = await stores.store.balance(r["id"])
        assert hot is not None, f"{r['id']} missing from Redis"
        assert r["bal"] == r["total"], f"{r['id']}: accounts.balance != sum(ledger)"
        assert hot == (r["total"], 0), f"{r['id']}: redis {hot} != ledger {r['total']}"
        taken += r["cr"] - hot[0] - r["other"]
    debited = sum(r["dr"] for r in rows)
    assert debited == taken, f"ledger debits {debited} != taken from Redis {taken}"
    await _no_open_reservations(stores)
    await check_grants(stores, accounts)
    missing = await _costs_against_ledger(stores, costs or {})
    whole = set(delivered)
    unbilled = frozenset(whole - set(await _debits(stores, list(whole))))
    nd, nv = sum(r["nd"] for r in rows), sum(r["nv"] for r in rows)
    return Report(nd, nv, debited, missing, unbilled)


async def check_grants(stores: Stores, account_ids: Iterable[str]) -> None:
    """Allocate every account's entries (the keeper does it within a second), then check
    that its grants and debt add up to its balance and agree with the draws."""
    accounts = sorted(set(account_ids))
    grants = stores.grants()
    for account_id in accounts:
        await grants.allocate(account_id)
    off = await stores.pool.fetch(
        "SELECT a.id, a.balance_micros, b.debt_micros,"
        " (SELECT coalesce(sum(remaining_micros), 0) FROM credit_grants g"
        "  WHERE g.account_id = a.id)::bigint AS held,"
        " (SELECT coalesce(sum(amount_micros), 0) FROM grant_draws d"
        "  WHERE d.account_id = a.id AND d.grant_id IS NULL)::bigint AS unfunded"
        " FROM accounts a JOIN grant_books b ON b.account_id = a.id WHERE a.id = ANY($1::text[])"
        " AND (a.balance_micros <> (SELECT coalesce(sum(remaining_micros), 0)"
        "  FROM credit_grants g WHERE g.account_id = a.id) - b.debt_micros"
        "  OR b.debt_micros <> (SELECT coalesce(sum(amount_micros), 0) FROM grant_draws d"
        "  WHERE d.account_id = a.id AND d.grant_id IS NULL))",
        accounts,
    )
    assert not off, f"grants do not add up to the balance: {[dict(r) for r in off][:3]}"
    drifted = await stores.pool.fetch(
        "SELECT g.id FROM credit_grants g WHERE g.account_id = ANY($1::text[])"
        " AND g.remaining_micros <> g.amount_micros - (SELECT coalesce(sum(amount_micros), 0)"
        " FROM grant_draws d WHERE d.grant_id = g.id)",
        accounts,
    )
    assert not drifted, f"grants whose remaining != amount - draws: {drifted[:5]}"
    undrawn = await stores.pool.fetch(
        "SELECT l.id FROM ledger_entries l WHERE l.account_id = ANY($1::text[])"
        " AND l.amount_micros < 0 AND -l.amount_micros <> (SELECT coalesce(sum(amount_micros), 0)"
        " FROM grant_draws d WHERE d.entry_id = l.id)",
        accounts,
    )
    assert not undrawn, f"entries whose draws != their amount: {undrawn[:5]}"


async def _no_open_reservations(stores: Stores) -> None:
    keys = stores.store.keys
    async with stores.redis.pipeline(transaction=False) as pipe:
        for s in range(SHARDS):
            pipe.hlen(keys.reservations(s))
            pipe.zcard(keys.deadlines(s))
        counts = await pipe.execute()
    assert sum(counts) == 0, f"{sum(counts)} reservation entries left open"


async def _costs_against_ledger(stores: Stores, costs: Mapping[str, int]) -> int:
    """Every debit a client was told about is exactly that amount; returns how many lost."""
    if not costs:
        return 0
    found = await _debits(stores, list(costs))
    owed = {  # what a debit could not take is the operator's receivable, not the ledger's
        r["request_id"]: r["amount_micros"]
        for r in await stores.pool.fetch(
            "SELECT request_id, amount_micros FROM uncollected_debits"
            " WHERE request_id = ANY($1::text[])",
            list(costs),
        )
    }
    for rid, amount in found.items():
        assert amount + owed.get(rid, 0) == costs[rid], f"{rid}: billed != header cost"
    return len(costs) - len(found)


async def _debits(stores: Stores, request_ids: list[str]) -> dict[str, int]:
    """The debit of each request id that has one, as a positive amount."""
    if not request_ids:
        return {}
    rows = await stores.pool.fetch(
        "SELECT request_id, amount_micros FROM ledger_entries"
        " WHERE request_id = ANY($1::text[]) AND kind = 'debit'",
        request_ids,
    )
    return {r["request_id"]: -r["amount_micros"] for r in rows}


@dataclass(frozen=True)
class Window:
    """A spend (or other) window to hold to its limit: scope a|k|t|u and its owner id as
    keys.counter names it (an end user's owner is `<account>:<end user>`)."""

    account_id: str
    scope: str
    owner: str
    quota: Quota


async def money_violations(
    stores: Stores, account_ids: Iterable[str], windows: Iterable[Window] = ()
) -> list[str]:
    """Each promise broken now, in words (empty: none). Reads Redis and the ledger as they
    are; safe to call between any two steps of a simulation."""
    accounts = sorted(set(account_ids))
    broken = [v for a in accounts for v in await _below_floor(stores, a)]
    for w in windows:
        counts = await stores.store.window_counts(
            shard_of(w.account_id), w.scope, w.owner, (w.quota,)
        )
        broken += [
            f"{w.scope}:{w.owner} {w.quota.code}: {c.used} > {w.quota.limit}"
            for c in counts
            if c.used > w.quota.limit
        ]
    twice = await stores.pool.fetch(
        "SELECT request_id FROM ledger_entries WHERE account_id = ANY($1::text[])"
        " AND kind = 'debit' GROUP BY request_id HAVING count(*) > 1",
        accounts,
    )
    broken += [f"{r[0]}: debited twice" for r in twice]
    return broken + await _orphans(stores, accounts)


async def _orphans(stores: Stores, accounts: list[str]) -> list[str]:
    """Uncollected parts without their debit, once nothing is queued: the debit and its
    uncollected part are two messages, and a settler that died with the debit unacknowledged
    leaves it for the next one while another writes the part (simulation seed 1117)."""
    if (await stores.store.backlog()).length:
        return []
    orphans = await stores.pool.fetch(
        "SELECT u.request_id FROM uncollected_debits u WHERE u.account_id = ANY($1::text[])"
        " AND NOT EXISTS (SELECT 1 FROM ledger_request_ids g"
        " WHERE g.request_id = u.request_id AND g.kind = 'debit')",
        accounts,
    )
    return [f"{r[0]}: uncollected without its debit" for r in orphans]


async def _below_floor(stores: Stores, account_id: str) -> list[str]:
    name = stores.store.keys.account(shard_of(account_id), account_id)
    bal, held, mode, line = await stores.redis.hmget(name, ["bal", "held", "mode", "cl"])
    if bal is None:
        return [f"{account_id}: not in Redis"]
    if line is None and mode == b"postpaid":
        return []  # invoiced: no floor
    floor = -int(line or 0)
    out = []
    if int(bal) < floor:
        out.append(f"{account_id}: balance {int(bal)} below its floor {floor}")
    if int(bal) - int(held or 0) < floor:
        out.append(f"{account_id}: available {int(bal) - int(held or 0)} below its floor {floor}")
    return out
