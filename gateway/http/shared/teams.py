"""Teams over HTTP, for the operator (any account) and an account's own callers: create and
list an organization's teams, set a team's quotas (shared by its keys, any window and
metric a key quota takes), and put a key in a team (`{"team_id": null}`: in none)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.money.quotas import parse_quotas
from gateway.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from gateway.http import audited, bodies
from gateway.http.appkeys import LEDGER, STORE, TEAMS
from gateway.http.openapi.paths import organization as org_doc
from gateway.http.principal import ACCOUNT_READ, ORG_WRITE, calling_key, no_looser, require
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import json_object
from gateway.llm.reading.calls import parse_json
from gateway.services.keys.teams import assign_key, set_team_quotas
from gateway.stores.errors import DuplicateTeam
from gateway.stores.records import Row


def team_json(row: Row) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "object": "team",
        "account_id": row["account_id"],
        "name": row["name"],
        "quotas": row["quotas"],
        "tags": json_object(row.get("tags")),
        "created_at": row["created_at"].isoformat(),
    }
    return out | ({"keys": row["keys"]} if "keys" in row else {})


async def team_of(request: web.Request, account_id: str | None, team_id: str) -> Row:
    """A team; NotFound when it is another account's (`account_id` given), or no id's shape."""
    if not bodies.ID_SHAPE.fullmatch(team_id):
        raise NotFound("No such team.")
    row = await request.config_dict[TEAMS].get(team_id)
    if row is None or (account_id is not None and row["account_id"] != account_id):
        raise NotFound("No such team.")
    return row


async def key_of(request: web.Request, account_id: str | None, key_id: str) -> Row:
    """A key; NotFound when it is another account's (`account_id` given), or no id's shape."""
    row = None
    if bodies.ID_SHAPE.fullmatch(key_id):
        row = await request.config_dict[LEDGER].get_key(key_id)
    if row is None or (account_id is not None and row["account_id"] != account_id):
        raise NotFound("No such key.")
    return row


async def _team(request: web.Request, account_id: str | None) -> Row:
    return await team_of(request, account_id, request.match_info["team_id"])


async def create_team(request: web.Request, account_id: str, body: dict[str, Any]) -> Row:
    """A new team of the account, `{"name", "quotas"}` (the API's body or the dashboard's form)."""
    name, quotas = bodies.text_field(body, "name"), bodies.quotas_field(body)
    assert name is not None
    try:
        row = await request.config_dict[TEAMS].create(account_id, name.strip(), quotas)
    except DuplicateTeam as exc:
        raise Conflict(f"This organization already has a team named {name!r}.") from exc
    await audited.record(
        request, "team.create", "team", row["id"], account_id, None, team_json(row)
    )
    return row


async def _create(request: web.Request, account_id: str) -> web.Response:
    row = await create_team(request, account_id, parse_json(await request.read()))
    return web.json_response(team_json(row), status=201)


async def _list(request: web.Request, account_id: str) -> web.Response:
    rows = await request.config_dict[TEAMS].of_account(account_id)
    return web.json_response({"object": "list", "data": [team_json(r) for r in rows]})


async def team_quotas(request: web.Request, team: Row, body: dict[str, Any]) -> Row:
    """Set a team's quotas from `{"quotas": [...]}`; the team as it is now. A key in the
    team only tightens them: they are its own limits."""
    app, quotas = request.config_dict, bodies.quotas_field(body)
    key = await calling_key(request)
    if key is not None and key.get("team_id") == team["id"]:
        no_looser(parse_quotas(team["quotas"]), quotas)
    row = await set_team_quotas(app[TEAMS], app[STORE], team, quotas)
    await audited.record(
        request,
        "team.quotas",
        "team",
        team["id"],
        team["account_id"],
        team_json(team),
        team_json(row),
    )
    return row


async def _quotas(request: web.Request, team: Row) -> web.Response:
    row = await team_quotas(request, team, parse_json(await request.read()))
    return web.json_response(team_json(row))


async def put_key_team(
    request: web.Request, account_id: str | None, key_id: str, wanted: object
) -> None:
    """Put a key in a team (`wanted` None: in none); the key and team of one account."""
    app = request.config_dict
    key = await key_of(request, account_id, key_id)
    if wanted is not None and not isinstance(wanted, str):
        raise InvalidRequest("'team_id' must be a team's id or null.", param="team_id")
    team = None if wanted is None else await app[TEAMS].get(wanted)
    if wanted is not None and (team is None or team["account_id"] != key["account_id"]):
        raise NotFound("No such team in this key's organization.")
    await _within_own_team(request, key_id, wanted)
    await assign_key(app[TEAMS], app[STORE], key, team)
    await audited.record(
        request,
        "key.team",
        "key",
        key_id,
        key["account_id"],
        {"team_id": key.get("team_id")},
        {"team_id": wanted},
    )


async def _within_own_team(request: web.Request, key_id: str, wanted: str | None) -> None:
    """A calling key may join a team (more limits) but never leave or change its own, and a
    key in a team puts keys only in its team: neither it nor a key it mints leaves the
    team's quotas."""
    caller = await calling_key(request)
    if caller is None:
        return
    if caller["id"] == key_id and (caller.get("team_id") is not None or wanted is None):
        raise PermissionDenied("A key never leaves or changes its own team.", param="team_id")
    if caller.get("team_id") is not None and wanted != caller["team_id"]:
        raise PermissionDenied("A key in a team puts keys only in its own team.", param="team_id")


