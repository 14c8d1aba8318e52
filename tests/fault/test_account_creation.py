"""Creating an account while Redis fails (a TCP proxy cut between the gateway and Redis):
nothing half-made is left that the proxy would call invalid, and a retry with the same
idempotency key makes the account once and completes its Redis half."""

from __future__ import annotations

import secrets

import pytest

from gateway.stores.redis.keys import shard_of
from tests.fault.tcp_proxy import CuttableProxy
from tests.support.factories import openai_client
from tests.support.harness import Gateway, running_gateway

CREATE = {"name": "acme", "plan": "enterprise", "idempotency_key": secrets.token_hex(8)}


async def _ready_for_calls(gw: Gateway, account_id: str) -> str:
    status, body = await gw.admin(
        "PUT",
        f"/admin/v1/accounts/{account_id}/plan",
        {"plan": "enterprise", "mode": "prepaid", "billing_ready": True},
    )
    assert status == 200, body
    credit = {"amount_micros": 1_000_000, "idempotency_key": "seed", "reason": "test"}
    status, body = await gw.admin("POST", f"/admin/v1/accounts/{account_id}/credits", credit)
    assert status == 201, body
    status, key = await gw.admin("POST", "/admin/v1/keys", {"account_id": account_id, "name": "k"})
    assert status == 201, key
    return str(key["key"])


@pytest.mark.timeout(480)
async def test_account_creation_with_redis_failing_leaves_nothing_half_made(dsn: str) -> None:
    proxy = CuttableProxy("127.0.0.1", 6379)
    await proxy.start()
    try:
        async with running_gateway(dsn, REDIS_URL=proxy.redis_url) as gw:
            proxy.cut()
            status, body = await gw.admin("POST", "/admin/v1/accounts", CREATE)
            assert status == 503, body
            pool = gw.stores().pool
            made = "SELECT id FROM accounts WHERE idempotency_key = $1"
            assert await pool.fetch(made, CREATE["idempotency_key"]) == []
            proxy.restore()

            status, first = await gw.admin("POST", "/admin/v1/accounts", CREATE)
            assert status == 201, first
            status, again = await gw.admin("POST", "/admin/v1/accounts", CREATE)
            assert (status, again["id"]) == (200, first["id"])
            assert len(await pool.fetch(made, CREATE["idempotency_key"])) == 1
            status, body = await gw.admin("POST", "/admin/v1/accounts", {**CREATE, "name": "x"})
            assert status == 409, body

            # The Redis half lost after the ledger had the account: a retry completes it.
            account = gw.store.keys.account(shard_of(first["id"]), first["id"])
            await gw.store.redis.delete(account)
            status, again = await gw.admin("POST", "/admin/v1/accounts", CREATE)
            assert (status, again["id"]) == (200, first["id"])
            assert await gw.store.redis.hget(account, "plan") == b"enterprise"
            key = await _ready_for_calls(gw, first["id"])
            async with openai_client(gw, key) as client:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
            await gw.settle_all()
    finally:
        await proxy.close()
