"""Accessibility basics of every dashboard page in headless Chromium: every input labelled,
text contrast at WCAG AA computed from the rendered colours, forms usable by keyboard."""

from __future__ import annotations

from playwright.async_api import Page

from tests.e2e.dashboard.test_dashboard import SCOPES, chat
from tests.support.browser_kit import low_contrast, sign_in, unlabelled
from tests.support.factories import ledger, tenant
from tests.support.harness import ADMIN_KEY, Gateway


async def check(page: Page, path: str) -> None:
    await page.goto(path)
    assert await unlabelled(page) == [], path
    assert await low_contrast(page) == [], path


async def test_every_page_labels_its_inputs_and_has_readable_contrast(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await chat(gw, t.key)
    await gw.settle_all()
    await check(page, "/dashboard/signin")
    await sign_in(page, t.key)
    for path in ("/dashboard/", "/dashboard/keys", "/dashboard/usage"):
        await check(page, path)
    await page.click("text=Sign out")
    await sign_in(page, ADMIN_KEY)
    confirm = f"/dashboard/operators/accounts/{t.account_id}/confirm/adjustment"
    for path in (
        "/dashboard/operators",
        f"/dashboard/operators/accounts/{t.account_id}",
        f"{confirm}?idempotency_key=k1&amount=2&reason=check&direction=out",
    ):
        await check(page, path)


DARK_JS = """() => { const m = getComputedStyle(document.documentElement).backgroundColor
  .match(/\\d+/g).map(Number); return m[0] + m[1] + m[2] < 120; }"""


async def test_light_and_dark_schemes_keep_aa_contrast_on_every_page(
    gw: Gateway, page: Page
) -> None:
    """prefers-color-scheme emulated: each page in each scheme, the charts, gauges, explorer
    and a request's page included, every text at WCAG AA against its rendered background."""
    t = await tenant(gw, scopes=SCOPES)
    for model in ("gpt-4o-mini", "gpt-4o"):
        await chat(gw, t.key, model=model)
    await gw.settle_all()
    rid = next(e["request_id"] for e in await ledger(gw, t.account_id) if e["kind"] == "debit")
    account_pages = (
        "/dashboard/",
        "/dashboard/?granularity=week&stack=model",
        "/dashboard/keys",
        "/dashboard/billing",
        "/dashboard/usage?group_by=kind&stack=model",
        f"/dashboard/usage/requests/{rid}",
    )
    operator_pages = ("/dashboard/operators", f"/dashboard/operators/accounts/{t.account_id}")
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await check(page, "/dashboard/signin")
        assert await page.evaluate(DARK_JS) is (scheme == "dark"), scheme
        await sign_in(page, t.key)
        for path in account_pages:
            await check(page, path)
            assert await page.evaluate(DARK_JS) is (scheme == "dark"), (scheme, path)
        await page.click("text=Sign out")
        await sign_in(page, ADMIN_KEY)
        for path in operator_pages:
            await check(page, path)
        await page.click("text=Sign out")


async def focused(page: Page) -> str:
    """The focused element as 'tag#id' (or its text for links and buttons)."""
    found: str = await page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.tagName.toLowerCase() + (e.id ? '#' + e.id : ':' + e.textContent.trim()) }"
    )
    return found


async def tab_to(page: Page, target: str, limit: int = 40) -> list[str]:
    """Press Tab until `target` has focus; the stops on the way."""
    stops = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        stops.append(await focused(page))
        if stops[-1] == target:
            return stops
    raise AssertionError(f"{target} never got focus; stops: {stops}")


async def test_sign_in_and_create_a_key_with_the_keyboard_alone(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await page.goto("/dashboard/signin")
    stops = await tab_to(page, "input#credential")
    assert stops[0] == "a:Skip to content"
    await page.keyboard.type(t.key)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/dashboard/")

    await page.goto("/dashboard/keys")
    await page.focus("#key-name")
    await page.keyboard.type("typed by keyboard")
    stops = await tab_to(page, "button:Create key")
    assert stops.index("input#key-models") < stops.index("input#new-limit-0"), stops
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#secret")
    assert (await page.input_value("#secret")).startswith("mw-")
    await page.goto("/dashboard/keys")
    assert await page.locator("li.key", has_text="typed by keyboard").count() == 1


async def test_an_invitations_page_labels_its_inputs_and_has_readable_contrast(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw)
    path = f"/admin/v1/accounts/{t.account_id}/members"
    status, member = await gw.admin("POST", path, {"email": "a11y@example.com"})
    assert status == 201
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await check(page, member["accept_url"])
        assert await page.is_visible("#accept")
