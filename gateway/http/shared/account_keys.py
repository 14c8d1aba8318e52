"""An account's keys as the account API and the dashboard act on them: which the caller sees,
what it may hand on, minting (through the one mint), revoking, rotating, limiting."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from aiohttp import web

from billing.authority import Resource, role_scopes
from billing.grants import (
    MCP_SCOPE,
    PROXY_SCOPES,
    Grant,
    GrantTooWide,
    check_key_quotas,
    check_within,
    user_grant,
)
from billing.money.quotas import Quota
from billing.roles import may_spend
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.http import audited, bodies, key_grants
from gateway.http.appkeys import (
    BUDGETS,
    DIRECTORY,
    LEDGER,
    MEMBERS,
    PLANS,
    STORE,
    TEAMS,
)
from gateway.http.principal import (
    Principal,
)
from gateway.http.serialize import key_json, key_use_json
from gateway.services.keys.life_cycle import (
    grant_of_key,
    revoke_key,
    rotate_key,
    set_key_quotas,
)
from gateway.services.keys.mint import Creator, KeyStores, Right, mint_key
from gateway.services.keys.provisioning import KeySpec
from gateway.stores.records import Lineage, Row, minted_by_key


async def visible_keys(request: web.Request, who: Principal) -> list[Row]:
    """The account's live keys the caller may see: all, or those of the member it is kept to."""
    rows = await request.config_dict[DIRECTORY].keys_of(who.account_id, include_revoked=False)
    if who.reach is not None:
        rows = [r for r in rows if r.get("member_id") == who.reach]
    return rows


async def caller_grant(request: web.Request, who: Principal) -> Grant:
    """What the caller may hand on: an API key its own grant, within its owner's role as it
    is now; a person their role (the proxy's scopes only for a role that may spend) and
    their plan's models; a user token without a role its scopes, the proxy's and the plan's
    models."""
    if who.key is not None:
        grant = grant_of_key(await _caller_key(request, who))
        return replace(grant, scopes=grant.scopes & who.scopes) if who.role else grant
    account = await request.config_dict[LEDGER].get_account(who.account_id)
    plan = request.config_dict[PLANS].get(account["plan"]) if account else None
    models = plan.models if plan else ()
    if who.role:
        spends = {MCP_SCOPE} if may_spend(who.role) else set()
        return Grant(role_scopes(who.role, PROXY_SCOPES) | spends, frozenset(models))
    return user_grant(who.scopes, models)


async def creator_of(request: web.Request, who: Principal) -> Creator:
    """The caller as a creator of credentials (services/keys/mint.py): what it holds, the rights
    its scopes (and, for a person, membership) give, and what a key it makes inherits."""
    rights = set(who.scopes)
    if who.kind == "user" and who.member_id:
        rights.add(Right.LOGIN.value)
    grant = await caller_grant(request, who)
    return Creator(who.account_id, grant, frozenset(rights), await lineage_of(request, who))


def key_stores(request: web.Request) -> KeyStores:
    app = request.config_dict
    return KeyStores(app[LEDGER], app[STORE], app[TEAMS], app[BUDGETS])


async def _caller_key(request: web.Request, who: Principal) -> Row:
    assert who.key is not None
    return bodies.found(await request.config_dict[LEDGER].get_key(who.key.key_id), "No such key.")


async def lineage_of(request: web.Request, who: Principal) -> Lineage:
    """What a key the caller mints inherits: a key's owner and team, or a person's own
    member id and team. A caller kept to its own keys but no member here owns none, so
    it mints none."""
    if who.key is not None:
        return minted_by_key(await _caller_key(request, who))
    if who.reach == "":
        raise PermissionDenied("You are no member of this organization, so you own no keys.")
    if who.member_id is None:
        subject = who.token.subject if who.token else ""
        return Lineage("person", f"sub:{subject}")
    member = await request.config_dict[MEMBERS].get(who.member_id)
    team = member["team_id"] if member else None
    return Lineage("person", who.member_id, who.member_id, team)


