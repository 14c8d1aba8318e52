"""Dashboard failures in Chromium are pages in people's words, never the API's JSON: an
unknown page (signed in or not), a page the caller's role does not include (named by the
role, not a scope), and the Organization page once a member has signed in (the issue's 500).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Page

from gateway.http.dashboard.web import TEMPLATES, environment, page_middleware
from tests.support.browser_kit import sign_in
from tests.support.factories import tenant
from tests.support.fakes.identity import ROLE_CLAIM_ENV, claims, sign_hs
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

SCOPES = ["chat", "billing", "account:read", "usage:read", "keys:write"]


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **ROLE_CLAIM_ENV) as gateway:
        yield gateway


def _token(account_id: str, role: str) -> str:
    return sign_hs(claims(f"{role}-{secrets.token_hex(3)}", account_id=account_id, groups=[role]))


async def _is_a_page(page: Page, status: int, path: str) -> str:
    answer = await page.goto(path)
    assert answer is not None and answer.status == status, path
    assert "text/html" in (await answer.all_headers())["content-type"]
    text = await page.inner_text("main")
    assert "{" not in text and "error" not in text.split("\n", 1)[0].lower()
    return text


async def test_an_unknown_page_is_a_page_that_says_where_to_go(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, t.key)
    text = await _is_a_page(page, 404, "/dashboard/no-such-page")
    assert "Page not found" in text and "There is no such page." in text
    assert await page.locator("a[href='/dashboard/']").count() >= 1


async def test_a_page_the_role_lacks_names_the_role_not_a_scope(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, _token(t.account_id, "viewer"))
    text = await _is_a_page(page, 403, "/dashboard/billing")
    assert "Your role in this organization, viewer, does not include this page." in text
    assert "owner or admin" in text
    assert "scope" not in text and "billing:read" not in text and "token" not in text


async def test_members_who_signed_in_are_listed_with_the_time(gw: Gateway, page: Page) -> None:
    """Issue 48: `signed_in_at` (a datetime from the store) into `when` was a 500."""
    t = await tenant(gw, scopes=SCOPES)
    status, made = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{t.account_id}/members",
        {"email": "ana@example.com", "role": "viewer"},
    )
    assert status == 201, made
    members = gw.stores().members()
    assert await members.accept(made["id"], "ana@example.com", "https://idp.example", "ana")
    await members.signed_in(made["id"])
    await sign_in(page, _token(t.account_id, "owner"))
    answer = await page.goto("/dashboard/members")
    assert answer is not None and answer.status == 200
    row = await page.inner_text(f"tr[data-member-id='{made['id']}']")
    assert "ana@example.com" in row and " UTC" in row


async def test_a_fault_is_a_page_without_its_traceback() -> None:
    """Any exception a dashboard handler lets out is a 500 page (and logged), not JSON."""

    async def broken(request: web.Request) -> web.Response:
        raise KeyError("secret-internal-detail")

    app = web.Application(middlewares=[page_middleware])
    app[TEMPLATES] = environment()
    app.router.add_get("/broken", broken)
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/broken")
        text = await answer.text()
    assert answer.status == 500 and answer.content_type == "text/html"
    assert "Something went wrong" in text and "Reload the page" in text
    assert "secret-internal-detail" not in text and "KeyError" not in text


async def test_a_nul_in_the_operators_search_is_a_refusal_not_a_500(
    gw: Gateway, page: Page
) -> None:
    """The Operators page reads its query as GET /admin/v1/accounts does: PostgreSQL cannot
    compare a NUL (the forms fuzz found the 500)."""
    await sign_in(page, ADMIN_KEY)
    for field in ("q", "plan", "after"):
        answer = await page.goto(f"/dashboard/operators?{field}=a%00b")
        assert answer is not None and answer.status == 400, field
        assert "text/html" in (await answer.all_headers())["content-type"]
        assert f"'{field}' must not contain NUL." in await page.inner_text("main")
