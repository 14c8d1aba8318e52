"""The new-network rule through the real gateway (official openai SDK, real PostgreSQL and
Redis): a key that was always used from one network is used at night from another (a leaked
key); the gateway's batches record the network, the detector flags it, notifies, and (the
account opted in) pauses the key, whose next call is a 403 naming the pause. The dollars it
let through are stated and bounded by docs/guides/anomalies.md's figure: the calls of one
batch and one detector round. A new key's first network, and a network a key used before,
are never flagged.

The batch and the detector's round are run here by hand (what the supervised
`network_sightings` and `anomalies` tasks run every NETWORK_FLUSH_S and ANOMALY_EVERY_S),
so each figure is exact; /readyz shows both tasks running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest

from billing.trust.trial_checks import network_of
from gateway.http.appkeys import NETWORK_SIGHTINGS
from gateway.workers.anomalies import Detector
from tests.support.factories import openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

HOME = "203.0.113.0/24"  # where the key was always used from (a documentation network)
NIGHT_CALLS = 12  # the leaked key's calls before the batch and the detector's round


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    """A gateway whose own detector waits an hour after its first round: each round here
    is run by hand, so no background round judges a test's calls first."""
    async with running_gateway(dsn, None, ANOMALY_EVERY_S="3600") as gateway:
        yield gateway
        await gateway.settle_all()


async def _history(gw: Gateway, account: str, key: str, days: int) -> None:
    """The key's use from HOME over the last `days` days, as the batches recorded it."""
    first = datetime.now(UTC) - timedelta(days=days)
    await gw.stores().pool.execute(
        "INSERT INTO key_networks (key_id, account_id, network, first_seen, last_seen, calls,"
        " first_request_id) VALUES ($1, $2, $3, $4, $5, 400, 'req_home')",
        key, account, HOME, first, datetime.now(UTC) - timedelta(hours=2),
    )  # fmt: skip


async def _calls(gw: Gateway, key: str, n: int) -> list[int]:
    """`n` calls; each one's charged micros, or -1 for one refused as paused."""
    async with openai_client(gw, key) as client:

        async def one() -> int:
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
            except openai.PermissionDeniedError as exc:
                body: Any = exc.body
                assert body["code"] == "key_paused" and "/resume" in body["message"], body
                return -1
            return int(raw.headers["x-meterway-cost-micros"])

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def debited_and_told(gw: Gateway, account: str, key: str, let_through: int) -> list[str]:
    """Once settled, the ledger debited the key exactly what the calls were charged; the
    account's spend.anomaly notifications, as their payloads' text."""
    await gw.settle_all()
    debited = await gw.stores().pool.fetchval(
        "SELECT -sum(amount_micros) FROM ledger_entries WHERE key_id = $1 AND kind = 'debit'", key
    )
    assert debited == let_through
    rows = await gw.stores().pool.fetch(
        "SELECT payload FROM notify_outbox WHERE account_id = $1 AND event = 'spend.anomaly'",
        account,
    )
    return [str(r["payload"]) for r in rows]


async def flags_of(gw: Gateway, account: str, rule: str = "new_network") -> list[Any]:
    """The account's flags of `rule` as recorded (by this test's round, or any detector
    that judged the same rows first: the record is once per rule, key and hour)."""
    return [f for f in await gw.stores().anomalies().of_account(account) if f["rule"] == rule]


async def _round(gw: Gateway) -> list[Any]:
    """One batch of this process's sightings, then one detector round."""
    await gw.app[NETWORK_SIGHTINGS].flush()
    return await Detector(gw.stores().anomalies(), gw.stores().store).run_once()


async def test_a_key_used_from_a_network_it_never_used_is_flagged_and_paused(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=50_000_000)
    status, _ = await gw.admin(
        "PUT", f"/admin/v1/accounts/{t.account_id}/anomaly-pause", {"pause": True}
    )
    assert status == 200
    await _history(gw, t.account_id, t.key_id, days=30)

    night = await _calls(gw, t.key, NIGHT_CALLS)
    assert min(night) > 0  # nothing stops it before the batch and the round
    await _round(gw)
    [flag] = await flags_of(gw, t.account_id)
    here = network_of("127.0.0.1")
    assert flag["scope"] == "key" and flag["scope_id"] == t.key_id and flag["paused"]
    assert flag["figures"]["network"] == here and flag["figures"]["calls"] == NIGHT_CALLS
    assert flag["figures"]["known_networks"] == 1 and here != HOME
    assert len(flag["request_ids"]) == 1

    after = await _calls(gw, t.key, 3)
    assert after == [-1, -1, -1]  # paused: every process refuses it in reserve.lua
    let_through = sum(night)
    # docs/guides/anomalies.md: at most one batch and one round of the key's calls.
    assert let_through == NIGHT_CALLS * night[0] == 96  # $0.000096, as the guide states
    outbox = await debited_and_told(gw, t.account_id, t.key_id, let_through)
    assert len(outbox) == 1 and here in str(outbox[0])
    await _round(gw)
    assert len(await flags_of(gw, t.account_id)) == 1  # once per rule, key and hour
    async with gw.http.get(
        gw.url + "/readyz", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        tasks = (await r.json())["tasks"]
    assert tasks["network_sightings"]["running"] and tasks["anomalies"]["running"]


async def test_a_new_key_and_a_known_network_are_never_flagged(gw: Gateway) -> None:
    new = await tenant(gw, credit=10_000_000)
    assert min(await _calls(gw, new.key, 4)) > 0
    await _round(gw)
    assert await flags_of(gw, new.account_id) == []

    used = await tenant(gw, credit=10_000_000)
    await _history(gw, used.account_id, used.key_id, days=30)
    home = await gw.stores().pool.fetchval(
        "UPDATE key_networks SET network = $2 WHERE key_id = $1 RETURNING network",
        used.key_id,
        network_of("127.0.0.1"),
    )
    assert home == network_of("127.0.0.1")
    assert min(await _calls(gw, used.key, 4)) > 0
    await _round(gw)
    assert await flags_of(gw, used.account_id) == []
    calls = await gw.stores().pool.fetchval(
        "SELECT calls FROM key_networks WHERE key_id = $1", used.key_id
    )
    assert calls == 404  # its known network's calls were added, nothing new recorded
