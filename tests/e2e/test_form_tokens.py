"""Single-use money forms over HTTP (issue 48, item 4): a form's token, minted when the page
draws it, is spent by its first submit; a replay of it is refused with a page that links
to the first submit's result, another session cannot spend it, nor can another form."""

from __future__ import annotations

import asyncio
import re

import orjson

from gateway.http.appkeys import FORM_TOKENS
from gateway.http.dashboard.form_tokens import holder_of
from gateway.http.dashboard.people.session import COOKIE
from tests.e2e.test_idempotency_keys import money_entries, operator_cookies
from tests.e2e.test_people_numbers_fuzz import ALL_SCOPES
from tests.support.dashboard_client import signed_in
from tests.support.factories import tenant
from tests.support.harness import Gateway

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
TOPUP = re.compile(r'name="form_token" value="([^"]+)" data-form="topup"')
TOKEN = re.compile(r'name="form_token" value="([^"]+)" data-form="(\w+)"')


async def drawn(gw: Gateway, account_id: str, cookies: dict[str, str]) -> dict[str, str]:
    """The tokens of the account page's forms, by form, as a browser would get them."""
    url = f"{gw.url}/dashboard/operators/accounts/{account_id}"
    async with gw.http.get(url, cookies=cookies) as r:
        assert r.status == 200
        return {form: token for token, form in TOKEN.findall(await r.text())}


