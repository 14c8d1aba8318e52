"""SCIM resources as JSON: a stored user or group as a directory reads it (`user_json`,
`group_json`), a directory's body as what is stored (`user_fields`), and the query
parameters every list answers to (`filter`, `startIndex`, `count`, `attributes`,
`excludedAttributes`). What a directory sends beyond the columns (name, e-mails, the
enterprise extension) is kept as sent and read back; a password is never kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from billing.members.scim_filter import ScimSyntax, attr_path, get_ci, matches, parse_filter
from gateway.errors import ScimInvalid
from gateway.services.members.scim.discovery import CANONICAL, GROUP, LIST, MAX_RESULTS, USER
from gateway.stores.records import Row

COLUMNS = frozenset({"schemas", "id", "meta", "username", "externalid", "active", "groups"})
# A directory's user holds what it was sent; `active` is read from its column when given.
NEVER_KEPT = frozenset({"password"})
ALWAYS = ("schemas", "id")


def version_of(row: Row) -> str:
    """The ETag of a resource's version (meta.version, and the ETag header)."""
    return f'W/"{row["version"]}"'


def _canonical(data: Mapping[str, Any]) -> dict[str, Any]:
    """Names the schema spells its way; sub-attributes of a complex value too."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        key = CANONICAL.get(name.lower(), name)
        if isinstance(value, Mapping) and not name.lower().startswith("urn:"):
            value = _canonical(value)
        elif isinstance(value, list):
            value = [_canonical(v) if isinstance(v, Mapping) else v for v in value]
        out[key] = value
    return out


def as_bool(value: object) -> bool:
    """`active` as a directory sends it: a boolean, or Entra ID's "True"/"False"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimInvalid("'active' is true or false.", "invalidValue")


