"""The Organization pages: members (invite, change role, remove), teams (create, their keys,
their quotas) and end-user budgets (the organization's default, one end user's own).

Anyone who reads the account (`account:read`) sees them, as the account API lists them;
only owners and admins (`org:write`) see and use the forms, and only an owner makes,
changes or removes owners. Every form becomes the body the account API reads and goes
through the same function as its route (`invite_for`, `set_role_for`, `remove_for`,
`create_team`, `team_quotas`, `put_budget`); ids come from the caller's own account only,
so another organization's member, team or key answers 404.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from billing import authority
from billing.money.quotas import METRICS, WINDOWS
from gateway.errors import MeterwayError
from gateway.http.appkeys import BUDGETS, SIGNIN_TICKETS, TEAMS
from gateway.http.dashboard.keys import Form, form_quotas, form_text
from gateway.http.dashboard.people.session import BASE, account_principal, digest
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.principal import ACCOUNT_READ, KEYS_READ, ORG_WRITE, Principal
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.account_keys import visible_keys
from gateway.http.shared.end_user_budgets import budget_json, put_budget
from gateway.http.shared.members import (
    grantable,
    invite_for,
    members_of,
    remove_for,
    set_role_for,
)
from gateway.http.shared.teams import create_team, team_json, team_of, team_quotas

END_USER_WINDOWS = tuple(w for w in WINDOWS if w != "total")  # an end user's windows expire
QUOTA_ROWS = 3
SHOWN_TTL_S = 300  # the invite form's accept link waits this long for its page
Page = Callable[..., Awaitable[web.Response]]
Change = Callable[[web.Request, Principal, Form], Awaitable[str]]  # a form's change, its notice
Handler = Callable[[web.Request], Awaitable[web.Response]]


def _reader(request: web.Request) -> Principal:
    who = account_principal(request)
    who.require(ACCOUNT_READ)
    return who


def _writer(request: web.Request) -> Principal:
    who = account_principal(request)
    who.require(ORG_WRITE)
    return who


def _page(
    request: web.Request, who: Principal, template: str, title: str, **extra: Any
) -> web.Response:
    context: dict[str, Any] = {"windows": WINDOWS, "metrics": METRICS, "quota_rows": QUOTA_ROWS}
    context |= {"can_write": who.has(ORG_WRITE), "notice": request.query.get("notice", "")}
    return render(request, template, title=title, nav="organization", **(context | extra))


async def members_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    who = _reader(request)
    rows = await members_of(request, who)
    editable = set(grantable(who))
    return _page(
        request,
        who,
        "org_members.html",
        "Members",
        status=status,
        members=[{**m, "editable": m["role"] in editable} for m in rows],
        roles=grantable(who),
        accept_url=await _shown_link(request, who),
        **extra,
    )


async def _team_keys(request: web.Request, who: Principal) -> dict[str, list[dict[str, Any]]]:
    """The caller's visible keys by team id (none without keys:read)."""
    if not who.has(KEYS_READ):
        return {}
    by_team: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for k in await visible_keys(request, who):
        if k.get("team_id"):
            by_team[k["team_id"]].append({"id": k["id"], "name": k["name"]})
    return by_team


async def _key_names(request: web.Request, who: Principal) -> dict[str, str]:
    """The caller's visible keys' names by id: a budget names its key, not its id."""
    if not who.has(KEYS_READ):
        return {}
    return {k["id"]: k["name"] for k in await visible_keys(request, who)}


async def teams_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    who = _reader(request)
    rows = await request.config_dict[TEAMS].of_account(who.account_id)
    return _page(
        request,
        who,
        "org_teams.html",
        "Teams",
        status=status,
        teams=[team_json(r) for r in rows],
        team_keys=await _team_keys(request, who),
        can_keys=who.has(KEYS_READ),
        **extra,
    )


async def budgets_page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    who = _reader(request)
    rows = [budget_json(r) for r in await request.config_dict[BUDGETS].of_account(who.account_id)]
    default = next((b for b in rows if b["applies_to"] == "organization"), None)
    return _page(
        request,
        who,
        "org_budgets.html",
        "End-user budgets",
        status=status,
        default=default,
        budgets=[b for b in rows if b["applies_to"] != "organization"],
        key_names=await _key_names(request, who),
        windows=END_USER_WINDOWS,
        **extra,
    )


def _form(page: Page, path: str, change: Change) -> Handler:
    """A form's handler: its change, for owners and admins; back to the page with the
    notice the change names, or the page again with the refusal in words."""

    async def handler(request: web.Request) -> web.Response:
        who, form = _writer(request), await request.post()
        try:
            notice = await change(request, who, form)
        except MeterwayError as exc:
            return await page(request, status=exc.status, error=exc.message)
        raise web.HTTPSeeOther(f"{BASE}/{path}?notice={notice}")

    return handler


