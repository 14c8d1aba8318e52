"""Whose entries a cached answer is shared among: the scope an entry is bound to.

An entry is bound to the account by default; the operator may narrow it to the key, or widen
it to the organization. The token built here goes into the cache key, so two scopes never
share an entry: the token names its kind and every id that kind needs, encoded as a JSON
array so no id (whatever characters it holds) can make one token look like another.
"""

from __future__ import annotations

import json
from typing import Literal

ScopeKind = Literal["account", "key", "organization"]
SCOPES: tuple[ScopeKind, ...] = ("account", "key", "organization")


class CacheScopeError(ValueError):
    """A scope that cannot be bound: its identity is missing."""


def scope_token(
    scope: ScopeKind, account_id: str, key_id: str | None, organization_id: str | None
) -> str:
    """The identity an entry is bound to, never wider than `scope` asks.

    "key" needs the key's id and refuses without one (the account would be wider).
    "organization" falls back to the account when the account belongs to no organization:
    the account is narrower, so nothing is shared that the operator did not allow, and an
    account that joins an organization later simply starts a new set of entries. The
    account id is always in the token, except for an organization's, which spans accounts.
    """
    if not account_id:
        raise CacheScopeError("a cache scope needs the account's id")
    if scope == "key":
        if not key_id:
            raise CacheScopeError("the cache's key scope needs the key's id")
        return _token("key", account_id, key_id)
    if scope == "organization" and organization_id:
        return _token("organization", organization_id)
    if scope not in SCOPES:
        raise CacheScopeError(f"unknown cache scope: {scope!r}")
    return _token("account", account_id)


def _token(*parts: str) -> str:
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
