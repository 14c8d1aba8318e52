"""The one mint: every credential that authenticates is made through `within`.

Account keys (the API and the dashboard), `POST /v1/auth/tokens` (`meterway auth token`),
`meterway login`'s device token, Realtime client secrets, MCP sessions, metering service
keys, invitation links and SCIM tokens each name the right their creator must hold
(`Right`) and what they ask for as a `billing.grants.Grant`; `within` refuses a creator
without the right and a credential wider than its creator in any dimension (scopes, models,
providers, limits, expiry), and fills what the request left open (no models: every model
the creator may use). `mint_key` then records an API key with its lineage, so its calls count in its
ancestors' windows too (reserve.lua) and a later tightening reaches it
(services/keys/life_cycle.py).
tests/integration/test_mint_property.py drives every path with random creators and requests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from billing.grants import (
    MCP_SCOPE,
    PROXY_SCOPES,
    Grant,
    GrantTooWide,
    check_key_quotas,
    covers,
)
from billing.grants import check_within as _check_within
from billing.roles import may_grant
from gateway.errors import PermissionDenied
from gateway.services.keys.life_cycle import carry_budgets, carry_team, grant_of_spec
from gateway.services.keys.provisioning import IssuedKey, KeySpec, issue_key
from gateway.stores.ports import EndUserBudgetsPort, HotStorePort, LedgerPort, TeamsPort
from gateway.stores.records import OPERATOR_MINTED, KeyRecord, Lineage

METERING = "metering"  # what a metering service key holds
SCIM = "scim"  # what an organization's SCIM token holds
EVERYTHING = PROXY_SCOPES | {MCP_SCOPE}


class Right(Enum):
    """What a creator must hold to mint each kind of credential (the scope it names, or a
    kind of creator)."""

    KEY = "keys:write"  # an API key: the API, the dashboard, auth/tokens
    LOGIN = "member"  # `meterway login`: a member signing themself in
    REALTIME = "realtime"  # a Realtime client secret
    MCP = "mcp"  # an MCP session (the server's scope, `mcp:NAME`, is asked for)
    INVITE = "org:write"  # an invitation link
    OPERATOR = "operator"  # a metering service key
    SCIM = "scim:token"  # an organization's SCIM token: an owner (roles.SCIM_TOKEN)


@dataclass(frozen=True, slots=True)
class Creator:
    """Who mints: what it holds (`holds`), what it may mint (`rights`), and what a key it
    mints inherits (`lineage`: owner, team, ancestors)."""

    account_id: str
    holds: Grant
    rights: frozenset[str]
    lineage: Lineage = OPERATOR_MINTED
    everything: bool = False  # the operator: every scope, model, provider and limit


def operator(account_id: str) -> Creator:
    """The operator holds everything on every account, and alone makes service keys."""
    rights = frozenset(r.value for r in Right)
    holds = Grant(EVERYTHING | {METERING}, frozenset())
    return Creator(account_id, holds, rights, everything=True)


def key_creator(record: KeyRecord) -> Creator:
    """A key as the creator of a short-lived credential of its own (a Realtime client
    secret, an MCP session), from its cached record: a key with no scopes holds every proxy
    scope and every MCP tool."""
    scopes = frozenset(record.scopes) or EVERYTHING
    holds = Grant(scopes, frozenset(record.models), providers=frozenset(record.providers))
    return Creator(record.account_id, holds, scopes)


def realtime_secret(record: KeyRecord, model: str) -> Grant:
    """What a Realtime client secret the key mints holds: the `realtime` scope and its
    model ('' any model the key may use); PermissionDenied when the key may not."""
    asked = Grant(frozenset({Right.REALTIME.value}), frozenset({model} if model else ()))
    return within(key_creator(record), asked, Right.REALTIME)


def mcp_session(record: KeyRecord, server: str) -> Grant:
    """What an MCP session the key opens on `server` holds: the key's scopes for that
    server (all of it, or some of its tools); PermissionDenied naming `scopes` for a key
    with none."""
    whole = f"{MCP_SCOPE}:{server}"
    held = key_creator(record).holds.scopes
    tools = {s for s in held if s.startswith(whole + ":")}
    scopes = {whole} if covers(held, whole) or not tools else tools
    return within(key_creator(record), Grant(frozenset(scopes), frozenset()), Right.MCP)


def _require(creator: Creator, right: Right, asked: Grant) -> None:
    """PermissionDenied unless `creator` holds `right`; an MCP session's right is a scope
    covering the server or the tools it asks for."""
    rights = creator.rights
    if right is Right.MCP:
        held = bool(asked.scopes) and all(covers(rights, s) for s in asked.scopes)
    else:
        held = right.value in rights
    if not held:
        raise PermissionDenied(
            f"You may not create this credential: it needs '{right.value}'.", param="scope"
        )


def filled(holds: Grant, asked: Grant) -> Grant:
    """What a request leaves open, taken from its creator: no models means every model the
    creator may use, no providers every provider it may reach (so a member on a plan with a
    model list gets a key for that list, not a refusal)."""
    return replace(
        asked,
        models=asked.models or holds.models,
        providers=asked.providers or holds.providers,
    )


def within(creator: Creator, asked: Grant, right: Right) -> Grant:
    """The one rule: `creator` holds `right`, and the credential (`asked`, its open parts
    filled from the creator) is no wider than the creator in any dimension. The grant to
    make, or PermissionDenied naming the field."""
    _require(creator, right, asked)
    grant = filled(creator.holds, asked)
    if creator.everything:
        return grant
    try:
        _check_within(creator.holds, grant)
    except GrantTooWide as exc:
        raise PermissionDenied(exc.message, param=exc.field) from exc
    return grant


def invitation(creator: Creator, granter_role: str, role: str) -> None:
    """An invitation link to `role`: the creator holds `org:write` and may grant the role
    (billing.roles.may_grant: only an owner makes owners); PermissionDenied otherwise."""
    _require(creator, Right.INVITE, Grant(frozenset(), frozenset()))
    if not creator.everything and not may_grant(granter_role, role):
        raise PermissionDenied("Only an owner makes, changes or removes owners.", param="role")


def scim_token(creator: Creator) -> Grant:
    """What an organization's SCIM token holds: its people and groups, as its directory
    provisions them. Made by the operator or an owner (`scim:token`: a directory may map a
    group to any role, owner included, and only an owner makes owners). It holds no scope
    its creator holds: it reaches only /scim/v2, which no other credential reaches."""
    grant = Grant(frozenset({SCIM}), frozenset())
    _require(creator, Right.SCIM, grant)
    return grant


@dataclass(frozen=True, slots=True)
class KeyStores:
    ledger: LedgerPort
    store: HotStorePort
    teams: TeamsPort
    budgets: EndUserBudgetsPort


async def mint_key(
    stores: KeyStores,
    creator: Creator,
    spec: KeySpec,
    right: Right = Right.KEY,
    token: bool = False,
) -> IssuedKey:
    """An API key within `creator` (`within`) and the account's own limits, recorded under
    its lineage, in its minter's team and with its minting key's end-user budget. A `token`
    minted by a key ends when that key's secret does (rotation: services/keys/life_cycle.py)."""
    grant = within(creator, grant_of_spec(spec), right)
    lineage = creator.lineage
    if token and lineage.minter_kind == "key":
        lineage = replace(lineage, secret_bound=True)
    try:
        check_key_quotas(await stores.store.account_quotas(creator.account_id), spec.quotas)
    except GrantTooWide as exc:
        raise PermissionDenied(exc.message, param=exc.field) from exc
    models, providers = tuple(sorted(grant.models)), tuple(sorted(grant.providers))
    spec = replace(spec, models=models, providers=providers)
    issued = await issue_key(stores.ledger, stores.store, creator.account_id, spec, lineage)
    row = await stores.ledger.get_key(issued.key_id)
    assert row is not None  # written just now
    await carry_team(stores.teams, stores.store, row)
    if lineage.minter_kind == "key" and lineage.minter_id:
        minter = {"id": lineage.minter_id, "account_id": creator.account_id}
        await carry_budgets(stores.budgets, stores.store, minter, issued.key_id)
    return issued
