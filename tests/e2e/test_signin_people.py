"""People sign in to the dashboard without a key: by their identity provider (a real OpenID
Connect provider, panva's `oidc-provider` on Node, driven in Chromium) and by a link e-mailed
to an invited address (a real SMTP server). An invitation binds only once its person
accepts it (tests/e2e/test_invitations.py)."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiohttp
import pytest
from playwright.async_api import async_playwright

from gateway.http.appkeys import COURIER
from tests.support.browser_kit import launch
from tests.support.factories import tenant
from tests.support.fakes.oidc_idp import oidc_provider
from tests.support.fakes.smtp_sink import Mailbox, smtp_server
from tests.support.harness import Gateway, free_port, running_gateway

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"http://\S+/dashboard/signin/link/[\w-]+")


@pytest.fixture
async def oidc_gw(dsn: str) -> AsyncIterator[Gateway]:
    """A gateway whose OIDC_ISSUER is a real provider running beside it."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with (
        oidc_provider(public) as oidc,
        running_gateway(
            dsn, None, LISTEN_ADDR=f"127.0.0.1:{port}", PUBLIC_URL=public, **oidc
        ) as gateway,
    ):
        yield gateway


async def _invite(gw: Gateway, account_id: str, email: str) -> dict[str, object]:
    status, member = await gw.admin(
        "POST", f"/admin/v1/accounts/{account_id}/members", {"email": email}
    )
    assert status == 201, member
    made: dict[str, object] = member
    return made


@pytest.mark.timeout(480)
async def test_an_invited_person_signs_in_with_their_identity_provider(oidc_gw: Gateway) -> None:
    gw = oidc_gw
    t = await tenant(gw)
    await _invite(gw, t.account_id, "ada@example.com")
    async with async_playwright() as pw:
        browser = await launch(pw)
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await page.goto(gw.url + "/dashboard/signin")
        await page.click("text=Sign in with Test IdP")
        await page.fill("input[name=login]", "ada@example.com")
        await page.fill("input[name=password]", "anything")
        await page.click("button[type=submit]")
        await page.wait_for_url(gw.url + "/dashboard/signin/choose")  # theirs to accept
        await page.click("li.invitation button.accept")
        await page.wait_for_url(gw.url + "/dashboard/")
        assert "$" in await page.inner_text("main")  # the account's overview, balance shown

        stranger = await browser.new_page()
        await stranger.goto(gw.url + "/dashboard/signin/oidc")
        await stranger.fill("input[name=login]", "eve@example.com")
        await stranger.fill("input[name=password]", "anything")
        await stranger.click("button[type=submit]")
        await stranger.wait_for_load_state()
        assert "No account has invited eve@example.com" in await stranger.inner_text("body")
        await browser.close()

    status, members = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/members")
    assert status == 200
    (ada,) = members["data"]
    assert ada["subject"] == "ada@example.com" and ada["signed_in_at"] and ada["accepted_at"]
    assert ada["issuer"] == gw.settings.signin.oidc_issuer