def _text(body: Mapping[str, Any], name: str, required: bool) -> str | None:
    value = get_ci(body, name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ScimInvalid(f"'{name}' is a non-empty string.", "invalidValue")
    return value.strip()


def user_email(user_name: str, attributes: Mapping[str, Any]) -> str:
    """The address a member is known by: the primary e-mail, else the first, else the
    userName (Okta's and Entra ID's are the person's address)."""
    emails = [e for e in attributes.get("emails") or [] if isinstance(e, Mapping)]
    primary = [e for e in emails if e.get("primary") is True] + emails
    values = [str(e["value"]) for e in primary if isinstance(e.get("value"), str) and e["value"]]
    return (values[0] if values else user_name).lower()


def user_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A User body as stored: its columns and the rest of its attributes."""
    user_name = _text(body, "userName", True)
    assert user_name is not None
    external_id = _text(body, "externalId", False)
    active = get_ci(body, "active")
    rest = {k: v for k, v in body.items() if k.lower() not in COLUMNS | NEVER_KEPT}
    attributes = _canonical(rest)
    if active is not None:  # kept to say it was given: a person without it is active
        attributes["active"] = as_bool(active)
    return {
        "user_name": user_name,
        "external_id": external_id,
        "active": True if active is None else as_bool(active),
        "email": user_email(user_name, attributes),
        "attributes": attributes,
    }


def group_fields(body: Mapping[str, Any]) -> tuple[str, str | None, list[str]]:
    """A Group body: its displayName, externalId and the ids of its members."""
    name = _text(body, "displayName", True)
    assert name is not None
    members = get_ci(body, "members") or []
    if not isinstance(members, list):
        raise ScimInvalid("'members' is a list.", "invalidValue")
    ids = []
    for m in members:
        value = get_ci(m, "value") if isinstance(m, Mapping) else None
        if not isinstance(value, str) or not value:
            raise ScimInvalid("Each member has its user's id as 'value'.", "invalidValue")
        ids.append(value)
    return name, _text(body, "externalId", False), list(dict.fromkeys(ids))


def _meta(row: Row, base: str, kind: str) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": row["created_at"].isoformat(),
        "lastModified": row["updated_at"].isoformat(),
        "version": version_of(row),
        "location": f"{base}/{kind}s/{row['id']}",
    }


def user_json(row: Row, groups: Sequence[Row], base: str) -> dict[str, Any]:
    out: dict[str, Any] = {"schemas": [USER], "id": row["id"]}
    out["schemas"] += sorted(k for k in row["attributes"] if k.lower().startswith("urn:"))
    if row["external_id"] is not None:
        out["externalId"] = row["external_id"]
    out |= {"userName": row["user_name"], **row["attributes"]}
    if "active" in row["attributes"]:
        out["active"] = row["active"]
    if groups:
        out["groups"] = [
            {
                "value": g["id"],
                "$ref": f"{base}/Groups/{g['id']}",
                "display": g["display_name"],
                "type": "direct",
            }
            for g in groups
        ]
    return out | {"meta": _meta(row, base, "User")}


def group_json(row: Row, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {"schemas": [GROUP], "id": row["id"]}
    if row["external_id"] is not None:
        out["externalId"] = row["external_id"]
    out["displayName"] = row["display_name"]
    members = [{"value": u, "$ref": f"{base}/Users/{u}", "type": "User"} for u in row["members"]]
    if members:
        out["members"] = members
    return out | {"meta": _meta(row, base, "Group")}


@dataclass(frozen=True, slots=True)
class Query:
    """A list's parameters (RFC 7644 §3.4.2), from the query string or a .search body."""

    filter: str = ""
    start: int = 1
    count: int = MAX_RESULTS
    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


def _whole(value: object, name: str) -> int:
    """A paging number the caller read already (http/scim/routes.py, through the one
    number parser)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScimInvalid(f"'{name}' is a whole number.", "invalidValue")
    return value


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(v.strip() for v in str(value or "").split(",") if v.strip())


def query_of(params: Mapping[str, Any]) -> Query:
    start = _whole(params.get("startIndex", 1), "startIndex")
    count = _whole(params.get("count", MAX_RESULTS), "count")
    return Query(
        str(params.get("filter") or ""),
        max(start, 1),
        min(max(count, 0), MAX_RESULTS),
        _names(params.get("attributes")),
        _names(params.get("excludedAttributes")),
    )


def _path_keys(names: Iterable[str]) -> list[tuple[str, str]]:
    try:
        paths = [attr_path(n) for n in names]
    except ScimSyntax as exc:
        raise ScimInvalid(str(exc), "invalidValue") from exc
    return [
        ((p.schema or p.attr).lower(), p.attr.lower() if p.schema else p.sub.lower()) for p in paths
    ]


def projected(resource: Mapping[str, Any], query: Query) -> dict[str, Any]:
    """The resource with only the attributes asked for, or without those excluded; `id`
    and `schemas` always stay."""
    if query.attributes:
        wanted = _path_keys(query.attributes)
        out: dict[str, Any] = {}
        for key, value in resource.items():
            subs = [s for k, s in wanted if k == key.lower()]
            if key in ALWAYS or (subs and "" in subs):
                out[key] = value
            elif subs:
                out[key] = _only(value, subs)
        return out
    if query.excluded:
        gone = _path_keys(query.excluded)
        out = {}
        for key, value in resource.items():
            subs = [s for k, s in gone if k == key.lower()]
            if key in ALWAYS or not subs:
                out[key] = value
            elif "" not in subs:
                out[key] = _without(value, subs)
        return out
    return dict(resource)


def _only(value: Any, subs: list[str]) -> Any:
    if isinstance(value, list):
        return [_only(v, subs) for v in value]
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k.lower() in subs}
    return value


def _without(value: Any, subs: list[str]) -> Any:
    if isinstance(value, list):
        return [_without(v, subs) for v in value]
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if k.lower() not in subs}
    return value


def listed(resources: Sequence[Mapping[str, Any]], query: Query) -> dict[str, Any]:
    """The ListResponse of the resources the filter keeps, one page of them."""
    try:
        where = parse_filter(query.filter) if query.filter else None
    except ScimSyntax as exc:
        raise ScimInvalid(str(exc), exc.scim_type) from exc
    kept = [r for r in resources if where is None or matches(r, where)]
    page = kept[query.start - 1 : query.start - 1 + query.count]
    return {
        "schemas": [LIST],
        "totalResults": len(kept),
        "startIndex": query.start,
        "itemsPerPage": len(page),
        "Resources": [projected(r, query) for r in page],
    }
