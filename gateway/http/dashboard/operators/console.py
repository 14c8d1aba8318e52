"""The Operators pages' console: an account's people, keys, teams and end-user budgets, run
by the operator (invite, change roles, remove; issue, rotate, revoke; create teams and set
their limits; set end-user budgets).

Every form becomes the body the operator API reads and goes through the same function as
its /admin/v1 route (`add_member`, `member_role_for`, `member_remove_for`, `issue_for`,
`rotate_as_operator`, `revoke_key_for`, `create_team`, `team_quotas`, `put_budget`), so the
page can do nothing the API would refuse, and each change is audited as the operator's.
What cannot be undone (removing a member, revoking or rotating a key) asks first, on a page
of its own that says what will happen; only its button posts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing import authority
from billing.money.quotas import METRICS, WINDOWS
from billing.roles import ROLES
from gateway.errors import MeterwayError, NotFound
from gateway.http import bodies
from gateway.http.appkeys import BUDGETS, DIRECTORY, MEMBERS, SETTINGS, STORE, TEAMS
from gateway.http.dashboard.keys import (
    GRACE_WORDS,
    SCOPE_GROUPS,
    Form,
    form_quotas,
    form_text,
    key_body,
    typed_key,
)
from gateway.http.dashboard.operators.accounts import OPS, operator, target_row
from gateway.http.dashboard.organization import END_USER_WINDOWS
from gateway.http.dashboard.web import render
from gateway.http.fields import MAX_GRACE_S
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.people.membership import add_member, member_json, role_field
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import key_use_json
from gateway.http.shared.account_keys import revoke_key_for
from gateway.http.shared.end_user_budgets import budget_json, put_budget
from gateway.http.shared.operator.accounts import issue_for
from gateway.http.shared.operator.directory import member_remove_for, member_role_for
from gateway.http.shared.operator.keys import rotate_as_operator
from gateway.http.shared.teams import create_team, put_key_team, team_json, team_of, team_quotas
from gateway.http.whole import parse_whole
from gateway.stores.records import Row

QUOTA_ROWS = 3
Change = Callable[[web.Request, Row, Form], Awaitable[str]]  # a form's change, its notice
# What asks first: the sentence the confirmation says, and the post its button makes.
CONFIRMS = {
    "remove-member": ("Remove {what} from {account}? Their keys are revoked and their"
                      " sessions end on their next request.", "members/{id}/remove"),
    "revoke-key": ("Revoke the key {what} of {account}? Calls with it (and with every key"
                   " minted under it) are refused from now on.", "keys/{id}/revoke"),
    "rotate-key": ("Rotate the key {what} of {account}? A new secret is shown once; the old"
                   " one keeps working for the grace period.", "keys/{id}/rotate"),
}  # fmt: skip


def _base(account_id: str) -> str:
    return f"{OPS}/accounts/{account_id}"


async def people(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    """The account's members, keys, teams and end-user budgets, with their forms."""
    operator(request)
    row = await target_row(request)
    app = request.config_dict
    keys = await _live_keys(request, row["id"])
    teams = [team_json(t) for t in await app[TEAMS].of_account(row["id"])]
    budgets = [budget_json(b) for b in await app[BUDGETS].of_account(row["id"])]
    context: dict[str, Any] = {"windows": WINDOWS, "metrics": METRICS, "quota_rows": QUOTA_ROWS}
    context["notice"] = request.query.get("notice", "")
    return render(
        request,
        "ops_people.html",
        status=status,
        title=f"People and keys of {row['name']}",
        nav="operators",
        account=row,
        members=[member_json(m) for m in await app[MEMBERS].of_account(row["id"])],
        roles=ROLES,
        keys=_one_row_per_key(keys),
        teams=teams,
        team_names={t["id"]: t["name"] for t in teams},
        key_names={k["id"]: k["name"] for k in keys},
        budgets=budgets,
        end_user_windows=END_USER_WINDOWS,
        scope_groups=SCOPE_GROUPS,
        grace_default=app[SETTINGS].key_rotation_grace_s,
        **(context | extra),
    )


async def _live_keys(request: web.Request, account_id: str) -> list[Row]:
    """The account's keys that still work: not revoked, not past their expiry."""
    app = request.config_dict
    now = datetime.fromtimestamp(await app[STORE].now_ms() / 1000, UTC)
    rows = await app[DIRECTORY].keys_of(account_id, include_revoked=False)
    return [r for r in rows if r["expires_at"] is None or r["expires_at"] > now]


