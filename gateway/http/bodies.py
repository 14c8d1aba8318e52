"""Reading request bodies of the operator and account APIs: one error per bad field."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing.dates import NoOffset, expiry
from billing.grants import expand_scopes
from billing.money.credit_grants import DEFAULT_PRIORITY, PAID
from billing.money.quotas import Quota, QuotaSpecError, parse_quotas
from billing.usage.tags import Tags, TagSpecError, parse_tags
from gateway.errors import InvalidRequest, NotFound
from gateway.http.whole import json_whole
from gateway.stores.records import GrantSpec, Row

ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TEXT_MAX = 200
# str.isspace()'s characters, spelled out: JavaScript's \s and Python's differ.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# A text field: no NUL, and something besides white space. The OpenAPI pattern too (ECMA and
# Python read it alike).
TEXT_PATTERN = rf"^[^\u0000]*[^\u0000{SPACE}][^\u0000]*$"
TEXT = re.compile(TEXT_PATTERN)
NO_NUL_PATTERN = r"^[^\u0000]*$"
# A member's e-mail address: one '@' with something either side (white space around is cut).
EMAIL_PATTERN = rf"^[{SPACE}]*[^\u0000@{SPACE}][^\u0000@]*@[^\u0000@]*[^\u0000@{SPACE}][{SPACE}]*$"
EMAIL = re.compile(EMAIL_PATTERN)


def path_id(request: web.Request, name: str) -> str:
    """Ids are short ASCII tokens; anything else (a NUL, 10 kB) is simply not found."""
    value = request.match_info[name]
    if not ID_SHAPE.fullmatch(value):
        raise NotFound("No such resource.")
    return value


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > TEXT_MAX or not TEXT.fullmatch(value):
        raise InvalidRequest(
            f"'{name}' must be 1-{TEXT_MAX} characters, not only white space, without NUL.",
            param=name,
        )
    return value


def email_field(body: dict[str, Any]) -> str:
    """`email`, trimmed and lower-cased: the address a member signs in with."""
    raw = str(text_field(body, "email"))
    if not EMAIL.fullmatch(raw):
        raise InvalidRequest("'email' must be an e-mail address.", param="email")
    return raw.strip().lower()


def str_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(
        isinstance(v, str) and "\x00" not in v for v in value
    ):
        raise InvalidRequest(f"'{name}' must be an array of strings.", param=name)
    return value


def scopes_field(body: dict[str, Any]) -> list[str]:
    """A key's scopes; the group `inference` stands for every proxy scope."""
    return expand_scopes(str_list(body, "scopes"))


def providers_field(body: dict[str, Any], known: Collection[str]) -> tuple[str, ...]:
    """The providers a key is pinned to (data residency); each must be one Meterway has."""
    names = str_list(body, "providers")
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidRequest(f"Unknown provider '{unknown[0]}'.", param="providers")
    return tuple(dict.fromkeys(names))


def quotas_field(body: dict[str, Any]) -> tuple[Quota, ...]:
    try:
        return tuple(parse_quotas(body.get("quotas", [])))
    except QuotaSpecError as exc:
        raise InvalidRequest(str(exc), param="quotas") from exc


def tags_field(body: dict[str, Any]) -> Tags:
    """`tags`, a key's or a team's (billing/usage/tags.py's bounds)."""
    try:
        return parse_tags(body.get("tags"))
    except TagSpecError as exc:
        raise InvalidRequest(str(exc), param="tags") from exc


# An expiry's UTC year is after 1970 and before 9000; the OpenAPI pattern promises the years
# 1972-8998 as written, which no UTC offset carries out of those bounds.
EXPIRY_YEARS = (1970, 9000)
EXPIRY_PATTERN = r"^(?:197[2-9]|19[89][0-9]|[2-7][0-9]{3}|8[0-8][0-9]{2}|89[0-8][0-9])-"


def expiry_field(
    body: dict[str, Any], param: str = "expires_at", zone: str = "UTC"
) -> datetime | None:
    """`expires_at` as an aware UTC time; `param` names it in errors (a nested field). A
    bare date is the end of that day in `zone` (QUOTA_TIMEZONE; billing/dates.py)."""
    raw = body.get("expires_at")
    if raw is None:
        return None
    try:
        when = expiry(str(raw), zone).astimezone(UTC)  # an offset can push 9999 out of range
    except NoOffset as exc:
        raise InvalidRequest(f"'{param}' needs a UTC offset.", param=param) from exc
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest(
            f"'{param}' must be an RFC 3339 time or a date (YYYY-MM-DD).", param=param
        ) from exc
    if not EXPIRY_YEARS[0] < when.year < EXPIRY_YEARS[1]:
        raise InvalidRequest(f"'{param}' is out of range.", param=param)
    return when


GRANT_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
GRANT_PRIORITY_MAX = 1000


def grant_field(body: dict[str, Any], zone: str = "UTC") -> GrantSpec | None:
    """`"grant": {"kind", "expires_at", "priority"}` on a credit; absent: a paid grant."""
    raw = body.get("grant")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidRequest("'grant' must be an object.", param="grant")
    kind = raw.get("kind", PAID)
    if not isinstance(kind, str) or not GRANT_KIND.fullmatch(kind):
        raise InvalidRequest(
            "'grant.kind' must be 1-32 lower-case letters, digits or _, starting with a letter.",
            param="grant.kind",
        )
    priority = json_whole(
        raw.get("priority", DEFAULT_PRIORITY),
        "grant.priority",
        maximum=GRANT_PRIORITY_MAX,
        words=f"'grant.priority' must be an integer 0-{GRANT_PRIORITY_MAX}.",
    )
    expires = expiry_field(raw, "grant.expires_at", zone)
    return GrantSpec(kind=kind, expires_at=expires, priority=priority)


def on_insufficient_field(body: dict[str, Any]) -> str | None:
    value = body.get("on_insufficient")
    if value not in (None, "refuse", "clamp"):
        raise InvalidRequest("'on_insufficient' must be refuse or clamp.", param="on_insufficient")
    return value


def int_field(body: dict[str, Any], name: str, default: int, maximum: int) -> int:
    words = f"'{name}' must be an integer from 0 to {maximum}."
    return json_whole(body.get(name, default), name, maximum=maximum, words=words)


def found(row: Row | None, message: str) -> Row:
    """The row, or a 404 saying what is missing."""
    if row is None:
        raise NotFound(message)
    return row
