"""Tags for chargeback over HTTP, for the operator (any account) and an organization's
owner or admin (the authority that sets a team's quotas): replace a key's or a team's tags
(`{"tags": {...}}`). A key's effective tags are its team's overlaid by its own; the settler
copies them onto each debit settled after the change (earlier rows keep theirs)."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.http import audited, bodies
from gateway.http.appkeys import LEDGER, TEAMS
from gateway.http.openapi.paths import organization as org_doc
from gateway.http.principal import ORG_WRITE, require
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import key_json
from gateway.http.shared.teams import key_of, team_json, team_of
from gateway.llm.reading.calls import parse_json


async def _key_tags(request: web.Request, account_id: str | None) -> web.Response:
    row = await key_of(request, account_id, request.match_info["key_id"])
    tags = bodies.tags_field(parse_json(await request.read()))
    now = bodies.found(
        await request.config_dict[LEDGER].set_key_tags(row["id"], tags), "No such key."
    )
    before, after = key_json(row), key_json(now)
    await audited.record(request, "key.tags", "key", row["id"], row["account_id"], before, after)
    return web.json_response(after)


async def _team_tags(request: web.Request, account_id: str | None) -> web.Response:
    team = await team_of(request, account_id, request.match_info["team_id"])
    tags = bodies.tags_field(parse_json(await request.read()))
    now = bodies.found(await request.config_dict[TEAMS].set_tags(team["id"], tags), "No such team.")
    before, after = team_json(team), team_json(now)
    await audited.record(
        request, "team.tags", "team", team["id"], team["account_id"], before, after
    )
    return web.json_response(after)


async def admin_key_tags(request: web.Request) -> web.Response:
    return await _key_tags(request, None)


async def admin_team_tags(request: web.Request) -> web.Response:
    return await _team_tags(request, None)


async def account_key_tags(request: web.Request) -> web.Response:
    return await _key_tags(request, require(request, ORG_WRITE).account_id)


async def account_team_tags(request: web.Request) -> web.Response:
    return await _team_tags(request, require(request, ORG_WRITE).account_id)


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "PUT",
            "/keys/{key_id}/tags",
            admin_key_tags,
            authority.OPERATOR,
            audits("key.tags"),
            doc=org_doc.key_tags,
        ),
        Route(
            "PUT",
            "/teams/{team_id}/tags",
            admin_team_tags,
            authority.OPERATOR,
            audits("team.tags"),
            doc=org_doc.team_tags,
        ),
    )


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route(
            "PUT",
            "/keys/{key_id}/tags",
            account_key_tags,
            authority.ORG_WRITE,
            audits("key.tags"),
            doc=org_doc.key_tags,
        ),
        Route(
            "PUT",
            "/teams/{team_id}/tags",
            account_team_tags,
            authority.ORG_WRITE,
            audits("team.tags"),
            doc=org_doc.team_tags,
        ),
    )
