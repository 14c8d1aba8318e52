"""Reading /v1/metering request bodies: every field checked, every refusal names its param."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from billing.pricing.meters import MAX_QUANTITY
from gateway.errors import InvalidRequest
from gateway.http.whole import json_whole
from gateway.services.money.meter.metered import MAX_TTL_S
from gateway.services.money.meter.metered_events import Event

DEFAULT_TTL_S = 3600
MAX_BATCH = 1000
MAX_EVENT_AGE_MS = 35 * 86_400_000  # a resend older than this could no longer be recognised
MAX_EVENT_SKEW_MS = 300_000
MAX_METADATA_BYTES = 4096  # as compact JSON; it travels in Redis with the hold


def text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255 or "|" in value:
        raise InvalidRequest(f"'{name}' must be a non-empty string without '|'.", param=name)
    return value


def quantity(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    words = f"'{name}' must be a whole number of units, 0 to 2^53-1."
    return json_whole(value, name, maximum=MAX_QUANTITY, words=words)


def ttl(body: dict[str, Any], *, required: bool = False) -> int:
    value = body.get("ttl_s", None if required else DEFAULT_TTL_S)
    words = f"'ttl_s' must be a whole number of seconds, 1 to {MAX_TTL_S}."
    return json_whole(value, "ttl_s", minimum=1, maximum=MAX_TTL_S, words=words)


def metadata(body: dict[str, Any]) -> bytes:
    """The optional `metadata` object as compact JSON (b"" when absent): an object, at most
    MAX_METADATA_BYTES, and without NUL characters, which a jsonb column refuses (one such
    row would stop the settler's whole batch)."""
    value = body.get("metadata")
    if value is None:
        return b""
    if not isinstance(value, dict):
        raise InvalidRequest("'metadata' must be a JSON object.", param="metadata")
    raw = orjson.dumps(value)
    if len(raw) > MAX_METADATA_BYTES:
        raise InvalidRequest(
            f"'metadata' is {len(raw)} bytes as JSON; the limit is {MAX_METADATA_BYTES}.",
            param="metadata",
        )
    if b"\\u0000" in raw:
        raise InvalidRequest("'metadata' may not contain NUL characters.", param="metadata")
    return raw


def target(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(account_id, api_key): exactly one of them."""
    account_id, api_key = text(body, "account_id", required=False), body.get("api_key")
    if (account_id is None) == (api_key is None):
        raise InvalidRequest("Give exactly one of 'account_id' and 'api_key'.", param="account_id")
    return account_id, None if api_key is None else text(body, "api_key")


def _instant(value: object, now_ms: int) -> int:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(
            "'occurred_at' must be an RFC 3339 time.", param="occurred_at"
        ) from exc
    if when.tzinfo is None:
        raise InvalidRequest("'occurred_at' needs a UTC offset.", param="occurred_at")
    ms = int(when.timestamp() * 1000)
    if not now_ms - MAX_EVENT_AGE_MS <= ms <= now_ms + MAX_EVENT_SKEW_MS:
        raise InvalidRequest(
            "'occurred_at' must be within the last 35 days and not in the future.",
            param="occurred_at",
        )
    return ms


def event(obj: object, now_ms: int) -> Event:
    if not isinstance(obj, dict):
        raise InvalidRequest("Each event must be an object.", param="events")
    return Event(
        str(text(obj, "account_id")),
        str(text(obj, "meter")),
        int(quantity(obj, "quantity") or 0),
        str(text(obj, "idempotency_key")),
        _instant(obj.get("occurred_at"), now_ms),
        metadata(obj),
    )


def events(body: dict[str, Any], now_ms: int) -> list[Event]:
    """A batch: {"events": [...]} of up to 1,000 (or one bare event object)."""
    raw = body.get("events", [body])
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BATCH:
        raise InvalidRequest(f"'events' must be a list of 1 to {MAX_BATCH} events.", param="events")
    parsed = [event(e, now_ms) for e in raw]
    keys = [(e.account_id, e.idempotency_key) for e in parsed]
    if len(set(keys)) != len(keys):
        raise InvalidRequest("A batch repeats an idempotency_key.", param="events")
    return parsed
