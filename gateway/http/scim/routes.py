"""/scim/v2's routes: Users and Groups (list and filter, .search, create, read, replace,
PATCH, delete) and the discovery documents, each answered as RFC 7644 says (application/
scim+json, an ETag of the resource's version, If-Match refused with 412 when it names an
older one). Every change writes its audit record; the use cases live in services/members/scim/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from billing import authority
from gateway.errors import InvalidRequest, NotFound, PreconditionFailed, ScimInvalid
from gateway.http import audited, key_grants
from gateway.http.appkeys import SCIM
from gateway.http.openapi.paths import scim as doc
from gateway.http.people.membership import member_json
from gateway.http.routing import Route, audits, declare, unaudited
from gateway.http.scim.auth import ACCOUNT, base_url, directory, scim_auth
from gateway.http.whole import INT64_MAX, json_whole, parse_whole
from gateway.llm.reading.calls import parse_json
from gateway.services.members.scim import discovery, groups, people
from gateway.services.members.scim.placement import Placed
from gateway.services.members.scim.resources import (
    Query,
    group_json,
    listed,
    projected,
    user_json,
    version_of,
)
from gateway.services.members.scim.resources import query_of as read_query
from gateway.stores.records import Row

CONTENT = "application/scim+json"
SEARCH = unaudited("a search: it reads")
PLACED = "member.role"  # a group mapped to a role changes a member's role


def answer(body: Mapping[str, Any], status: int = 200, row: Row | None = None) -> web.Response:
    headers = {"ETag": version_of(row)} if row is not None else None
    return web.json_response(dict(body), status=status, content_type=CONTENT, headers=headers)


def _checked(request: web.Request, row: Row) -> Row:
    """The resource, unless If-Match names another version of it (412)."""
    wanted = request.headers.get("If-Match")
    if wanted is None or wanted.strip() == "*":
        return row
    have = version_of(row)
    named = {t.strip() for t in wanted.split(",")}
    if have not in named and have.removeprefix("W/") not in named:
        raise PreconditionFailed(f"The resource is at version {have}, not {wanted}.")
    return row


async def _body(request: web.Request) -> dict[str, Any]:
    return parse_json(await request.read())


async def _user(request: web.Request) -> Row:
    row = await request.config_dict[SCIM].user(request[ACCOUNT], request.match_info["user_id"])
    if row is None:
        raise NotFound("No such user in this directory.")
    return row


async def _group(request: web.Request) -> Row:
    row = await request.config_dict[SCIM].group(request[ACCOUNT], request.match_info["group_id"])
    if row is None:
        raise NotFound("No such group in this directory.")
    return row


async def _groups_by_user(request: web.Request) -> dict[str, list[Row]]:
    found: dict[str, list[Row]] = {}
    for group in await request.config_dict[SCIM].groups(request[ACCOUNT]):
        for user_id in group["members"]:
            found.setdefault(user_id, []).append(group)
    return found


async def _user_json(request: web.Request, row: Row) -> dict[str, Any]:
    return user_json(row, (await _groups_by_user(request)).get(row["id"], []), base_url(request))


def _said(row: Row) -> dict[str, Any]:
    """A user as the audit log keeps it."""
    keys = ("user_name", "external_id", "active", "email", "member_id")
    names = ("userName", "externalId", "active", "email", "member_id")
    return {n: row[k] for n, k in zip(names, keys, strict=True)}


async def _placed(request: web.Request, placed: Sequence[Placed | None]) -> None:
    for moved in placed:
        if moved is None or moved.before["role"] == moved.after["role"]:
            continue
        await key_grants.followed(request, moved.fitted)
        before, after = member_json(moved.before), member_json(moved.after)
        await audited.record(
            request, PLACED, "member", after["id"], request[ACCOUNT], before, after
        )


def _query(request: web.Request) -> dict[str, Any]:
    return dict(request.query)


def _whole(value: object, name: str) -> int:
    """A paging number through the one parser (http/whole.py): ASCII digits, or a JSON
    integer in a .search body; SCIM's 400 invalidValue otherwise."""
    try:
        if isinstance(value, str):
            return parse_whole(value, name, minimum=-INT64_MAX)
        return json_whole(value, name, minimum=-INT64_MAX)
    except InvalidRequest as exc:
        raise ScimInvalid(exc.message, "invalidValue") from exc


def query_of(params: Mapping[str, Any]) -> Query:
    """A list's parameters, its paging numbers read by the one parser."""
    numbers = {n: _whole(params[n], n) for n in ("startIndex", "count") if n in params}
    return read_query({**params, **numbers})


