"""The dashboard's words for people (issue 38, item 5), read as a browser gets them: one card
per rotated key, amounts in one format, windows and metrics named in words."""

from __future__ import annotations

import re

from tests.support.dashboard_client import page, sign_in
from tests.support.factories import openai_client, tenant
from tests.support.harness import Gateway
from tests.support.metering_client import event, service

SCOPES = ["chat", "account:read", "usage:read", "keys:write", "billing"]


async def test_a_rotated_key_is_one_card_saying_until_when_the_old_secret_works(
    gw: Gateway,
) -> None:
    t = await tenant(gw, scopes=SCOPES)
    headers = {"Authorization": f"Bearer {t.key}"}
    url = f"{gw.url}/v1/account/keys/{t.key_id}/rotate"
    async with gw.http.post(url, json={"grace_seconds": 3600}, headers=headers) as r:
        assert r.status == 201
        rotated = await r.json()
    http, _, _ = await sign_in(gw, rotated["key"])
    async with http:
        _, text = await page(http, gw, "/dashboard/keys")
    assert text.count('class="card key"') == 1, text  # were two identical cards
    assert f'data-key-id="{rotated["id"]}"' in text
    found = re.search(r"the previous secret <code>([^<]+)…</code> is valid until ([^.]+)\.", text)
    assert found is not None and found.group(1) == rotated["previous"]["prefix"]
    assert found.group(2).endswith(" UTC")


async def test_balances_are_in_cents_and_windows_in_words(gw: Gateway) -> None:
    t = await tenant(gw, credit=9_975_423, plan="free", scopes=SCOPES)
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    await gw.settle_all()
    http, _, _ = await sign_in(gw, t.key)
    async with http:
        _, overview = await page(http, gw, "/dashboard/")
    balance = re.search(r'id="balance">([^<]+)<', overview)
    assert balance is not None and balance.group(1) == "$9.97", balance
    assert "spend per month" in overview and "requests per minute" in overview
    shown = re.sub(r"<script.*?</script>", "", overview.split("<main")[-1], flags=re.S)
    assert "spend micros" not in shown and "spend_micros" not in shown


async def test_meter_debits_are_labelled_not_a_dash(gw: Gateway) -> None:
    t = await tenant(gw, scopes=SCOPES)
    svc = await service(gw, "gpu_seconds")
    _, body = await svc.events([event(t.account_id, "gpu_seconds", 100, "gpu-1")])
    assert body["debited"] == 1, body
    await gw.settle_all()
    http, _, _ = await sign_in(gw, t.key)
    async with http:
        _, overview = await page(http, gw, "/dashboard/")
        _, by_meter = await page(http, gw, "/dashboard/usage?group_by=meter")
    assert "<td>Metered usage (meters)</td>" in overview and "<td>—</td>" not in overview
    assert "<td>GPU seconds</td>" in by_meter and '<th scope="col">Meter</th>' in by_meter
