"""Who may do what: one rule, `may(actor, action, resource)`, over data (as Pundit's policies
or Kubernetes' RBAC), so the rule can be printed and tested rather than read out of `if`s.

An actor is the operator, a person (a member with a role, or a user token's scopes), an API
key, a metering service, or an organization's SCIM directory (its token reaches only its own
organization's people and groups). A person's or key's `reach` is None when it acts for the whole
organization, else the member whose own keys bound it: a `member` role, and every key that
member (or one of their keys) minted, reach only keys that member owns and their ledger rows.

`may` answers ALLOW, DENY (the surface answers 401 or 403: the actor lacks the action) or
HIDE (404: the resource is another organization's, or outside the actor's reach, and is
answered as if it did not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Literal

from billing import roles
from billing.grants import MCP_SCOPE

Kind = Literal["operator", "person", "key", "service", "scim"]
# `closed`: a message no caller may send (an MCP method the gateway refuses by name)
Surface = Literal["public", "proxy", "account", "operator", "metering", "scim", "closed"]

# holding any of the values grants the key too
IMPLIED: dict[str, tuple[str, ...]] = {
    "keys:read": ("keys:write",),
    "billing:read": ("billing:setup", "billing"),
    "billing:setup": ("billing",),
    roles.STATEMENTS_READ: ("billing:read", "billing:setup", "billing"),
}


class Decision(Enum):
    ALLOW = "allow"
    DENY = "deny"
    HIDE = "hide"


@dataclass(frozen=True, slots=True)
class Action:
    """What a route does. `scope`: the scope an account's caller must hold (None: any
    signed-in caller of the surface); `org_wide`: it reads or changes the whole organization,
    so an actor kept to its own keys may not; `operator_too`: the operator may as well."""

    name: str
    surface: Surface
    scope: str | None = None
    org_wide: bool = False
    operator_too: bool = False
    people_only: bool = False  # a person's own act (approving a terminal's login), no key's
    reaches_in: bool = False  # a proxy scope narrowed inside the target takes it too


@dataclass(frozen=True, slots=True)
class Actor:
    kind: Kind
    account_id: str | None = None
    scopes: frozenset[str] = frozenset()
    reach: str | None = None  # None: the whole organization; else the member it is kept to


@dataclass(frozen=True, slots=True)
class Resource:
    """A thing of one organization; `owner` the member a key (or a ledger row's key)
    belongs to, None for nobody's (the operator's or an organization-wide key)."""

    account_id: str
    owner: str | None = None


def holds(scopes: frozenset[str], scope: str) -> bool:
    return scope in scopes or any(s in scopes for s in IMPLIED.get(scope, ()))


def _surface_open(actor: Actor, action: Action) -> bool:
    """Whether the actor's kind may use the action's surface at all."""
    if action.surface == "public":
        return True
    if action.surface == "operator":
        return actor.kind == "operator"
    if action.surface == "metering":
        return actor.kind == "service"
    if action.surface == "scim":
        return actor.kind == "scim"
    if action.surface == "proxy":
        return actor.kind == "key"
    if action.surface == "closed":
        return False
    return actor.kind in ("person", "key") or (actor.kind == "operator" and action.operator_too)


def _acts(actor: Actor, action: Action) -> bool:
    if not _surface_open(actor, action):
        return False
    if action.surface != "account" or actor.kind == "operator":
        return True
    if action.scope is not None and not holds(actor.scopes, action.scope):
        return False
    if action.people_only and actor.kind != "person":
        return False
    return not (action.org_wide and actor.reach is not None)


def may(actor: Actor, action: Action, resource: Resource | None = None) -> Decision:
    """The one decision: may `actor` do `action` (to `resource`, when it names one)?"""
    if not _acts(actor, action):
        return Decision.DENY
    if resource is None or actor.kind == "operator":
        return Decision.ALLOW
    if resource.account_id != actor.account_id:
        return Decision.HIDE
    if actor.reach is not None and resource.owner != actor.reach:
        return Decision.HIDE
    return Decision.ALLOW


def role_scopes(role: str, proxy_scopes: frozenset[str]) -> frozenset[str]:
    """What a key minted under a person of `role` may hold now: the role's scopes (with what
    they imply) and, for a role that may spend (roles.may_spend), the proxy's."""
    held = roles.ROLE_SCOPES.get(role, frozenset())
    implied = {s for s, by in IMPLIED.items() if any(b in held for b in by)}
    return held | implied | (proxy_scopes if roles.may_spend(role) else frozenset())


def reach_of(role: str, member_id: str | None) -> str | None:
    """A person's (or their keys') reach: their own keys for a role kept to them ('' when
    they are no member here, so they reach nothing), else the whole organization."""
    if role not in roles.OWN_KEYS_ONLY:
        return None
    return member_id or ""


def _p(name: str, scope: str | None, **flags: bool) -> Action:
    return Action(name, "account", scope, **flags)


