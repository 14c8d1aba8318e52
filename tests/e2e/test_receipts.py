"""Receipts in headless Chromium with the local payments provider: a top-up's receipt is a
page with the amount and the seller's details from settings, and a PDF (read back with
pypdf); the billing page's history links to it. Only the account's billing readers and
the operator read it: another account's caller finds nothing, the operator finds it under
the account (a role without billing:read is refused by the route table:
tests/e2e/test_authority_matrix.py asks every role every route)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page
from pypdf import PdfReader

from billing.money.micros import parse_usd
from gateway.config.proof import ProofSettings
from gateway.services.proof.ledger_seal import seal
from gateway.services.proof.signing_keys import SigningKeys
from tests.e2e.dashboard.test_dashboard import SCOPES
from tests.e2e.dashboard.test_dashboard_billing import buy_plan, pay, submit_top_up
from tests.support.browser_kit import low_contrast, overflow_px, screenshots, sign_in, unlabelled
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

SELLER = {
    "SELLER_NAME": "Acme Metering Ltd",
    "SELLER_ADDRESS": "1 Long Road; Springfield 12345",
    "SELLER_TAX_ID": "GB123456789",
}


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **SELLER) as gateway:
        yield gateway


async def _top_up(page: Page, amount: str) -> str:
    """Top up on the Billing page and pay; the receipt link of the payment."""
    await submit_top_up(page, amount)
    await pay(page)
    await page.goto("/dashboard/billing")
    link = page.locator("#payments a.receipt-link").first
    href = await link.get_attribute("href")
    assert href is not None and href.startswith("/dashboard/billing/receipts/"), href
    return href


async def test_a_top_up_has_a_receipt_page_and_pdf_with_the_seller(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    href = await _top_up(page, "7.50")
    await page.click("#payments a.receipt-link")
    assert page.url.endswith(href)
    assert await page.inner_text("#receipt-amount") == "$7.50"
    seller = await page.inner_text("#seller")
    assert "Acme Metering Ltd" in seller and "Springfield 12345" in seller
    assert "GB123456789" in seller
    facts = await page.inner_text("#receipt-facts")
    assert t.account_id in facts and "Visa •••• 4242" in facts  # the card it was paid with
    assert re.fullmatch(r"Receipt R-\d{4,}", await page.inner_text("#receipt-title"))
    assert re.search(r"Balance top-up\s+\$7\.50", await page.inner_text("#receipt-lines"))
    assert await overflow_px(page, 375) == 0  # a phone scrolls it no sideways
    await screenshots(page, "receipt")
    assert await unlabelled(page) == [] and await low_contrast(page) == []
    pdf_href = await page.get_attribute("#receipt-pdf", "href")
    await gw.settle_all()
    await seal(gw.stores().ledger_proof(), SigningKeys(ProofSettings()), 50_000)
    sealed = await gw.stores().ledger_proof().last()
    answer = await page.request.get(str(pdf_href))
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(await answer.body()), strict=True).pages[0].extract_text()
    assert "$7.50" in text and "Acme Metering Ltd" in text and "GB123456789" in text
    assert href.rsplit("/", 1)[1] in text
    named = re.search(r"checkpoint(\d+),head([0-9a-f]{64})", "".join(text.split()))
    assert named and sealed and int(named[1]) >= sealed.checkpoint.seq  # another may seal too
    heads = "SELECT head FROM ledger_checkpoints WHERE seq = $1"
    assert await gw.stores().pool.fetchval(heads, int(named[1])) == named[2]


async def test_only_billing_readers_and_the_operator_read_a_receipt(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    href = await _top_up(page, "3.00")
    payment_id = href.rsplit("/", 1)[1]
    other = await tenant(gw, scopes=SCOPES)
    await page.context.clear_cookies()
    await sign_in(page, other.key)
    for path in (href, href + "/pdf", "/dashboard/billing/receipts/%00"):
        answer = await page.goto(path)
        assert answer is not None and answer.status == 404, path  # a NUL too: no 500
    await page.context.clear_cookies()
    await sign_in(page, ADMIN_KEY)
    path = f"/dashboard/operators/accounts/{t.account_id}/receipts/{payment_id}"
    answer = await page.goto(path)
    assert answer is not None and answer.status == 200
    assert await page.inner_text("#receipt-amount") == "$3.00"
    pdf = await page.request.get(path + "/pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    wrong = f"/dashboard/operators/accounts/{other.account_id}/receipts/{payment_id}"
    answer = await page.goto(wrong)
    assert answer is not None and answer.status == 404


async def test_a_paid_subscription_invoice_links_to_its_receipt(gw: Gateway, page: Page) -> None:
    """The local provider's invoices have no page of their own: a paid one's row opens the
    receipt, which names the subscription and the plan's price."""
    t = await tenant(gw, credit=0, scopes=SCOPES, plan="free")
    await sign_in(page, t.key)
    await buy_plan(page, "starter")
    await page.goto("/dashboard/billing")
    await page.locator("#invoices tbody a").first.click()
    assert "/dashboard/billing/receipts/" in page.url
    assert await page.inner_text("#receipt-amount") == "$20.00"
    lines = await page.inner_text("#receipt-lines")  # the plan and the period it paid for
    assert re.search(r"Starter plan, \d{1,2} \w{3} \d{4} to \d{1,2} \w{3} \d{4}\s+\$20\.00", lines)
    assert "Visa •••• 4242" in await page.inner_text("#receipt-facts")


async def test_a_refund_shows_on_the_receipt_the_history_and_the_operators_form(
    gw: Gateway, page: Page
) -> None:
    """After $5 of a $15 top-up was refunded, the receipt still said "Paid in full $15.00",
    the history "succeeded", and the operator's refund box offered the full $15."""
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    href = await _top_up(page, "15")
    payment_id = href.rsplit("/", 1)[1]
    path = f"/admin/v1/accounts/{t.account_id}/payments/{payment_id}/refunds"
    status, _ = await gw.admin("POST", path, {"amount_micros": 5_000_000, "idempotency_key": "r"})
    assert status == 201
    await page.goto(href)
    assert await page.inner_text("#receipt-amount") == "$15.00"
    assert "Partially refunded $5.00" in await page.inner_text("#receipt-standing")
    lines = await page.inner_text("#receipt-lines")
    assert re.search(r"Refunded\s+-\$5\.00", lines) and re.search(
        r"after refunds\s+\$10\.00", lines
    )
    pdf = await page.request.get(href + "/pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages)
    assert "Partially refunded $5.00" in text
    number = (await page.inner_text("#receipt-title")).removeprefix("Receipt ")
    _, log = await gw.admin("GET", f"/admin/v1/audit?account_id={t.account_id}&kind=money")
    said = [r["sentence"] for r in log["data"]]  # the audit log names the payment by its number
    assert any(f"refunded $5.00 of payment {number} to" in s for s in said), said
    await page.goto("/dashboard/billing")
    assert "Partially refunded $5.00" in await page.inner_text("#payments .payment-status")

    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    box = page.locator(f"input[aria-label='Refund amount of {payment_id} (USD)']")
    assert parse_usd(await box.input_value()) == 10_000_000  # what is left, not the payment
    link = page.locator(f"#payments a[href$='/receipts/{payment_id}']")
    assert await link.count() == 1  # the operator's payments link each receipt
