"""Plans bought with the local provider: upgrade now, downgrade at period end, grace, refunds."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.billing_client import DECLINED, Biller, biller, books_balance, credits, run_clock
from tests.support.factories import openai_client
from tests.support.harness import Gateway, running_gateway

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
DAY_MS = 86_400_000


async def chat(b: Biller) -> Any:
    async with openai_client(b.gw, b.t.key) as client:
        return await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=HI, max_tokens=10
        )


async def refusal(b: Biller) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(b)
    return caught.value


async def test_upgrade_lifts_the_quota_the_next_request_needed(gw: Gateway) -> None:
    b = await biller(gw, credit=5_000_000)
    for _ in range(20):
        await chat(b)
    err = await refusal(b)
    assert err.status_code == 429
    upgrade = err.body["upgrade"]  # type: ignore[index]
    assert upgrade["plan"] == "starter"
    assert upgrade["url"] == err.body["next"]["url"] == "/dashboard/billing?upgrade=starter#plans"  # type: ignore[index]
    result = await b.ok("POST", "/subscription", {"plan": upgrade["plan"]})
    assert result["status"] == "checkout"  # no card on file yet: a hosted page
    assert (await b.state())["plan"] == "free"  # nothing changes until it is paid
    await b.pay(result["url"])
    state = await b.state()
    assert state["plan"] == "starter" and state["subscription"]["status"] == "active"
    assert state["payment_method_on_file"]
    raw = await chat(b)  # the request that was refused now goes through
    assert raw.headers["x-ratelimit-limit-requests"] == "120"
    assert await books_balance(gw, b.t.account_id) == 5_000_000 - sum(
        -r["amount_micros"] for r in await credits(gw, b.t.account_id, "debit")
    )


async def test_upgrade_with_a_card_on_file_is_immediate_and_downgrade_waits(gw: Gateway) -> None:
    b = await biller(gw, credit=1_000_000)
    await b.save_card()
    assert (await b.ok("POST", "/subscription", {"plan": "pro"}))["status"] == "changed"
    assert (await b.state())["plan"] == "pro"
    scheduled = await b.ok("POST", "/subscription", {"plan": "starter"})
    assert scheduled["status"] == "scheduled" and scheduled["effective_at"]
    state = await b.state()
    assert state["plan"] == "pro" and state["subscription"]["pending_plan"] == "starter"
    assert await run_clock(gw, 0, b.t.account_id) == []  # not yet
    assert (await b.state())["plan"] == "pro"
    done = await run_clock(gw, 31 * DAY_MS, b.t.account_id)
    assert done == [f"{b.t.account_id}: downgraded to starter"]
    state = await b.state()
    assert state["plan"] == "starter" and state["subscription"]["pending_plan"] is None
    raw = await chat(b)
    assert raw.headers["x-ratelimit-limit-requests"] == "120"


async def test_plans_sold_elsewhere_are_refused(gw: Gateway) -> None:
    b = await biller(gw)
    for plan in ("enterprise", "platinum", None):
        status, doc = await b.call("POST", "/subscription", {"plan": plan})
        assert status == 400, doc


async def test_a_subscription_without_a_plan_names_the_missing_field(gw: Gateway) -> None:
    b = await biller(gw)
    for body in (..., {}, {"plan": None}, {"plan": 3}):
        status, doc = await b.call("POST", "/subscription", body)
        assert status == 400, doc
        assert doc["error"]["param"] == "plan", doc
        assert "None" not in doc["error"]["message"] and "'plan'" in doc["error"]["message"]
        assert "starter" in doc["error"]["message"], doc


async def test_failed_renewal_opens_grace_then_drops_to_the_default_plan(gw: Gateway) -> None:
    b = await biller(gw)
    await b.save_card()
    await b.ok("POST", "/subscription", {"plan": "starter"})
    sub = (await b.state())["subscription"]["id"]
    portal = await b.ok("POST", "/portal")
    await b.page(portal["url"] + "/card", card=DECLINED)
    async with gw.http.post(f"{gw.url}/billing/local/subscriptions/{sub}/renew") as r:
        assert (await r.json())["events"][0] == "invoice.payment_failed"
    state = await b.state()
    assert state["plan"] == "starter"  # keeps its plan during grace
    assert state["grace_period"]["reason"] == "payment_failed"
    assert state["next"] == {
        "action": "fix_payment",
        "blocked": True,
        "reason": "A plan payment failed: update your payment method before the grace period ends.",
        "url": "/dashboard/billing#method",
        "command": "meterway billing portal",
        "api": {"method": "POST", "path": "/v1/account/billing/portal"},
        "plan": None,
        "resets_at": None,
    }
    err = await refusal(b)  # no balance: the 402 says why the account is in trouble
    assert err.status_code == 402
    assert err.body["reason"] == "payment_failed"  # type: ignore[index]
    assert err.body["next"] == state["next"]  # type: ignore[index]
    assert await run_clock(gw, 6 * DAY_MS, b.t.account_id) == []
    assert await run_clock(gw, 1 * DAY_MS + 1000, b.t.account_id) == [
        f"{b.t.account_id}: grace over, plan free"
    ]
    state = await b.state()
    assert state["plan"] == "free" and state["grace_period"] is None
    assert state["subscription"] is None
    assert (await refusal(b)).body["reason"] == "insufficient_balance"  # type: ignore[index]


async def test_paying_during_grace_closes_it(gw: Gateway) -> None:
    b = await biller(gw)
    await b.save_card()
    await b.ok("POST", "/subscription", {"plan": "starter"})
    sub = (await b.state())["subscription"]["id"]
    portal = (await b.ok("POST", "/portal"))["url"]
    await b.page(portal + "/card", card=DECLINED)
    await gw.http.post(f"{gw.url}/billing/local/subscriptions/{sub}/renew")
    assert (await b.state())["grace_period"] is not None
    _, _, html = await b.page(portal + "/card", card="4242424242424242")
    assert "card ending 4242" in html
    state = await b.state()
    assert state["grace_period"] is None and state["plan"] == "starter"
    assert await run_clock(gw, 8 * DAY_MS, b.t.account_id) == []
    assert (await b.state())["plan"] == "starter"


async def test_refund_posts_a_negative_entry_once(gw: Gateway) -> None:
    b = await biller(gw)
    await b.topup(4_000_000)
    payment = (await credits(gw, b.t.account_id))[0]["idempotency_key"]
    for expected in (["charge.refunded"], []):
        async with gw.http.post(f"{gw.url}/billing/local/payments/{payment}/refund") as r:
            assert (await r.json())["events"] == expected
    refunds = await credits(gw, b.t.account_id, "refund")
    assert [r["amount_micros"] for r in refunds] == [-4_000_000]
    assert await books_balance(gw, b.t.account_id) == 0
    assert len(await credits(gw, b.t.account_id)) == 1  # the credit itself is never edited


async def test_a_providers_full_refund_after_a_partial_one_refunds_what_is_left(
    gw: Gateway,
) -> None:
    """The local provider's "refund in full" after an operator's $1 refund of $4 refunded
    $4 more: it refunds the $3 left, as Stripe refunds a charge's remaining amount."""
    b = await biller(gw)
    await b.topup(4_000_000)
    payment = (await credits(gw, b.t.account_id))[0]["idempotency_key"]
    path = f"/admin/v1/accounts/{b.t.account_id}/payments/{payment}/refunds"
    status, _ = await gw.admin("POST", path, {"amount_micros": 1_000_000, "idempotency_key": "p"})
    assert status == 201
    async with gw.http.post(f"{gw.url}/billing/local/payments/{payment}/refund") as r:
        assert (await r.json())["events"] == ["charge.refunded"]
    refunds = await credits(gw, b.t.account_id, "refund")
    assert sorted(r["amount_micros"] for r in refunds) == [-3_000_000, -1_000_000]
    assert await books_balance(gw, b.t.account_id) == 0


async def test_billing_url_overrides_every_link(dsn: str) -> None:
    async with running_gateway(dsn, BILLING_URL="https://pay.example/acme") as gw:
        b = await biller(gw)
        err = await refusal(b)
        assert err.body["next"]["url"] == "https://pay.example/acme"  # type: ignore[index]
        assert (await b.state())["next"]["url"] == "https://pay.example/acme"
        await gw.settle_all()
