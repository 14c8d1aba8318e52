"""The metering API end to end: a fake container runner and other services charging meters
against the same credits, ledger and windows as LLM calls."""

from __future__ import annotations

import asyncio

from gateway.workers.sweeper import sweep_once
from tests.support.factories import balance, held, ledger, tenant
from tests.support.harness import Gateway
from tests.support.invariants import check_invariants
from tests.support.metering_client import ContainerRunner, event, service

GPU = 400  # micros per GPU second (config/meters.toml: "0.0004" per 1)


async def test_container_runner_authorize_extend_settle(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds")
    runner = ContainerRunner(svc, t.account_id)
    auth = await runner.start(max_seconds=600)
    assert auth["held_micros"] == 600 * GPU and auth["expires_at"].endswith("Z")
    assert await held(gw, t.account_id) == 600 * GPU

    status, body = await runner.keep_running(auth["id"], max_seconds=1200)
    assert status == 200, body
    assert (body["max_quantity"], body["held_micros"]) == (1200, 1200 * GPU)
    assert await held(gw, t.account_id) == 1200 * GPU

    status, body = await runner.stop(auth["id"], seconds=901)
    assert status == 200, body
    assert (body["status"], body["quantity"], body["cost_micros"]) == ("settled", 901, 901 * GPU)
    status, again = await runner.stop(auth["id"], seconds=901)
    assert status == 200 and again["idempotent_replay"] and again["cost_micros"] == 901 * GPU

    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000 - 901 * GPU
    rows = [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["meter"], row["quantity"], row["service"]) == ("gpu_seconds", 901, svc.name)
    assert row["amount_micros"] == -901 * GPU and row["request_id"] == auth["id"]
    status, usage = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/usage/meters")
    assert status == 200
    assert usage["meters"] == [
        {"meter": "gpu_seconds", "quantity": 901, "cost_micros": 901 * GPU, "debits": 1}
    ]
    await check_invariants(gw.stores(), [t.account_id])


async def test_settle_capped_at_hold_without_overage(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds", "egress_bytes")
    auth = await ContainerRunner(svc, t.account_id).start(max_seconds=10)
    status, body = await svc.call(
        f"/authorizations/{auth['id']}/settle", {"quantity": 50, "idempotency_key": "s"}
    )
    assert status == 200 and (body["quantity"], body["cost_micros"]) == (10, 10 * GPU)
    status, egress = await svc.authorize(
        account_id=t.account_id, meter="egress_bytes", max_quantity=1_000_000
    )
    assert status == 201 and egress["held_micros"] == 90
    status, body = await svc.call(
        f"/authorizations/{egress['id']}/settle", {"quantity": 3_000_001, "idempotency_key": "s"}
    )
    assert status == 200 and (body["quantity"], body["cost_micros"]) == (3_000_001, 271)
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000 - 10 * GPU - 271
    await check_invariants(gw.stores(), [t.account_id])


async def test_concurrent_authorizations_race_for_the_last_credit(gw: Gateway) -> None:
    t = await tenant(gw, credit=3 * 100 * GPU)
    svc = await service(gw, "gpu_seconds")
    replies = await asyncio.gather(
        *(
            svc.authorize(account_id=t.account_id, meter="gpu_seconds", max_quantity=100)
            for _ in range(12)
        )
    )
    admitted = [b for s, b in replies if s == 201]
    refused = [b for s, b in replies if s != 201]
    assert len(admitted) == 3
    assert len(refused) == 9
    for body in refused:
        assert body["error"]["code"] == "billing_required"
        assert body["error"]["reason"] == "insufficient_balance"
    assert await held(gw, t.account_id) == 300 * GPU
    for auth in admitted:
        status, _ = await svc.call(
            f"/authorizations/{auth['id']}/settle", {"quantity": 100, "idempotency_key": "s"}
        )
        assert status == 200
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 0
    await check_invariants(gw.stores(), [t.account_id])


async def test_expiry_charges_or_voids_per_meter(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds", "cpu_seconds")
    charged = await ContainerRunner(svc, t.account_id).start(max_seconds=100, ttl_s=5)
    status, voided = await svc.authorize(
        account_id=t.account_id, meter="cpu_seconds", max_quantity=1000, ttl_s=5
    )
    assert status == 201 and voided["held_micros"] == 20_000
    await gw.advance_clock(6_000)
    assert await sweep_once(gw.store) == 2
    status, body = await svc.call(
        f"/authorizations/{charged['id']}/settle", {"quantity": 7, "idempotency_key": "late"}
    )
    assert status == 200 and body["status"] == "settled" and body["cost_micros"] == 100 * GPU
    assert body["idempotent_replay"]
    status, body = await svc.call(
        f"/authorizations/{voided['id']}/settle", {"quantity": 7, "idempotency_key": "late"}
    )
    assert status == 409, body
    await gw.settle_all()
    kinds = {
        r["request_id"]: (r["kind"], r["amount_micros"]) for r in await ledger(gw, t.account_id)
    }
    assert kinds[charged["id"]] == ("debit", -100 * GPU)
    assert kinds[voided["id"]] == ("void", 0)
    assert await balance(gw, t.account_id) == 1_000_000 - 100 * GPU
    await check_invariants(gw.stores(), [t.account_id])


async def test_extension_keeps_an_authorization_alive(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "cpu_seconds")
    status, auth = await svc.authorize(
        account_id=t.account_id, meter="cpu_seconds", max_quantity=10, ttl_s=5
    )
    assert status == 201
    for _ in range(3):
        await gw.advance_clock(4_000)
        status, body = await svc.call(f"/authorizations/{auth['id']}/extend", {"ttl_s": 5})
        assert status == 200, body
        assert await sweep_once(gw.store) == 0
    status, body = await svc.call(f"/authorizations/{auth['id']}/release", {})
    assert status == 200 and body["status"] == "released"
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000
    await check_invariants(gw.stores(), [t.account_id])


async def test_duplicate_event_batches_sent_concurrently_debit_once(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    svc = await service(gw, "api_calls", "cpu_seconds")
    batch = [event(t.account_id, "api_calls", n % 7 + 1, f"ev-{n}") for n in range(300)]
    replies = await asyncio.gather(*(svc.events(batch) for _ in range(3)))
    assert all(status == 200 for status, _ in replies), [r for r in replies if r[0] != 200]
    debited = sum(body["debited"] for _, body in replies)
    duplicates = sum(body["duplicate"] for _, body in replies)
    assert (debited, duplicates) == (300, 600)
    status, late = await svc.events(batch)
    assert status == 200
    assert (late["debited"], late["duplicate"]) == (0, 300)
    await gw.settle_all()
    rows = [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
    assert len(rows) == 300
    cost = sum(n % 7 + 1 for n in range(300)) * 1000
    assert sum(-r["amount_micros"] for r in rows) == cost
    assert await balance(gw, t.account_id) == 10_000_000 - cost
    await check_invariants(gw.stores(), [t.account_id])


async def test_events_go_below_zero_only_where_the_meter_allows(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_500)
    svc = await service(gw, "api_calls", "cpu_seconds")
    _, body = await svc.events([event(t.account_id, "cpu_seconds", 100_000, "cpu-1")])
    assert body["refused"] == 1 and body["data"][0]["error"]["code"] == "billing_required"
    _, body = await svc.events([event(t.account_id, "api_calls", 2, "api-1")])
    assert body["debited"] == 1
    await gw.settle_all()
    assert await balance(gw, t.account_id) == -500
    await check_invariants(gw.stores(), [t.account_id])


async def test_meter_quota_answers_like_the_proxy(gw: Gateway) -> None:
    t = await tenant(gw, credit=100_000_000, plan="starter")
    svc = await service(gw, "gpu_seconds")
    status, first = await svc.authorize(
        account_id=t.account_id, meter="gpu_seconds", max_quantity=30_000
    )
    assert status == 201, first
    status, body = await svc.authorize(
        account_id=t.account_id, meter="gpu_seconds", max_quantity=10_000
    )
    assert status == 429, body
    error = body["error"]
    assert (error["code"], error["metric"], error["window"]) == (
        "quota_exceeded",
        "meter:gpu_seconds",
        "day",
    )
    assert (error["limit"], error["used"], error["requested"]) == (36_000, 30_000, 10_000)
    assert error["upgrade"] == {
        "plan": "pro",
        "limit": None,
        "url": "/dashboard/billing?upgrade=pro#plans",
    }
    assert (error["next"]["action"], error["next"]["plan"]) == ("upgrade", "pro")
    status, _ = await svc.call(f"/authorizations/{first['id']}/release", {})
    assert status == 200


async def test_service_auth_and_meter_scope(gw: Gateway) -> None:
    t = await tenant(gw)
    svc = await service(gw, "cpu_seconds")
    status, body = await svc.authorize(account_id=t.account_id, meter="gpu_seconds", max_quantity=1)
    assert status == 403 and body["error"]["param"] == "meter"
    wrong = type(svc)(gw, "someone-else", svc.key, svc.service_id)
    status, body = await wrong.authorize(
        account_id=t.account_id, meter="cpu_seconds", max_quantity=1
    )
    assert status == 401
    status, body = await svc.authorize(account_id="acct_nope", meter="cpu_seconds", max_quantity=1)
    assert status == 404


async def test_on_behalf_of_a_user_api_key(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "cpu_seconds")
    status, auth = await svc.authorize(api_key=t.key, meter="cpu_seconds", max_quantity=100)
    assert status == 201 and auth["account_id"] == t.account_id
    status, again = await svc.authorize(
        api_key=t.key, meter="cpu_seconds", max_quantity=100, idempotency_key="same"
    )
    assert status == 201
    status, replay = await svc.authorize(
        api_key=t.key, meter="cpu_seconds", max_quantity=100, idempotency_key="same"
    )
    assert status == 200 and replay["id"] == again["id"] and replay["idempotent_replay"]
    for a in (auth, again):
        status, _ = await svc.call(
            f"/authorizations/{a['id']}/settle", {"quantity": 50, "idempotency_key": "s"}
        )
        assert status == 200
    await gw.settle_all()
    rows = [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
    assert {r["key_id"] for r in rows} == {t.key_id}
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_second_settle_for_another_quantity_is_a_conflict(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds")
    auth = await ContainerRunner(svc, t.account_id).start(max_seconds=100)
    path = f"/authorizations/{auth['id']}/settle"
    status, body = await svc.call(path, {"quantity": 150, "idempotency_key": "first"})
    assert status == 200 and (body["quantity"], body["idempotent_replay"]) == (100, False)
    status, body = await svc.call(path, {"quantity": 150, "idempotency_key": "first"})
    assert status == 200 and (body["quantity"], body["idempotent_replay"]) == (100, True), body
    for idem, quantity in (("second", 40), ("first", 40)):
        status, body = await svc.call(path, {"quantity": quantity, "idempotency_key": idem})
        assert status == 409, body
        message = body["error"]["message"]
        assert "150" in message and "40" in message, message
        assert body["error"]["param"] == "quantity"
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000 - 100 * GPU
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_service_name_ending_in_a_newline_is_refused(gw: Gateway) -> None:
    body = {"name": "runner\n", "meters": ["cpu_seconds"]}
    status, error = await gw.admin("POST", "/admin/v1/services", body)
    assert status == 400 and error["error"]["param"] == "name", error
