"""A key paused after a spend anomaly stays paused whatever its owner or the operator changes
on it (limits, scopes, its rotation): only the one action meant to lift it, `resume`, serves
it again. Changing a runaway key's limits is the natural reaction to a flag; it must not
revive the key (official openai SDK, real PostgreSQL and Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import openai
import pytest

from gateway.services.trust import key_pauses
from tests.support.factories import openai_client, tenant
from tests.support.harness import Gateway

TIGHT = [{"window": "hour", "metric": "requests", "limit": 50}]


async def _pause(gw: Gateway, account_id: str, key_id: str) -> None:
    """What the detector does on a flag of an opted-in key (workers/anomalies.py)."""
    anomalies = gw.stores().anomalies()
    await anomalies.set_opt_in(account_id, "", True)
    now = datetime.now(UTC)
    flag = {
        "account_id": account_id, "key_id": key_id, "scope": "key", "scope_id": key_id,
        "rule": "rate", "window_start": now, "window_end": now, "figures": {},
        "request_ids": [], "summary": "test",
    }  # fmt: skip
    row = await anomalies.record(flag, pause=True)
    assert row is not None and row["paused"] is True
    await key_pauses.pause(anomalies, gw.store, key_id, account_id)


async def _status(gw: Gateway, key: str) -> int:
    async with openai_client(gw, key) as client:
        try:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
        except openai.PermissionDeniedError as exc:
            body: Any = exc.body
            assert body["code"] == "key_paused", body
            return 403
    return 200


async def _owner_key(gw: Gateway, account_id: str) -> str:
    scopes = ["chat", "keys:write", "keys:read"]
    body = {"account_id": account_id, "name": "owner", "scopes": scopes}
    status, key = await gw.admin("POST", "/admin/v1/keys", body)
    assert status == 201, key
    return str(key["key"])


async def _account(gw: Gateway, owner: str, method: str, path: str, body: object) -> int:
    headers = {"Authorization": f"Bearer {owner}"}
    async with gw.http.request(method, f"{gw.url}{path}", json=body, headers=headers) as r:
        assert r.status < 300, await r.text()
        return r.status


@pytest.mark.parametrize("who", ["operator", "owner"])
async def test_new_limits_keep_a_paused_key_paused(gw: Gateway, who: str) -> None:
    t = await tenant(gw, scopes=["chat"])
    assert await _status(gw, t.key) == 200
    await _pause(gw, t.account_id, t.key_id)
    assert await _status(gw, t.key) == 403
    if who == "operator":
        status, _ = await gw.admin("PUT", f"/admin/v1/keys/{t.key_id}/quotas", {"quotas": TIGHT})
        assert status == 200
    else:
        owner = await _owner_key(gw, t.account_id)
        path = f"/v1/account/keys/{t.key_id}"
        await _account(gw, owner, "PUT", f"{path}/quotas", {"quotas": TIGHT})
        await _account(gw, owner, "PATCH", path, {"expires_at": "2090-01-01T00:00:00Z"})
    assert await _status(gw, t.key) == 403
    status, body = await gw.admin("POST", f"/admin/v1/keys/{t.key_id}/resume")
    assert status == 200 and body["resumed"] is True
    assert await _status(gw, t.key) == 200


async def test_rotating_a_paused_key_leaves_the_old_secret_paused(gw: Gateway) -> None:
    """A pause belongs to the secret that ran away (migration 096): its rotation's grace
    does not serve it again, and a change to the new secret's limits, which rewrites the
    old secret's record too, leaves it paused."""
    t = await tenant(gw, scopes=["chat"])
    await _pause(gw, t.account_id, t.key_id)
    owner = await _owner_key(gw, t.account_id)
    headers = {"Authorization": f"Bearer {owner}"}
    url = f"{gw.url}/v1/account/keys/{t.key_id}/rotate"
    async with gw.http.post(url, json={"grace_seconds": 3600}, headers=headers) as r:
        assert r.status == 201, await r.text()
        new = await r.json()
    assert await _status(gw, t.key) == 403
    assert await _status(gw, new["key"]) == 200
    status, _ = await gw.admin("PUT", f"/admin/v1/keys/{new['id']}/quotas", {"quotas": TIGHT})
    assert status == 200
    assert await _status(gw, t.key) == 403
