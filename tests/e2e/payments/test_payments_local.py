"""Taking money with the local provider, end to end through the HTTP routes and its pages."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.billing_client import (
    DECLINED,
    NEEDS_AUTH,
    Biller,
    biller,
    books_balance,
    credits,
)
from tests.support.factories import openai_client
from tests.support.harness import Gateway

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


async def chat(b: Biller, **kw: Any) -> Any:
    async with openai_client(b.gw, b.t.key) as client:
        return await client.chat.completions.with_raw_response.create(
            model=kw.pop("model", "gpt-4o-mini"), messages=HI, max_tokens=kw.pop("max_tokens", 10)
        )


async def refusal(b: Biller, **kw: Any) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(b, **kw)
    return caught.value


async def test_billing_needs_a_key_with_the_billing_scope(gw: Gateway) -> None:
    b = await biller(gw)
    async with gw.http.get(gw.url + "/v1/account/billing") as r:
        assert r.status == 401
    plain = await biller(gw, scopes=["chat"])
    status, doc = await plain.call("GET", "")
    assert (status, doc["error"]["code"]) == (403, "permission_denied")
    await gw.admin("DELETE", f"/admin/v1/keys/{b.t.key_id}")
    status, doc = await b.call("GET", "")
    assert status == 401


async def test_top_up_credits_once_when_the_payment_succeeds(gw: Gateway) -> None:
    b = await biller(gw)
    state = await b.state()
    assert state["balance_micros"] == 0
    assert state["next"]["url"] == "/dashboard/billing#topup"  # a page, not a POST route
    assert state["next"]["api"] == {"method": "POST", "path": "/v1/account/billing/topups"}
    page = await b.ok("POST", "/topups", {"amount_micros": 5_000_000})
    assert page["url"].startswith(gw.url + "/billing/local/checkout/")
    assert await books_balance(gw, b.t.account_id) == 0  # nothing until it is paid
    async with gw.http.get(page["url"]) as r:
        html = await r.text()
        assert r.status == 200 and ">Pay</button>" in html and ">Cancel</button>" in html
    assert "succeeded" in await b.pay(page["url"])
    await b.pay(page["url"])  # a double click, or the back button: still one payment
    assert (await b.state())["balance_micros"] == 5_000_000
    rows = await credits(gw, b.t.account_id)
    assert [r["amount_micros"] for r in rows] == [5_000_000]
    assert rows[0]["idempotency_key"].startswith("pi_local_")
    assert await books_balance(gw, b.t.account_id) == 5_000_000
    await chat(b)  # the credit is spendable at once


async def test_top_up_amount_bounds(gw: Gateway) -> None:
    b = await biller(gw)
    for amount in (10, 10**12, "5", None, 1_000_001):
        status, doc = await b.call("POST", "/topups", {"amount_micros": amount})
        assert status == 400, (amount, doc)


async def test_declined_card_and_cancel_credit_nothing(gw: Gateway) -> None:
    b = await biller(gw)
    declined = await b.ok("POST", "/topups", {"amount_micros": 2_000_000})
    assert "failed" in await b.pay(declined["url"], DECLINED)
    failed = await b.ok("POST", "/topups", {"amount_micros": 2_000_000})
    assert "failed" in await b.pay(failed["url"], action="fail")
    cancelled = await b.ok("POST", "/topups", {"amount_micros": 2_000_000})
    assert "expired" in await b.pay(cancelled["url"], action="cancel")
    assert await credits(gw, b.t.account_id) == []
    assert await books_balance(gw, b.t.account_id) == 0
    pool = gw.stores().pool
    failures = await pool.fetch(
        "SELECT status, failure FROM payments WHERE account_id = $1", b.t.account_id
    )
    assert sorted(r["status"] for r in failures) == ["failed", "failed"]


async def test_card_needing_authentication(gw: Gateway) -> None:
    b = await biller(gw)
    page = await b.ok("POST", "/topups", {"amount_micros": 3_000_000})
    status, path, html = await b.page(page["url"], action="pay", card=NEEDS_AUTH)
    assert status == 200 and path.startswith("/billing/local/authenticate/")
    assert await books_balance(gw, b.t.account_id) == 0
    status, _, html = await b.page(path, action="complete")
    assert "succeeded" in html
    back = f'href="{gw.url}/dashboard/billing?checkout=success"'  # no PUBLIC_URL: its origin
    assert back in html, html
    assert await books_balance(gw, b.t.account_id) == 3_000_000
    again = await b.ok("POST", "/topups", {"amount_micros": 3_000_000})
    _, path, _ = await b.page(again["url"], action="pay", card=NEEDS_AUTH)
    _, _, html = await b.page(path, action="fail")
    assert "failed" in html
    assert await books_balance(gw, b.t.account_id) == 3_000_000


async def test_402_points_at_the_route_that_fixes_it(gw: Gateway) -> None:
    b = await biller(gw)
    err = await refusal(b)
    assert err.status_code == 402
    assert err.body["next"]["action"] == "top_up"  # type: ignore[index]
    assert err.body["next"]["url"] == "/dashboard/billing#topup"  # type: ignore[index]
    post = await biller(gw, plan="enterprise")
    err = await refusal(post)
    assert err.body["reason"] == "no_payment_method"  # type: ignore[index]
    assert err.body["next"]["url"] == "/dashboard/billing#method"  # type: ignore[index]
    assert err.body["next"]["command"] == "meterway billing setup"  # type: ignore[index]
    assert (await post.state())["next"]["action"] == "setup"
    await post.save_card()
    state = await post.state()
    assert state["billing_ready"] and state["payment_method_on_file"]
    await chat(post)  # postpaid: billing_ready once a method is on file


async def test_refunds_never_add_up_to_more_than_their_payment(gw: Gateway) -> None:
    """On a $15 top-up, refunds of $5 then $11 were both booked: each was checked against
    the payment's amount alone. The second is refused, naming the $10 left; a retry of the
    first's key is still its replay."""
    b = await biller(gw)
    await b.topup(15_000_000)
    payment_id = (await b.ok("GET", "/payments"))["data"][0]["id"]
    path = f"/admin/v1/accounts/{b.t.account_id}/payments/{payment_id}/refunds"
    five = {"amount_micros": 5_000_000, "idempotency_key": "five"}
    status, first = await gw.admin("POST", path, five)
    assert status == 201, first
    status, err = await gw.admin(
        "POST", path, {"amount_micros": 11_000_000, "idempotency_key": "e"}
    )
    assert status == 400 and err["error"]["param"] == "amount_micros", err
    assert "at most $10.00" in err["error"]["message"]
    status, again = await gw.admin("POST", path, five)
    assert status == 200 and again["id"] == first["id"]
    status, rest = await gw.admin(
        "POST", path, {"amount_micros": 10_000_000, "idempotency_key": "t"}
    )
    assert status == 201, rest
    status, err = await gw.admin("POST", path, {"amount_micros": 10_000, "idempotency_key": "c"})
    assert status == 400 and "refunded in full" in err["error"]["message"], err
    rows = await credits(gw, b.t.account_id, "refund")
    assert sorted(r["amount_micros"] for r in rows) == [-10_000_000, -5_000_000]
    assert await books_balance(gw, b.t.account_id) == 0


