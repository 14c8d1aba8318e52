"""The Stripe adapter against localstripe (a stateful Stripe server that sends signed
webhooks), with a small front for Checkout and portal sessions
(tests/support/fakes/stripe_stack.py).

Every payment is credited exactly once whatever the webhooks do (duplicated, reordered,
forged, stale, signed under the rotated secret), and after every test the ledger's sum is
the account's balance in PostgreSQL and in Redis.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.money.receipts import Seller
from gateway.http.appkeys import AUTO_TOPUPS, PAYMENTS
from gateway.services.money.receipts import receipt_of
from tests.support.billing_client import (
    Biller,
    biller,
    books_balance,
    credits,
    payments_cli,
    run_clock,
)
from tests.support.fakes.stripe_stack import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    NEW_SECRET,
    OLD_SECRET,
    StripeStack,
    sign,
    url_rule_breaks,
)
from tests.support.harness import Gateway, free_port, running_gateway

DAY_MS = 86_400_000
APP = "https://app.example.com"  # a caller's own site, allowed as a return_url origin


@pytest.fixture
async def sgw(dsn: str, stack: StripeStack) -> AsyncIterator[Gateway]:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = stack.env(public) | {"LISTEN_ADDR": f"127.0.0.1:{port}", "RETURN_URL_ORIGINS": APP}
    await stack.reset(f"http://127.0.0.1:{port}/webhooks/stripe")
    async with running_gateway(dsn, None, **env) as gw:
        started = await gw.stores().pool.fetchval("SELECT now()")
        yield gw
        await stack.quiet()
        stack.target = None
        mine = await gw.stores().pool.fetch(
            "SELECT id FROM accounts WHERE created_at >= $1", started
        )
        for row in mine:  # every late webhook in: ledger sum == balance, for every account
            await books_balance(gw, row["id"])
        await gw.settle_all()


async def funded(gw: Gateway, stack: StripeStack, amount: int) -> tuple[Biller, str]:
    """A prepaid account that paid `amount` through Checkout; returns the PaymentIntent id."""
    b = await biller(gw)
    page = await b.ok("POST", "/topups", {"amount_micros": amount})
    assert page["url"].startswith(stack.api_base + "/pay/cs_test_")
    done = await stack.complete(page["id"], CARD_OK)
    await stack.wait_for("payment_intent.succeeded")
    return b, str(done["payment_intent"])


async def test_top_up_through_checkout_is_credited_once(sgw: Gateway, stack: StripeStack) -> None:
    b, pi = await funded(sgw, stack, 5_000_000)
    await stack.quiet()
    rows = await credits(sgw, b.t.account_id)
    assert [(r["amount_micros"], r["idempotency_key"]) for r in rows] == [(5_000_000, pi)]
    assert await books_balance(sgw, b.t.account_id) == 5_000_000
    state = await b.state()
    assert state["provider"] == "stripe" and state["balance_micros"] == 5_000_000
    receipt = await receipt_of(sgw.app[PAYMENTS], Seller(), b.t.account_id, pi)
    assert receipt.paid_with == f"Visa •••• {CARD_OK[-4:]}"  # the PaymentIntent's own card


async def test_an_operator_refund_goes_through_stripe_and_is_booked_once(
    sgw: Gateway, stack: StripeStack
) -> None:
    b, pi = await funded(sgw, stack, 5_000_000)
    path = f"/admin/v1/accounts/{b.t.account_id}/payments/{pi}/refunds"
    body = {"amount_micros": 1_250_000, "idempotency_key": "op-refund-1"}
    status, first = await sgw.admin("POST", path, body)
    assert status == 201 and first["id"].startswith("re_"), first
    # A repeat is answered by Stripe's Idempotency-Key, which localstripe ignores: the
    # repeat is tested on the local provider (test_payments_local).
    remote = await stack.client.v1.refunds.retrieve_async(first["id"])
    assert remote.amount == 125 and remote.payment_intent == pi
    intent = await stack.client.v1.payment_intents.retrieve_async(pi)
    latest = intent.latest_charge
    charge = latest if isinstance(latest, str) else latest.id
    assert stack.http is not None
    async with stack.http.get(
        f"{stack.localstripe}/v1/charges/{charge}", headers={"Authorization": "Bearer sk_test_x"}
    ) as r:
        charged = await r.json()
    await stack.send_event("charge.refunded", charged)  # localstripe sends none of its own
    await stack.quiet()  # the webhook is a replay of the refund already booked
    rows = await credits(sgw, b.t.account_id, "refund")
    assert [(r["amount_micros"], r["idempotency_key"]) for r in rows] == [(-1_250_000, first["id"])]
    assert await books_balance(sgw, b.t.account_id) == 3_750_000


async def saved_card(gw: Gateway, stack: StripeStack, number: str = CARD_OK, **kw: Any) -> Biller:
    """An account with a card saved through Checkout in setup mode."""
    b = await biller(gw, **kw)
    page = await b.ok("POST", "/setup")
    before = len(stack.deliveries)
    await stack.complete(page["id"], number)
    assert len(stack.deliveries) > before
    assert (await b.state())["payment_method_on_file"]
    return b


async def test_customer_and_saved_method(sgw: Gateway, stack: StripeStack) -> None:
    b = await saved_card(sgw, stack, plan="enterprise")
    state = await b.state()
    assert state["billing_ready"] and state["next"]["action"] == "none"
    profile = await sgw.app[PAYMENTS].profiles.profile(b.t.account_id)
    assert profile is not None
    customer = await stack.client.v1.customers.retrieve_async(profile.customer_id)
    assert customer.metadata["account_id"] == b.t.account_id
    assert customer.invoice_settings.default_payment_method  # set from the SetupIntent
    portal = await b.ok("POST", "/portal")
    assert portal["url"].startswith(stack.api_base + "/portal/bps_")
    assert await books_balance(sgw, b.t.account_id) == 0


async def test_every_url_sent_to_stripe_is_one_stripe_accepts(
    sgw: Gateway, stack: StripeStack
) -> None:
    b = await biller(sgw)
    own = f"{APP}/settings/billing?tab=credit#top"
    await b.ok("POST", "/setup")
    await b.ok("POST", "/topups", {"amount_micros": 5_000_000, "return_url": own})
    await b.ok("POST", "/subscription", {"plan": "starter"})
    await b.ok("POST", "/portal", {"return_url": own})
    sent = list(stack.urls_sent)
    assert sorted({p for p, _ in sent}) == ["cancel_url", "return_url", "success_url"]
    assert [brk for p, url in sent for brk in url_rule_breaks(p, url)] == []
    dashboard = f"{sgw.url}/dashboard/billing"
    assert (
        f"{dashboard}?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
        f"{dashboard}?checkout=cancel",
    ) == (sent[0][1], sent[1][1])
    assert (
        "success_url",
        f"{APP}/settings/billing?tab=credit&checkout=success"
        "&session_id={CHECKOUT_SESSION_ID}#top",
    ) in sent
    assert ("return_url", own) in sent and ("return_url", dashboard) not in sent
    for bad in ("/v1/account/billing", "https://evil.example.net/", "javascript:alert(1)", 7):
        status, err = await b.call(
            "POST", "/topups", {"amount_micros": 5_000_000, "return_url": bad}
        )
        assert status == 400 and err["error"]["param"] == "return_url", err
    assert len(stack.urls_sent) == len(sent)  # a refused return_url reaches no provider


async def test_off_session_auto_top_up_charges_a_payment_intent_once(
    sgw: Gateway, stack: StripeStack
) -> None:
    b = await saved_card(sgw, stack)
    setting = {"threshold_micros": 2_000_000, "amount_micros": 5_000_000}
    await b.ok("PUT", "/auto-topup", setting | {"monthly_cap_micros": 10_000_000})
    assert await sgw.app[AUTO_TOPUPS].check(b.t.account_id) == "credited"
    assert await sgw.app[AUTO_TOPUPS].check(b.t.account_id) == "not due"
    (hook,) = await stack.wait_for("payment_intent.succeeded")
    intent = await stack.client.v1.payment_intents.retrieve_async(hook.object_id)
    assert intent.metadata["purpose"] == "auto_topup" and intent.amount == 500
    await stack.quiet()
    rows = await credits(sgw, b.t.account_id)
    assert [(r["amount_micros"], r["idempotency_key"]) for r in rows] == [(5_000_000, intent.id)]
    assert await books_balance(sgw, b.t.account_id) == 5_000_000


async def test_declined_off_session_charges_turn_auto_top_up_off(
    sgw: Gateway, stack: StripeStack
) -> None:
    b = await saved_card(sgw, stack, CARD_DECLINED)
    setting = {"threshold_micros": 2_000_000, "amount_micros": 5_000_000}
    await b.ok("PUT", "/auto-topup", setting | {"monthly_cap_micros": 10_000_000})
    for _ in range(3):
        assert await sgw.app[AUTO_TOPUPS].check(b.t.account_id) == "failed"
    assert await sgw.app[AUTO_TOPUPS].check(b.t.account_id) == "not due"
    auto = (await b.state())["auto_topup"]
    assert auto["enabled"] is False and auto["failures"] == 3 and auto["off_reason"]
    await stack.quiet()
    assert await credits(sgw, b.t.account_id) == []
    assert await books_balance(sgw, b.t.account_id) == 0


async def fail_renewal(stack: StripeStack, customer: str, subscription: str) -> str:
    """Bill the next period with a card that needs authentication, and fail it (the
    customer is away): localstripe marks the invoice failed and the subscription past_due."""
    v1 = stack.client.v1
    pm = await stack.card(customer, CARD_3DS)
    settings = {"invoice_settings": {"default_payment_method": pm}}
    await v1.customers.update_async(customer, params=settings)
    invoice = await v1.invoices.create_async(
        params={"customer": customer, "subscription": subscription}
    )
    paid = await v1.invoices.pay_async(invoice.id)
    intent = await v1.payment_intents.retrieve_async(paid.payment_intent)
    assert intent.status == "requires_action"
    assert stack.http is not None
    async with stack.http.post(
        f"{stack.localstripe}/v1/payment_intents/{intent.id}/_authenticate",
        data={"client_secret": intent.client_secret, "success": "false"},
        headers={"Authorization": "Bearer sk_test_x"},
    ) as r:
        assert r.status == 200, await r.text()
    return str(invoice.id)


async def test_subscription_payment_failure_opens_grace_then_ends_it(
    sgw: Gateway, stack: StripeStack
) -> None:
    b = await saved_card(sgw, stack)
    assert (await b.ok("POST", "/subscription", {"plan": "starter"}))["status"] == "changed"
    state = await b.state()
    assert state["plan"] == "starter" and state["subscription"]["status"] == "active"
    assert state["subscription"]["renews_at"] == state["subscription"]["current_period_end"]
    assert (state["card"]["brand"], state["card"]["last4"]) == ("visa", CARD_OK[-4:])
    invoices = (await b.ok("GET", "/invoices"))["data"]
    assert [(i["amount_micros"], i["status"]) for i in invoices] == [(20_000_000, "paid")]
    receipt = await receipt_of(sgw.app[PAYMENTS], Seller(), b.t.account_id, invoices[0]["id"])
    assert (receipt.plan, receipt.paid_with) == ("starter", f"Visa •••• {CARD_OK[-4:]}")
    assert receipt.period is not None and receipt.period[0] < receipt.period[1]
    sub = state["subscription"]["id"]
    remote = await stack.client.v1.subscriptions.retrieve_async(sub)
    assert remote.status == "active" and remote.metadata["account_id"] == b.t.account_id
    await stack.quiet()
    await fail_renewal(stack, str(remote.customer), sub)
    await stack.wait_for("invoice.payment_failed")
    await stack.quiet()
    state = await b.state()
    assert state["plan"] == "starter" and state["grace_period"]["reason"] == "payment_failed"
    assert state["subscription"]["status"] == "past_due"
    assert state["next"]["action"] == "fix_payment"
    assert await run_clock(sgw, 6 * DAY_MS) == []
    done = await run_clock(sgw, DAY_MS + 1000)
    assert done == [f"{b.t.account_id}: grace over, plan free"]
    assert (await stack.client.v1.subscriptions.retrieve_async(sub)).status == "canceled"
    await stack.wait_for("customer.subscription.deleted")
    await stack.quiet()
    state = await b.state()
    assert state["plan"] == "free" and state["subscription"] is None
    assert state["grace_period"] is None
    late = [d for d in stack.deliveries if d.type.startswith(("customer.subscription", "invoice"))]
    for d in reversed(late):  # every subscription event again, newest first: nothing moves
        assert (await stack.deliver(d.body, d.signature))[0] == 200
    assert await b.state() == state
    assert await books_balance(sgw, b.t.account_id) == 0


def _tampered(body: bytes) -> bytes:
    doc = json.loads(body)
    doc["data"]["object"]["amount"] = 99_999_999
    return json.dumps(doc).encode()


async def test_webhooks_duplicated_reordered_forged_stale_and_rotated(
    sgw: Gateway, stack: StripeStack
) -> None:
    """The events of two payments are held back, then sent the hard ways; each payment is
    credited once, and nothing a forged or stale event says changes anything."""
    stack.forward = False
    b, first = await funded(sgw, stack, 3_000_000)
    await stack.wait_for("checkout.session.completed")
    held = [d for d in stack.deliveries if d.type.startswith(("payment_intent.", "checkout."))]
    assert {d.type for d in held} == {"payment_intent.succeeded", "checkout.session.completed"}
    assert await books_balance(sgw, b.t.account_id) == 0  # nothing delivered yet

    stale = int(time.time()) - 301
    for body, signature in (
        (_tampered(held[0].body), held[0].signature),  # forged: the body was changed
        (held[0].body, sign(held[0].body, "whsec_someone_else")),  # forged: wrong secret
        (held[0].body, held[0].signature.replace("v1=", "v1=0")),  # forged: bad mac
        (held[0].body, None),  # no signature at all
        (held[0].body, sign(held[0].body, OLD_SECRET, at=stale)),  # stale: > 300 s old
    ):
        status, doc = await stack.deliver(body, signature)
        assert status == 400, doc
    assert await books_balance(sgw, b.t.account_id) == 0
    applied = await sgw.stores().pool.fetchval("SELECT count(*) FROM provider_events")

    reordered = list(reversed(held))  # the session's completion before the payment's
    answers = await asyncio.gather(
        *(stack.deliver(d.body, d.signature) for d in reordered * 3)  # each x3, concurrently
    )
    assert [status for status, _ in answers] == [200] * 6, answers
    rows = await credits(sgw, b.t.account_id)
    assert [(r["amount_micros"], r["idempotency_key"]) for r in rows] == [(3_000_000, first)]
    assert await books_balance(sgw, b.t.account_id) == 3_000_000
    now_applied = await sgw.stores().pool.fetchval("SELECT count(*) FROM provider_events")
    assert now_applied == applied + 2

    await stack.use_secret(NEW_SECRET)  # rotated: the gateway holds new,old
    page = await b.ok("POST", "/topups", {"amount_micros": 2_000_000})
    second = (await stack.complete(page["id"], CARD_OK))["payment_intent"]
    (rotated,) = [
        d for d in await stack.wait_for("payment_intent.succeeded", 2) if d.object_id == second
    ]
    assert rotated.signature == sign(rotated.body, NEW_SECRET, at=_stamp(rotated.signature))
    for _ in range(3):
        assert (await stack.deliver(rotated.body, rotated.signature))[0] == 200
    assert (await stack.deliver(held[0].body, held[0].signature))[0] == 200  # old secret
    rows = await credits(sgw, b.t.account_id)
    assert [(r["amount_micros"], r["idempotency_key"]) for r in rows] == [
        (3_000_000, first),
        (2_000_000, second),
    ]
    assert await books_balance(sgw, b.t.account_id) == 5_000_000


def _stamp(signature: str) -> int:
    return int(dict(p.split("=", 1) for p in signature.split(","))["t"])


async def test_replay_and_reconcile_against_stripe(
    sgw: Gateway, stack: StripeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Stripe filters by whole seconds: start at the next second, so a charge an earlier test
    # made a moment ago (a second ago, with `- 1`) is never inside this test's window.
    await asyncio.sleep(1.01 - time.time() % 1)
    since = datetime.fromtimestamp(int(time.time()), UTC).isoformat()
    stack.forward = False  # the gateway hears nothing: an outage of its webhook endpoint
    b, pi = await funded(sgw, stack, 5_000_000)
    await stack.quiet()
    assert await books_balance(sgw, b.t.account_id) == 0
    code, out = await payments_cli(sgw, capsys, "reconcile", "--since", since)
    assert code == 1 and out[:-1] == [
        f"missing in ledger: payment {pi} account {b.t.account_id} provider $5.000000 ledger -"
    ]

    code, out = await payments_cli(sgw, capsys, "replay", "--since", since)
    assert code == 0, out
    assert [line for line in out if pi in line and line.endswith(": credited")], out
    code, again = await payments_cli(sgw, capsys, "replay", "--since", since)
    assert code == 0 and all(line.endswith(": already applied") for line in again[:-1])
    assert await books_balance(sgw, b.t.account_id) == 5_000_000

    # Two partial refunds: Stripe lists both; each is one negative entry of its own.
    intent = await stack.client.v1.payment_intents.retrieve_async(pi)
    for cents in (100, 50):
        await stack.client.v1.refunds.create_async(params={"payment_intent": pi, "amount": cents})
    code, out = await payments_cli(sgw, capsys, "reconcile", "--since", since)
    assert code == 1 and sorted(line.split()[3] for line in out[:-1]) == ["refund", "refund"]
    assert sorted(line.split("provider ")[1] for line in out[:-1]) == [
        "-$0.500000 ledger -",
        "-$1.000000 ledger -",
    ]
    stack.forward = True
    charge = (
        intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id
    )
    assert stack.http is not None
    async with stack.http.get(
        f"{stack.localstripe}/v1/charges/{charge}", headers={"Authorization": "Bearer sk_test_x"}
    ) as r:
        charged = await r.json()
    for _ in range(3):
        await stack.send_event("charge.refunded", charged)
    refunds = await credits(sgw, b.t.account_id, "refund")
    assert sorted(r["amount_micros"] for r in refunds) == [-1_000_000, -500_000]
    assert await books_balance(sgw, b.t.account_id) == 3_500_000
    code, out = await payments_cli(sgw, capsys, "reconcile", "--since", since)
    assert code == 0, out
