"""The operator's account actions, from the operator API and the dashboard's Operators pages:
opening an account, its plan, issuing it a key, its windows."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.errors import Conflict, InvalidRequest
from gateway.http import audited, bodies
from gateway.http.appkeys import BUDGETS, IDEMPOTENCY, LEDGER, PLANS, SETTINGS, STORE, TEAMS
from gateway.http.serialize import key_json
from gateway.http.shared.operator import directory as admin_directory
from gateway.services.auth import new_id
from gateway.services.keys import mint
from gateway.services.keys.mint import KeyStores, Right, mint_key
from gateway.services.keys.provisioning import KeySpec
from gateway.services.metering.idempotency import idempotent, plan_use
from gateway.services.money.plan_change import (
    apply_plan,
    put_account_row,
)
from gateway.services.money.usage_view import window_usage
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import Row


async def open_account(request: web.Request, body: dict[str, Any]) -> tuple[Row, bool]:
    """Redis first, then PostgreSQL: an account the ledger knows always has its hot record
    (the proxy called the keys of one without it invalid), and a hot record whose insert
    failed is inert. With `idempotency_key` a retry names the same account (not created)
    and completes whatever the failed call left undone. The API and the Operators pages."""
    name = str(bodies.text_field(body, "name"))
    plans = request.config_dict[PLANS]
    plan_name = bodies.text_field(body, "plan", required=False) or plans.default
    plan = plans.get(plan_name)
    if plan is None:
        raise InvalidRequest(f"Unknown plan '{plan_name}'.", param="plan")
    idem = bodies.text_field(body, "idempotency_key", required=False)
    ledger, store = request.config_dict[LEDGER], request.config_dict[STORE]
    prior = await ledger.account_by_idempotency_key(str(idem)) if idem else None
    if prior is not None:
        return await _replayed(request, prior, name, body), False
    await admin_directory.refuse_taken_external_id(request, body)
    account_id = new_id("acct")
    await store.put_account(
        account_id,
        plan=plan.name,
        mode=plan.mode,
        billing_ready=False,
        quotas=plan.quotas,
        markup_bps=plan.markup_bps,
        next_markup=plan.next_markup,  # its plan's reviewed change
    )
    if idem:
        row, created = await ledger.open_account(account_id, name, plan.name, plan.mode, idem)
        if not created:  # a concurrent call with the same key won
            return await _replayed(request, row, name, body), False
    else:
        await ledger.create_account(account_id, name, plan.name, plan.mode)
    await admin_directory.apply_external_id(request, account_id, body)
    row = bodies.found(await ledger.get_account(account_id), "No such account.")
    await audited.record(
        request, "account.create", "account", account_id, account_id, None, plan_of(row)
    )
    return row, True


async def _replayed(request: web.Request, row: Row, name: str, body: Any) -> Row:
    """The account an idempotency key already opened: its hot record written again (the
    first call may have failed before it), its external id applied."""
    if row["name"] != name:
        raise Conflict(
            "This idempotency_key was already used for a different account.",
            param="idempotency_key",
        )
    app = request.config_dict
    await put_account_row(app[STORE], row, app[PLANS].get(row["plan"]))
    await admin_directory.apply_external_id(request, row["id"], body)
    return bodies.found(await app[LEDGER].get_account(row["id"]), "No such account.")


def plan_of(row: Row) -> dict[str, Any]:
    """An account's plan as the audit log keeps it."""
    return {"plan": row["plan"], "mode": row["mode"], "billing_ready": row["billing_ready"]}


async def set_account_plan(request: web.Request, row: Row, body: dict[str, Any]) -> None:
    """Plan (and optionally mode, billing_ready) from a body; live on the next request."""
    plan = request.config_dict[PLANS].get(str(bodies.text_field(body, "plan")))
    if plan is None:
        raise InvalidRequest(f"Unknown plan '{body['plan']}'.", param="plan")
    mode = body.get("mode", plan.mode)
    if mode not in ("prepaid", "postpaid"):
        raise InvalidRequest("'mode' must be prepaid or postpaid.", param="mode")
    billing_ready = body.get("billing_ready", row["billing_ready"])
    if not isinstance(billing_ready, bool):
        raise InvalidRequest("'billing_ready' must be a boolean.", param="billing_ready")
    idem = bodies.text_field(body, "idempotency_key", required=False)
    ledger, store = request.config_dict[LEDGER], request.config_dict[STORE]
    if idem is None:
        await apply_plan(ledger, store, row["id"], plan, mode=mode, billing_ready=billing_ready)
    else:
        use = plan_use(row["id"], plan.name, body.get("mode"), body.get("billing_ready"))
        async with idempotent(request.config_dict[IDEMPOTENCY], row["id"], str(idem), use):
            await apply_plan(ledger, store, row["id"], plan, mode=mode, billing_ready=billing_ready)
    after = {"plan": plan.name, "mode": mode, "billing_ready": billing_ready}
    await audited.record(
        request, "account.plan", "account", row["id"], row["id"], plan_of(row), after
    )


async def issue_for(request: web.Request, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Issue a key to an account from the API's body (the API and the Operators pages): the
    key as the API answers it, with its secret, once; audited."""
    on_insufficient = bodies.on_insufficient_field(body)
    name, scopes, models = (
        str(bodies.text_field(body, "name")),
        bodies.scopes_field(body),
        bodies.str_list(body, "models"),
    )
    zone = request.config_dict[SETTINGS].timezone
    quotas, expires = bodies.quotas_field(body), bodies.expiry_field(body, zone=zone)
    providers = bodies.providers_field(body, request.config_dict[SETTINGS].providers)
    spec = KeySpec(name, scopes, models, quotas, on_insufficient, expires, providers)
    app = request.config_dict
    stores = KeyStores(app[LEDGER], app[STORE], app[TEAMS], app[BUDGETS])
    issued = await mint_key(stores, mint.operator(account_id), spec, Right.OPERATOR)
    row = bodies.found(await request.config_dict[LEDGER].get_key(issued.key_id), "No such key.")
    await audited.record(request, "key.create", "key", row["id"], account_id, None, key_json(row))
    return {**key_json(row), "key": issued.secret}


async def account_windows(request: web.Request, account_id: str) -> list[dict[str, Any]]:
    store = request.config_dict[STORE]
    quotas = await store.account_quotas(account_id)
    return await window_usage(store, shard_of(account_id), "a", account_id, quotas)
