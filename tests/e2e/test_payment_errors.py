"""A payment the provider refuses says what it answered: against stock localstripe, which
has no Checkout, a top-up is a 502 naming the provider's 404 and what it said (not "did not
answer"); the dashboard's Billing page shows the same words. A provider that never answered
still says so."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.services.money.payment.port import ProviderUnavailable
from tests.e2e.payments.conftest import stack
from tests.e2e.test_form_tokens import TOPUP
from tests.support.billing_client import biller
from tests.support.dashboard_client import CSRF, signed_in
from tests.support.fakes.stripe_stack import StripeStack
from tests.support.harness import Gateway, free_port, running_gateway

__all__ = ["stack"]  # the Stripe stack fixture, shared with the Stripe adapter's tests


@pytest.fixture
async def stock(dsn: str, stack: StripeStack) -> AsyncIterator[Gateway]:
    """A gateway on localstripe itself, without the tests' Checkout front."""
    port = free_port()
    env = stack.env(f"http://127.0.0.1:{port}") | {
        "LISTEN_ADDR": f"127.0.0.1:{port}",
        "STRIPE_API_BASE": stack.localstripe,
    }
    async with running_gateway(dsn, None, **env) as gw:
        yield gw


async def test_a_top_up_against_stock_localstripe_names_its_404(stock: Gateway) -> None:
    b = await biller(stock)
    status, doc = await b.call("POST", "/topups", {"amount_micros": 5_000_000})
    assert status == 502, doc
    message = doc["error"]["message"]
    assert message.startswith("The payment provider answered 404: "), message
    assert "did not answer" not in message and "Nothing was charged." in message
    assert doc["error"]["type"] == "payment_provider_error"


async def test_the_billing_page_shows_what_the_provider_answered(stock: Gateway) -> None:
    b = await biller(stock)
    http = await signed_in(stock, b.t.key)
    try:
        async with http.get(stock.url + "/dashboard/billing") as r:
            drawn = await r.text()
        token, once = CSRF.search(drawn), TOPUP.search(drawn)
        assert token is not None and once is not None
        form = {"csrf": token[1], "form_token": once[1], "amount": "7.25"}
        async with http.post(stock.url + "/dashboard/billing/topup", data=form) as r:
            page = await r.text()
            assert r.status == 502
    finally:
        await http.close()
    assert "The payment provider answered 404: " in page and 'value="7.25"' in page


def test_no_answer_still_says_so() -> None:
    said = ProviderUnavailable("Connection refused").said()
    assert said == "The payment provider did not answer; nothing was charged."
    long = ProviderUnavailable("x\n" * 500, 500).said()
    assert long.startswith("The payment provider answered 500: x x") and "\n" not in long
    assert len(long) < 400
