"""The client's address behind a load balancer (TRUSTED_PROXIES), through the real gateway:
the audit record and the key's networks (the new-network anomaly rule's input), fed by the
official openai SDK, name the client the trusted proxy forwarded; without the setting a
forwarded header, anyone's to send, is ignored."""

from __future__ import annotations

from typing import Any

from gateway.http.appkeys import NETWORK_SIGHTINGS
from tests.support.factories import openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

SPOOFED = "198.51.100.9"  # what a client writes about itself
SEEN = "203.0.113.7"  # what the (trusted) balancer saw and appended


async def _quotas_from(gw: Gateway, account_id: str, key_id: str, forwarded: str) -> str:
    """Change a key's limits with the operator API, as forwarded; the audit's address."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Forwarded-For": forwarded}
    url = f"{gw.url}/admin/v1/keys/{key_id}/quotas"
    async with gw.http.put(
        url,
        json={"quotas": [{"window": "day", "metric": "requests", "limit": 99}]},
        headers=headers,
    ) as r:
        assert r.status == 200, await r.text()
    status, body = await gw.admin("GET", f"/admin/v1/audit?account_id={account_id}")
    assert status == 200
    (event,) = [e for e in body["data"] if e["target_id"] == key_id and e["action"] == "key.quotas"]
    return str(event["client_address"])


async def _networks(gw: Gateway, key: str, key_id: str, forwarded: str) -> set[str]:
    """One SDK call, as forwarded; the networks recorded for the key."""
    headers: Any = {"X-Forwarded-For": forwarded}
    async with openai_client(gw, key, default_headers=headers) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    await gw.app[NETWORK_SIGHTINGS].flush()
    rows = await gw.stores().pool.fetch(
        "SELECT network FROM key_networks WHERE key_id = $1", key_id
    )
    return {r["network"] for r in rows}


async def test_a_trusted_balancer_names_the_client(dsn: str) -> None:
    async with running_gateway(dsn, TRUSTED_PROXIES="127.0.0.0/8, 10.0.0.0/8") as gw:
        t = await tenant(gw)
        chain = f"{SPOOFED}, {SEEN}, 10.0.0.5"  # client, balancer, inner proxy
        assert await _quotas_from(gw, t.account_id, t.key_id, chain) == SEEN
        assert await _networks(gw, t.key, t.key_id, chain) == {"203.0.113.0/24"}
        assert await _networks(gw, t.key, t.key_id, "2001:db8:1:2::5") == {
            "203.0.113.0/24", "2001:db8:1::/48"
        }  # fmt: skip


async def test_without_trusted_proxies_a_forwarded_header_is_ignored(gw: Gateway) -> None:
    t = await tenant(gw)
    assert await _quotas_from(gw, t.account_id, t.key_id, SPOOFED) == "127.0.0.1"
    assert await _networks(gw, t.key, t.key_id, SPOOFED) == {"127.0.0.0/24"}
