"""Restoring Redis from the ledger, and re-applying plans.

rebuild: balances, accounts (their credit lines and grants' ends too), keys, end-user
budgets (their windows start empty: the ledger does not name end users), the current quota
windows, the service-key directory and
the closed markers of metered ids are recomputed from PostgreSQL, then the per-shard ready
markers are set; until then the reserve script refuses billable work.

A Redis that gateways are serving from (ready markers set, or reservations open) is refused
unless forced: the offline rebuild writes absolute balances and nothing held, which on a live
Redis erased open holds (an in-flight request then settled into available > balance). Forced,
it keeps every live value: `held` is recounted from the open reservations in one script, each
balance is corrected by reconcile's fenced delta, and only missing window counters are
written. reconcile (the comparison) lives in ops/reconcile.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from billing.contracts.commitments import allowance, hot_terms, terms_from
from billing.money.plans import PlanBook, next_markup, resolved_markup, scheduled_ms
from billing.money.quotas import parse_quotas
from gateway.ops.reconcile import Drift, exact_check, queued_costs, reconcile
from gateway.stores.connect import Stores
from gateway.stores.ports.contracts.commitments import tranches_of
from gateway.stores.ports.hot import shard_of
from gateway.stores.ports.repair import HotRestorePort
from gateway.stores.records import KeyRecord, KeyState, Row

__all__ = [
    "Drift",
    "RebuildRefused",
    "approved_plan_markups",
    "queued_costs",
    "rebuild",
    "reconcile",
    "sync_plans",
]


class RebuildRefused(Exception):
    """Redis is live (ready markers or open reservations) and `--force` was not given."""


async def sync_plans(stores: Stores, plans: PlanBook) -> int:
    """Re-apply every account's plan (limits, mode) to Redis after config/plans.toml changed.

    Safe while serving: it rewrites the plan fields of each account's hot record and never
    touches balances, holds or window counters. Returns the number of accounts updated.
    """
    rows = await stores.operator().accounts()
    for row in rows:
        await _put_account(stores, plans, row)
    return len(rows)


async def approved_plan_markups(stores: Stores, plans: PlanBook) -> list[str]:
    """PRICE_CHANGES_AT_START=review, for a command that writes hot records from plans.toml:
    each plan bills its approved markup (a plan first seen is recorded at its loaded one), as
    a gateway's start installs them; a line for each plan whose loaded markup waits for its
    review (a gateway's start files it: services/proof/prices_at_start.py)."""
    markups = stores.plan_markups()
    loaded = {name: plan.markup_bps for name, plan in plans.plans.items()}
    await markups.baseline(loaded)
    waiting = []
    for name, (bps, scheduled) in (await markups.approved()).items():
        plans.install_markup(name, bps, scheduled_ms(scheduled))
        if name in loaded and loaded[name] != bps:
            waiting.append(
                f"plan {name}: plans.toml says {loaded[name]} bps; the approved {bps} bps"
                " bills until the change a gateway's start files is approved and in force"
            )
    return waiting


async def _put_account(stores: Stores, plans: PlanBook, row: Row) -> None:
    plan = plans.get(row["plan"])
    await stores.store.put_account(
        row["id"],
        plan=row["plan"],
        mode=row["mode"],
        billing_ready=row["billing_ready"],
        quotas=plan.quotas if plan else (),
        markup_bps=resolved_markup(plan, row.get("markup_bps")),
        signup_status=row.get("signup_status"),
        next_markup=next_markup(
            plan, row.get("next_markup_at"), row.get("next_markup_bps"), row.get("markup_bps")
        ),
    )
    await stores.store.set_credit_line(row["id"], row.get("credit_line_micros") or None)


async def _grant_ends(stores: Stores, accounts: Sequence[Row]) -> None:
    """Every grant with an end back in its account's hash, its rest as the ledger allocated
    it (at least what is left): past its end, reserve and settle never spend it."""
    ends = await stores.grants().ends()
    for row in accounts:
        await stores.store.put_grant_ends(row["id"], ends.get(row["id"], []))


async def _commitments(stores: Stores) -> None:
    """Each open commitment period back in its account's hash; what it drew, when Redis
    lost it, estimated as the account's debits since the period began (at most its
    allowance): every call may have been drawn, so none is discounted past the commitment.
    A period the hash still holds (a live rebuild) keeps what it drew."""
    periods = stores.commitments()
    for row in await periods.open_periods():
        terms = terms_from(row)
        start, end = row["period_starts_at"], row["period_ends_at"]
        allowed = allowance(row["committed_micros"], tranches_of(row["rolled_in"]))
        drawn = min(await periods.drawn_in(row["account_id"], start, end), allowed)
        end_ms = int(end.timestamp() * 1000)
        await stores.store.commitments.open(
            row["account_id"], end_ms, allowed, hot_terms(terms), drawn
        )


async def rebuild(
    stores: Stores, plans: PlanBook, *, force: bool = False, mark: bool = True
) -> dict[str, int]:
    """Idempotent. Refuses a live Redis unless `force` (see the module docstring). Without
    `mark`, the ready markers are the caller's to set (self_restore.py: once recorded)."""
    hot = stores.hot_restore()
    live = await hot.liveness()
    if live.live and not force:
        raise RebuildRefused(
            f"Redis is live ({live.ready_shards} shard(s) ready, {live.open_reservations}"
            " open reservation(s)): gateways are serving from it. `meterway reconcile"
            " --repair` corrects balances safely; `rebuild --force` keeps open holds."
        )
    accounts = await stores.operator().accounts()
    if live.live:
        unsettled = await _live_balances(stores, plans, hot, accounts)
    else:
        unsettled = 0
        await _offline_balances(stores, plans, hot, accounts)
    await _grant_ends(stores, accounts)
    await _commitments(stores)
    keys = await _keys(stores)
    await _end_user_budgets(stores)
    await _key_teams(stores)
    windows = await stores.rebuild_windows(plans, only_missing=live.live)
    services = await hot.put_services(await stores.operator().services())
    closed = await stores.restore_closed()
    if mark:
        await stores.store.mark_ready()
    return {
        "accounts": len(accounts),
        "keys": keys,
        "window_counters": windows,
        "services": services,
        "closed_markers": closed,
        "balances_unsettled": unsettled,
    }


async def _offline_balances(
    stores: Stores, plans: PlanBook, hot: HotRestorePort, accounts: Sequence[Row]
) -> None:
    """Nothing serves: balance = ledger - still queued, nothing held, credits applied."""
    queued = await hot.queued_costs()  # already taken from Redis, not yet in the ledger
    credits = await stores.operator().credit_ids()
    for row in accounts:
        balance = row["balance_micros"] - queued.get(row["id"], 0)
        await hot.set_balance(row["id"], balance, credits.get(row["id"], []))
        await _put_account(stores, plans, row)


async def _live_balances(
    stores: Stores, plans: PlanBook, hot: HotRestorePort, accounts: Sequence[Row]
) -> int:
    """Serving goes on: held from the open reservations, balance by a fenced delta (every
    ledger credit applied once). Returns how many balances kept moving and were left."""
    fix, unsettled = stores.balance_repair(), 0
    for row in accounts:
        await _put_account(stores, plans, row)  # creates a missing account at 0
        await hot.restore_held(row["id"])
        drift = await exact_check(fix, stores, row["id"], repair=True, grace_s=0.0)
        unsettled += drift is not None and not drift.checked
    return unsettled


async def _end_user_budgets(stores: Stores) -> None:
    """Every end-user budget back where the reserve script reads it."""
    for row in await stores.end_user_budgets().every():
        quotas = parse_quotas(row["quotas"])
        await stores.store.put_end_user_budget(
            row["account_id"], row["key_id"], row["end_user"], quotas
        )


async def _key_teams(stores: Stores) -> None:
    """Every key's team and the team's quotas back in its hash."""
    for row in await stores.teams().key_teams():
        quotas = parse_quotas(row["quotas"])
        await stores.store.set_key_team(
            shard_of(row["account_id"]), row["id"], row["team_id"], quotas
        )


def _state(key: Row, paused: set[str]) -> KeyState:
    """A key's state as PostgreSQL holds it: a revocation wins over a pause."""
    if key["revoked_at"] is not None:
        return "revoked"
    return "paused" if key["id"] in paused else "active"


async def _keys(stores: Stores) -> int:
    rows = await stores.operator().api_keys()
    paused = set(await stores.anomalies().all_paused())
    for k in rows:
        record = KeyRecord(
            k["id"],
            k["account_id"],
            shard_of(k["account_id"]),
            k["name"],
            tuple(k["scopes"]),
            tuple(k["models"]),
            k["on_insufficient"],
            tuple(k["providers"]),
            tuple(k.get("ancestors") or ()),
        )
        expires = int(k["expires_at"].timestamp() * 1000) if k["expires_at"] else 0
        raw = k["quotas"]
        await stores.store.put_key(
            record,
            k["key_hash"],
            expires_at_ms=expires,
            quotas=parse_quotas(json.loads(raw) if isinstance(raw, str) else raw),
            state=_state(k, paused),
        )
    return len(rows)
