"""Bring your own key, through the gateway with the official OpenAI SDK and the fake
provider: a call made with the account's own key is sent with that key and charged the
operator's platform fee (5 % of the list price here, one upward rounding), settled as any
debit, and the ledger still sums to the balance; a key the provider refuses is not billed
and its owner is told once; the key's text never comes back out of the gateway."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from gateway.http.appkeys import DASHBOARD_SESSIONS
from gateway.http.dashboard.people.session import COOKIE, digest
from gateway.services.contracts.byok import ByokKeys
from tests.e2e.test_idempotency_keys import operator_cookies
from tests.support.factories import Tenant, balance, debits, held, openai_client, tenant
from tests.support.harness import ADMIN_KEY, BYOK_TEST_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants

OWN = "own-key-Zq8vT3mX9pL2wR7k"  # no sk- prefix: only its own redaction can scrub it
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
SCOPES = ["chat", "account:read", "org:write"]


@pytest.fixture
async def byok_gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn) as gateway:
        status, body = await gateway.admin(
            "PUT", "/admin/v1/byok/fee", {"percent_bps": 500, "fixed_micros": 0}
        )
        assert status == 200, body
        yield gateway
        await gateway.settle_all()


async def _account(
    gw: Gateway, method: str, path: str, key: str, body: object = None
) -> tuple[int, Any]:
    async with gw.http.request(
        method, gw.url + path, json=body, headers={"Authorization": f"Bearer {key}"}
    ) as r:
        return r.status, await r.json()


async def _call(gw: Gateway, key: str) -> str:
    gw.control.usage = USAGE
    async with openai_client(gw, key, max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=600
        )
    return raw.headers["x-meterway-cost-micros"]


async def _stored(gw: Gateway, t: Tenant) -> None:
    status, body = await _account(gw, "PUT", "/v1/account/byok/openai", t.key, {"api_key": OWN})
    assert status == 200, body
    assert body["hint"] == "..." + OWN[-4:] and OWN not in str(body)


async def test_a_byok_call_with_a_5_percent_fee(byok_gw: Gateway) -> None:
    gw = byok_gw
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    await _stored(gw, t)
    # gpt-4o-mini: 1000 x $0.15/M + 500 x $0.60/M = 450 micros listed; 5 % is 22.5, so 23.
    assert await _call(gw, t.key) == "23"
    assert gw.control.requests[-1].headers["authorization"] == f"Bearer {OWN}"
    [row] = await debits(gw, t.account_id)
    assert row["amount_micros"] == -23 and row["charged_micros"] == 23
    assert row["provider_cost_micros"] == 0  # the operator paid the provider nothing
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 500)
    detail = row["usage_detail"]
    assert detail["byok"] == "openai" and detail["byok_fee_bps"] == 500
    assert detail["list_micros"] == 450 and OWN not in str(row)  # what exports are made of
    assert await balance(gw, t.account_id) == 1_000_000 - 23
    # Removed: the next call goes with the gateway's key at the list price.
    status, body = await _account(gw, "DELETE", "/v1/account/byok/openai", t.key)
    assert status == 200 and body["deleted"] is True, body
    assert await _call(gw, t.key) == "450"
    assert gw.control.requests[-1].headers["authorization"] != f"Bearer {OWN}"
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000 - 23 - 450
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_fixed_fee_is_added_once_and_the_operator_lists_holders(byok_gw: Gateway) -> None:
    gw = byok_gw
    status, _ = await gw.admin("PUT", "/admin/v1/byok/fee", {"percent_bps": 500, "fixed_micros": 7})
    assert status == 200
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    await _stored(gw, t)
    assert await _call(gw, t.key) == "30"  # ceil(22.5 + 7)
    status, body = await gw.admin("GET", "/admin/v1/byok?upstream=openai")
    assert status == 200, body
    [mine] = [r for r in body["data"] if r["account_id"] == t.account_id]
    assert mine["hint"] == "..." + OWN[-4:] and OWN not in str(body)
    assert body["fee"] == {"object": "byok_fee", "percent_bps": 500, "fixed_micros": 7}
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_key_the_provider_refuses_is_not_billed_and_told_once(
    byok_gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gw = byok_gw
    caplog.set_level(logging.DEBUG)
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    await _stored(gw, t)
    gw.control.status = 401
    gw.control.error_body = {"error": {"message": f"Incorrect API key provided: {OWN}."}}
    for _ in range(2):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await _call(gw, t.key)
        assert refused.value.code == "byok_key_rejected"
        assert OWN not in refused.value.response.text
    gw.control.status, gw.control.error_body = None, None
    assert await debits(gw, t.account_id) == []
    assert await balance(gw, t.account_id) == 1_000_000
    assert await held(gw, t.account_id) == 0
    async with gw.stores().pool.acquire() as conn:
        told = await conn.fetch(
            "SELECT payload FROM notify_outbox WHERE account_id = $1 AND event = 'byok.rejected'",
            t.account_id,
        )
        sealed = await conn.fetchval(
            "SELECT ciphertext FROM byok_keys WHERE account_id = $1", t.account_id
        )
        audit = await conn.fetch("SELECT * FROM audit_log WHERE account_id = $1", t.account_id)
    assert len(told) == 1 and OWN not in str(told[0])
    assert OWN.encode() not in bytes(sealed)
    assert audit and OWN not in str([dict(r) for r in audit])
    status, body = await _account(gw, "GET", "/v1/account/byok", t.key)
    assert status == 200 and body["data"][0]["failing_since"] is not None
    assert OWN not in caplog.text
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_process_that_has_not_read_a_change_refuses_rather_than_guess(
    byok_gw: Gateway,
) -> None:
    """Another process stores the key: this one has not read it, so the call is refused
    (503, retryable), sent nowhere and not billed; once read, it goes with the own key."""
    gw = byok_gw
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    other = ByokKeys(gw.stores().byok(), gw.store, base64.b64decode(BYOK_TEST_KEY), 3600)
    await other.store(t.account_id, "openai", OWN)
    hits = gw.control.hits
    with pytest.raises(openai.InternalServerError) as loading:
        await _call(gw, t.key)
    assert loading.value.status_code == 503 and loading.value.code == "byok_keys_loading"
    assert gw.control.hits == hits
    for _ in range(50):  # the refusal started a read, off the call
        try:
            assert await _call(gw, t.key) == "23"
            break
        except openai.InternalServerError:
            pass
    assert gw.control.requests[-1].headers["authorization"] == f"Bearer {OWN}"
    # Removed elsewhere: refused here until read, never sent with the removed key.
    assert await other.remove(t.account_id, "openai")
    hits = gw.control.hits
    with pytest.raises(openai.InternalServerError) as loading:
        await _call(gw, t.key)
    assert loading.value.code == "byok_keys_loading" and gw.control.hits == hits
    for _ in range(50):
        try:
            assert await _call(gw, t.key) == "450"
            break
        except openai.InternalServerError:
            pass
    assert gw.control.requests[-1].headers["authorization"] != f"Bearer {OWN}"
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000 - 23 - 450
    await check_invariants(gw.stores(), [t.account_id])
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with gw.http.get(gw.url + "/readyz", headers=headers) as r:
        tasks = (await r.json())["tasks"]  # the clock that reads the keys, supervised
    assert tasks["byok_keys"]["healthy"] and tasks["byok_keys"]["running"], tasks


async def test_without_an_encryption_key_storing_is_refused_by_name(dsn: str) -> None:
    async with running_gateway(dsn, BYOK_ENCRYPTION_KEY="") as gw:
        t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
        status, body = await _account(gw, "PUT", "/v1/account/byok/openai", t.key, {"api_key": OWN})
        assert status == 503 and body["error"]["code"] == "byok_not_set_up", body
        assert OWN not in str(body)


async def test_an_upstream_without_a_key_credential_is_not_found(byok_gw: Gateway) -> None:
    t = await tenant(byok_gw, credit=1_000_000, scopes=SCOPES)
    status, body = await _account(
        byok_gw, "PUT", "/v1/account/byok/nowhere", t.key, {"api_key": OWN}
    )
    assert status == 404, body
    status, body = await _account(
        byok_gw, "PUT", "/v1/account/byok/openai", t.key, {"api_key": "short"}
    )
    assert status == 400 and body["error"]["param"] == "api_key", body
    status, body = await byok_gw.admin("PUT", "/admin/v1/byok/fee", {"percent_bps": 10001})
    assert status == 400 and body["error"]["param"] == "percent_bps", body
    assert ADMIN_KEY not in str(body)


async def _owner_cookies(gw: Gateway, account_id: str) -> dict[str, str]:
    body = {"email": f"owner-{secrets.token_hex(3)}@example.com", "role": "owner"}
    _, member = await gw.admin("POST", f"/admin/v1/accounts/{account_id}/members", body)
    cookie = secrets.token_urlsafe(32)
    record = {"kind": "member", "member_id": member["id"], "account_id": account_id,
              "label": body["email"], "csrf": "x", "operator": False,
              "signin": "e-mailed link"}  # fmt: skip
    await gw.app[DASHBOARD_SESSIONS].create(digest(cookie), record, 3600)
    return {COOKIE: cookie}


async def test_the_dashboard_pages_show_hints_only(byok_gw: Gateway) -> None:
    """The customer stores a key on the Keys page and sees its hint; the operator's System
    page lists it and sets the fee; neither page ever holds the key."""
    gw = byok_gw
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    owner = await _owner_cookies(gw, t.account_id)
    form = {"csrf": "x", "api_key": OWN}
    async with gw.http.post(
        f"{gw.url}/dashboard/keys/byok/openai", data=form, cookies=owner, allow_redirects=False
    ) as r:
        assert r.status == 303, await r.text()
    async with gw.http.get(f"{gw.url}/dashboard/keys?notice=byok", cookies=owner) as r:
        page = await r.text()
    assert "..." + OWN[-4:] in page and OWN not in page and "5% of its list price" in page
    ops = await operator_cookies(gw)
    fee = {"csrf": "x", "percent_bps": "250", "fixed_micros": "3"}
    async with gw.http.post(
        f"{gw.url}/dashboard/operators/byok-fee", data=fee, cookies=ops, allow_redirects=False
    ) as r:
        assert r.status == 303, await r.text()
    async with gw.http.get(f"{gw.url}/dashboard/system", cookies=ops) as r:
        page = await r.text()
    assert t.account_id in page and "..." + OWN[-4:] in page and OWN not in page
    assert 'value="250"' in page
    async with gw.http.post(
        f"{gw.url}/dashboard/keys/byok/openai/remove", data={"csrf": "x"}, cookies=owner,
        allow_redirects=False,
    ) as r:  # fmt: skip
        assert r.status == 303, await r.text()
    assert (await _account(gw, "GET", "/v1/account/byok", t.key))[1]["data"] == []


async def test_a_response_made_with_an_own_key_is_read_back_with_it(byok_gw: Gateway) -> None:
    """A stored Responses API answer lives in the customer's provider account, so reading it
    back goes with the customer's key too; a background response (settled later, at the
    list price) is refused by name rather than billed the wrong way."""
    gw = byok_gw
    t = await tenant(gw, credit=1_000_000, scopes=[*SCOPES, "responses"])
    await _stored(gw, t)
    async with openai_client(gw, t.key, max_retries=0) as client:
        made = await client.responses.create(model="gpt-4o-mini", input="hi")
        assert gw.control.requests[-1].headers["authorization"] == f"Bearer {OWN}"
        await client.responses.retrieve(made.id)
        assert gw.control.requests[-1].headers["authorization"] == f"Bearer {OWN}"
        with pytest.raises(openai.BadRequestError) as refused:
            await client.responses.create(model="gpt-4o-mini", input="hi", background=True)
    assert refused.value.param == "background"
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])