async def _invite(request: web.Request, who: Principal, form: Form) -> str:
    """Invite; the page after the redirect shows the accept link to pass on, once. The
    link itself never goes in an address (logs, history): a one-use note of it in Redis,
    for this organization's pages only, does, under a random id."""
    body = {"email": form_text(form, "email"), "role": form_text(form, "role")}
    row = await invite_for(request, who, body)
    note = secrets.token_urlsafe(16)
    kept: dict[str, object] = {"account_id": who.account_id, "url": row["accept_url"]}
    await request.config_dict[SIGNIN_TICKETS].put(digest(note), kept, SHOWN_TTL_S)
    return f"invited&shown={note}"


async def _shown_link(request: web.Request, who: Principal) -> str:
    """The accept link the invite form just made, taken once."""
    note = request.query.get("shown", "")
    kept = await request.config_dict[SIGNIN_TICKETS].take(digest(note)) if note else None
    if kept is None or kept.get("account_id") != who.account_id:
        return ""
    return str(kept["url"])


async def _change_role(request: web.Request, who: Principal, form: Form) -> str:
    await set_role_for(request, who, request.match_info["member_id"], form_text(form, "role"))
    return "role"


async def _remove(request: web.Request, who: Principal, form: Form) -> str:
    await remove_for(request, who, request.match_info["member_id"])
    return "removed"


async def _new_team(request: web.Request, who: Principal, form: Form) -> str:
    body = {"name": form_text(form, "name"), "quotas": form_quotas(form)}
    await create_team(request, who.account_id, body)
    return "created"


async def _team_quotas(request: web.Request, who: Principal, form: Form) -> str:
    team = await team_of(request, who.account_id, request.match_info["team_id"])
    await team_quotas(request, team, {"quotas": form_quotas(form)})
    return "quotas"


def _budget_body(form: Form) -> dict[str, Any]:
    """The organization's default (no end user named), one end user's budget or a key's
    default (removed from this page; set by the API)."""
    body: dict[str, Any] = {"quotas": form_quotas(form)}
    applies_to = form_text(form, "applies_to")
    if applies_to == "end_user":
        body["end_user"] = form_text(form, "end_user")
    elif applies_to == "key":
        body["key_id"] = form_text(form, "key_id")
    return body


async def _budget(request: web.Request, who: Principal, form: Form) -> str:
    body = _budget_body(form)
    await put_budget(request, who.account_id, body)
    return "budget" if body["quotas"] else "budget-removed"


def add_routes(dash: web.Application) -> None:
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "/members",
            members_page,
            authority.ACCOUNT_READ,
            doc=dashboard_doc.page("Members: invite, change roles, remove"),
        ),
        Route(
            "POST",
            "/members",
            _form(members_page, "members", _invite),
            authority.ORG_WRITE,
            audits("member.invite"),
            doc=dashboard_doc.page("Invite someone by e-mail with a role"),
        ),
        Route(
            "POST",
            "/members/{member_id}/role",
            _form(members_page, "members", _change_role),
            authority.ORG_WRITE,
            audits("member.role"),
            doc=dashboard_doc.page("Change a member's role"),
        ),
        Route(
            "POST",
            "/members/{member_id}/remove",
            _form(members_page, "members", _remove),
            authority.ORG_WRITE,
            audits("member.remove"),
            doc=dashboard_doc.page("Remove a member"),
        ),
        Route(
            "GET",
            "/teams",
            teams_page,
            authority.ACCOUNT_READ,
            doc=dashboard_doc.page("Teams, their keys and their limits"),
        ),
        Route(
            "POST",
            "/teams",
            _form(teams_page, "teams", _new_team),
            authority.ORG_WRITE,
            audits("team.create"),
            doc=dashboard_doc.page("Create a team"),
        ),
        Route(
            "POST",
            "/teams/{team_id}/quotas",
            _form(teams_page, "teams", _team_quotas),
            authority.ORG_WRITE,
            audits("team.quotas"),
            doc=dashboard_doc.page("Set a team's limits"),
        ),
        Route(
            "GET",
            "/end-users",
            budgets_page,
            authority.ACCOUNT_READ,
            doc=dashboard_doc.page("End-user budgets: the organization's default, one's own"),
        ),
        Route(
            "POST",
            "/end-users",
            _form(budgets_page, "end-users", _budget),
            authority.ORG_WRITE,
            audits("end_user_budget.set"),
            doc=dashboard_doc.page("Set or remove an end-user budget"),
        ),
    )