def _one_row_per_key(rows: list[Row]) -> list[dict[str, Any]]:
    """A rotated key is one row, its new secret's, naming until when the old one works."""
    keys = [key_use_json(r) | {"team_id": r.get("team_id")} for r in rows]
    by_id = {k["id"]: k for k in keys}
    replaced = {k["rotated_from"] for k in keys if k["rotated_from"] in by_id}
    return [
        k | {"previous": by_id.get(k["rotated_from"] or "")}
        for k in keys
        if k["id"] not in replaced
    ]


async def confirm(request: web.Request) -> web.Response:
    """GET: what a removal, revocation or rotation will do, with one button that does it."""
    operator(request)
    row = await target_row(request)
    action = request.match_info["action"]
    if action not in CONFIRMS:
        raise NotFound("No such action.")
    ident = request.query.get("id", "")
    what = await (_member_named if action == "remove-member" else _key_named)(request, row, ident)
    words, post = CONFIRMS[action]
    return render(
        request,
        "ops_console_confirm.html",
        title="Confirm",
        nav="operators",
        account=row,
        summary=words.format(what=what, account=row["name"]),
        action=f"{_base(row['id'])}/{post.format(id=ident)}",
        rotate=action == "rotate-key",
        grace_default=request.config_dict[SETTINGS].key_rotation_grace_s,
        max_grace=MAX_GRACE_S,
    )


async def _owned(
    find: Callable[[str], Awaitable[Row | None]], ident: str, account: Row, what: str
) -> Row:
    """The account's member or key by id: an id of no id's shape (a NUL) or another
    account's is not found."""
    found = await find(ident) if bodies.ID_SHAPE.fullmatch(ident) else None
    if found is None or found["account_id"] != account["id"]:
        raise NotFound(f"No such {what}.")
    return found


async def _member_named(request: web.Request, account: Row, member_id: str) -> str:
    found = await _owned(request.config_dict[MEMBERS].get, member_id, account, "member")
    return f"{found['email'] or found['subject'] or found['id']} ({found['role']})"


async def _key(request: web.Request, account: Row, key_id: str) -> Row:
    return await _owned(request.config_dict[DIRECTORY].key_with_use, key_id, account, "key")


async def _key_named(request: web.Request, account: Row, key_id: str) -> str:
    found = await _key(request, account, key_id)
    return f"“{found['name']}” ({found['key_prefix']}…)"


