"""Credit grants over HTTP: an account's grants for its operator and its members, and the
operator's revocation. What a grant still holds is as of the grant keeper's last
allocation (every second); the balance itself is always live."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing import authority
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited, bodies
from gateway.http.appkeys import GRANTS, IDEMPOTENCY, LEDGER, STORE
from gateway.http.openapi.paths import account as account_doc
from gateway.http.principal import ACCOUNT_READ, require
from gateway.http.routing import Route, audits, declare
from gateway.http.whole import parse_whole
from gateway.llm.reading.calls import parse_json
from gateway.services.metering.idempotency import idempotent, revocation_use
from gateway.stores.ports import HotStorePort
from gateway.stores.records import GrantEnd, GrantSpec, Row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def grant_json(row: Row, now: datetime) -> dict[str, Any]:
    """A grant for people and programs; `status` as of `now`, the gateway's clock."""
    return {
        "id": row["id"],
        "object": "credit_grant",
        "account_id": row["account_id"],
        "kind": row["kind"],
        "amount_micros": row["amount_micros"],
        "remaining_micros": row["remaining_micros"],
        "priority": row["priority"],
        "expires_at": _iso(row["expires_at"]),
        "revoked_at": _iso(row["revoked_at"]),
        "closed_at": _iso(row["closed_at"]),
        "status": _status(row, now),
        "reason": row["reason"],
        "created_at": _iso(row["created_at"]),
    }


def _status(row: Row, now: datetime) -> str:
    """active, revoked or expired (ended: its rest is being or was written off), or used up."""
    if row["revoked_at"] is not None:
        return "revoked"
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return "expired"
    return "active" if row["remaining_micros"] > 0 else "used"


async def _clock(store: HotStorePort) -> datetime:
    return datetime.fromtimestamp(await store.now_ms() / 1000, UTC)


async def live_grant(store: HotStorePort, grant: GrantSpec | None) -> GrantSpec | None:
    """The grant a credit funds, refused when it would be born expired (the gateway's clock
    decides, as it does for the write-off)."""
    if grant is None or grant.expires_at is None:
        return grant
    if grant.expires_at <= await _clock(store):
        raise InvalidRequest("'grant.expires_at' is in the past.", param="grant.expires_at")
    return grant


async def grants_of(request: web.Request, account_id: str) -> list[dict[str, Any]]:
    """An account's grants, newest first, each with its status on the gateway's clock."""
    app = request.config_dict
    rows, now = await app[GRANTS].of_account(account_id), await _clock(app[STORE])
    return [grant_json(r, now) for r in rows]


async def _list(request: web.Request, account_id: str) -> web.Response:
    return web.json_response({"object": "list", "data": await grants_of(request, account_id)})


async def grant_on(request: web.Request, account_id: str, raw_id: str) -> Row:
    """One of the account's grants by its id as given (path or form): a 400 naming
    `grant_id` if it is no whole number, NotFound if it is none of the account's."""
    app = request.config_dict
    grant = await app[GRANTS].get(parse_whole(raw_id, "grant_id", minimum=1))
    if grant is None or grant["account_id"] != account_id:
        raise NotFound("No such grant on this account.")
    return grant


async def revoke_grant(
    request: web.Request, account_id: str, raw_id: str, idem: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Revoke a grant: its rest is written off by an `expire` entry within seconds (what
    open reservations hold is written off once they settle). The grant, and whether this
    call revoked it (repeating it is a no-op). With `idem`, the key names this revocation
    only (services/metering/idempotency.py)."""
    app = request.config_dict
    raw_id = str(parse_whole(raw_id, "grant_id", minimum=1))  # before the key records it
    if idem is None:
        return await _revoke(request, account_id, raw_id)
    async with idempotent(app[IDEMPOTENCY], account_id, idem, revocation_use(account_id, raw_id)):
        return await _revoke(request, account_id, raw_id)


async def _revoke(
    request: web.Request, account_id: str, raw_id: str
) -> tuple[dict[str, Any], bool]:
    app = request.config_dict
    grant = await grant_on(request, account_id, raw_id)
    now = await _clock(app[STORE])
    revoked = await app[GRANTS].revoke(grant["id"], now)
    assert revoked is not None  # it was there a moment ago; grants are never deleted
    if revoked["closed_at"] is None:  # not spendable from now on, before the keeper's round
        ends = min(t for t in (revoked["revoked_at"], revoked["expires_at"]) if t is not None)
        end = GrantEnd(revoked["id"], revoked["remaining_micros"], int(ends.timestamp() * 1000))
        await app[STORE].set_grant_end(account_id, end)
    before, after = grant_json(grant, now), grant_json(revoked, now)
    await audited.record(
        request, "grant.revoke", "credit_grant", str(grant["id"]), account_id, before, after
    )
    return after, grant["revoked_at"] is None


async def admin_list(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return await _list(request, account_id)


async def admin_revoke(request: web.Request) -> web.Response:
    account_id, raw_id = request.match_info["account_id"], request.match_info["grant_id"]
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    idem = bodies.text_field(body, "idempotency_key", required=False)
    revoked, _ = await revoke_grant(request, account_id, raw_id, idem)
    return web.json_response(revoked)


async def account_list(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return await _list(request, who.account_id)


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "GET",
            "/accounts/{account_id}/grants",
            admin_list,
            authority.OPERATOR,
            doc=account_doc.ACCOUNT_GRANTS,
        ),
        Route(
            "POST",
            "/accounts/{account_id}/grants/{grant_id}/revoke",
            admin_revoke,
            authority.OPERATOR,
            audits("grant.revoke"),
            doc=account_doc.ADMIN_REVOKE,
        ),
    )


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route(
            "GET",
            "/grants",
            account_list,
            authority.ACCOUNT_READ,
            doc=account_doc.OWN_GRANTS,
        ),
    )
