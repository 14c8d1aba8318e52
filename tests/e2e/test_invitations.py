"""Invitations belong to the person they invite: nothing binds until that person accepts,
by the invitation's own link or on the page their sign-in leads to. First come never wins:
an organization that invites someone first does not capture their first sign-in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, async_playwright

from gateway.errors import Conflict, NotFound
from gateway.http.appkeys import COURIER, DIRECTORY, DOMAIN_CLAIMS, LEDGER, MEMBERS
from gateway.services.members.identity import Person, accept, choices_of, decline
from tests.e2e.test_signin_people import (
    CSRF,
    LINK,
    _ask_link,
    _invite,
    mail_gw,
    mail_to,
    oidc_gw,
    use_form,
)
from tests.support.browser_kit import launch
from tests.support.factories import tenant
from tests.support.fakes.smtp_sink import Mailbox
from tests.support.harness import Gateway

__all__ = ["mail_gw", "oidc_gw"]  # fixtures
ISSUER = "https://idp.example"


@dataclass(frozen=True)
class Org:
    account_id: str
    name: str


async def _org(gw: Gateway) -> Org:
    t = await tenant(gw)
    account = await gw.app[LEDGER].get_account(t.account_id)
    assert account is not None
    return Org(t.account_id, str(account["name"]))


async def _members(gw: Gateway, account_id: str) -> dict[str, dict[str, Any]]:
    status, answer = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/members")
    assert status == 200
    return {m["email"]: m for m in answer["data"]}


async def _oidc_sign_in(page: Page, gw: Gateway, login: str) -> None:
    await page.goto(gw.url + "/dashboard/signin")
    await page.click("text=Sign in with Test IdP")
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", "anything")
    await page.click("button[type=submit]")


@pytest.mark.timeout(480)
async def test_two_organizations_inviting_one_person_capture_neither(oidc_gw: Gateway) -> None:
    gw, victim = oidc_gw, f"victim-{secrets.token_hex(3)}@example.com"
    b, a = await _org(gw), await _org(gw)
    await _invite(gw, b.account_id, victim)  # the other organization invites first
    await _invite(gw, a.account_id, victim)
    async with async_playwright() as pw:
        browser = await launch(pw)
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        await _oidc_sign_in(page, gw, victim)
        await page.wait_for_url(gw.url + "/dashboard/signin/choose")  # in neither yet
        assert (await _members(gw, b.account_id))[victim]["subject"] is None
        assert (await _members(gw, a.account_id))[victim]["subject"] is None
        assert await page.locator("li.invitation").count() == 2
        await page.click(f"li.invitation[data-account='{a.name}'] button.accept")
        await page.wait_for_url(gw.url + "/dashboard/")

        again = await (await browser.new_context()).new_page()
        await _oidc_sign_in(again, gw, victim)
        await again.wait_for_url(gw.url + "/dashboard/")  # bound to A: straight in
        await browser.close()
    mine, theirs = (
        (await _members(gw, a.account_id))[victim],
        (await _members(gw, b.account_id))[victim],
    )
    assert mine["subject"] == victim and mine["accepted_at"]
    assert theirs["subject"] is None and theirs["accepted_at"] is None  # still pending


async def test_an_identity_belongs_to_one_organization_and_declines_the_rest(gw: Gateway) -> None:
    members, directory, claims = gw.app[MEMBERS], gw.app[DIRECTORY], gw.app[DOMAIN_CLAIMS]
    email = f"p-{secrets.token_hex(3)}@example.com"
    person = Person(email, ISSUER, f"sub-{secrets.token_hex(3)}")
    a, b = await _org(gw), await _org(gw)
    for org in (b, a):
        await _invite(gw, org.account_id, email)
    found = await choices_of(person, members, directory, claims)
    assert found.must_choose and found.members == [] and len(found.pending) == 2
    in_b = next(r for r in found.pending if r["account_id"] == b.account_id)
    in_a = next(r for r in found.pending if r["account_id"] == a.account_id)
    assert (await accept(person, in_a["id"], members))["subject"] == person.subject
    found = await choices_of(person, members, directory, claims)
    assert [r["id"] for r in found.members] == [in_a["id"]] and not found.may_accept
    with pytest.raises(Conflict):
        await accept(person, in_b["id"], members)
    stranger = Person(f"x-{email}", ISSUER, "someone-else")
    with pytest.raises(NotFound):  # nobody declines or accepts an invitation to another
        await decline(stranger, in_b["id"], members)
    await decline(person, in_b["id"], members)
    assert email not in await _members(gw, b.account_id)


async def test_an_invitation_accepted_by_its_link_binds_no_identity(gw: Gateway) -> None:
    """Whoever holds the link (the inviter may have kept it) gets the member's e-mail
    sign-in, never the person's identity provider user: that still has to choose."""
    email = f"q-{secrets.token_hex(3)}@example.com"
    org = await _org(gw)
    member = await _invite(gw, org.account_id, email)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await use_form(http, str(member["accept_url"])) == 303
    person = Person(email, ISSUER, f"sub-{secrets.token_hex(3)}")
    found = await choices_of(person, gw.app[MEMBERS], gw.app[DIRECTORY], gw.app[DOMAIN_CLAIMS])
    assert found.must_choose and [r["id"] for r in found.pending] == [member["id"]]


