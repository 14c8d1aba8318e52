"""Who is calling a user-facing surface (account, billing): an API key or a signed-in user.

An API key must carry the route's scope explicitly (a key with no scopes is a proxy-only key);
a user token (JWT) carries its scopes in the `scope` claim. Both resolve to one account.
Each sub-app installs `principal_middleware` and its handlers call `require(request, scope)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from aiohttp import web

from billing import roles
from billing.authority import (
    IMPLIED,
    Action,
    Actor,
    Decision,
    Resource,
    may,
    reach_of,
    role_scopes,
)
from billing.grants import PROXY_SCOPES, GrantTooWide, check_no_looser
from gateway.errors import InvalidApiKey, KeyPaused, NotFound, PermissionDenied
from gateway.http.appkeys import (
    DIRECTORY,
    DOMAIN_CLAIMS,
    JWT,
    KEYS,
    LEDGER,
    MEMBERS,
    SETTINGS,
    STORE,
    STORES,
    TEAMS,
)
from gateway.http.routing import action_of
from gateway.outbound.sign_in.jwt_auth import InvalidToken, VerifiedToken, looks_like_jwt
from gateway.services.auth import KEY_PREFIX, presented_key
from gateway.services.members.joining import Joining, Way, join, narrow
from gateway.services.money.refusals import PAUSED_MESSAGE
from gateway.stores.records import KeyRecord, Row

ACCOUNT_READ = "account:read"
USAGE_READ = "usage:read"
KEYS_READ = "keys:read"
KEYS_WRITE = "keys:write"
BILLING_READ = "billing:read"
BILLING_SETUP = "billing:setup"
BILLING = "billing"  # an API key's scope for all of /v1/account/billing
ORG_WRITE = roles.ORG_WRITE  # members, teams and end-user budgets
STATEMENTS_READ = roles.STATEMENTS_READ  # monthly statements
USER_SCOPES = frozenset(
    {
        ACCOUNT_READ,
        USAGE_READ,
        KEYS_READ,
        KEYS_WRITE,
        BILLING_READ,
        BILLING_SETUP,
        ORG_WRITE,
        STATEMENTS_READ,
    }
)
__all__ = ["IMPLIED"]  # re-exported: billing/authority.py holds the implications


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    kind: Literal["key", "user"]
    scopes: frozenset[str]
    key: KeyRecord | None = None
    token: VerifiedToken | None = None
    # A member's role ('' for a key, or a token without one); a role kept to its own keys
    # sees and manages only the keys `member_id` created.
    role: str = ""
    member_id: str | None = None

    @property
    def own_keys_only(self) -> bool:
        return self.role in roles.OWN_KEYS_ONLY

    @property
    def reach(self) -> str | None:
        """The member whose own keys bound this caller; None: the whole organization."""
        return reach_of(self.role, self.member_id)

    def actor(self) -> Actor:
        if self.kind == "key":
            return Actor("key", self.account_id, self.scopes, self.reach)
        return Actor("person", self.account_id, self.scopes, self.reach)

    def has(self, scope: str) -> bool:
        return scope in self.scopes or any(s in self.scopes for s in IMPLIED.get(scope, ()))

    def check(
        self, request: web.Request, resource: Resource | None = None, hidden: str = ""
    ) -> None:
        """The route's action (gateway/http/routing.py) decided by `may`: 403 when
        the caller may not, 404 (`hidden`, the words of an absent one) when the resource
        is outside its reach."""
        action = action_of(request)
        decided = may(self.actor(), action, resource)
        if decided is Decision.HIDE:
            raise NotFound(hidden or "No such resource on your account.")
        if decided is Decision.DENY:
            self.refuse(action)

    def refuse(self, action: Action) -> NoReturn:
        """Why `action` is denied, in words: the scope it lacks, else its reach."""
        if action.scope is not None:
            self.require(action.scope)
        if action.people_only and self.kind != "user":
            raise PermissionDenied("Only a person signed in to the dashboard may do this, no key.")
        raise PermissionDenied("This caller reaches one member's own keys, not the organization.")

    def require(self, scope: str) -> None:
        if not self.has(scope):
            who = "API key" if self.kind == "key" else "token"
            raise PermissionDenied.lacking(scope, f"This {who} lacks the '{scope}' scope.")


PRINCIPAL = web.RequestKey("principal", Principal)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def require(request: web.Request, scope: str) -> Principal:
    who = request[PRINCIPAL]
    who.require(scope)
    return who


async def _from_key(request: web.Request, raw: str) -> Principal:
    record = await request.config_dict[KEYS].resolve_secret(raw)
    store = request.config_dict[STORE]
    if not await store.key_is_live(record.shard, record.key_id):
        if await request.config_dict[STORES].anomalies().paused([record.key_id]):
            raise KeyPaused(PAUSED_MESSAGE, extra={"reason": "key_paused"})
        raise InvalidApiKey("This API key has been revoked or has expired.")
    found = await key_principal(request, record)
    if found is None:
        raise InvalidApiKey("This API key's member has left the organization.")
    return found


async def key_principal(request: web.Request, record: KeyRecord) -> Principal | None:
    """A key as a caller: a key a member owns (they minted it, or one of their keys did)
    acts with at most that member's role as it is now, and their reach; None when the
    member has left (their keys are revoked with them)."""
    row = await request.config_dict[LEDGER].get_key(record.key_id)
    owner = row.get("member_id") if row else None
    scopes = frozenset(row["scopes"] if row else record.scopes)  # narrowed since cached?
    if owner is None:
        return Principal(record.account_id, "key", scopes, key=record)
    member = await request.config_dict[MEMBERS].get(owner)
    if member is None or member["account_id"] != record.account_id:
        return None
    role = member["role"]
    held = scopes & role_scopes(role, PROXY_SCOPES)
    return Principal(record.account_id, "key", held, key=record, role=role, member_id=owner)


async def _account_of(request: web.Request, token: VerifiedToken) -> Row:
    claim = request.config_dict[SETTINGS].jwt.account_claim
    account_id = token.claims.get(claim)
    if isinstance(account_id, str) and account_id:
        row = await request.config_dict[LEDGER].get_account(account_id)
    else:
        row = await request.config_dict[DIRECTORY].account_by_external_id(token.subject)
    if row is None:
        raise InvalidToken("No account belongs to this token's user.")
    return row


async def _from_token(request: web.Request, raw: str) -> Principal:
    verifier = request.config_dict.get(JWT)
    if verifier is None:
        raise InvalidApiKey("User tokens are not accepted here (JWT sign-in is not configured).")
    token = await verifier.verify(raw)
    row = await _account_of(request, token)
    role = _role_claim(request, token)
    if role is None:
        return Principal(row["id"], "user", token.scopes, token=token)
    member = await _claimed_member(request, row["id"], token, role)
    scopes = roles.ROLE_SCOPES[role]
    return Principal(row["id"], "user", scopes, token=token, role=role, member_id=member)


def _claim_values(token: VerifiedToken, name: str) -> list[str]:
    """A claim's values: a string, or a list's strings (an identity provider's groups)."""
    value = token.claims.get(name) if name else None
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [v for v in values if isinstance(v, str)]


def _role_claim(request: web.Request, token: VerifiedToken) -> str | None:
    """With JWT_ROLE_CLAIM set, the most powerful role among the claim's values; None
    without one."""
    return roles.best_role(_claim_values(token, request.config_dict[SETTINGS].jwt.role_claim))


async def _team_claim(request: web.Request, account_id: str, token: VerifiedToken) -> str | None:
    """With JWT_TEAM_CLAIM set, the first of the claim's values naming one of the
    account's teams (by name); None for none."""
    names = _claim_values(token, request.config_dict[SETTINGS].jwt.team_claim)
    if not names:
        return None
    teams = {t["name"]: t["id"] for t in await request.config_dict[TEAMS].of_account(account_id)}
    return next((teams[n] for n in names if n in teams), None)


async def _claimed_member(
    request: web.Request, account_id: str, token: VerifiedToken, role: str
) -> str | None:
    """The member a token's (issuer, subject) is, added on first sight (members are
    invited by e-mail or added by claim); their role follows the claim. None when that
    identity is another organization's member: it owns no key here."""
    app = request.config_dict
    members = app[MEMBERS]
    issuer = str(token.claims.get("iss", ""))
    found = await members.by_subject(issuer, token.subject)
    if found is None:
        email = str(token.claims.get("email") or f"{token.subject}@{issuer or 'jwt'}")
        j = Joining(account_id, email, Way.SIGN_IN, role, issuer, token.subject)
        found = (await join(members, app[DOMAIN_CLAIMS], j)).member
    elif found["account_id"] != account_id:
        return None
    elif found["role"] != role:
        _, fitted = await narrow(members, app[LEDGER], app[STORE], str(found["id"]), role)
        app[KEYS].forget(r["key_hash"] for r in fitted)
    team = await _team_claim(request, account_id, token)
    if team != found["team_id"]:
        await members.set_team(found["id"], team)
    return str(found["id"])


async def resolve_principal(request: web.Request) -> Principal:
    return await principal_of(request, presented_key(request))


async def principal_of(request: web.Request, raw: str) -> Principal:
    """The caller behind a credential given as text: the header's, or the dashboard's form."""
    if raw.startswith(KEY_PREFIX):
        return await _from_key(request, raw)
    if looks_like_jwt(raw):
        return await _from_token(request, raw)
    raise InvalidApiKey("Missing credentials; send 'Authorization: Bearer <API key or token>'.")


@web.middleware
async def principal_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Only the user-facing sub-apps run this: resolve the caller once per request and
    check the route's action before its handler runs. A public route (signing up, a
    device's login) has no caller."""
    if action_of(request).surface == "public":
        response: web.StreamResponse = await handler(request)
        return response
    who = await resolve_principal(request)
    who.check(request)
    request[PRINCIPAL] = who
    answered: web.StreamResponse = await handler(request)
    return answered


async def calling_key(request: web.Request) -> Row | None:
    """The record of the API key calling (None for a person, the operator or a service):
    what a key may not loosen of its own limits is read from it."""
    who = request.get(PRINCIPAL)
    if who is None or who.key is None:
        return None
    return await request.config_dict[LEDGER].get_key(who.key.key_id)


def no_looser(current: Any, wanted: Any) -> None:
    """PermissionDenied (naming `quotas`) when `wanted` loosens the caller's own `current`."""
    try:
        check_no_looser(current, wanted)
    except GrantTooWide as exc:
        raise PermissionDenied(exc.message, param=exc.field) from exc
