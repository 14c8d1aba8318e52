"""OpenAPI operations of an organization's domain claims (/v1/account/domains)."""

from __future__ import annotations

from billing.roles import ROLES
from gateway.http.openapi.paths.operator import USER
from gateway.http.openapi.schemas import (
    BOOL,
    STR,
    Operation,
    Schema,
    array,
    nullable,
    obj,
    op,
    path_param,
)

_JOIN_ROLE: Schema = {"enum": [*(r for r in ROLES if r != "owner"), None]}
DOMAIN: Schema = obj(
    ("domain", "verified", "record"),
    object=STR,
    domain=STR,
    join_role=_JOIN_ROLE,
    verified=BOOL,
    verified_at=nullable("string"),
    created_at=STR,
    record=obj(("type", "name", "value"), type=STR, name=STR, value=STR),
)
_DOMAIN = path_param("domain")
_REMOVED = obj(("domain", "deleted"), domain=STR, deleted=BOOL)


def _op(summary: str, ok: Schema, *params: Schema, **more: object) -> Operation:
    return op(summary, "account", USER, ok=ok, params=params, **more)  # type: ignore[arg-type]


def list_domains(path: str) -> Operation:
    return _op("Your organization's domain claims", obj(("data",), object=STR, data=array(DOMAIN)))


def claim(path: str) -> Operation:
    body = obj(("domain",), domain=STR, join_role=_JOIN_ROLE)
    summary = "Claim a domain: the answer names the TXT record that proves it (owners)"
    return _op(summary, DOMAIN, status="201", body=body)


def verify(path: str) -> Operation:
    return _op("Prove a claimed domain by its TXT record, looked up now", DOMAIN, _DOMAIN)


def remove(path: str) -> Operation:
    return _op("Give a domain claim up", _REMOVED, _DOMAIN)