async def test_an_invitation_link_works_once_and_came_by_mail(
    mail_gw: tuple[Gateway, Mailbox],
) -> None:
    gw, box = mail_gw
    org = await _org(gw)
    email = f"r-{secrets.token_hex(3)}@example.com"
    member = await _invite(gw, org.account_id, email)
    url = str(member["accept_url"])
    assert url.startswith(gw.settings.public_url + "/dashboard/signin/invitation/")
    (mail,) = await mail_to(box, email, "invited")
    body = mail.get_body(("plain",))
    assert body is not None and url in body.get_content() and org.name in str(mail["Subject"])
    assert (await _members(gw, org.account_id))[email]["accepted_at"] is None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url) as r:
            assert r.status == 200 and org.name in await r.text()
        assert await use_form(http, url) == 303
        async with http.get(gw.url + "/dashboard/") as r:
            assert r.status == 200 and "Overview" in await r.text()
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as again,
        again.get(url) as r,
    ):
        assert r.status == 401  # one use
    assert (await _members(gw, org.account_id))[email]["accepted_at"]


async def test_an_invitation_link_declines(mail_gw: tuple[Gateway, Mailbox]) -> None:
    gw, _ = mail_gw
    org = await _org(gw)
    email = f"s-{secrets.token_hex(3)}@example.com"
    member = await _invite(gw, org.account_id, email)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await use_form(http, str(member["accept_url"]), "/decline") == 200
    assert email not in await _members(gw, org.account_id)


async def test_an_emailed_link_shows_the_invitations_to_choose_from(
    mail_gw: tuple[Gateway, Mailbox],
) -> None:
    gw, box = mail_gw
    a, b = await _org(gw), await _org(gw)
    email = f"t-{secrets.token_hex(3)}@example.com"
    ids = {org.name: (await _invite(gw, org.account_id, email))["id"] for org in (b, a)}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _ask_link(http, gw, email)
        body = (await mail_to(box, email))[0].get_body(("plain",))
        assert body is not None
        (link,) = LINK.findall(body.get_content())
        async with http.get(link) as r:
            token = CSRF.search(await r.text())
        assert token is not None
        async with http.post(link, data={"csrf": token.group(1)}) as r:
            page = await r.text()
            assert r.url.path == "/dashboard/signin/choose"
            assert a.name in page and b.name in page
        token = CSRF.search(page)
        assert token is not None
        base = gw.url + "/dashboard/signin/choose/"
        async with http.post(f"{base}{ids[b.name]}/decline", data={"csrf": token.group(1)}) as r:
            assert r.status == 200 and b.name not in await r.text()
        path = f"{base}{ids[a.name]}/accept"
        async with http.post(path, data={"csrf": token.group(1)}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/dashboard/"
        async with http.get(gw.url + "/dashboard/") as r:
            assert r.status == 200 and "Overview" in await r.text()
    assert (await _members(gw, a.account_id))[email]["accepted_at"]
    assert email not in await _members(gw, b.account_id)
    await gw.app[COURIER].drain(5.0)


async def test_an_invitation_link_expires_after_seven_days(gw: Gateway, dsn: str) -> None:
    org = await _org(gw)
    email = f"u-{secrets.token_hex(3)}@example.com"
    member = await _invite(gw, org.account_id, email)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE account_members SET created_at = now() - interval '7 days 1 minute'"
            " WHERE id = $1",
            member["id"],
        )
    finally:
        await conn.close()
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        http.get(str(member["accept_url"])) as r,
    ):
        assert r.status == 401
    person = Person(email)  # the invitation itself stays, to accept at sign-in
    found = await choices_of(person, gw.app[MEMBERS], gw.app[DIRECTORY], gw.app[DOMAIN_CLAIMS])
    assert [r["id"] for r in found.pending] == [member["id"]]


async def test_an_address_may_be_a_member_of_several_organizations_and_chooses(
    gw: Gateway,
) -> None:
    email = f"v-{secrets.token_hex(3)}@example.com"
    ids: list[str] = []
    for _ in range(2):
        member = await _invite(gw, (await _org(gw)).account_id, email)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert await use_form(http, str(member["accept_url"])) == 303
        ids.append(str(member["id"]))
    found = await choices_of(
        Person(email), gw.app[MEMBERS], gw.app[DIRECTORY], gw.app[DOMAIN_CLAIMS]
    )
    assert found.must_choose and sorted(str(r["id"]) for r in found.members) == sorted(ids)
    assert found.pending == []


async def test_an_invitation_by_the_account_api_is_mailed_too(
    mail_gw: tuple[Gateway, Mailbox],
) -> None:
    """The organization's own invite (what the dashboard's form calls), not only the
    operator's, e-mails the person their accept link."""
    gw, box = mail_gw
    t = await tenant(gw, scopes=["account:read", "org:write"])
    email = f"s-{secrets.token_hex(3)}@example.com"
    async with gw.http.post(
        gw.url + "/v1/account/members",
        json={"email": email, "role": "billing"},
        headers={"Authorization": f"Bearer {t.key}"},
    ) as r:
        assert r.status == 201, await r.text()
        url = str((await r.json())["accept_url"])
    (mail,) = await mail_to(box, email, "invited")
    body = mail.get_body(("plain",))
    assert body is not None and url in body.get_content() and "billing" in body.get_content()
