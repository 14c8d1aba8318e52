"""Reading request bodies of the operator and account APIs: one error per bad field."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from billing.quotas import Quota, QuotaSpecError, parse_quotas
from gateway.errors import InvalidRequest, NotFound
from gateway.stores.records import Row


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or "\x00" in value:
        raise InvalidRequest(f"'{name}' must be a non-empty string without NUL.", param=name)
    return value


def str_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(
        isinstance(v, str) and "\x00" not in v for v in value
    ):
        raise InvalidRequest(f"'{name}' must be an array of strings.", param=name)
    return value


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


def expiry_field(body: dict[str, Any]) -> datetime | None:
    raw = body.get("expires_at")
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise InvalidRequest("'expires_at' needs a UTC offset.", param="expires_at")
        when = when.astimezone(UTC)  # an offset can push year 9999 or 1 out of range
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest("'expires_at' must be an RFC 3339 time.", param="expires_at") from exc
    if not 1970 < when.year < 9000:
        raise InvalidRequest("'expires_at' is out of range.", param="expires_at")
    return when


def on_insufficient_field(body: dict[str, Any]) -> str | None:
    value = body.get("on_insufficient")
    if value not in (None, "refuse", "clamp"):
        raise InvalidRequest("'on_insufficient' must be refuse or clamp.", param="on_insufficient")
    return value


def int_field(body: dict[str, Any], name: str, default: int, maximum: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidRequest(f"'{name}' must be an integer from 0 to {maximum}.", param=name)
    return value


def found(row: Row | None, message: str) -> Row:
    """The row, or a 404 saying what is missing."""
    if row is None:
        raise NotFound(message)
    return row
