"""An account as the people who pay see it, on the account API and the dashboard: its overview
(plan, balance, windows, limits, next step) and one request's cost."""

from __future__ import annotations

from aiohttp import web

from billing.authority import Resource
from billing.contracts.reseller import arithmetic_for_customer
from billing.money.next_step import for_caller
from gateway.errors import NotFound
from gateway.http.appkeys import (
    BUDGETS,
    DIRECTORY,
    LEDGER,
    PAYMENTS,
    SETTINGS,
    STORE,
    TEAMS,
)
from gateway.http.principal import (
    Principal,
)
from gateway.http.serialize import account_json
from gateway.services.money.limits import limits_of
from gateway.services.money.request_cost import RequestCost, request_cost
from gateway.services.money.usage_view import window_usage
from gateway.stores.ports.hot import shard_of

NO_REQUEST = "No settled request with this id on your account (yet)."


async def account_overview(
    request: web.Request, account_id: str, who: Principal | None = None
) -> dict[str, object]:
    """Plan, mode, balance, held, available, every quota window of an account, every limit
    on the caller's calls (`limits`: its end users', its key's, its team's, the account's,
    each with `blocks`) and its one next step as the caller may take it (the value GET
    /v1/account/billing answers, with a full key or team window counted)."""
    app = request.config_dict
    row = await app[LEDGER].get_account(account_id)
    if row is None:
        raise NotFound("No such account.")
    store = app[STORE]
    quotas = await store.account_quotas(account_id)
    windows = await window_usage(store, shard_of(account_id), "a", account_id, quotas)
    key_id = who.key.key_id if who is not None and who.key is not None else None
    stores = (store, app[LEDGER], app[TEAMS], app[BUDGETS])
    limits = await limits_of(stores, row, windows, key_id)
    hot = await store.money(account_id)
    counted = [w for w in limits if w["used"] is not None]
    step = await app[PAYMENTS].next_step(row, hot, counted)
    if who is not None:
        step = for_caller(step, who.actor())
    return {**account_json(row, hot), "windows": windows, "limits": limits, "next": step.json()}


def show_cost(request: web.Request) -> bool:
    """Whether an account's own surfaces show markup, provider cost and margin: only when
    the operator turns it on (SHOW_PROVIDER_COST=1)."""
    return request.config_dict[SETTINGS].show_provider_cost


async def request_cost_within(request: web.Request, who: Principal, rid: str) -> RequestCost:
    """A request of the account whose key is within the caller's reach, else NotFound."""
    cost = await request_cost(request.config_dict[DIRECTORY], who.account_id, rid)
    if cost is None:
        raise NotFound(NO_REQUEST)
    if who.reach is not None:
        key = await request.config_dict[LEDGER].get_key(cost.entry.get("key_id") or "")
        owner = key.get("member_id") if key else None
        who.check(request, Resource(who.account_id, owner), NO_REQUEST)
    return cost


def customer_arithmetic(cost: RequestCost, shown: bool) -> list[str] | None:
    """The debit's arithmetic as the account may read it (billing/contracts/reseller.py)."""
    debit = cost.debit
    if debit is None:
        return cost.arithmetic
    charged, provider = -debit["amount_micros"], debit.get("provider_cost_micros")
    return arithmetic_for_customer(cost.arithmetic, charged, provider, shown)
