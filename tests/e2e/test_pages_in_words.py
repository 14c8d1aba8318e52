"""People's pages in their words (issue 57, item 8), in Chromium: the audit log reads one
sentence a record in dollars and names, filters by who, kind and date, and fits 375 px and
1280 px with nothing off-screen, for the operator and for an organization's owner; a refused
credit form and a refused key form come back with every field as typed."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, ViewportSize

from gateway.http.appkeys import DASHBOARD_SESSIONS
from gateway.http.dashboard.people.session import COOKIE, digest
from tests.e2e.dashboard.test_dashboard import SCOPES
from tests.support.browser_kit import screenshots, sign_in
from tests.support.factories import Tenant, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
# Everything visible whose right edge lies past the viewport's, and how wide the page is.
OFF_SCREEN = """() => ({
  width: document.documentElement.scrollWidth,
  beyond: [...document.querySelectorAll('main *')]
    .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > innerWidth + 0.5)
    .map(e => `${e.tagName} ${e.textContent.trim().slice(0, 40)}`)})"""


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        yield gateway


async def changes(gw: Gateway) -> tuple[Tenant, str, str]:
    """An account the operator credits, marks up and invites an owner to; its name and
    the owner's e-mail."""
    t = await tenant(gw, scopes=SCOPES)
    base = f"/admin/v1/accounts/{t.account_id}"
    credit = {"amount_micros": 5_000_000, "idempotency_key": secrets.token_hex(6),
              "reason": "welcome", "grant": {"kind": "promotional"}}  # fmt: skip
    assert (await gw.admin("POST", base + "/credits", credit))[0] == 201
    assert (await gw.admin("PUT", base + "/markup", {"markup_bps": 1250}))[0] == 202
    owner = f"ada-{secrets.token_hex(3)}@example.com"
    assert (await gw.admin("POST", base + "/members", {"email": owner, "role": "owner"}))[0] == 201
    return t, (await gw.admin("GET", base))[1]["name"], owner


async def fits(page: Page) -> None:
    """At phone and desktop width, the page scrolls no sideways and nothing is off-screen."""
    for size in (PHONE, DESKTOP):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(50)
        seen = await page.evaluate(OFF_SCREEN)
        assert seen["width"] <= size["width"] and seen["beyond"] == [], (size, seen)


async def sentences(page: Page) -> list[str]:
    return [s.strip() for s in await page.locator("#audit .sentence").all_inner_texts()]


async def test_the_operator_reads_the_audit_log_in_sentences(gw: Gateway, page: Page) -> None:
    t, name, owner = await changes(gw)
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/audit?account_id={t.account_id}")
    said = await sentences(page)
    assert f"The operator invited {owner} as owner." in said, said
    proposed = f"The operator proposed a markup of 12.5% for {name} from "
    assert any(line.startswith(proposed) for line in said), said
    assert f"The operator credited $5.00 to {name} as a promotional grant (welcome)." in said, said
    text = await page.inner_text("#audit")
    assert "micros" not in " ".join(said) and "{" not in " ".join(said), said
    assert "5000000" not in text.replace("5,000,000", "")  # the raw record stays folded away
    await page.evaluate("document.querySelectorAll('#audit details').forEach(d => d.open = true)")
    assert "5000000" in await page.inner_text("#audit")  # ... and unfolds, wrapped to fit
    await fits(page)
    await screenshots(page, "audit-operator")

    await page.select_option("select[name=kind]", "money")
    await page.click("#audit-filters button[type=submit]")
    money = ["credited $5.00", "credited $10.0"]  # and the test's seed credit, first
    assert [s.split(" ", 2)[2][:14] for s in await sentences(page)] == money, said
    await page.select_option("select[name=kind]", "")
    await page.fill("input[name=since]", "2000-01-01")
    await page.fill("input[name=until]", "2000-01-02")
    await page.click("#audit-filters button[type=submit]")
    assert await sentences(page) == []
    assert "No records match these filters." in await page.inner_text("#audit")