def spec_of_body(
    body: dict[str, object], known: Collection[str] = (), zone: str = "UTC"
) -> KeySpec:
    """A key request (JSON body or dashboard form) as a KeySpec; InvalidRequest per field.
    `known`: the providers a key may be pinned to; `zone` ends a bare expiry date."""
    data = dict(body)
    return KeySpec(
        str(bodies.text_field(data, "name")),
        tuple(bodies.scopes_field(data)),
        tuple(bodies.str_list(data, "models")),
        bodies.quotas_field(data),
        bodies.on_insufficient_field(data),
        bodies.expiry_field(data, zone=zone),
        bodies.providers_field(data, known),
    )


def _denied(exc: GrantTooWide) -> PermissionDenied:
    return PermissionDenied(exc.message, param=exc.field)


async def create_key_for(
    request: web.Request,
    who: Principal,
    spec: KeySpec,
    right: Right = Right.KEY,
    token: bool = False,
) -> dict[str, Any]:
    """Mint a key for the caller (services/keys/mint.py: within what it holds, under its
    lineage); the answer carries the secret, shown once. A `token` (/v1/auth/tokens) a
    key mints ends with that key's secret."""
    app = request.config_dict
    creator = await creator_of(request, who)
    issued = await mint_key(key_stores(request), creator, spec, right, token)
    row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    await audited.record(
        request, "key.create", "key", row["id"], who.account_id, None, key_json(row)
    )
    return {**key_use_json(row), "key": issued.secret}


async def own_key(request: web.Request, who: Principal, key_id: str) -> Row:
    """One of the caller's account's keys within its reach, or NotFound (never another
    account's, nor another member's for a caller kept to its own keys)."""
    row = await request.config_dict[DIRECTORY].key_with_use(key_id)
    if row is None:
        raise NotFound("No such key.")
    who.check(request, Resource(row["account_id"], row.get("member_id")), "No such key.")
    return row


async def revoke_key_for(request: web.Request, row: Row) -> None:
    """Revoke one of the caller's keys (the API and the dashboard)."""
    app = request.config_dict
    revoked = await revoke_key(app[LEDGER], app[STORE], row)
    after = key_json(revoked) if revoked is not None else None
    await audited.record(
        request, "key.revoke", "key", row["id"], row["account_id"], key_json(row), after
    )


async def _check_rotation(request: web.Request, who: Principal, row: Row) -> None:
    """A key may rotate itself; rotating another key issues its grant, so it must fit ours."""
    if who.key is None or who.key.key_id == row["id"]:
        return
    try:
        check_within(await caller_grant(request, who), grant_of_key(row))
    except GrantTooWide as exc:
        raise _denied(exc) from exc


async def rotate_for(request: web.Request, who: Principal, row: Row, grace: int) -> dict[str, Any]:
    """A new secret for `row`; the old one keeps working for `grace` seconds."""
    if row["revoked_at"] is not None:
        raise InvalidRequest("A revoked key cannot be rotated.", param="key_id")
    await _check_rotation(request, who, row)
    app = request.config_dict
    org = (app[TEAMS], app[BUDGETS])
    issued = await rotate_key(app[LEDGER], app[STORE], app[DIRECTORY], row, grace, org)
    new_row = bodies.found(await app[DIRECTORY].key_with_use(issued.key_id), "No such key.")
    old_row = bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key.")
    await audited.record(
        request, "key.rotate", "key", row["id"], row["account_id"], key_json(row), key_json(new_row)
    )
    return {**key_use_json(new_row), "key": issued.secret, "previous": key_use_json(old_row)}


async def set_quotas_for(
    request: web.Request, who: Principal, row: Row, quotas: tuple[Quota, ...]
) -> dict[str, Any]:
    """A key's own limits, within the account's limits and, for a key, within its own grant:
    a key tightens its own quotas but never loosens them, nor those of a key it reaches."""
    app = request.config_dict
    try:
        check_key_quotas(await app[STORE].account_quotas(who.account_id), quotas)
        if who.key is not None:
            check_within(
                await caller_grant(request, who), replace(grant_of_key(row), quotas=quotas)
            )
    except GrantTooWide as exc:
        raise _denied(exc) from exc
    written = await set_key_quotas(app[LEDGER], app[STORE], row, quotas)
    now = bodies.found(await app[DIRECTORY].key_with_use(row["id"]), "No such key.")
    await audited.record(
        request, "key.quotas", "key", row["id"], row["account_id"], key_json(row), key_json(now)
    )
    await key_grants.followed(request, written)
    return key_use_json(now)
