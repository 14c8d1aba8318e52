"""One next step per account state, the same in the account API, the billing API, the CLI and
the dashboard (issue 38): a real gateway, real stores, the local payments provider.

A ladder of small plans (one or two requests a minute) fills quotas in a request or two:
t_small < t_mid < t_sales (arranged with sales: no price) < t_top.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.cli.main import main as cli
from tests.support.billing_client import Biller
from tests.support.dashboard_client import sign_in
from tests.support.factories import openai_client, tenant
from tests.support.harness import Gateway, config_dir_with, running_gateway

PLANS = """
[plans.t_small]
price = "5.00"
quotas = [{ window = "minute", metric = "requests", limit = 1 }]

[plans.t_mid]
price = "10.00"
quotas = [{ window = "minute", metric = "requests", limit = 2 }]

[plans.t_sales]
quotas = [{ window = "minute", metric = "requests", limit = 3 }]

[plans.t_top]
price = "50.00"
quotas = [{ window = "minute", metric = "requests", limit = 1 }]

[plans.t_tok]
price = "5.00"
quotas = [
  { window = "minute", metric = "requests", limit = 1 },
  { window = "day", metric = "tokens", limit = 1000 },
]

[plans.t_tok_big]
price = "20.00"
quotas = [{ window = "minute", metric = "requests", limit = 1 }]
"""
SCOPES = ["chat", "account:read", "billing", "billing:setup"]
NEXT_STEP = re.compile(
    r'<strong>Next step:</strong> (.*?)\s*<a class="button" href="([^"]+)" id="next-step">',
    re.S,
)


@pytest.fixture(scope="module")
async def tgw(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    config = config_dir_with(tmp_path_factory.mktemp("plans"), plans=PLANS)
    async with running_gateway(dsn, MW_CONFIG_DIR=str(config)) as gw:
        yield gw
        await gw.settle_all()


async def _chats(gw: Gateway, key: str, n: int) -> None:
    async with openai_client(gw, key) as client:
        for _ in range(n):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )


async def _api(gw: Gateway, key: str, path: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with gw.http.get(gw.url + path, headers=headers) as r:
        assert r.status == 200, await r.text()
        body: dict[str, Any] = await r.json()
        return body["next"]  # type: ignore[no-any-return]


async def _cli(gw: Gateway, key: str, tmp: Path) -> tuple[int, dict[str, Any]]:
    """`meterway billing status --json`, the real command, in a thread (it blocks)."""
    token, out = tmp / "token", tmp / "status.json"
    token.write_text(key)
    argv = ["billing", "status", "--json", "--api-url", gw.url, "--token-file", str(token)]
    code = await asyncio.to_thread(cli, [*argv, "--output", str(out)])
    return code, json.loads(out.read_text())["next"]


async def _dashboard(gw: Gateway, key: str) -> tuple[str, str] | None:
    """The Overview's next step (words, link), after checking the link opens (GET, 200)."""
    http, status, _ = await sign_in(gw, key)
    async with http:
        assert status == 200
        async with http.get(gw.url + "/dashboard/") as r:
            found = NEXT_STEP.search(await r.text())
        if found is None:
            return None
        reason, url = html.unescape(found.group(1)), html.unescape(found.group(2))
        async with http.get(gw.url + url.split("#")[0], allow_redirects=False) as r:
            assert r.status == 200, (url, r.status)
        return reason, url


async def _account(gw: Gateway, state: str) -> str:
    """An account in `state`; its key."""
    credit = 0 if state.startswith("empty") else 10_000_000
    plans = {"quota_upgrade": "t_small", "quota_sales": "t_mid", "quota_top": "t_top"}
    t = await tenant(gw, credit=credit, plan=plans.get(state, "free"), scopes=SCOPES)
    b = Biller(gw, t)
    if state.startswith("low_balance"):  # $10 under this account's own $20 line
        path = f"/admin/v1/accounts/{t.account_id}/alerts"
        assert (await gw.admin("PUT", path, {"balance_low_micros": 20_000_000}))[0] == 200
    if state == "low_balance_auto_topup":
        await b.save_card()
        auto = {"threshold_micros": 1_000_000, "amount_micros": 10_000_000}
        await b.ok("PUT", "/auto-topup", auto | {"monthly_cap_micros": 50_000_000})
    if state in ("empty_with_card", "subscribed"):
        await b.save_card()
    if state == "subscribed":
        changed = await b.ok("POST", "/subscription", {"plan": "starter"})
        assert changed["status"] == "changed", changed
        assert (await b.state())["subscription"]["status"] == "active"
    await _chats(gw, t.key, {"quota_upgrade": 1, "quota_sales": 2, "quota_top": 1}.get(state, 0))
    return t.key