PUBLIC = Action("public", "public")
PROXY = Action("proxy", "proxy")
OPERATOR = Action("operator", "operator")
OPERATOR_PAGE = Action("operator:page", "operator")  # the dashboard's operator pages: 403
METERING = Action("metering", "metering")
SCIM = Action("scim", "scim")  # /scim/v2: an organization's directory, by its SCIM token
MCP = Action("mcp", "proxy")  # /mcp/{server}: which tools, by `may_call_tool`
# Messages of the proxy's WebSocket and JSON-RPC routes (decided by `may_send`).
REALTIME_EVENT = Action("realtime", "proxy", "realtime")  # a Realtime client event
MCP_SERVER = Action("mcp:server", "proxy", MCP_SCOPE, reaches_in=True)  # any of its scopes
MCP_TOOL = Action("mcp:tool", "proxy", MCP_SCOPE)  # the called tool's own scope
NOT_OFFERED = Action("not-offered", "closed")  # refused by name to every caller
SESSION = _p("session", None, operator_too=True)
SELF = _p("self", None)  # a user token acting on itself (revoking it)
DEVICE = _p("device", None, people_only=True)  # a person approving `meterway login`
ACCOUNT_READ = _p("account:read", "account:read")
LEDGER_READ = _p("ledger:read", "account:read")  # rows filtered to the actor's reach
KEYS_READ = _p("keys:read", "keys:read")
KEYS_WRITE = _p("keys:write", "keys:write")
USAGE_READ = _p("usage:read", "usage:read", org_wide=True)
ORG_WRITE = _p("org:write", roles.ORG_WRITE, org_wide=True)
BILLING_READ = _p("billing:read", "billing:read", org_wide=True)
BILLING_SETUP = _p("billing:setup", "billing:setup", org_wide=True)
STATEMENTS_READ = _p("statements:read", roles.STATEMENTS_READ, org_wide=True)
AUDIT_READ = _p("audit:read", roles.AUDIT_READ, org_wide=True)
# A domain claim decides where every person of the domain lands: an owner's own act.
DOMAINS = _p("domains", roles.DOMAINS, org_wide=True, people_only=True)
SCIM_TOKEN = _p("scim:token", roles.SCIM_TOKEN, org_wide=True, people_only=True)
ACTIONS = {
    a.name: a
    for a in (
        PUBLIC,
        PROXY,
        OPERATOR,
        OPERATOR_PAGE,
        METERING,
        SCIM,
        MCP,
        REALTIME_EVENT,
        MCP_SERVER,
        MCP_TOOL,
        NOT_OFFERED,
        SESSION,
        SELF,
        DEVICE,
        ACCOUNT_READ,
        LEDGER_READ,
        KEYS_READ,
        KEYS_WRITE,
        USAGE_READ,
        ORG_WRITE,
        BILLING_READ,
        BILLING_SETUP,
        STATEMENTS_READ,
        AUDIT_READ,
        DOMAINS,
        SCIM_TOKEN,
    )
}


Scopes = tuple[str, ...] | frozenset[str]


def may_send(scopes: Scopes, action: Action, *target: str) -> bool:
    """Whether a key holding `scopes` may send a message (a Realtime client event, an MCP
    method) whose declared action is `action`, to `target` (an MCP server, then its tool).
    A closed action: nobody. Else a key without scopes may (it calls every endpoint, as on
    the proxy's routes); any other holds the action's scope or one narrowed to the target
    (`mcp`, `mcp:SERVER`, `mcp:SERVER:TOOL`), or, for an action that `reaches_in`, a scope
    narrowed inside it (one tool's scope reaches its server)."""
    if action.surface == "closed":
        return False
    if not scopes or action.scope is None:
        return True
    chain = [":".join((action.scope, *target[:depth])) for depth in range(len(target) + 1)]
    if any(s in scopes for s in chain):
        return True
    return action.reaches_in and any(s.startswith(chain[-1] + ":") for s in scopes)


def may_call_tool(scopes: Scopes, server: str, tool: str) -> bool:
    """Whether a key may see and call an MCP tool: it holds no scopes, or `mcp`,
    `mcp:SERVER` or `mcp:SERVER:TOOL`."""
    return may_send(scopes, MCP_TOOL, server, tool)


def may_reach_server(scopes: Scopes, server: str) -> bool:
    """Whether a key may use an MCP server at all (a session, its tool list): it holds no
    scopes, or `mcp`, `mcp:SERVER` or the `mcp:SERVER:TOOL` of one of its tools."""
    return may_send(scopes, MCP_SERVER, server)


def message_actions(entries: dict[str, Action]) -> MappingProxyType[str, Action]:
    """A WebSocket or JSON-RPC route's messages (event types, methods), each with the action
    it needs, read-only. An entry without an action is refused here, when the table is made
    (at import), so no message can be declared without one."""
    for name, action in entries.items():
        if not isinstance(name, str) or not isinstance(action, Action):
            raise TypeError(f"message {name!r} needs the action it takes")
    return MappingProxyType(dict(entries))