async def _users(request: web.Request) -> list[dict[str, Any]]:
    by_user, base = await _groups_by_user(request), base_url(request)
    rows = await request.config_dict[SCIM].users(request[ACCOUNT])
    return [user_json(r, by_user.get(r["id"], []), base) for r in rows]


async def _groups(request: web.Request) -> list[dict[str, Any]]:
    base = base_url(request)
    return [group_json(r, base) for r in await request.config_dict[SCIM].groups(request[ACCOUNT])]


async def list_users(request: web.Request, params: Mapping[str, Any] | None = None) -> web.Response:
    query = query_of(_query(request) if params is None else params)
    return answer(listed(await _users(request), query))


async def search_all(request: web.Request) -> web.Response:
    """POST /.search: users and groups alike."""
    query = query_of(await _body(request))
    return answer(listed(await _users(request) + await _groups(request), query))


async def search_users(request: web.Request) -> web.Response:
    return await list_users(request, await _body(request))


async def get_user(request: web.Request) -> web.Response:
    row = await _user(request)
    return answer(projected(await _user_json(request, row), query_of(_query(request))), row=row)


async def create_user(request: web.Request) -> web.Response:
    changed = await people.create(directory(request), request[ACCOUNT], await _body(request))
    row = changed.row
    await audited.record(
        request, "scim.user_create", "scim_user", row["id"], row["account_id"], None, _said(row)
    )
    return answer(await _user_json(request, row), 201, row)


async def _updated(request: web.Request, before: Row, changed: people.Changed) -> web.Response:
    row = changed.row
    action = f"scim.user_{changed.turned}" if changed.turned else "scim.user_update"
    await audited.record(
        request, action, "scim_user", row["id"], row["account_id"], _said(before), _said(row)
    )
    await _placed(request, [changed.placed])
    return answer(await _user_json(request, row), row=row)


async def replace_user(request: web.Request) -> web.Response:
    before = _checked(request, await _user(request))
    body = await _body(request)
    changed = await people.update(directory(request), before, body)
    return await _updated(request, before, changed)


def _operations(body: Mapping[str, Any]) -> list[object]:
    ops = body.get("Operations", body.get("operations"))
    if not isinstance(ops, list):
        raise ScimInvalid("A PATCH carries its 'Operations' as a list.", "invalidSyntax")
    return ops


async def patch_user(request: web.Request) -> web.Response:
    before = _checked(request, await _user(request))
    ops = _operations(await _body(request))
    changed = await people.patch(directory(request), before, ops)
    return await _updated(request, before, changed)


async def delete_user(request: web.Request) -> web.Response:
    row = _checked(request, await _user(request))
    await people.delete(directory(request), row)
    await audited.record(
        request, "scim.user_delete", "scim_user", row["id"], row["account_id"], _said(row), None
    )
    return web.Response(status=204)


async def list_groups(
    request: web.Request, params: Mapping[str, Any] | None = None
) -> web.Response:
    query = query_of(_query(request) if params is None else params)
    base = base_url(request)
    rows = await request.config_dict[SCIM].groups(request[ACCOUNT])
    return answer(listed([group_json(r, base) for r in rows], query))


async def search_groups(request: web.Request) -> web.Response:
    return await list_groups(request, await _body(request))


async def get_group(request: web.Request) -> web.Response:
    row = await _group(request)
    resource = group_json(row, base_url(request))
    return answer(projected(resource, query_of(_query(request))), row=row)


def _group_said(row: Row, changed: groups.Changed | None = None) -> dict[str, Any]:
    out = {"displayName": row["display_name"], "team_id": row["team_id"]}
    if changed is None:
        return out | {"members": list(row["members"])}
    return out | {"joined": changed.joined, "left": changed.left}


async def create_group(request: web.Request) -> web.Response:
    changed = await groups.create(directory(request), request[ACCOUNT], await _body(request))
    row = changed.row
    await audited.record(
        request,
        "scim.group_create",
        "scim_group",
        row["id"],
        row["account_id"],
        None,
        _group_said(row, changed),
    )
    await _placed(request, changed.placed)
    return answer(group_json(row, base_url(request)), 201, row)


async def _group_updated(
    request: web.Request, before: Row, changed: groups.Changed
) -> web.Response:
    row = changed.row
    after = _group_said(row, changed)
    said = {
        "displayName": before["display_name"],
        "team_id": before["team_id"],
        "joined": [],
        "left": [],
    }
    await audited.record(
        request, "scim.group_update", "scim_group", row["id"], row["account_id"], said, after
    )
    await _placed(request, changed.placed)
    return answer(group_json(row, base_url(request)), row=row)


