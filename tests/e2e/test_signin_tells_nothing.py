"""The e-mailed-link form tells no one who has an account: the same answer, as fast, for an
invited address and an unknown one, whatever the mail server does (down: nothing of its
error reaches the answer; slow: the answer does not wait for it), and it is rate limited
per address and per client address alike for both."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from gateway.http.appkeys import COURIER
from gateway.telemetry import metrics
from tests.e2e.test_signin_people import CSRF, LINK, mail_to
from tests.support.factories import tenant
from tests.support.fakes.smtp_sink import smtp_server
from tests.support.harness import LOCAL_SINKS, Gateway, free_port, running_gateway


@asynccontextmanager
async def links_gateway(dsn: str, smtp_url: str, **env: str) -> AsyncIterator[Gateway]:
    port = free_port()
    async with running_gateway(
        dsn,
        None,
        LISTEN_ADDR=f"127.0.0.1:{port}",
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        SIGNIN_EMAIL_LINKS="1",
        SMTP_URL=smtp_url,
        NOTIFY_EMAIL_FROM="meterway@example.com",
        **env,
    ) as gateway:
        yield gateway


async def invited(gw: Gateway) -> str:
    t = await tenant(gw)
    email = f"vic-{secrets.token_hex(4)}@example.com"
    path = f"/admin/v1/accounts/{t.account_id}/members"
    status, _ = await gw.admin("POST", path, {"email": email})
    assert status == 201
    return email


def unknown() -> str:
    return f"nobody-{secrets.token_hex(4)}@example.com"


async def ask(http: aiohttp.ClientSession, gw: Gateway, email: str) -> tuple[int, str, float]:
    """Post the form; (status, the page with the address blanked out, seconds it took)."""
    async with http.get(gw.url + "/dashboard/signin") as r:
        token = CSRF.search(await r.text())
    assert token is not None
    started = time.monotonic()
    data = {"csrf": token.group(1), "email": email}
    async with http.post(gw.url + "/dashboard/signin/email", data=data) as r:
        page, took = await r.text(), time.monotonic() - started
        return r.status, page.replace(email, "ADDRESS"), took


def failures(kind: str) -> float:
    found = metrics().registry.get_sample_value("meterway_mail_failures_total", {"kind": kind})
    return found or 0.0


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_with_the_mail_server_down_an_invited_address_gets_the_strangers_answer(
    dsn: str,
) -> None:
    down = f"smtp://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    async with links_gateway(dsn, down) as gw:
        email = await invited(gw)
        await gw.app[COURIER].drain(5.0)  # the invitation's own mail failed too
        before = failures("signin_link")
        async with browser() as http:
            known = await ask(http, gw, email)
            stranger = await ask(http, gw, unknown())
        assert known[:2] == stranger[:2] and known[0] == 200
        for leak in ("Errno", "refused", "could not be sent", "127.0.0.1:"):
            assert leak not in known[1]
        await gw.app[COURIER].drain(5.0)
        assert failures("signin_link") == before + 1  # logged and counted, not lost


async def test_the_answer_does_not_wait_for_a_slow_mail_server(dsn: str) -> None:
    with smtp_server() as box:
        box.delay_s = 2.0
        async with links_gateway(dsn, box.url) as gw:
            email, stranger = await invited(gw), unknown()
            async with browser() as http:
                known = await ask(http, gw, email)
                other = await ask(http, gw, stranger)
            assert known[0] == other[0] == 200 and known[1] == other[1]
            assert known[2] < 0.5 and other[2] < 0.5, (known[2], other[2])
            (mail,) = await mail_to(box, email)  # it still arrives, after the answer
            body = mail.get_body(("plain",))
            assert body is not None and LINK.search(body.get_content())
            await gw.app[COURIER].drain(5.0)
            assert box.to(stranger) == []


async def test_the_form_is_limited_per_address_and_per_client_alike(dsn: str) -> None:
    with smtp_server() as box:
        env = {"SIGNIN_LINK_LIMIT_ADDRESS": "2", "SIGNIN_LINK_LIMIT_CLIENT": "6"}
        async with links_gateway(dsn, box.url, **env) as gw:
            email, stranger = await invited(gw), unknown()
            async with browser() as http:
                for address in (email, stranger):  # 3 each: the third is refused, alike
                    answers = [await ask(http, gw, address) for _ in range(3)]
                    assert [a[0] for a in answers] == [200, 200, 429]
                status, page, _ = await ask(http, gw, unknown())  # the client's 7th ask
                assert status == 429 and "Too many sign-in links" in page
                async with http.get(gw.url + "/dashboard/signin") as r:
                    token = CSRF.search(await r.text())
                assert token is not None
                data = {"csrf": token.group(1), "email": unknown()}
                async with http.post(gw.url + "/dashboard/signin/email", data=data) as r:
                    assert r.status == 429
                    assert 0 < int(r.headers["Retry-After"]) <= 900
            await gw.app[COURIER].drain(5.0)
            links = [m for m in box.to(email) if "sign-in link" in str(m["Subject"])]
            assert len(links) == 2


async def test_an_unreachable_identity_provider_is_named_without_its_address(dsn: str) -> None:
    port, idp = free_port(), free_port()  # nothing listens on the issuer's port
    env = {
        "LISTEN_ADDR": f"127.0.0.1:{port}",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OIDC_ISSUER": f"http://127.0.0.1:{idp}",
        "OIDC_CLIENT_ID": "meterway",
        **LOCAL_SINKS,
    }
    async with running_gateway(dsn, None, **env) as gw, browser() as http:
        async with http.get(gw.url + "/dashboard/signin/oidc", allow_redirects=False) as r:
            page = await r.text()
            assert r.status == 503 and "identity provider is unreachable" in page
        for leak in (str(idp), "Errno", "Connect call failed", "Cannot connect"):
            assert leak not in page
