"""An invoice in a currency nobody gave a rate for reads the operator's rate source
(FX_RATES_URL, the ECB's reference-rate format) when it is issued: the rate crossed through
EUR and rounded to 8 places is recorded on the invoice with the day it is of, and the lines
convert by it; a source that fails issues nothing and uses no number (docs/guides/invoices.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.e2e.test_invoices import SELLER, half_up, issue, postpaid
from tests.support.fakes.ecb_rates import Ecb, ecb_server
from tests.support.harness import LOCAL_SINKS, Gateway, free_port, running_gateway


@pytest.fixture
async def ecb() -> AsyncIterator[Ecb]:
    async with ecb_server() as server:
        yield server


@pytest.fixture
async def gw(dsn: str, ecb: Ecb) -> AsyncIterator[Gateway]:
    env = {"FX_RATES_URL": ecb.url, **SELLER, **LOCAL_SINKS}  # the fake source is local
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


async def test_a_gbp_invoice_takes_the_sources_rate_and_records_it(gw: Gateway, ecb: Ecb) -> None:
    gw.control.usage = {"prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500}
    c = await postpaid(gw, {"country": "GB", "currency": "GBP"}, calls=2)
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    # 0.83118 GBP per EUR / 1.0545 USD per EUR, rounded half up at 8 places.
    exact = Decimal("0.83118") / Decimal("1.0545")  # 0.788221906..., 28 digits
    assert inv["rate"] == "0.78822191" and abs(Decimal(inv["rate"]) - exact) < Decimal("5e-9")
    assert inv["rate_source"].startswith("ECB reference rates of 2026-11-26 (")
    for ln in (ln for ln in inv["lines"] if ln["section"] == "usage"):
        assert ln["amount_minor"] == half_up(ln["amount_micros"], "0.78822191", 2)
    assert ecb.asked == 1

    # A rate given by the operator wins: the source is not read.
    status, body = await gw.admin(
        "PUT", f"/admin/v1/accounts/{c.account_id}/invoicing", {"rate": "0.79"}
    )
    assert status == 200, body
    status, again = await issue(gw, c.account_id)
    assert status == 201 and again["rate"] == "0.79", again
    assert ecb.asked == 1


async def test_a_failing_source_issues_nothing(gw: Gateway, ecb: Ecb) -> None:
    c = await postpaid(gw, {"country": "JP", "currency": "JPY"}, calls=1)
    ecb.status = 503
    status, body = await issue(gw, c.account_id)
    assert status == 503 and body["error"]["code"] == "rate_source_unavailable", body
    ecb.status, ecb.rates = 200, {"JPY": "161.93"}  # no USD: no cross rate
    status, body = await issue(gw, c.account_id)
    assert status == 400 and "USD" in body["error"]["message"], body
    ecb.rates |= {"USD": "1.0545"}
    status, inv = await issue(gw, c.account_id)
    assert status == 201 and inv["rate"] == "153.56092935", inv  # 161.93 / 1.0545
    status, listed = await gw.admin("GET", f"/admin/v1/accounts/{c.account_id}/invoices")
    assert [i["number"] for i in listed["data"]] == [inv["number"]]  # no number used before


async def test_a_redirect_inward_is_refused_and_answers_503(gw: Gateway, ecb: Ecb) -> None:
    """The source is read through the egress rules: a 302 to this machine's own name is
    not followed (the document behind it would have priced the invoice)."""
    c = await postpaid(gw, {"country": "CH", "currency": "CHF"}, calls=1)
    ecb.redirect = ecb.url.replace("127.0.0.1", "localhost")
    status, body = await issue(gw, c.account_id)
    assert status == 503 and body["error"]["code"] == "rate_source_unavailable", body
    assert ecb.asked == 1  # the redirect, and nothing behind it


async def test_an_unreachable_source_answers_503(dsn: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/eurofxref-daily.xml"  # nothing listens there
    async with running_gateway(dsn, None, FX_RATES_URL=url, **SELLER, **LOCAL_SINKS) as gw:
        c = await postpaid(gw, {"country": "JP", "currency": "JPY"}, calls=1)
        status, body = await issue(gw, c.account_id)
    assert status == 503 and body["error"]["code"] == "rate_source_unavailable", body
    assert "Nothing was issued" in body["error"]["message"], body
