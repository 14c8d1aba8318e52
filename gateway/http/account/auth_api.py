"""/v1/auth for people without a key yet: signing up (register, verify) and `meterway
login` (a device code, approved in the dashboard), then what the CLI's token does: who it
is (`whoami`), a narrower token (`tokens`), and logging out (revoking itself).

A CLI token is an API key minted for the person, owned by their member: it acts with at
most their role as it is now (principal.key_principal), expires (CLI_TOKEN_TTL_S), and
`tokens` mints only within it (and so within the role: the authority rule). Both go through
the one mint (services/keys/mint.py): login needs a member, `tokens` the caller's `keys:write`;
a role that may not spend (viewer, billing) gets no proxy scope from either. A token minted
by a key lives no longer than that key's secret: rotating the key ends it with the grace."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from billing import authority, roles
from billing.authority import role_scopes
from billing.grants import PROXY_SCOPES, expand_scopes
from gateway.errors import InvalidRequest, PermissionDenied, SignupRateLimited
from gateway.http import audited
from gateway.http.appkeys import LEDGER, MEMBERS, SETTINGS, SIGNIN_TICKETS
from gateway.http.audited import ACTOR
from gateway.http.client_address import client_address
from gateway.http.links import BASE, digest
from gateway.http.openapi.paths import signup as signup_doc
from gateway.http.people import signup_flow
from gateway.http.principal import PRINCIPAL, Principal, principal
from gateway.http.return_to import absolute
from gateway.http.routing import SIGN_UP, Route, audits, declare, unaudited
from gateway.http.shared.account_keys import caller_grant, create_key_for, revoke_key_for
from gateway.llm.reading.calls import parse_json
from gateway.outbound.mail.signin import LINK_MINUTES
from gateway.services.audit import Actor
from gateway.services.keys import device_login
from gateway.services.keys.mint import Right
from gateway.services.keys.provisioning import KeySpec
from gateway.services.members.identity import Person

DEVICE_PAGE = f"{BASE}/device"


async def register(request: web.Request) -> web.Response:
    """202 for any well-formed address at an allowed domain: a link and a code are on their
    way when it is new (a note where to sign in when it is not)."""
    body = parse_json(await request.read())
    addr = await signup_flow.ask(request, body.get("email"))
    ttl = request.config_dict[SETTINGS].signup.code_ttl_s
    answer = {
        "object": "signup",
        "email": addr.email,
        "status": "verification_sent",
        "expires_in": ttl,
    }
    return web.json_response(answer, status=202)


async def verify(request: web.Request) -> web.Response:
    """The e-mailed code opens the organization; the answer's `signin_url` (one use, 15
    minutes) signs the person in to the dashboard, where `meterway login` is approved."""
    body = parse_json(await request.read())
    done = await signup_flow.verify_code(request, body.get("email"), body.get("code"))
    secret = secrets.token_urlsafe(32)
    person = Person(str(done.member["email"]))
    await request.config_dict[SIGNIN_TICKETS].put(
        digest(secret), person.ticket(), LINK_MINUTES * 60
    )
    return web.json_response(
        {
            "object": "signup",
            "account_id": done.account_id,
            "status": done.status,
            "signin_url": absolute(request, f"{BASE}/signin/link/{secret}"),
            "trial": await signup_flow.trial_answer(request, done.account_id),
        }
    )


def _scopes(raw: object) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, str) or len(raw) > 1000:
        raise InvalidRequest("'scope' is a space-separated list of scopes.", param="scope")
    return expand_scopes(raw.split())


async def device_start(request: web.Request) -> web.Response:
    body = parse_json(await request.read()) if request.can_read_body else {}
    scopes = _scopes(body.get("scope"))
    limit = request.config_dict[SETTINGS].signin.link_limit_client
    if limit:
        count, left = await request.config_dict[SIGNIN_TICKETS].count(
            f"device-client:{client_address(request)}", device_login.TTL_S
        )
        if count > limit:
            raise SignupRateLimited(
                "Too many logins were started; try again later.", retry_after_s=left
            )
    agent = request.headers.get("User-Agent", "")
    tickets = request.config_dict[SIGNIN_TICKETS]
    device, user = await device_login.start(tickets, scopes, client_address(request), agent)
    page = absolute(request, DEVICE_PAGE)
    return web.json_response(
        {
            "device_code": device,
            "user_code": user,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?code={user}",
            "expires_in": device_login.TTL_S,
            "interval": device_login.INTERVAL_S,
        }
    )


async def device_token(request: web.Request) -> web.Response:
    """The poll: 400 authorization_pending until approved, then the token, once."""
    body = parse_json(await request.read())
    code = body.get("device_code")
    if not isinstance(code, str) or not code or len(code) > 200:
        raise InvalidRequest("'device_code' is required.", param="device_code")
    data = await device_login.poll(request.config_dict[SIGNIN_TICKETS], code)
    member = await request.config_dict[MEMBERS].get(str(data["member_id"]))
    if member is None or member["account_id"] != data["account_id"]:
        raise PermissionDenied("The person who approved this login is no member any more.")
    role = str(member["role"])
    who = Principal(
        str(member["account_id"]),
        "user",
        roles.ROLE_SCOPES[role],
        role=role,
        member_id=str(member["id"]),
    )
    request[PRINCIPAL] = who
    request[ACTOR] = Actor("member", str(member["id"]), "meterway login")
    asked = [str(s) for s in data["scopes"]] if isinstance(data["scopes"], list) else []
    held = role_scopes(role, PROXY_SCOPES)
    scopes = [s for s in asked if s in held] if asked else sorted(held)
    ttl = request.config_dict[SETTINGS].signup.token_ttl_s
    answer = await _mint(request, who, "meterway login", scopes, ttl, Right.LOGIN)
    return web.json_response(answer)


async def _mint(
    request: web.Request, who: Principal, name: str, scopes: list[str], ttl: int, right: Right
) -> dict[str, Any]:
    grant = await caller_grant(request, who)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl)
    if grant.expires_at_ms is not None:
        expires = min(expires, datetime.fromtimestamp(grant.expires_at_ms / 1000, UTC))
    spec = KeySpec(name, tuple(scopes), (), expires_at=expires)
    created = await create_key_for(request, who, spec, right, token=right is Right.KEY)
    return {
        "access_token": created["key"],
        "token_type": "Bearer",
        "expires_in": max(0, int(expires.timestamp() - time.time())),
        "scope": " ".join(scopes),
        "key_id": created["id"],
        "account_id": who.account_id,
    }


async def whoami(request: web.Request) -> web.Response:
    """Who the presented credential is: organization, person, scopes and expiry."""
    who = principal(request)
    app = request.config_dict
    account = await app[LEDGER].get_account(who.account_id)
    member = await app[MEMBERS].get(who.member_id) if who.member_id else None
    key = await app[LEDGER].get_key(who.key.key_id) if who.key is not None else None
    expires = key["expires_at"] if key else None
    return web.json_response(
        {
            "object": "whoami",
            "account_id": who.account_id,
            "organization": account["name"] if account else None,
            "status": (account or {}).get("signup_status") or "active",
            "email": member["email"] if member else None,
            "role": who.role or None,
            "kind": who.kind,
            "key_id": who.key.key_id if who.key is not None else None,
            "scopes": sorted(who.scopes),
            "expires_at": expires.isoformat() if expires else None,
        }
    )


async def tokens(request: web.Request) -> web.Response:
    """A new token no wider than the caller (its scopes, models, expiry) and so than the
    person's role, for a caller holding `keys:write`; 403 naming the field otherwise."""
    who = principal(request)
    body = parse_json(await request.read())
    scopes = _scopes(body.get("scope"))
    if not scopes:
        raise InvalidRequest("'scope' names at least one scope.", param="scope")
    ttl = body.get("expires_in", request.config_dict[SETTINGS].signup.token_ttl_s)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= 366 * 86400:
        raise InvalidRequest("'expires_in' is 60 to 31622400 seconds.", param="expires_in")
    answer = await _mint(request, who, "meterway auth token", scopes, ttl, Right.KEY)
    return web.json_response(answer, status=201)