async def _key_team(request: web.Request, account_id: str | None) -> web.Response:
    """PUT .../keys/{key_id}/team {"team_id": ...}."""
    key_id = request.match_info["key_id"]
    wanted = parse_json(await request.read()).get("team_id")
    await put_key_team(request, account_id, key_id, wanted)
    return web.json_response({"object": "api_key_team", "key_id": key_id, "team_id": wanted})


async def _account(request: web.Request) -> str:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return account_id


async def admin_create(request: web.Request) -> web.Response:
    return await _create(request, await _account(request))


async def admin_list(request: web.Request) -> web.Response:
    return await _list(request, await _account(request))


async def admin_quotas(request: web.Request) -> web.Response:
    return await _quotas(request, await _team(request, None))


async def admin_key_team(request: web.Request) -> web.Response:
    return await _key_team(request, None)


async def account_create(request: web.Request) -> web.Response:
    return await _create(request, require(request, ORG_WRITE).account_id)


async def account_list(request: web.Request) -> web.Response:
    return await _list(request, require(request, ACCOUNT_READ).account_id)


async def account_quotas(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    return await _quotas(request, await _team(request, who.account_id))


async def account_key_team(request: web.Request) -> web.Response:
    return await _key_team(request, require(request, ORG_WRITE).account_id)


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "GET",
            "/accounts/{account_id}/teams",
            admin_list,
            authority.OPERATOR,
            doc=org_doc.list_teams,
        ),
        Route(
            "POST",
            "/accounts/{account_id}/teams",
            admin_create,
            authority.OPERATOR,
            audits("team.create"),
            doc=org_doc.create_team,
        ),
        Route(
            "PUT",
            "/teams/{team_id}/quotas",
            admin_quotas,
            authority.OPERATOR,
            audits("team.quotas"),
            doc=org_doc.team_quotas,
        ),
        Route(
            "PUT",
            "/keys/{key_id}/team",
            admin_key_team,
            authority.OPERATOR,
            audits("key.team"),
            doc=org_doc.key_team,
        ),
    )


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/teams", account_list, authority.ACCOUNT_READ, doc=org_doc.list_teams),
        Route(
            "POST",
            "/teams",
            account_create,
            authority.ORG_WRITE,
            audits("team.create"),
            doc=org_doc.create_team,
        ),
        Route(
            "PUT",
            "/teams/{team_id}/quotas",
            account_quotas,
            authority.ORG_WRITE,
            audits("team.quotas"),
            doc=org_doc.team_quotas,
        ),
        Route(
            "PUT",
            "/keys/{key_id}/team",
            account_key_team,
            authority.ORG_WRITE,
            audits("key.team"),
            doc=org_doc.key_team,
        ),
    )