async def test_racing_refunds_of_one_payment_take_at_most_the_payment(gw: Gateway) -> None:
    """Twelve refunds of $2 raced on a $15 top-up: seven are booked, five refused."""
    b = await biller(gw)
    await b.topup(15_000_000)
    payment_id = (await b.ok("GET", "/payments"))["data"][0]["id"]
    path = f"/admin/v1/accounts/{b.t.account_id}/payments/{payment_id}/refunds"
    answers = await asyncio.gather(
        *(
            gw.admin("POST", path, {"amount_micros": 2_000_000, "idempotency_key": f"k{n}"})
            for n in range(12)
        )
    )
    assert sorted(status for status, _ in answers) == [201] * 7 + [400] * 5, answers
    rows = await credits(gw, b.t.account_id, "refund")
    assert sum(r["amount_micros"] for r in rows) == -14_000_000
    assert await books_balance(gw, b.t.account_id) == 1_000_000


async def test_a_declined_checkout_says_so_when_opened_again(gw: Gateway) -> None:
    b = await biller(gw)
    topup = await b.ok("POST", "/topups", {"amount_micros": 2_000_000})
    setup = await b.ok("POST", "/setup")
    for url in (topup["url"], setup["url"]):
        await b.pay(url, DECLINED)
        async with gw.http.get(url) as r:
            html = await r.text()
        assert r.status == 200 and "declined" in html and "is complete" not in html, html
    async with gw.http.get(setup["url"] + "/done") as r:
        assert "declined" in await r.text()
    assert await books_balance(gw, b.t.account_id) == 0


async def test_an_operator_refunds_a_top_up_once(gw: Gateway) -> None:
    b = await biller(gw)
    await b.topup(3_000_000)
    payment_id = (await b.ok("GET", "/payments"))["data"][0]["id"]
    path = f"/admin/v1/accounts/{b.t.account_id}/payments/{payment_id}/refunds"
    body = {"amount_micros": 1_000_000, "idempotency_key": "r1"}
    status, first = await gw.admin("POST", path, body)
    assert status == 201 and first["idempotent_replay"] is False, first
    status, again = await gw.admin("POST", path, body)
    assert status == 200 and again["idempotent_replay"] and again["id"] == first["id"]
    status, err = await gw.admin("POST", path, body | {"amount_micros": 2_000_000})
    assert status == 409 and "refund of -$1.00" in err["error"]["message"], err
    for amount in (4_000_000, 1_000_001, 0):  # over the payment, not whole cents, nothing
        status, err = await gw.admin(
            "POST", path, {"amount_micros": amount, "idempotency_key": "r2"}
        )
        assert status == 400 and err["error"]["param"] == "amount_micros", err
    other = await biller(gw)
    status, _ = await gw.admin(
        "POST", f"/admin/v1/accounts/{other.t.account_id}/payments/{payment_id}/refunds", body
    )
    assert status == 404
    rows = await credits(gw, b.t.account_id, "refund")
    assert [(r["amount_micros"], r["idempotency_key"]) for r in rows] == [(-1_000_000, first["id"])]
    assert await books_balance(gw, b.t.account_id) == 2_000_000