async def replace_group(request: web.Request) -> web.Response:
    before = _checked(request, await _group(request))
    body = await _body(request)
    return await _group_updated(
        request, before, await groups.update(directory(request), before, body)
    )


async def patch_group(request: web.Request) -> web.Response:
    before = _checked(request, await _group(request))
    ops = _operations(await _body(request))
    return await _group_updated(
        request, before, await groups.patch(directory(request), before, ops)
    )


async def delete_group(request: web.Request) -> web.Response:
    row = _checked(request, await _group(request))
    placed = await groups.delete(directory(request), row)
    await audited.record(
        request,
        "scim.group_delete",
        "scim_group",
        row["id"],
        row["account_id"],
        _group_said(row),
        None,
    )
    await _placed(request, placed)
    return web.Response(status=204)


def _listed(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return listed(resources, query_of({}))


async def config(request: web.Request) -> web.Response:
    return answer(discovery.service_provider_config(base_url(request)))


async def schemas(request: web.Request) -> web.Response:
    return answer(_listed(discovery.schemas(base_url(request))))


async def schema(request: web.Request) -> web.Response:
    wanted = request.match_info["schema_id"]
    found = [s for s in discovery.schemas(base_url(request)) if s["id"] == wanted]
    if not found:
        raise NotFound("No such schema.")
    return answer(found[0])


async def resource_types(request: web.Request) -> web.Response:
    return answer(_listed(discovery.resource_types(base_url(request))))


async def resource_type(request: web.Request) -> web.Response:
    wanted = request.match_info["type_id"]
    found = [t for t in discovery.resource_types(base_url(request)) if t["id"] == wanted]
    if not found:
        raise NotFound("No such resource type.")
    return answer(found[0])


USER_CHANGE = audits("scim.user_update", "scim.user_deactivate", "scim.user_reactivate", PLACED)
GROUP_CHANGE = audits("scim.group_update", PLACED)


def _resource_routes(kind: str, handlers: Sequence[Any], docs: Mapping[str, Any]) -> list[Route]:
    listing, search, create, get, replace, patch, delete = handlers
    one, a = f"/{kind}s/{{{kind.lower()}_id}}", authority.SCIM
    made = audits(f"scim.{kind.lower()}_create", *((PLACED,) if kind == "Group" else ()))
    deleted = audits(f"scim.{kind.lower()}_delete", *((PLACED,) if kind == "Group" else ()))
    changed = USER_CHANGE if kind == "User" else GROUP_CHANGE
    return [
        Route("GET", f"/{kind}s", listing, a, doc=docs["list"]),
        Route("POST", f"/{kind}s/.search", search, a, SEARCH, doc=docs["search"]),
        Route("POST", f"/{kind}s", create, a, made, doc=docs["create"]),
        Route("GET", one, get, a, doc=docs["get"]),
        Route("PUT", one, replace, a, changed, doc=docs["replace"]),
        Route("PATCH", one, patch, a, changed, doc=docs["patch"]),
        Route("DELETE", one, delete, a, deleted, doc=docs["delete"]),
    ]


def add_routes(app: web.Application) -> None:
    scim = web.Application(middlewares=[scim_auth])
    users = (list_users, search_users, create_user, get_user, replace_user, patch_user, delete_user)
    group = (
        list_groups,
        search_groups,
        create_group,
        get_group,
        replace_group,
        patch_group,
        delete_group,
    )
    declare(
        scim.router,
        *_resource_routes("User", users, doc.USERS),
        *_resource_routes("Group", group, doc.GROUPS),
        Route("POST", "/.search", search_all, authority.SCIM, SEARCH, doc=doc.SEARCH_ALL),
        Route("GET", "/ServiceProviderConfig", config, authority.SCIM, doc=doc.CONFIG),
        Route("GET", "/Schemas", schemas, authority.SCIM, doc=doc.SCHEMAS),
        Route("GET", "/Schemas/{schema_id}", schema, authority.SCIM, doc=doc.SCHEMA),
        Route("GET", "/ResourceTypes", resource_types, authority.SCIM, doc=doc.TYPES),
        Route("GET", "/ResourceTypes/{type_id}", resource_type, authority.SCIM, doc=doc.TYPE),
    )
    app.add_subapp("/scim/v2", scim)
