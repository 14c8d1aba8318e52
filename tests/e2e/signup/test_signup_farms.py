"""A farm of 20 sign-ups on 3 cards and 2 networks, through the real HTTP flow (register,
the e-mailed code, verify), PostgreSQL, Redis and localstripe (Checkout in setup mode, its
SetupIntent's card fingerprint): each trial check refuses what it should and tells every
refused person the same thing, the survivors are grouped as one suspected farm, and one
operator action takes their trial credit back through the grants' revocation, with the
ledger's sum equal to the balance for every account."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.errors import TrialWithheld
from gateway.outbound.notify import OPERATOR_ONLY
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.signup.test_signup_api import (
    TRIAL,
    code_for,
    fresh,
    signed_up,
    signup_env,
    signup_gw,
)
from tests.e2e.test_grants_api import write_offs
from tests.e2e.test_idempotency_keys import operator_cookies
from tests.support.billing_client import books_balance
from tests.support.fakes.smtp_sink import Mailbox, smtp_server
from tests.support.fakes.stripe_stack import CARD_OK, StripeStack, stripe_stack
from tests.support.harness import (
    ADMIN_KEY,
    Gateway,
    free_port,
    running_gateway,
    temp_database,
)

__all__ = ["signup_gw"]  # the sign-up API's gateway, a fixture here too
NET_A, NET_B = "127.0.0.1", "127.0.1.7"  # two /24s of the loopback network
CARDS = (CARD_OK, "5555555555554444", "4000056655665556")
CHECKS = {
    "SIGNUP_LIMIT_CLIENT": "0",
    "SIGNUP_LIMIT_DOMAIN": "0",
    "SIGNUP_TRIAL_DISPOSABLE": "1",
    "SIGNUP_TRIAL_LIMIT_NETWORK": "5",
    "SIGNUP_TRIAL_LIMIT_DEVICE": "2",
    "SIGNUP_TRIAL_CARD": "1",
}


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[StripeStack]:
    async with stripe_stack() as running:
        yield running


@pytest.fixture
async def farm_gw(stack: StripeStack) -> AsyncIterator[tuple[Gateway, Mailbox]]:
    """A database of its own: the checks count every sign-up of a day, and the farms group
    every account sharing a network or card, so another file's sign-ups from the loopback
    network (the worker's shared database) would join this farm."""
    port = free_port()
    async with temp_database() as dsn:
        with smtp_server() as box:
            env = signup_env(port, box, "open", **CHECKS) | stack.env(f"http://127.0.0.1:{port}")
            await stack.reset(f"http://127.0.0.1:{port}/webhooks/stripe")
            async with running_gateway(dsn, None, **env) as gw:
                yield gw, box
                await stack.quiet()


@asynccontextmanager
async def network(ip: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from `ip`."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(ip, 0))) as s:
        yield s


async def post(http: aiohttp.ClientSession, url: str, body: Any, device: str) -> tuple[int, Any]:
    headers = {"Meterway-Device": device} if device else {}
    async with http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


class Farm:
    def __init__(self, gw: Gateway, box: Mailbox) -> None:
        self.gw, self.box = gw, box
        self.opened: dict[str, dict[str, Any]] = {}  # name -> verify's answer
        self.refused: list[tuple[int, Any]] = []

    async def register(self, email: str) -> None:
        async with self.gw.http.post(self.gw.url + "/v1/auth/register", json={"email": email}) as r:
            assert r.status == 202, await r.text()

    async def verify(self, name: str, email: str, ip: str, device: str = "") -> None:
        code = await code_for(self.box, email)
        async with network(ip) as http:
            status, body = await post(
                http, self.gw.url + "/v1/auth/verify", {"email": email, "code": code}, device
            )
        if status == 200:
            self.opened[name] = body
        else:
            self.refused.append((status, body))

    async def sign_up(self, name: str, ip: str, device: str = "", domain: str = "") -> str:
        email = fresh(domain or "example.com")
        await self.register(email)
        await self.verify(name, email, ip, device or name)
        return email

    async def card(self, stack: StripeStack, name: str, number: str) -> None:
        """The account verifies a card through Checkout in setup mode, as a person would;
        returns once the gateway applied the setup's events."""
        account_id = self.opened[name]["account_id"]
        body = {"account_id": account_id, "name": "k", "scopes": ["billing"]}
        status, key = await self.gw.admin("POST", "/admin/v1/keys", body)
        assert status == 201, key
        headers = {"Authorization": f"Bearer {key['key']}"}
        url = self.gw.url + "/v1/account/billing/setup"
        async with self.gw.http.post(url, json={}, headers=headers) as r:
            assert r.status in (200, 201), await r.text()
            page = await r.json()
        await stack.complete(page["id"], number)
        pool = self.gw.stores().pool
        for _ in range(200):
            row = await pool.fetchrow(
                "SELECT card_fingerprint, trial_hold FROM signups WHERE account_id = $1",
                account_id,
            )
            if row["card_fingerprint"] is not None and row["trial_hold"] != "card":
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{name}'s card was never applied")

    def id(self, name: str) -> str:
        return str(self.opened[name]["account_id"])


async def signups_by_id(gw: Gateway) -> dict[str, dict[str, Any]]:
    status, body = await gw.admin("GET", "/admin/v1/signups")
    assert status == 200, body
    return {s["account_id"]: s for s in body["data"]}


async def sign_up_the_farm(f: Farm) -> None:
    """20 sign-ups: 9 from network A, 11 from network B, three of them +tag variants."""
    # Network A: 9 sign-ups. Two +tag variants, asked for before their originals verify.
    a1, a2 = fresh(), fresh()
    twins = [a1.replace("@", "+farm@"), a2.replace("@", "+again@")]
    for email in (a1, a2, *twins):
        await f.register(email)
    await f.verify("a1", a1, NET_A, "a1")
    await f.verify("a2", a2, NET_A, "a2")
    for name in ("a3", "a4"):
        await f.sign_up(name, NET_A)
    await f.sign_up("a5", NET_A, domain="mailinator.com")  # disposable (5th on A)
    for email in twins:
        await f.verify("twin", email, NET_A)  # a mailbox that signed up: no account at all
    for name in ("a7", "a8"):
        await f.sign_up(name, NET_A)  # the 6th and 7th on network A
    # Network B: 11 sign-ups; the first three from one device.
    b1 = fresh()
    b_twin = b1.replace("@", "+b@")
    await f.register(b1)
    await f.register(b_twin)
    await f.verify("b1", b1, NET_B, "phone")
    for name in ("b2", "b3"):
        await f.sign_up(name, NET_B, device="phone")  # b3: the device's third
    for name in ("b4", "b5"):
        await f.sign_up(name, NET_B)
    await f.sign_up("b6", NET_B, domain="eu.mailinator.com")  # disposable, under the list's
    for name in ("b7", "b8", "b9", "b10"):
        await f.sign_up(name, NET_B)  # past network B's 5
    await f.verify("twin", b_twin, NET_B)
    assert len(f.opened) + len(f.refused) == 20
    assert [s for s, _ in f.refused] == [409, 409, 409], f.refused  # one sign-up per mailbox
    assert len(f.opened) == 17


async def the_operator_is_told_once_per_thing_shared(gw: Gateway) -> None:
    """signup.trial_withheld reaches the operator's targets only, once a day per check and
    what it matched: two disposable domains, two networks, one device, and each card that
    was offered again."""
    rows = await gw.stores().pool.fetch(
        "SELECT account_id, payload FROM notify_outbox WHERE event = 'signup.trial_withheld'"
    )
    checks = sorted(json.loads(r["payload"])["check"] for r in rows)
    assert checks.count("disposable") == 2 and checks.count("network") == 2, checks
    assert checks.count("device") == 1 and 1 <= checks.count("card") <= len(CARDS), checks
    assert "signup.trial_withheld" in OPERATOR_ONLY


async def told_alike_and_refused_by(gw: Gateway, f: Farm) -> None:
    """Every opened account is told one thing; the operator sees which check held which."""
    # Every opened account is told one thing, whichever check held its trial.
    told = {str(body["trial"]) for body in f.opened.values()}
    assert len(told) == 1, told
    (answer,) = [body["trial"] for body in list(f.opened.values())[:1]]
    assert answer["given"] is False and answer["error"]["code"] == "trial_withheld"
    assert "add a card" in answer["error"]["message"]

    # The operator sees which check refused which sign-up.
    refused_by = {n: (await signups_by_id(gw))[f.id(n)]["refused_by"] for n in f.opened}
    assert {n for n, c in refused_by.items() if c == "disposable"} == {"a5", "b6"}
    assert {n for n, c in refused_by.items() if c == "network"} == {
        "a7",
        "a8",
        "b7",
        "b8",
        "b9",
        "b10",
    }
    assert {n for n, c in refused_by.items() if c == "device"} == {"b3"}
    waiting = {n for n, c in refused_by.items() if c is None}
    assert waiting == {"a1", "a2", "a3", "a4", "b1", "b2", "b4", "b5"}


SURVIVORS = {"a1", "a2", "a4"}


async def verify_cards(gw: Gateway, f: Farm, stack: StripeStack) -> None:
    """Three cards among the eight waiting (and one refused) sign-ups: one trial per card."""
    # Three cards among the eight waiting (and one refused) sign-ups: one trial per card.
    one, two, three = CARDS
    for name, number in (("a1", one), ("a2", two), ("a3", one), ("a4", three), ("b1", two),
                         ("b2", three), ("b4", one), ("b5", one), ("a7", two)):  # fmt: skip
        await f.card(stack, name, number)
    survivors = SURVIVORS
    rows = await signups_by_id(gw)
    for name in f.opened:
        row, balance = rows[f.id(name)], await books_balance(gw, f.id(name))
        assert (balance == TRIAL) == (name in survivors), (name, balance)
        assert row["trial_state"] == ("given" if name in survivors else "withheld"), name
    assert {n for n in f.opened if rows[f.id(n)]["refused_by"] == "card"} == {
        "a3", "b1", "b2", "b4", "b5"}  # fmt: skip
    assert rows[f.id("a7")]["refused_by"] == "network"  # a card never buys back a refusal


async def the_console_and_the_cli_show_it(gw: Gateway, home: Path, survivors: list[str]) -> None:
    """The operator's Sign-ups page and `meterway admin farms` list the farm's accounts."""
    async with gw.http.get(
        gw.url + "/dashboard/operators/signups", cookies=await operator_cookies(gw)
    ) as r:
        page = await r.text()
    assert r.status == 200 and "Revoke their trial credit" in page
    assert all(f'name="account_id" value="{a}"' in page for a in survivors)
    login(home, ADMIN_KEY, "admin-key")
    run = await meterway(gw, home, "admin", "farms")
    assert run.code == 0 and run.out.startswith("farm 1:"), run.err
    assert all(a in run.out for a in survivors), run.out


async def test_a_farm_is_refused_grouped_and_its_trials_taken_back(
    farm_gw: tuple[Gateway, Mailbox], stack: StripeStack, tmp_path: Path
) -> None:
    gw, box = farm_gw
    f = Farm(gw, box)
    await sign_up_the_farm(f)
    await told_alike_and_refused_by(gw, f)
    await verify_cards(gw, f, stack)
    await the_operator_is_told_once_per_thing_shared(gw)
    survivors = SURVIVORS
    # The survivors are one suspected farm, sharing network A and the three cards.
    status, farms = await gw.admin("GET", "/admin/v1/signups/farms")
    assert status == 200, farms
    mine = [farm for farm in farms["data"] if {f.id(n) for n in survivors} <= {
        a["account_id"] for a in farm["accounts"]}]  # fmt: skip
    assert len(mine) == 1, farms
    (farm,) = mine
    assert "127.0.0.0/24" in farm["shared"]["network"] and len(farm["shared"]["card"]) == 3
    members = [a["account_id"] for a in farm["accounts"]]
    assert {f.id(n) for n in f.opened} <= set(members)  # B joins A through shared cards

    await the_console_and_the_cli_show_it(gw, tmp_path, [f.id(n) for n in survivors])

    # One action takes their trials back: the grants revoked, written off, audited.
    run = await meterway(gw, tmp_path, "admin", "revoke-trials", *members)
    assert run.code == 0, run.err
    revoked = {f.id(n) for n in survivors}
    assert run.out.startswith("trial credit taken back from 3 account(s)"), run.out
    for name in survivors:
        [(amount, meta)] = await write_offs(gw, f.id(name), 1)
        assert amount == -TRIAL and meta["cause"] == "revoked"
    for name in f.opened:  # ledger sum == balance (PostgreSQL and Redis), for every account
        assert await books_balance(gw, f.id(name)) == 0
    audited = await gw.stores().pool.fetch(
        "SELECT account_id FROM audit_log WHERE action = 'grant.revoke' AND account_id = ANY($1)",
        members,
    )
    assert sorted(r["account_id"] for r in audited) == sorted(revoked)
    rows = await signups_by_id(gw)
    assert {n for n in f.opened if rows[f.id(n)]["trial_state"] == "revoked"} == survivors
    status, again = await gw.admin(
        "POST", "/admin/v1/signups/revoke-trials", {"account_ids": members}
    )
    assert status == 200 and all(d["revoked_grants"] == [] for d in again["data"]), again


async def test_revoking_names_an_account_no_sign_up_opened(
    farm_gw: tuple[Gateway, Mailbox],
) -> None:
    gw, _ = farm_gw
    status, body = await gw.admin(
        "POST", "/admin/v1/signups/revoke-trials", {"account_ids": ["acct_nope"]}
    )
    assert status == 404 and body["error"]["param"] == "account_ids", body
    status, body = await gw.admin("POST", "/admin/v1/signups/revoke-trials", {"account_ids": []})
    assert status == 400 and body["error"]["param"] == "account_ids", body


async def test_the_sign_up_forms_device_cookie_is_the_device_counted(
    farm_gw: tuple[Gateway, Mailbox],
) -> None:
    """One browser signing up three times through the dashboard's form: its `mw_device`
    cookie is the device the limit counts (2 a day here), so the third trial is withheld;
    another browser on the same network is another device."""
    gw, box = farm_gw
    told: list[bool] = []  # the overview said the trial was withheld

    async def browser_signs_up(browser: aiohttp.ClientSession) -> str:
        email = fresh()
        async with browser.get(gw.url + "/dashboard/signup") as r:
            csrf = re.findall(r'name="csrf" value="([^"]+)"', await r.text())[0]
        form = {"csrf": csrf, "email": email}
        async with browser.post(gw.url + "/dashboard/signup", data=form) as r:
            assert r.status == 200, await r.text()
        form |= {"code": await code_for(box, email)}
        async with browser.post(gw.url + "/dashboard/signup/code", data=form) as r:
            assert r.status == 200, await r.text()  # signed in: the dashboard's overview
            told.append('id="trial-withheld"' in await r.text())
        browser.cookie_jar.clear(lambda c: c.key != "mw_device")  # signed out, same device
        return email

    def browser() -> aiohttp.ClientSession:  # keeps cookies of an IP address's site
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async with browser() as one, browser() as other:
        emails = [await browser_signs_up(one) for _ in range(3)]
        emails.append(await browser_signs_up(other))
        assert len({c.value for c in one.cookie_jar if c.key == "mw_device"}) == 1
    rows = {s["email"]: s for s in (await signups_by_id(gw)).values()}
    assert [rows[e]["refused_by"] for e in emails] == [None, None, "device", None]
    assert told == [True] * 4  # waiting for a card, or refused: one message on the overview


@pytest.mark.parametrize(
    "signup_gw", [{"SIGNUP_POLICY": "open", "SIGNUP_TRIAL_DISPOSABLE": "1"}], indirect=True
)
async def test_without_the_card_check_a_refusal_says_to_top_up(
    signup_gw: tuple[Gateway, Mailbox],
) -> None:
    gw, box = signup_gw
    kept = await signed_up(gw, box, fresh("mailinator.com"))
    assert kept["trial"] == {"given": False, **TrialWithheld(TrialWithheld.NO_CARD).openai_body()}
    given = await signed_up(gw, box, fresh())
    assert given["trial"] == {"given": True}
    assert await books_balance(gw, kept["account_id"]) == 0
    assert await books_balance(gw, given["account_id"]) == TRIAL