def _form(change: Change) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A form's handler: its change, then back to the page with the notice it names, or the
    page again with the refusal in words."""

    async def handler(request: web.Request) -> web.Response:
        operator(request)
        row, form = await target_row(request), await request.post()
        try:
            notice = await change(request, row, form)
        except MeterwayError as exc:
            return await people(request, status=exc.status, error=exc.message)
        raise web.HTTPSeeOther(f"{_base(row['id'])}/people?notice={notice}")

    return handler


async def invite(request: web.Request) -> web.Response:
    """Invite; the page shows the accept link to pass on (it is e-mailed when SMTP is set)."""
    operator(request)
    row, form = await target_row(request), await request.post()
    body = {"email": form_text(form, "email"), "role": form_text(form, "role") or "owner"}
    try:
        made = await add_member(request, row["id"], body, "owner")
    except MeterwayError as exc:
        return await people(request, status=exc.status, error=exc.message)
    return await people(request, notice="invited", accept_url=made["accept_url"])


async def _role(request: web.Request, row: Row, form: Form) -> str:
    role = role_field({"role": form_text(form, "role")}, "")
    await member_role_for(request, row["id"], request.match_info["member_id"], role)
    return "role"


async def _remove(request: web.Request, row: Row, form: Form) -> str:
    await member_remove_for(request, row["id"], request.match_info["member_id"])
    return "removed"


async def issue(request: web.Request) -> web.Response:
    """Issue a key (in a team when one is chosen): the secret is shown once."""
    operator(request)
    row, form = await target_row(request), await request.post()
    team = form_text(form, "team_id")
    try:
        if team:  # checked before the key exists: no key made half-way
            await team_of(request, row["id"], team)
        made = await issue_for(request, row["id"], dict(key_body(form, frozenset())))
        if team:
            await put_key_team(request, row["id"], made["id"], team)
    except MeterwayError as exc:
        return await people(request, status=exc.status, error=exc.message, typed=typed_key(form))
    back = f"{_base(row['id'])}/people"
    return render(request, "secret.html", title="New key", nav="operators", key=made, fresh=True,
                  back=back)  # fmt: skip


async def rotate(request: web.Request) -> web.Response:
    operator(request)
    row, form = await target_row(request), await request.post()
    raw = form_text(form, "grace")
    try:
        key = await _key(request, row, request.match_info["key_id"])
        grace = request.config_dict[SETTINGS].key_rotation_grace_s
        if raw:
            grace = parse_whole(raw, "grace", maximum=MAX_GRACE_S, form=True, words=GRACE_WORDS)
        made = await rotate_as_operator(request, key, grace)
    except MeterwayError as exc:
        return await people(request, status=exc.status, error=exc.message)
    back = f"{_base(row['id'])}/people"
    return render(request, "secret.html", title="Rotated key", nav="operators", key=made,
                  fresh=False, back=back)  # fmt: skip


async def _revoke(request: web.Request, row: Row, form: Form) -> str:
    await revoke_key_for(request, await _key(request, row, request.match_info["key_id"]))
    return "revoked"


async def _new_team(request: web.Request, row: Row, form: Form) -> str:
    await create_team(request, row["id"], {"name": form_text(form, "name"),
                                           "quotas": form_quotas(form)})  # fmt: skip
    return "team"


async def _team_limits(request: web.Request, row: Row, form: Form) -> str:
    team = await team_of(request, row["id"], request.match_info["team_id"])
    await team_quotas(request, team, {"quotas": form_quotas(form)})
    return "team-limits"


async def _budget(request: web.Request, row: Row, form: Form) -> str:
    """The account's default for each end user, or one end user's own; no limits removes."""
    body: dict[str, Any] = {"quotas": form_quotas(form)}
    if form_text(form, "applies_to") == "end_user":
        body["end_user"] = form_text(form, "end_user")
    await put_budget(request, row["id"], body)
    return "budget" if body["quotas"] else "budget-removed"


def add_routes(dash: web.Application) -> None:
    r, at = dash.router, "/operators/accounts/{account_id}"
    declare(
        r,
        Route(
            "GET",
            f"{at}/people",
            people,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("An account's members, keys, teams, budgets"),
        ),
        Route(
            "GET",
            f"{at}/people/confirm/{{action}}",
            confirm,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("A removal, revocation or rotation read back, with Confirm"),
        ),
        Route(
            "POST",
            f"{at}/members",
            invite,
            authority.OPERATOR_PAGE,
            audits("member.invite"),
            doc=dashboard_doc.page("Invite someone; the accept link is shown"),
        ),
        Route(
            "POST",
            f"{at}/members/{{member_id}}/role",
            _form(_role),
            authority.OPERATOR_PAGE,
            audits("member.role"),
            doc=dashboard_doc.page("Change a member's role"),
        ),
        Route(
            "POST",
            f"{at}/members/{{member_id}}/remove",
            _form(_remove),
            authority.OPERATOR_PAGE,
            audits("member.remove"),
            doc=dashboard_doc.page("Remove a member"),
        ),
        Route(
            "POST",
            f"{at}/keys",
            issue,
            authority.OPERATOR_PAGE,
            audits("key.create"),
            doc=dashboard_doc.page("Issue a key; its secret is shown once"),
        ),
        Route(
            "POST",
            f"{at}/keys/{{key_id}}/rotate",
            rotate,
            authority.OPERATOR_PAGE,
            audits("key.rotate"),
            doc=dashboard_doc.page("Rotate a key"),
        ),
        Route(
            "POST",
            f"{at}/keys/{{key_id}}/revoke",
            _form(_revoke),
            authority.OPERATOR_PAGE,
            audits("key.revoke"),
            doc=dashboard_doc.page("Revoke a key"),
        ),
        Route(
            "POST",
            f"{at}/teams",
            _form(_new_team),
            authority.OPERATOR_PAGE,
            audits("team.create"),
            doc=dashboard_doc.page("Create a team with its budget"),
        ),
        Route(
            "POST",
            f"{at}/teams/{{team_id}}/quotas",
            _form(_team_limits),
            authority.OPERATOR_PAGE,
            audits("team.quotas"),
            doc=dashboard_doc.page("Set a team's budget"),
        ),
        Route(
            "POST",
            f"{at}/end-users",
            _form(_budget),
            authority.OPERATOR_PAGE,
            audits("end_user_budget.set"),
            doc=dashboard_doc.page("Set or remove an end-user budget"),
        ),
    )
