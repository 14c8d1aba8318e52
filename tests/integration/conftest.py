"""Store-level fixtures: the real adapters on a private Redis prefix and the session database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from billing.quotas import Quota
from gateway.services.auth import new_id
from gateway.settings import load_settings
from gateway.stores.connect import Stores, open_stores
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of
from tests.harness import REDIS_URL, drop_prefix, gateway_env

NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
async def stores(dsn: str) -> AsyncIterator[Stores]:
    """Both adapters, opened the way `meterway serve` opens them, Redis marked ready."""
    prefix = f"mwt{secrets.token_hex(4)}"
    settings = load_settings(gateway_env(dsn, NOWHERE, prefix))
    try:
        async with open_stores(settings) as opened:
            await opened.store.mark_ready()
            yield opened
    finally:
        await drop_prefix(REDIS_URL, prefix)


@dataclass(frozen=True)
class Holder:
    """An account with a hot balance and one active key, made straight through the ports."""

    record: KeyRecord
    key_hash: str

    @property
    def account_id(self) -> str:
        return self.record.account_id

    @property
    def shard(self) -> int:
        return self.record.shard


async def make_holder(
    stores: Stores,
    *,
    credit: int = 1_000_000,
    key_quotas: tuple[Quota, ...] = (),
    account_quotas: tuple[Quota, ...] = (),
    mode: str = "prepaid",
) -> Holder:
    acct, key_id = new_id("acct"), new_id("key")
    await stores.ledger.create_account(acct, acct, "pro", mode)
    await stores.store.put_account(
        acct, plan="pro", mode=mode, billing_ready=True, quotas=account_quotas
    )
    if credit:
        entry = await stores.ledger.credit(acct, credit, "seed", "test")
        await stores.store.apply_credit(acct, entry.entry_id, credit)
    record = KeyRecord(key_id, acct, shard_of(acct), "k", (), ())
    key_hash = secrets.token_hex(32)
    await stores.store.put_key(record, key_hash, active=True, expires_at_ms=0, quotas=key_quotas)
    return Holder(record, key_hash)