async def submit(
    gw: Gateway, account_id: str, cookies: dict[str, str], action: str, **fields: str
) -> tuple[int, str, str]:
    """The confirmation page's post: status, Location, page."""
    url = f"{gw.url}/dashboard/operators/accounts/{account_id}/{action}"
    data = {"csrf": "x", **fields}
    async with gw.http.post(url, data=data, cookies=cookies, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


async def test_a_replayed_token_is_refused_and_links_to_the_first_result(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    cookies = await operator_cookies(gw)
    tokens = await drawn(gw, t.account_id, cookies)
    assert set(tokens) >= {"credit", "adjustment", "plan"} and len(set(tokens.values())) == 3
    credit = {"form_token": tokens["credit"], "amount_micros": "2500000", "reason": "once"}
    status, where, _ = await submit(gw, t.account_id, cookies, "credit", **credit)
    assert (status, where.endswith("?notice=credited")) == (303, True), where
    status, _, page = await submit(gw, t.account_id, cookies, "credit", **credit)
    assert status == 409 and "Already recorded" in page, page
    assert f'href="{where}" id="form-result"' in page  # the first submit's result
    assert await money_entries(gw, t.account_id) == [("credit", 2_500_000)]
    # the same token posted to another form (adjustment) is not that form's: refused
    status, _, page = await submit(gw, t.account_id, cookies, "adjustment", **credit)
    assert status == 403 and "This form expired" in page, page
    assert await money_entries(gw, t.account_id) == [("credit", 2_500_000)]


async def test_a_token_of_one_session_cannot_be_spent_by_another(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    mine, theirs = await operator_cookies(gw), await operator_cookies(gw)
    token = (await drawn(gw, t.account_id, mine))["credit"]
    credit = {"form_token": token, "amount_micros": "1000000", "reason": "theirs"}
    status, _, page = await submit(gw, t.account_id, theirs, "credit", **credit)
    assert status == 403 and "drawn for another sign-in" in page, page
    assert await money_entries(gw, t.account_id) == []
    status, where, _ = await submit(gw, t.account_id, mine, "credit", **credit)  # still mine
    assert status == 303 and where.endswith("?notice=credited"), where
    assert await money_entries(gw, t.account_id) == [("credit", 1_000_000)]


async def test_concurrent_submits_of_one_token_credit_once(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    cookies = await operator_cookies(gw)
    token = (await drawn(gw, t.account_id, cookies))["credit"]
    credit = {"form_token": token, "amount_micros": "700000", "reason": "race"}
    answers = await asyncio.gather(
        *(submit(gw, t.account_id, cookies, "credit", **credit) for _ in range(8))
    )
    assert sorted(a[0] for a in answers) == [303] + [409] * 7, answers
    assert await money_entries(gw, t.account_id) == [("credit", 700_000)]


async def test_a_refused_submit_leaves_its_token_spendable(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    cookies = await operator_cookies(gw)
    token = (await drawn(gw, t.account_id, cookies))["adjustment"]
    bad = {"form_token": token, "amount_micros": "-1000", "reason": ""}  # needs a reason
    status, _, page = await submit(gw, t.account_id, cookies, "adjustment", **bad)
    assert status == 400 and "reason" in page, page
    good = bad | {"amount_micros": "1000", "reason": "fixed"}
    status, where, _ = await submit(gw, t.account_id, cookies, "adjustment", **good)
    assert status == 303 and where.endswith("?notice=adjusted"), where


async def test_an_expired_token_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, credit=0)
    cookies = await operator_cookies(gw)
    action = f"/dashboard/operators/accounts/{t.account_id}/credit"
    [old] = await gw.app[FORM_TOKENS].mint(holder_of(cookies[COOKIE]), [action], 0)
    credit = {"form_token": old, "amount_micros": "1000000", "reason": "late"}
    status, _, page = await submit(gw, t.account_id, cookies, "credit", **credit)
    assert status == 403 and "This form expired" in page, page
    assert await money_entries(gw, t.account_id) == []


async def test_a_top_up_form_opens_one_checkout(gw: Gateway) -> None:
    """The billing page's top-up starts one checkout per drawn form; its repeat links to it."""
    t = await tenant(gw, scopes=ALL_SCOPES)
    http = await signed_in(gw, t.key)
    async with http:
        async with http.get(gw.url + "/dashboard/billing") as r:
            page = await r.text()
        csrf = CSRF_FIELD.search(page)
        token = TOPUP.search(page)
        assert csrf is not None and token is not None, page
        data = {"csrf": csrf[1], "form_token": token[1], "amount": "5.00"}
        url = gw.url + "/dashboard/billing/topup"
        async with http.post(url, data=data, allow_redirects=False) as r:
            assert r.status == 303, await r.text()
            checkout = r.headers["Location"]
        async with http.post(url, data=data, allow_redirects=False) as r:
            again = await r.text()
            assert r.status == 409 and "Already recorded" in again, again
        assert f'href="{checkout}" id="form-result"' in again.replace("&amp;", "&")
        opened = await gw.stores().pool.fetchval(
            "SELECT count(*) FROM local_provider_objects"
            " WHERE kind = 'session' AND account_id = $1",
            t.account_id,
        )
        assert opened == 1


async def test_back_from_a_checkout_with_another_amount_is_a_new_checkout(gw: Gateway) -> None:
    """Back from the provider's page, a changed amount was refused ("Already recorded ...
    nothing moved again") and linked to the old checkout; the same amount still is."""
    t = await tenant(gw, scopes=ALL_SCOPES)
    http = await signed_in(gw, t.key)
    async with http:
        async with http.get(gw.url + "/dashboard/billing") as r:
            page = await r.text()
        csrf, token = CSRF_FIELD.search(page), TOPUP.search(page)
        assert csrf is not None and token is not None, page
        url = gw.url + "/dashboard/billing/topup"
        first = {"csrf": csrf[1], "form_token": token[1], "amount": "5.00"}
        async with http.post(url, data=first, allow_redirects=False) as r:
            assert r.status == 303, await r.text()
            old = r.headers["Location"]
        async with http.post(url, data=first | {"amount": "8.00"}, allow_redirects=False) as r:
            assert r.status == 303, await r.text()  # a new checkout, for the new amount
            new = r.headers["Location"]
        async with http.post(url, data=first, allow_redirects=False) as r:
            assert r.status == 409  # the first amount again: still its own checkout
        assert new != old
        sessions = await gw.stores().pool.fetch(
            "SELECT data FROM local_provider_objects WHERE kind = 'session' AND account_id = $1",
            t.account_id,
        )
    assert sorted(orjson.loads(s["data"])["amount_micros"] for s in sessions) == [
        5_000_000,
        8_000_000,
    ]
