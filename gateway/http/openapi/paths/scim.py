"""OpenAPI operations of /scim/v2 (RFC 7644: what a directory calls) and of minting an
organization's SCIM token (the account API and the operator's). A SCIM body is the RFC's,
so the document points at it rather than copying its schemas."""

from __future__ import annotations

import copy
from typing import Any

from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import STR, Schema, Security, obj, op, path_param

SCIM: Security = [{"scimToken": []}]
SCIM_TOKEN_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "an organization's SCIM token, mwscim-...",
}
TAG = "SCIM"
_RESOURCE: Schema = {"type": "object", "description": "a SCIM resource (RFC 7643)"}
_LIST: Schema = {"type": "object", "description": "a SCIM ListResponse (RFC 7644 §3.4.2)"}
_PATCH: Schema = {"type": "object", "description": "a SCIM PatchOp (RFC 7644 §3.5.2)"}
_SEARCH: Schema = {"type": "object", "description": "a SCIM SearchRequest (RFC 7644 §3.4.3)"}
_QUERY = tuple(
    {"name": n, "in": "query", "required": False, "schema": {"type": t}}
    for n, t in (
        ("filter", "string"),
        ("startIndex", "integer"),
        ("count", "integer"),
        ("attributes", "string"),
        ("excludedAttributes", "string"),
    )
)
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": STR}
_TOKEN = obj(
    ("id", "account_id", "prefix", "token"),
    id=STR, object=STR, account_id=STR, prefix=STR, created_at=STR,
    token=STR,  # shown this once
)  # fmt: skip


SCIM_ERROR: Schema = obj(
    ("schemas", "status"),
    schemas={"type": "array", "items": STR},
    status=STR,
    detail=STR,
    scimType=STR,
)
_ERROR = {
    "description": "An error as RFC 7644 §3.12 has it: `status` a string, `scimType`",
    "content": {"application/scim+json": {"schema": SCIM_ERROR}},
}


def scim_op(summary: str, **kw: Any) -> dict[str, Any]:
    """An operation of /scim/v2: its bodies and answers are application/scim+json."""
    out = copy.deepcopy(op(summary, TAG, SCIM, **kw))  # never the shared error answer
    out["responses"]["default"] = _ERROR
    for response in out["responses"].values():
        if "content" in response and response is not _ERROR:
            content = response["content"]
            response["content"] = {"application/scim+json": content.get("application/json")}
    if "requestBody" in out:
        body = out["requestBody"]["content"]["application/json"]
        out["requestBody"]["content"] = {"application/scim+json": body, "application/json": body}
    return out


def _kinds(kind: str) -> dict[str, dict[str, object]]:
    one = (path_param(f"{kind.lower()}_id"),)
    return {
        "list": scim_op(f"List or filter {kind}s", ok=_LIST, params=_QUERY),
        "search": scim_op(f"Search {kind}s (POST .search)", ok=_LIST, body=_SEARCH),
        "create": scim_op(f"Provision a {kind}", ok=_RESOURCE, status="201", body=_RESOURCE),
        "get": scim_op(f"Read a {kind}", ok=_RESOURCE, params=one + _QUERY[3:]),
        "replace": scim_op(
            f"Replace a {kind}", ok=_RESOURCE, params=(*one, _IF_MATCH), body=_RESOURCE
        ),
        "patch": scim_op(
            f"Change a {kind} (PATCH)",
            ok=_RESOURCE,
            params=(*one, _IF_MATCH),
            body=_PATCH,
        ),
        "delete": scim_op(f"Delete a {kind}", ok={}, status="204", params=(*one, _IF_MATCH)),
    }


USERS = _kinds("User")
GROUPS = _kinds("Group")
SEARCH_ALL = scim_op("Search users and groups (POST .search)", ok=_LIST, body=_SEARCH)
CONFIG = scim_op("The service provider's configuration", ok=_RESOURCE)
SCHEMAS = scim_op("The schemas of User and Group", ok=_LIST)
SCHEMA = scim_op("One schema", ok=_RESOURCE, params=(path_param("schema_id"),))
TYPES = scim_op("The resource types (User, Group)", ok=_LIST)
TYPE = scim_op("One resource type", ok=_RESOURCE, params=(path_param("type_id"),))
MINT = op(
    "Mint the organization's SCIM token (an owner); minting again replaces it",
    "Organization",
    USER,
    ok=_TOKEN,
    status="201",
)
ADMIN_MINT = op(
    "Mint an account's SCIM token; minting again replaces it",
    "Organization",
    ADMIN,
    ok=_TOKEN,
    status="201",
    params=(path_param("account_id"),),
)