@pytest.mark.parametrize(
    ("state", "action", "plan"),
    [
        ("funded", "none", None),
        ("empty_without_card", "top_up", None),
        ("empty_with_card", "top_up", None),
        ("low_balance", "top_up", None),
        ("low_balance_auto_topup", "none", None),
        ("quota_upgrade", "upgrade", "t_mid"),
        ("quota_sales", "contact_sales", "t_sales"),
        ("quota_top", "wait", None),
        ("subscribed", "none", None),
    ],
)
async def test_every_surface_shows_the_same_next_step(
    tgw: Gateway, tmp_path: Path, state: str, action: str, plan: str | None
) -> None:
    key = await _account(tgw, state)
    api = await _api(tgw, key, "/v1/account")
    assert (api["action"], api["plan"]) == (action, plan), api
    assert await _api(tgw, key, "/v1/account/billing") == api
    code, cli_step = await _cli(tgw, key, tmp_path)
    assert cli_step == api
    assert code == (0 if action == "none" else 3)
    shown = await _dashboard(tgw, key)
    assert shown == (None if action == "none" else (api["reason"], api["url"]))
    if state == "low_balance":
        assert api["blocked"] is False and "under $20.00" in api["reason"]
    if action == "wait":
        assert api["resets_at"] is not None and api["url"] == "/dashboard/#limits"


async def test_a_refusal_carries_the_step_the_api_shows(tgw: Gateway) -> None:
    key = await _account(tgw, "quota_upgrade")
    async with aiohttp.ClientSession() as http:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": f"Bearer {key}"}
        async with http.post(tgw.url + "/v1/chat/completions", json=body, headers=headers) as r:
            assert r.status == 429
            refused = (await r.json())["error"]
    api = await _api(tgw, key, "/v1/account")
    assert refused["next"]["action"] == api["action"] == "upgrade"
    assert refused["next"]["url"] == api["url"]


async def _refused(gw: Gateway, key: str, max_tokens: int) -> dict[str, Any]:
    """A chat the account's own window refuses: its 429's next step."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    async with gw.http.post(
        gw.url + "/v1/chat/completions", json=body | {"max_tokens": max_tokens}, headers=headers
    ) as r:
        assert r.status == 429, await r.text()
        return (await r.json())["error"]["next"]  # type: ignore[no-any-return]


async def _refused_account(gw: Gateway, state: str) -> tuple[str, dict[str, Any]]:
    """An account whose own window refused a call, in `state`: its key and the 429's step."""
    if state == "low_balance_token_window":  # 2,000 output tokens on a 1,000-token day
        t = await tenant(gw, credit=10_000_000, plan="t_tok", scopes=SCOPES)
        path = f"/admin/v1/accounts/{t.account_id}/alerts"
        assert (await gw.admin("PUT", path, {"balance_low_micros": 20_000_000}))[0] == 200
        return t.key, await _refused(gw, t.key, 2_000)
    t = await tenant(gw, credit=10_000_000, plan="t_small", scopes=SCOPES)  # empty, full
    await _chats(gw, t.key, 1)
    await gw.settle_all()
    left = (await gw.store.balance(t.account_id) or (0, 0))[0]
    adjust = {"amount_micros": -left, "idempotency_key": "empty", "reason": "test"}
    assert (await gw.admin("POST", f"/admin/v1/accounts/{t.account_id}/adjustments", adjust))[
        0
    ] == 201
    return t.key, await _refused(gw, t.key, 5)


@pytest.mark.parametrize(
    ("state", "action"),
    [("low_balance_token_window", "upgrade"), ("empty_balance_full_window", "top_up")],
)
async def test_a_429_and_every_surface_give_one_next_step(
    tgw: Gateway, tmp_path: Path, state: str, action: str
) -> None:
    """Issue 57: the 429 said `upgrade` while `billing status` said `top_up` (a low balance
    and a token window too small for the call; an empty balance and a full window): the 429
    decided from its plan alone, the others from the account without the refusal. Now
    both decide (billing.money.next_step.decide) from the account's facts and its refused window
    while it stands."""
    key, refused = await _refused_account(tgw, state)
    api = await _api(tgw, key, "/v1/account")
    assert api["action"] == action, api
    assert {k: refused[k] for k in ("action", "url", "plan")} == {
        k: api[k] for k in ("action", "url", "plan")
    }
    assert await _api(tgw, key, "/v1/account/billing") == api
    assert (await _cli(tgw, key, tmp_path))[1] == api
    assert await _dashboard(tgw, key) == (api["reason"], api["url"])
