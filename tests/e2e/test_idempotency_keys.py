"""Idempotency that means it (issue 45, item 6): on every money route the same key with the
same operation and body replays, and with any other operation or body is a 409 naming the
key and what it first did, with nothing moved. The attack: a credit, then an adjustment
under its key, answered 200 `idempotent_replay` and did nothing (only amounts were compared)."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from gateway.http.appkeys import DASHBOARD_SESSIONS
from gateway.http.dashboard.people.session import COOKIE, digest
from tests.support.billing_client import biller, credits
from tests.support.factories import balance, ledger, tenant
from tests.support.harness import ADMIN_KEY, Gateway
from tests.support.metering_client import event, service


def refused(status: int, body: Any, key: str, first: str) -> None:
    assert status == 409, body
    error = body["error"]
    assert (error["code"], error["param"], error["idempotency_key"]) == (
        "idempotency_conflict",
        "idempotency_key",
        key,
    )
    assert first in error["message"] and key in error["message"], error


async def money_entries(gw: Gateway, account_id: str) -> list[tuple[str, int]]:
    rows = await ledger(gw, account_id)
    return [(r["kind"], r["amount_micros"]) for r in rows if r["kind"] in ("credit", "adjustment")]


async def test_a_credit_key_reused_for_an_adjustment_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    base = f"/admin/v1/accounts/{t.account_id}"
    body = {"amount_micros": 2_500_000, "idempotency_key": "k1", "reason": "r"}
    assert (await gw.admin("POST", base + "/credits", body))[0] == 201
    status, err = await gw.admin("POST", base + "/adjustments", body)
    refused(status, err, "k1", f"a credit of $2.50 (2500000 micros) to {t.account_id}")
    status, err = await gw.admin("POST", base + "/adjustments", body | {"amount_micros": -1})
    refused(status, err, "k1", "a credit of $2.50")
    assert await money_entries(gw, t.account_id) == [("credit", 2_500_000)]
    assert await balance(gw, t.account_id) == 2_500_000


async def test_a_credit_key_with_another_grant_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    path = f"/admin/v1/accounts/{t.account_id}/credits"
    body = {"amount_micros": 1_000_000, "idempotency_key": "g1", "reason": "r"}
    assert (await gw.admin("POST", path, body))[0] == 201
    for other in ({"grant": {"kind": "promotional"}}, {"grant": {"priority": 10}}):
        status, err = await gw.admin("POST", path, body | other)
        refused(status, err, "g1", "a credit of $1.00")
        assert "the same credit with other fields" in err["error"]["message"]
    status, again = await gw.admin("POST", path, body)
    assert status == 200 and again["idempotent_replay"] is True
    # The reason is a note, not what the credit does: a form resent without it replays.
    status, again = await gw.admin("POST", path, body | {"reason": "another"})
    assert status == 200 and again["idempotent_replay"] is True
    assert await money_entries(gw, t.account_id) == [("credit", 1_000_000)]


async def test_an_adjustment_key_reused_for_a_credit_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, credit=5_000_000)
    base = f"/admin/v1/accounts/{t.account_id}"
    body = {"amount_micros": -1_000_000, "idempotency_key": "a1", "reason": "fix"}
    assert (await gw.admin("POST", base + "/adjustments", body))[0] == 201
    status, err = await gw.admin("POST", base + "/credits", body | {"amount_micros": 1_000_000})
    refused(status, err, "a1", "an adjustment of -$1.00 (-1000000 micros)")
    status, err = await gw.admin("POST", base + "/adjustments", body | {"amount_micros": -2})
    refused(status, err, "a1", "an adjustment of -$1.00")
    status, again = await gw.admin("POST", base + "/adjustments", body)
    assert status == 200 and again["idempotent_replay"] is True
    assert await balance(gw, t.account_id) == 4_000_000


async def test_a_refused_use_leaves_the_key_free(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    path = f"/admin/v1/accounts/{t.account_id}/adjustments"
    body = {"amount_micros": -2_000_000, "idempotency_key": "x1", "reason": "too much"}
    assert (await gw.admin("POST", path, body))[0] == 400
    status, out = await gw.admin("POST", path, body | {"amount_micros": -500_000})
    assert status == 201 and out["idempotent_replay"] is False, out


async def test_two_parallel_bodies_under_one_key_move_money_once(gw: Gateway) -> None:
    t = await tenant(gw, credit=5_000_000)
    base = f"/admin/v1/accounts/{t.account_id}"
    for round_ in range(5):
        key = f"race-{round_}"
        credit = gw.admin(
            "POST", base + "/credits", {"amount_micros": 1_000, "idempotency_key": key}
        )
        adjust = gw.admin(
            "POST", base + "/adjustments",
            {"amount_micros": -2_000, "idempotency_key": key, "reason": "race"},
        )  # fmt: skip
        answers = await asyncio.gather(credit, adjust)
        assert sorted(status for status, _ in answers) == [201, 409], answers
    entries = await money_entries(gw, t.account_id)
    assert len(entries) == 1 + 5, entries  # the seed credit, then one entry a key
    assert await balance(gw, t.account_id) == sum(amount for _, amount in entries)


async def test_refund_keys_name_one_refund(gw: Gateway) -> None:
    b = await biller(gw)
    await b.topup(3_000_000)
    payment_id = (await b.ok("GET", "/payments"))["data"][0]["id"]
    base = f"/admin/v1/accounts/{b.t.account_id}"
    refund = f"{base}/payments/{payment_id}/refunds"
    body = {"amount_micros": 1_000_000, "idempotency_key": "r1"}
    assert (await gw.admin("POST", refund, body))[0] == 201
    status, err = await gw.admin("POST", base + "/credits", body)
    refused(status, err, "r1", f"a refund of -$1.00 (-1000000 micros) of payment {payment_id}")
    status, again = await gw.admin("POST", refund, body)
    assert status == 200 and again["idempotent_replay"] is True
    # A credit's key reused for a refund: refused before the provider is asked.
    credit = {"amount_micros": 1_000_000, "idempotency_key": "c1"}
    assert (await gw.admin("POST", base + "/credits", credit))[0] == 201
    status, err = await gw.admin("POST", refund, credit)
    refused(status, err, "c1", "a credit of $1.00")
    assert len(await credits(gw, b.t.account_id, "refund")) == 1


async def test_grant_revocation_and_plan_change_keys(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    base = f"/admin/v1/accounts/{t.account_id}"
    body = {"amount_micros": 1_000_000, "idempotency_key": "p1", "grant": {"kind": "promotional"}}
    assert (await gw.admin("POST", base + "/credits", body))[0] == 201
    _, grants = await gw.admin("GET", base + "/grants")
    grant_id = grants["data"][0]["id"]
    revoke = f"{base}/grants/{grant_id}/revoke"
    status, err = await gw.admin("POST", revoke, {"idempotency_key": "p1"})
    refused(status, err, "p1", "a credit of $1.00")
    assert (await gw.admin("POST", revoke, {"idempotency_key": "v1"}))[0] == 200
    assert (await gw.admin("POST", revoke, {"idempotency_key": "v1"}))[0] == 200
    status, err = await gw.admin("PUT", base + "/plan", {"plan": "free", "idempotency_key": "v1"})
    refused(status, err, "v1", f"revoking grant {grant_id} of {t.account_id}")
    assert (await gw.admin("GET", base))[1]["plan"] == "pro"
    plan = {"plan": "free", "idempotency_key": "pl1"}
    assert (await gw.admin("PUT", base + "/plan", plan))[0] == 200
    status, err = await gw.admin("PUT", base + "/plan", plan | {"plan": "pro"})
    refused(status, err, "pl1", f"a plan change of {t.account_id} to free")
    assert (await gw.admin("PUT", base + "/plan", plan))[0] == 200
    assert (await gw.admin("GET", base))[1]["plan"] == "free"


async def operator_cookies(gw: Gateway) -> dict[str, str]:
    cookie = secrets.token_urlsafe(32)
    record = {"kind": "admin", "admin_digest": digest(ADMIN_KEY), "label": "operator",
              "csrf": "x", "operator": True}  # fmt: skip
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 3600)
    return {COOKIE: cookie}


async def test_the_dashboard_forms_share_the_check(gw: Gateway) -> None:
    """A dashboard form's single-use token is its idempotency key: the API's credit under
    it is the form's credit, and the form's post of another amount is refused."""
    t = await tenant(gw, credit=5_000_000)
    cookies = await operator_cookies(gw)
    base = f"{gw.url}/dashboard/operators/accounts/{t.account_id}"
    async with gw.http.get(base, cookies=cookies) as r:
        token = re.findall(r'name="form_token" value="([^"]+)"', await r.text())[0]
    api = {"amount_micros": 1_500_000, "idempotency_key": token}
    assert (await gw.admin("POST", f"/admin/v1/accounts/{t.account_id}/credits", api))[0] == 201
    data = {"csrf": "x", "form_token": token, "amount_micros": "2500000", "reason": ""}
    async with gw.http.post(f"{base}/credit", data=data, cookies=cookies) as r:
        page = await r.text()
    assert "already used for a credit of $1.50" in page.replace("&#39;", "'"), page
    entries = sorted(await money_entries(gw, t.account_id))
    assert entries == [("credit", 1_500_000), ("credit", 5_000_000)]


async def test_a_metering_key_reused_for_another_meter_or_more_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds", "cpu_seconds")
    asked = {"account_id": t.account_id, "meter": "gpu_seconds", "max_quantity": 10}
    status, first = await svc.authorize(**asked, idempotency_key="m1")
    assert status == 201, first
    for other in ({"meter": "cpu_seconds"}, {"max_quantity": 11}):
        status, err = await svc.authorize(**(asked | other), idempotency_key="m1")
        refused(status, err, "m1", "an authorization of 10 gpu_seconds")
    status, again = await svc.authorize(**asked, idempotency_key="m1")
    assert status == 200 and again["idempotent_replay"] and again["id"] == first["id"]


async def test_a_metered_event_key_reused_for_another_quantity_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "api_calls")
    status, first = await svc.events([event(t.account_id, "api_calls", 3, "e1")])
    assert status == 200 and first["data"][0]["status"] == "debited", first
    status, again = await svc.events([event(t.account_id, "api_calls", 3, "e1")])
    assert again["data"][0]["status"] == "duplicate", again
    status, other = await svc.events([event(t.account_id, "api_calls", 4, "e1")])
    result = other["data"][0]
    assert (result["status"], result["error"]["code"]) == ("refused", "idempotency_conflict"), other
    assert "3 units" in result["error"]["message"] and "4" in result["error"]["message"]
    await gw.settle_all()
    debits = [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
    assert [r["quantity"] for r in debits] == [3]
