"""Key life cycle beyond issuing: bounded issuing, rotation with a grace period, revocation.

Shared by the operator API and the account API; PostgreSQL first (the record of truth), then
Redis (what the proxy reads), as for every write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from billing.grants import Grant, GrantTooWide, check_within, fit_within
from billing.money.quotas import Quota, parse_quotas
from gateway.errors import PermissionDenied
from gateway.services.auth import new_id
from gateway.services.keys.provisioning import IssuedKey, KeySpec, new_secret, publish_row
from gateway.services.keys.teams import assign_key
from gateway.services.money.end_user_budgets import key_budget, set_end_user_budget
from gateway.stores.ports import (
    DirectoryPort,
    EndUserBudgetsPort,
    HotStorePort,
    LedgerPort,
    TeamsPort,
)
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import Row

ROTATIONS_FOLLOWED = 64  # a bound on the walk back through a key's rotations


def _ms(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def grant_of_key(row: Row) -> Grant:
    """What an API key holds, from its PostgreSQL row."""
    return Grant(
        frozenset(row["scopes"]),
        frozenset(row["models"]),
        tuple(parse_quotas(json.loads(row["quotas"]))),
        _ms(row["expires_at"]),
        frozenset(row["providers"]),
    )


def grant_of_spec(spec: KeySpec) -> Grant:
    return Grant(
        frozenset(spec.scopes),
        frozenset(spec.models),
        tuple(spec.quotas),
        _ms(spec.expires_at),
        frozenset(spec.providers),
    )


async def carry_team(teams: TeamsPort, store: HotStorePort, key: Row) -> None:
    """Publish the team a key was recorded in (its minter's) with the team's quotas."""
    team = await teams.get(key["team_id"]) if key.get("team_id") else None
    if team is not None:
        await assign_key(teams, store, key, team)


async def carry_budgets(
    budgets: EndUserBudgetsPort, store: HotStorePort, from_key: Row, to_key_id: str
) -> None:
    """A key's own end-user budget (its end users' default) goes to a key made from it: a
    key it mints or its rotated successor never serves an end user more loosely."""
    account_id = from_key["account_id"]
    quotas = await key_budget(budgets, account_id, from_key["id"])
    if quotas:
        await set_end_user_budget(budgets, store, (account_id, to_key_id, ""), quotas)


async def revoke_key(ledger: LedgerPort, store: HotStorePort, row: Row) -> Row | None:
    """Revoke a key and every live key minted under it: a key never outlives its minter."""
    revoked = await ledger.revoke_key(row["id"])
    await store.revoke_key(shard_of(row["account_id"]), row["id"])
    for minted in await ledger.keys_minted_under(row["id"]):
        await ledger.revoke_key(minted["id"])
        await store.revoke_key(shard_of(minted["account_id"]), minted["id"])
    return revoked


async def rotate_key(
    ledger: LedgerPort,
    store: HotStorePort,
    directory: DirectoryPort,
    row: Row,
    grace_s: int,
    org: tuple[TeamsPort, EndUserBudgetsPort],
) -> IssuedKey:
    """A new secret for the same key: every column but the secret's own is copied from one
    record (`copy_key`), then its team and end-user budget; the old secret keeps working
    for `grace_s` seconds.

    The grace deadline is taken on the Redis clock the reserve script checks expiry against.
    """
    teams, budgets = org
    secret, digest, prefix = new_secret()
    new = await ledger.copy_key(row["id"], new_id("key"), digest, prefix)
    await publish_row(store, new, digest)
    await carry_team(teams, store, new)
    await carry_budgets(budgets, store, row, new["id"])
    await directory.mark_rotated(new["id"], row["id"])
    until_ms = await store.now_ms() + grace_s * 1000
    current = _ms(row["expires_at"])
    if current is not None:
        until_ms = min(until_ms, current)
    await directory.set_key_expiry(row["id"], datetime.fromtimestamp(until_ms / 1000, UTC))
    await store.set_key_expiry(shard_of(row["account_id"]), row["id"], max(until_ms, 1))
    await _end_bound_tokens(ledger, store, row["id"], until_ms)
    return IssuedKey(new["id"], secret)


async def _end_bound_tokens(ledger: LedgerPort, store: HotStorePort, key_id: str, at: int) -> None:
    """The tokens the rotated secret minted (/v1/auth/tokens) end with it: a leaked key
    rotated leaves nothing it minted working past the grace."""
    for minted in await ledger.keys_minted_under(key_id):
        if minted["minter_id"] != key_id or not minted.get("secret_bound"):
            continue
        held = grant_of_key(minted)
        if held.expires_at_ms is None or held.expires_at_ms > at:
            await set_key_grant(ledger, store, minted, replace(held, expires_at_ms=max(at, 1)))


async def set_key_quotas(
    ledger: LedgerPort, store: HotStorePort, row: Row, quotas: Sequence[Quota]
) -> list[Row]:
    """New limits for a key, live on the next request (the operator and account APIs); the
    keys minted under it are fitted inside them (`set_key_grant`)."""
    return await set_key_grant(ledger, store, row, replace(grant_of_key(row), quotas=tuple(quotas)))


async def set_key_grant(
    ledger: LedgerPort, store: HotStorePort, row: Row, grant: Grant
) -> list[Row]:
    """Give a key `grant` and fit every live key minted under it, at any depth, inside it
    (billing.grants.fit_within): nobody acts wider than what minted them, later as at
    minting. PostgreSQL in one transaction, then each key's Redis record (quotas, expiry, the
    directory entry), so the proxy's hot path reads them as before. A key left with no scope
    is revoked. The rows written, the changed key's first. A key minted by a key never
    holds more than its minter, whoever changes it: PermissionDenied naming the field."""
    await _within_minter(ledger, row, grant)
    grants, revoke = {row["id"]: grant}, set()
    for minted in await _rotated_from(ledger, row) + await ledger.keys_minted_under(row["id"]):
        held = grant_of_key(minted)
        fitted = fit_within(grant, held)
        if fitted != held:
            grants[minted["id"]] = fitted
            if not fitted.scopes:
                revoke.add(minted["id"])
    written = await ledger.write_grants(grants, revoke)
    for key in written:
        await _publish_limits(store, key)
    return written


async def _rotated_from(ledger: LedgerPort, row: Row) -> list[Row]:
    """The secrets `row` was rotated from, newest first: it and the keys under them count
    in their windows, so a tightening reaches those windows too."""
    found: list[Row] = []
    previous = row.get("rotated_from")
    while previous and len(found) < ROTATIONS_FOLLOWED:
        older = await ledger.get_key(previous)
        if older is None:
            break
        found.append(older)
        previous = older.get("rotated_from")
    return found


async def _within_minter(ledger: LedgerPort, row: Row, grant: Grant) -> None:
    if row.get("minter_kind") != "key" or not row.get("minter_id"):
        return
    minter = await ledger.get_key(row["minter_id"])
    if minter is None or minter["revoked_at"] is not None:
        return  # a revoked minter's keys are revoked with it
    try:
        check_within(grant_of_key(minter), grant)
    except GrantTooWide as exc:
        raise PermissionDenied(
            f"{exc.message} (the key that minted this key holds no more)", param=exc.field
        ) from exc


async def _publish_limits(store: HotStorePort, row: Row) -> None:
    if row["revoked_at"] is not None:
        await store.revoke_key(shard_of(row["account_id"]), row["id"])
        return
    await publish_row(store, row, row["key_hash"])
