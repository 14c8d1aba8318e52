"""PATCH /v1/account/keys/{key_id}'s body read as the narrowed grant: a subset of the key's
scopes, an expiry no later. Narrowing only, so anyone who may change the key may do it; the
keys minted under it are then fitted inside it in the same write (services/keys/life_cycle.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from billing.grants import Grant, GrantTooWide, check_within
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.http import bodies
from gateway.services.keys.life_cycle import grant_of_key
from gateway.stores.records import Row

FIELDS = ("scopes", "expires_at")


def _asked(held: Grant, body: dict[str, Any], zone: str) -> Grant:
    wanted = held
    if "scopes" in body:
        scopes = frozenset(bodies.scopes_field(body))
        if not scopes:
            raise InvalidRequest(
                "A key keeps at least one scope; revoke it instead.", param="scopes"
            )
        wanted = replace(wanted, scopes=scopes)
    if "expires_at" in body:
        when = bodies.expiry_field(body, zone=zone)
        ms = None if when is None else int(when.timestamp() * 1000)
        wanted = replace(wanted, expires_at_ms=ms)
    return wanted


def narrowed_grant(row: Row, body: dict[str, Any], zone: str) -> Grant:
    """The key's grant with the body's scopes and expiry; 400 when it names neither, 403
    (naming the field) when either would widen the key."""
    if not any(f in body for f in FIELDS):
        raise InvalidRequest("Give 'scopes' or 'expires_at' to narrow the key.", param="scopes")
    held = grant_of_key(row)
    wanted = _asked(held, body, zone)
    try:
        check_within(held, wanted)
    except GrantTooWide as exc:
        message = f"{exc.message} Keys are only narrowed here."
        raise PermissionDenied(message, param=exc.field) from exc
    return wanted