async def logout(request: web.Request) -> web.Response:
    """The presented key revokes itself (and every key minted under it)."""
    who = principal(request)
    if who.key is None:
        raise InvalidRequest("Only a key logs out here; a user token uses /v1/auth/revoke.")
    row = await request.config_dict[LEDGER].get_key(who.key.key_id)
    if row is not None:
        await revoke_key_for(request, row)
    await audited.record(request, "auth.logout", "key", who.key.key_id, who.account_id)
    return web.json_response({"object": "logout", "key_id": who.key.key_id, "revoked": True})


def add_routes(auth: web.Application) -> None:
    r = auth.router
    declare(
        r,
        Route("POST", "/register", register, authority.PUBLIC, SIGN_UP, doc=signup_doc.REGISTER),
        Route(
            "POST",
            "/verify",
            verify,
            authority.PUBLIC,
            audits("signup.verify"),
            doc=signup_doc.VERIFY,
        ),
        Route(
            "POST",
            "/device",
            device_start,
            authority.PUBLIC,
            unaudited("a login code: nothing until a person approves it"),
            doc=signup_doc.DEVICE_START,
        ),
        Route(
            "POST",
            "/device/token",
            device_token,
            authority.PUBLIC,
            audits("key.create"),
            doc=signup_doc.DEVICE_TOKEN,
        ),
        Route("GET", "/whoami", whoami, authority.SELF, doc=signup_doc.WHOAMI),
        Route(
            "POST", "/tokens", tokens, authority.SELF, audits("key.create"), doc=signup_doc.TOKENS
        ),
        Route(
            "POST",
            "/logout",
            logout,
            authority.SELF,
            audits("key.revoke", "auth.logout"),
            doc=signup_doc.LOGOUT,
        ),
    )