async def test_a_callback_this_browser_did_not_start_is_refused(oidc_gw: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(oidc_gw.url + "/dashboard/signin/oidc", allow_redirects=False) as r:
            assert r.status == 303 and "code_challenge_method=S256" in r.headers["Location"]
            state = re.search(r"state=([\w-]+)", r.headers["Location"])
        assert state is not None
    async with aiohttp.ClientSession() as other:  # another browser: no attempt cookie
        url = f"{oidc_gw.url}/dashboard/signin/oidc/callback?state={state.group(1)}&code=x"
        async with other.get(url, allow_redirects=False) as r:
            assert r.status == 401
            assert "not started in this browser" in await r.text()


@pytest.fixture
async def mail_gw(dsn: str) -> AsyncIterator[tuple[Gateway, Mailbox]]:
    port = free_port()
    with smtp_server() as box:
        async with running_gateway(
            dsn,
            LISTEN_ADDR=f"127.0.0.1:{port}",
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            SIGNIN_EMAIL_LINKS="1",
            SMTP_URL=box.url,
            NOTIFY_EMAIL_FROM="meterway@example.com",
        ) as gateway:
            yield gateway, box


async def accepted(gw: Gateway, account_id: str, email: str) -> dict[str, object]:
    """Invite `email` and accept by the invitation's own link, as its person would."""
    member = await _invite(gw, account_id, email)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await use_form(http, str(member["accept_url"])) == 303
    return member


async def use_form(http: aiohttp.ClientSession, url: str, action: str = "") -> int:
    """Open a page that came by e-mail and press its button (posting to `url` + `action`)."""
    async with http.get(url) as r:
        token = CSRF.search(await r.text())
    assert token is not None
    async with http.post(url + action, data={"csrf": token.group(1)}, allow_redirects=False) as r:
        return r.status


async def mail_to(
    box: Mailbox, email: str, subject: str = "sign-in link", timeout_s: float = 10.0
) -> list[EmailMessage]:
    """The mail to `email` whose subject says `subject`: sent after the answer went out."""
    for _ in range(int(timeout_s / 0.05)):
        if found := [m for m in box.to(email) if subject in str(m["Subject"])]:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {subject!r} mail to {email}")


async def _ask_link(http: aiohttp.ClientSession, gw: Gateway, email: str) -> str:
    async with http.get(gw.url + "/dashboard/signin") as r:
        token = CSRF.search(await r.text())
    assert token is not None
    data = {"csrf": token.group(1), "email": email}
    async with http.post(gw.url + "/dashboard/signin/email", data=data) as r:
        assert r.status == 200
        return await r.text()


async def _use_link(http: aiohttp.ClientSession, link: str) -> int:
    async with http.get(link) as r:
        page = await r.text()
    token = CSRF.search(page)
    assert token is not None and "Sign in" in page
    async with http.post(link, data={"csrf": token.group(1)}, allow_redirects=False) as r:
        return r.status


async def test_an_emailed_link_signs_in_once(mail_gw: tuple[Gateway, Mailbox]) -> None:
    gw, box = mail_gw
    t = await tenant(gw)
    email = f"bob-{secrets.token_hex(4)}@example.com"  # the test database is shared
    await accepted(gw, t.account_id, email)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await _ask_link(http, gw, email.replace("bob", "Bob").replace("ex", "Ex"))
        assert "a link is on its way" in page
        (mail,) = await mail_to(box, email)
        assert mail["To"] == email
        text = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert text is not None and html is not None and "<a href=" in html.get_content()
        (link,) = LINK.findall(text.get_content())  # one organization, one link
        assert await _use_link(http, link) == 303
        async with http.get(gw.url + "/dashboard/") as r:
            assert r.status == 200 and "Overview" in await r.text()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as again:
        assert await _use_link(again, link) == 401  # one use


async def test_a_stranger_gets_the_same_answer_and_no_mail(
    mail_gw: tuple[Gateway, Mailbox],
) -> None:
    gw, box = mail_gw
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await _ask_link(http, gw, "nobody@example.com")
    assert "a link is on its way" in page
    await gw.app[COURIER].drain(5.0)  # every mail the form started has been tried
    assert box.messages == []


async def test_removing_a_member_ends_their_session(mail_gw: tuple[Gateway, Mailbox]) -> None:
    gw, box = mail_gw
    t = await tenant(gw)
    email = f"carol-{secrets.token_hex(4)}@example.com"
    member = await accepted(gw, t.account_id, email)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _ask_link(http, gw, email)
        body = (await mail_to(box, email))[-1].get_body(("plain",))
        assert body is not None
        (link,) = LINK.findall(body.get_content())
        assert await _use_link(http, link) == 303
        status, _ = await gw.admin(
            "DELETE", f"/admin/v1/accounts/{t.account_id}/members/{member['id']}"
        )
        assert status == 200
        async with http.get(gw.url + "/dashboard/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].endswith("/dashboard/signin")
