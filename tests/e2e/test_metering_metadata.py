"""Issue 15: the `metadata` a service sends with an authorization or an event is kept with
the ledger row it explains (through the hold in Redis, the settlement stream and the
settler), returned by ledger reads, and refused with a 400 naming it when it is not a
bounded JSON object."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.workers.sweeper import sweep_once
from tests.support.factories import balance, ledger, tenant
from tests.support.harness import Gateway
from tests.support.invariants import check_invariants
from tests.support.metering_client import ContainerRunner, event, service

GPU = 400  # micros per GPU second
JOB = {"job": "train-42", "region": "eu-west", "tags": ["a", "b"], "gpus": 8, "spot": True}


async def rows_by_request(gw: Gateway, account_id: str) -> dict[str, dict[str, Any]]:
    await gw.settle_all()
    return {r["request_id"]: r for r in await ledger(gw, account_id) if r["request_id"]}


async def test_authorization_metadata_reaches_the_settled_and_the_expired_row(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds")
    status, auth = await svc.authorize(
        account_id=t.account_id, meter="gpu_seconds", max_quantity=100, metadata=JOB
    )
    assert status == 201, auth
    extended = await ContainerRunner(svc, t.account_id).keep_running(auth["id"], 200)
    assert extended[0] == 200, extended  # a grown hold keeps its metadata
    status, done = await ContainerRunner(svc, t.account_id).stop(auth["id"], seconds=150)
    assert status == 200 and done["cost_micros"] == 150 * GPU
    status, expiring = await svc.authorize(
        account_id=t.account_id, meter="gpu_seconds", max_quantity=10, ttl_s=5,
        metadata={"job": "short"},
    )  # fmt: skip
    assert status == 201, expiring
    plain = await ContainerRunner(svc, t.account_id).start(max_seconds=5)
    await ContainerRunner(svc, t.account_id).stop(plain["id"], seconds=5)
    await gw.advance_clock(6_000)
    assert await sweep_once(gw.store) == 1  # gpu_seconds charges the hold on expiry

    rows = await rows_by_request(gw, t.account_id)
    assert rows[auth["id"]]["metadata"] == JOB
    assert rows[auth["id"]]["quantity"] == 150
    assert rows[expiring["id"]]["metadata"] == {"job": "short"}
    assert rows[expiring["id"]]["amount_micros"] == -10 * GPU
    assert rows[plain["id"]]["metadata"] is None
    assert await balance(gw, t.account_id) == 1_000_000 - (150 + 10 + 5) * GPU
    await check_invariants(gw.stores(), [t.account_id])


async def test_event_metadata_is_stored_per_event(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds")
    first = {**event(t.account_id, "gpu_seconds", 3, "e1"), "metadata": {"pod": "p-1"}}
    second = event(t.account_id, "gpu_seconds", 4, "e2")
    status, body = await svc.events([first, second])
    assert status == 200 and body["debited"] == 2, body
    rows = await rows_by_request(gw, t.account_id)
    by_qty = {r["quantity"]: r["metadata"] for r in rows.values() if r["meter"]}
    assert by_qty == {3: {"pod": "p-1"}, 4: None}
    await check_invariants(gw.stores(), [t.account_id])


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ("job-1", "must be a JSON object"),
        (["a"], "must be a JSON object"),
        (7, "must be a JSON object"),
        ({"blob": "x" * 4100}, "the limit is 4096"),
        ({"nul": "a\u0000b"}, "NUL"),
    ],
)
async def test_bad_metadata_is_a_400_naming_it_and_holds_nothing(
    gw: Gateway, metadata: Any, says: str
) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds")
    status, body = await svc.authorize(
        account_id=t.account_id, meter="gpu_seconds", max_quantity=1, metadata=metadata
    )
    assert status == 400, body
    assert (body["error"]["code"], body["error"]["param"]) == ("invalid_request", "metadata")
    assert says in body["error"]["message"]
    bad_event = {**event(t.account_id, "gpu_seconds", 1, "e"), "metadata": metadata}
    status, body = await svc.events([event(t.account_id, "gpu_seconds", 1, "ok"), bad_event])
    assert status == 400 and body["error"]["param"] == "metadata", body
    assert await balance(gw, t.account_id) == 1_000_000
    assert [r["kind"] for r in await ledger(gw, t.account_id)] == ["credit"]


async def test_metadata_at_the_limit_is_kept_whole(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds")
    exact = {
        "blob": "é|" * 1360 + "abcde"
    }  # 4,096 bytes as compact JSON, with '|' the record splits on
    status, auth = await svc.authorize(
        account_id=t.account_id, meter="gpu_seconds", max_quantity=1, metadata=exact
    )
    assert status == 201, auth
    await ContainerRunner(svc, t.account_id).stop(auth["id"], seconds=1)
    rows = await rows_by_request(gw, t.account_id)
    assert rows[auth["id"]]["metadata"] == exact
