"""The operator's console in Chromium (issue 48): open an account with its plan and opening
credit, invite its owner, change the role, create a team with its budget, issue a key in it,
rotate and revoke the key, set an end-user budget, remove the member, each from the
Operators pages, what cannot be undone only after a confirmation page. The account's own
roles (member, billing, admin, owner) reach none of these pages: each gets a page in words.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page

from tests.support.browser_kit import sign_in
from tests.support.factories import tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLE_CLAIM_ENV) as gateway:
        yield gateway


async def _open(page: Page, name: str, credit: str) -> str:
    """Open an account from the Operators page; its id (from the page it lands on)."""
    await page.goto("/dashboard/operators")
    await page.click("#open-account-link")
    await page.fill("#open-name", name)
    await page.select_option("#open-plan", "pro")
    await page.fill("#open-credit", credit)
    await page.click("#open-account button[type=submit]")
    words = await page.inner_text("#confirm-summary")  # the plan named before it opens
    assert f"Open {name} on the pro plan, with an opening credit of" in words, words
    await page.click("#confirm")
    await page.wait_for_url("**/people?notice=opened")
    return page.url.split("/accounts/")[1].split("/")[0]


async def _confirm(page: Page, link: str, grace: str | None = None) -> str:
    """Follow a destructive action's link: its confirmation page's words, then Confirm."""
    await page.click(link)
    words = await page.inner_text("#confirm-summary")
    if grace is not None:
        await page.fill("#grace", grace)
    await page.click("#confirm")
    await page.wait_for_load_state()
    return words


async def _open_again(page: Page, name: str) -> None:
    """The form reached by Back, its fields as typed, submitted again."""
    await page.fill("#open-name", name)
    await page.select_option("#open-plan", "pro")
    await page.fill("#open-credit", "12.50")
    await page.click("#open-account button[type=submit]")
    await page.click("#confirm")
    await page.wait_for_selector("text=Already recorded")


async def test_the_operator_opens_an_account_once_with_its_opening_credit(
    gw: Gateway, page: Page
) -> None:
    await sign_in(page, ADMIN_KEY)
    name = f"acme-{secrets.token_hex(3)}"
    account = await _open(page, name, "$12.50")
    assert "Account opened" in await page.inner_text("#notice")
    # Back three times, past the people page and the confirmation, to the form (its first
    # token): refused.
    await page.goto(f"/dashboard/operators/accounts/{account}")
    await page.go_back()
    await page.go_back()
    await page.go_back()  # people, the confirmation, then the form
    await _open_again(page, name)
    await page.go_back()  # from the refusal to the confirmation, then the form: refused again
    await page.go_back()
    await _open_again(page, name)
    await page.click("#form-result")
    await page.wait_for_url(f"**/accounts/{account}/people?notice=opened")
    status, found = await gw.admin("GET", f"/admin/v1/accounts?q={name}")
    assert status == 200 and [a["id"] for a in found["data"]] == [account]
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account}")
    assert (body["plan"], body["balance_micros"]) == ("pro", 12_500_000), body

    # A form drawn afresh is a new account on purpose, even with the same fields.
    second = await _open(page, name, "$12.50")
    assert second != account
    status, found = await gw.admin("GET", f"/admin/v1/accounts?q={name}")
    assert status == 200 and sorted(a["id"] for a in found["data"]) == sorted([account, second])
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{second}")
    assert body["balance_micros"] == 12_500_000, body


async def test_typed_money_that_is_not_dollars_is_refused_in_words(gw: Gateway, page: Page) -> None:
    """The refused form keeps every field as typed: it came back on the `free` plan without
    the external id, so an operator who fixed the credit opened the customer on the wrong
    plan."""
    await sign_in(page, ADMIN_KEY)
    await page.goto("/dashboard/operators/new")
    await page.fill("#open-name", "typo")
    await page.select_option("#open-plan", "pro")
    await page.fill("#open-credit", "ten")
    await page.fill("#open-external", "idp|42")
    await page.click("#open-account button[type=submit]")
    assert "dollars" in await page.inner_text("[role=alert]")
    assert await page.input_value("#open-name") == "typo"
    assert await page.input_value("#open-plan") == "pro"
    assert await page.input_value("#open-credit") == "ten"
    assert await page.input_value("#open-external") == "idp|42"


async def test_a_refusal_after_the_confirmation_keeps_every_field(gw: Gateway, page: Page) -> None:
    """The confirmation names the plan and the credit; a refusal when it posts (an external
    id another account holds) draws the form again as typed, not on the default plan."""
    taken = f"idp|{secrets.token_hex(4)}"
    status, _ = await gw.admin(
        "POST", "/admin/v1/accounts", {"name": "first", "external_id": taken}
    )
    assert status == 201
    await sign_in(page, ADMIN_KEY)
    await page.goto("/dashboard/operators/new")
    await page.fill("#open-name", "second")
    await page.select_option("#open-plan", "pro")
    await page.fill("#open-credit", "7.25")
    await page.fill("#open-external", taken)
    await page.click("#open-account button[type=submit]")
    words = await page.inner_text("#confirm-summary")
    assert words == "Open second on the pro plan, with an opening credit of $7.25.", words
    await page.click("#confirm")
    assert "already has this external_id" in await page.inner_text("[role=alert]")
    typed = {
        f: await page.input_value(f"#open-{f}") for f in ("name", "plan", "credit", "external")
    }
    assert typed == {"name": "second", "plan": "pro", "credit": "7.25", "external": taken}


@pytest.mark.timeout(360)
async def test_people_keys_teams_and_budgets_from_the_operator_pages(
    gw: Gateway, page: Page
) -> None:
    await sign_in(page, ADMIN_KEY)
    account = await _open(page, f"shop-{secrets.token_hex(3)}", "5")

    await page.fill("#invite-email", "owner@example.com")
    await page.click("#invite button[type=submit]")
    assert "/dashboard/signin/invitation/" in await page.input_value("#accept-url")
    row = page.locator("#members tbody tr").first
    await row.locator("select[name=role]").select_option("billing")
    await row.locator("button", has_text="Change role").click()
    await page.wait_for_url("**notice=role")
    assert "billing" in await page.locator("#members tbody tr select").first.input_value()

    await page.fill("#team-name", "web")
    await page.select_option("#new-team-window-0", "day")
    await page.select_option("#new-team-metric-0", "spend")
    await page.fill("#new-team-limit-0", "2.50")
    await page.click("#create-team button[type=submit]")
    await page.wait_for_url("**notice=team")
    assert "$2.50 spend per day" in await page.inner_text("#teams")

    await page.fill("#key-name", "app")
    await page.select_option("#key-team", label="web")
    await page.click("#issue-key button[type=submit]")
    secret = await page.input_value("#secret")
    assert secret.startswith("mw-")
    await page.click("text=Back to keys")
    assert "web" in await page.inner_text("#keys tbody tr")

    words = await _confirm(page, "text=Rotate app…", grace="60")
    assert "Rotate the key “app”" in words
    rotated = await page.input_value("#secret")
    assert rotated.startswith("mw-") and rotated != secret
    await page.click("text=Back to keys")
    keys = await page.inner_text("#keys tbody")  # one row: the new secret's, naming the old
    assert await page.locator("#keys tbody tr").count() == 1
    assert "the old secret works until" in keys, keys
    await gw.advance_clock(61_000)
    await page.reload()
    assert "the old secret works" not in await page.inner_text("#keys tbody")
    words = await _confirm(page, "text=Revoke app…")
    assert "refused from now on" in words
    assert "Key revoked" in await page.inner_text("#notice")
    assert "No live keys." in await page.inner_text("#keys")

    await page.select_option("#budget-window-0", "day")
    await page.select_option("#budget-metric-0", "spend")
    await page.fill("#budget-limit-0", "1")
    await page.click("#set-budget button[type=submit]")
    await page.wait_for_url("**notice=budget")
    assert "$1.00 spend per day" in await page.inner_text("#budgets")

    words = await _confirm(page, "text=Remove owner@example.com…")
    assert "Their keys are revoked" in words
    assert "No members yet" in await page.inner_text("#members")

    status, audit = await gw.admin("GET", f"/admin/v1/audit?account_id={account}")
    assert status == 200, audit
    done = {r["action"] for r in audit["data"] if r["actor_kind"] == "operator"}
    wanted = {"account.create", "member.invite", "member.role", "member.remove", "key.create"}
    assert wanted | {"key.rotate", "key.revoke"} <= done, done


async def test_a_destructive_link_alone_changes_nothing(gw: Gateway, page: Page) -> None:
    """The confirmation page is a GET: opening it (a prefetch, a Back) removes no one."""
    t = await tenant(gw)
    status, made = await gw.admin(
        "POST", f"/admin/v1/accounts/{t.account_id}/members", {"email": "bo@example.com"}
    )
    assert status == 201, made
    await sign_in(page, ADMIN_KEY)
    base = f"/dashboard/operators/accounts/{t.account_id}/people"
    answer = await page.goto(f"{base}/confirm/remove-member?id={made['id']}")
    assert answer is not None and answer.status == 200
    status, members = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/members")
    assert [m["id"] for m in members["data"]] == [made["id"]]
    for action in ("remove-member", "revoke-key", "rotate-key"):  # a NUL: not found, no 500
        answer = await page.goto(f"{base}/confirm/{action}?id=%00")
        assert answer is not None and answer.status == 404, action


@pytest.mark.parametrize("role", ["member", "billing", "admin", "owner"])
async def test_an_account_role_gets_a_page_not_the_operator_console(
    gw: Gateway, page: Page, role: str
) -> None:
    t = await tenant(gw)
    token = sign_hs(
        claims(f"{role}-{secrets.token_hex(3)}", account_id=t.account_id, groups=[role])
    )
    await sign_in(page, token)
    for path in (
        "/dashboard/operators/new",
        f"/dashboard/operators/accounts/{t.account_id}/people",
        f"/dashboard/operators/accounts/{t.account_id}/people/confirm/remove-member?id=x",
    ):
        answer = await page.goto(path)
        assert answer is not None and answer.status == 403, (role, path)
        assert "text/html" in (await answer.all_headers())["content-type"]
        text = await page.inner_text("main")
        assert "Operators only" in text and "{" not in text, (role, text)