async def test_an_owner_filters_by_who_at_phone_width(gw: Gateway, page: Page) -> None:
    t, _, owner = await changes(gw)
    status, members = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/members")
    assert status == 200, members
    member = next(m for m in members["data"] if m["email"] == owner)
    cookie = secrets.token_urlsafe(32)
    session: dict[str, object] = {"kind": "member", "member_id": member["id"]}
    session["account_id"] = t.account_id
    session |= {"label": owner, "csrf": "x", "operator": False, "signin": "e-mailed link"}
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), session, 3600)
    await page.context.add_cookies([{"name": COOKIE, "value": cookie, "url": gw.url}])
    await page.set_viewport_size(PHONE)
    await page.goto("/dashboard/keys")
    await page.fill("#key-name", "made-by-ada")
    await page.click("#create-key button[type=submit]")
    await page.goto("/dashboard/audit")
    said = await sentences(page)
    assert f"{owner} created key “made-by-ada”" in said[0], said
    await page.fill("input[name=actor]", owner.upper())  # an e-mail as people type it
    await page.click("#audit-filters button[type=submit]")
    assert [s.startswith(owner) for s in await sentences(page)] == [True], await sentences(page)
    await fits(page)
    await screenshots(page, "audit-owner")


async def test_a_refused_credit_keeps_every_field(gw: Gateway, page: Page) -> None:
    """It came back with the kind reset to `paid` and expiry, priority and reason cleared."""
    t = await tenant(gw)
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    typed = {"#credit-amount": "ten", "#credit-reason": "launch week",
             "#credit-kind": "promotional", "#credit-expires": "2031-03-31",
             "#credit-priority": "10"}  # fmt: skip
    for field, value in typed.items():
        await page.fill(field, value)
    await page.click("form[action$='/confirm/credit'] button[type=submit]")
    assert "dollars" in await page.inner_text("[role=alert]")
    assert {f: await page.input_value(f) for f in typed} == typed


async def test_a_refused_key_keeps_every_field(gw: Gateway, page: Page) -> None:
    """It came back empty: name, what it may do, models, expiry and limits all gone."""
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, t.key)
    for path, form in (("/dashboard/keys", "#create-key"),
                       (None, "#issue-key")):  # fmt: skip
        if path is None:
            await sign_in(page, ADMIN_KEY)
            await page.goto(f"/dashboard/operators/accounts/{t.account_id}/people")
        else:
            await page.goto(path)
        await page.fill("#key-name", "ci-runner")
        await page.uncheck(f"{form} input[name=groups][value=inference]")
        await page.check(f"{form} input[name=groups][value=usage]")
        await page.fill("#key-models", "gpt-4o-mini, gpt-4o")
        await page.fill("#key-expires", "2030-06-30")
        prefix = "new" if form == "#create-key" else "new-key"
        await page.select_option(f"#{prefix}-window-0", "day")
        await page.select_option(f"#{prefix}-metric-0", "spend")
        await page.fill(f"#{prefix}-limit-0", "lots")
        await page.click(f"{form} button[type=submit]")
        assert await page.locator("[role=alert]").count() == 1, form
        assert await page.input_value("#key-name") == "ci-runner"
        assert not await page.is_checked(f"{form} input[name=groups][value=inference]")
        assert await page.is_checked(f"{form} input[name=groups][value=usage]")
        assert await page.input_value("#key-models") == "gpt-4o-mini, gpt-4o"
        assert await page.input_value("#key-expires") == "2030-06-30"
        assert await page.input_value(f"#{prefix}-window-0") == "day"
        assert await page.input_value(f"#{prefix}-metric-0") == "spend"
        assert await page.input_value(f"#{prefix}-limit-0") == "lots"


async def test_an_adjustment_refused_when_confirmed_keeps_every_field(
    gw: Gateway, page: Page
) -> None:
    """Refused by its POST (more than the account has), not by its confirmation: the
    account page came back with the adjustment form empty."""
    t = await tenant(gw)  # $10.00
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    await page.select_option("#adjust-direction", "out")
    await page.fill("#adjust-amount", "1,000")
    await page.fill("#adjust-reason", "chargeback")
    await page.click("form[action$='/confirm/adjustment'] button[type=submit]")
    assert "$1,000.00" in await page.inner_text("#confirm-summary")
    await page.click("#confirm")
    assert await page.locator("[role=alert]").count() == 1
    assert await page.input_value("#adjust-direction") == "out"
    assert await page.input_value("#adjust-amount") == "1000.00"
    assert await page.input_value("#adjust-reason") == "chargeback"
