"""Nothing is free by default: with no payment provider named, no self-serve action hands out a
page that pays (the local provider, which pays without money, runs only when named), and an
operator's credits still work."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.e2e.test_form_tokens import TOPUP
from tests.support.billing_client import Biller, biller, books_balance
from tests.support.harness import Gateway, running_gateway

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ACTIONS: list[tuple[str, str, Any]] = [
    ("POST", "/topups", {"amount_micros": 1_000_000_000}),
    ("POST", "/setup", ...),
    ("POST", "/portal", ...),
    ("POST", "/subscription", {"plan": "starter"}),
]


@pytest.fixture
async def bare(dsn: str) -> AsyncIterator[Gateway]:
    """A gateway whose settings name no payment provider (the harness names `local`)."""
    async with running_gateway(dsn, PAYMENTS_PROVIDER="") as gateway:
        yield gateway
        await gateway.settle_all()


async def test_no_provider_named_means_no_free_top_up(bare: Gateway) -> None:
    b = await biller(bare)
    assert bare.settings.payments.provider == "none"
    for method, path, body in ACTIONS:
        status, doc = await b.call(method, path, body)
        assert status == 503, (path, status, doc)
        assert doc["error"]["code"] == "payments_not_set_up", doc
        assert doc["error"]["type"] == "service_unavailable"
        assert "url" not in doc and "not set up" in doc["error"]["message"]
    state = await b.state()
    assert state["provider"] == "none" and state["balance_micros"] == 0
    async with bare.http.get(bare.url + "/billing/local/checkout/x") as r:
        assert r.status == 404  # the local provider's pages are not there to pay at


async def test_the_answer_says_retrying_does_not_help(bare: Gateway) -> None:
    b = await biller(bare)
    url = f"{bare.url}/v1/account/billing/topups"
    async with bare.http.post(url, json={"amount_micros": 5_000_000}, headers=b.auth) as r:
        assert r.status == 503 and r.headers["x-should-retry"] == "false"


async def test_operator_credits_still_work(bare: Gateway) -> None:
    b: Biller = await biller(bare)
    body = {"amount_micros": 7_000_000, "idempotency_key": "grant-1"}
    status, answer = await bare.admin("POST", f"/admin/v1/accounts/{b.t.account_id}/credits", body)
    assert status == 201, answer
    assert await books_balance(bare, b.t.account_id) == 7_000_000
    assert (await b.state())["balance_micros"] == 7_000_000


async def test_the_dashboard_form_says_so_and_redirects_nowhere(bare: Gateway) -> None:
    """The dashboard's top-up form answers the same refusal on its page, with no redirect to
    a page that pays."""
    b = await biller(bare)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(bare.url + "/dashboard/signin") as r:
            csrf = _csrf(await r.text())
        data = {"csrf": csrf, "credential": b.t.key}
        async with http.post(bare.url + "/dashboard/signin", data=data) as r:
            assert r.status == 200
        async with http.get(bare.url + "/dashboard/billing") as r:
            drawn = await r.text()
        once = TOPUP.search(drawn)
        assert once is not None
        async with http.post(
            bare.url + "/dashboard/billing/topup",
            data={"amount": "1000", "csrf": _csrf(drawn), "form_token": once[1]},
            allow_redirects=False,
        ) as r:
            html = await r.text()
            assert r.status == 503, html
            assert "not set up" in html and "Location" not in r.headers


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None
    return found.group(1)
