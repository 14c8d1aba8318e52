"""The operator's Prices page, over HTTP: pending, scheduled and decided price changes with
their diff and preview, Approve and Reject through the same decision as the operator API (the
named move, a second approver), and the models refused for want of a price.

Each test has a database of its own: an approved change is installed by every gateway that
reads the database."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway.http.appkeys import PRICE_DESK
from tests.e2e.test_idempotency_keys import operator_cookies
from tests.support.factories import FAST_REVIEW, openai_client, propose_markup, tenant
from tests.support.harness import Gateway, config_dir_with, running_gateway, temp_database

HOUSE = """
[models."house-chat"]
provider = "openai"
max_output_tokens = 4096
input = "1.00"
output = "2.00"
"""
PAGE = "/dashboard/operators/prices"


async def page_gw(tmp_path: Path, **env: str) -> AsyncIterator[Gateway]:
    async with temp_database() as dsn:
        config = config_dir_with(tmp_path, pricing=HOUSE)
        async with running_gateway(
            dsn, None, MW_CONFIG_DIR=str(config), **FAST_REVIEW, **env
        ) as gw:
            yield gw
            await gw.settle_all()


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async for gateway in page_gw(tmp_path):
        yield gateway


@pytest.fixture
async def two_gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async for gateway in page_gw(tmp_path, PRICE_CHANGE_APPROVERS="2"):
        yield gateway


async def propose(gw: Gateway, input_rate: str) -> dict[str, Any]:
    ahead = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {
        "models": {"house-chat": {"input": input_rate, "output": "2.00"}},
        "effective_at": ahead,
    }
    status, change = await gw.admin("POST", "/admin/v1/prices/changes", body)
    assert status == 201, change
    return dict(change)


async def page(
    gw: Gateway, path: str = PAGE, form: dict[str, str] | None = None
) -> tuple[int, str]:
    cookies = await operator_cookies(gw)
    if form is None:
        async with gw.http.get(gw.url + path, cookies=cookies) as r:
            return r.status, html.unescape(await r.text())
    async with gw.http.post(gw.url + path, data={"csrf": "x", **form}, cookies=cookies) as r:
        return r.status, html.unescape(await r.text())


async def status_of(gw: Gateway, change: dict[str, Any]) -> str:
    code, body = await gw.admin("GET", f"/admin/v1/prices/changes/{change['id']}")
    assert code == 200, body
    return str(body["status"])


def card(text: str, change: dict[str, Any]) -> str:
    """The change's card on the page."""
    found = re.search(rf'<article[^>]*id="change-{change["id"]}".*?</article>', text, re.S)
    assert found, text
    return found.group(0)


async def test_the_page_shows_changes_and_decides_them_as_the_api_does(gw: Gateway) -> None:
    t = await tenant(gw)
    gw.control.usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(
            model="house-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=600
        )
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(
                model="mystery-model", messages=[{"role": "user", "content": "hi"}]
            )
    await gw.settle_all()
    await gw.app[PRICE_DESK].flush_refusals()
    dear = await propose(gw, "3.00")  # 2000 -> 4000 micros: a 100 % move
    markup = await propose_markup(gw, t.account_id, 500, ahead_s=86_400)
    status, text = await page(gw)
    assert status == 200, text
    shown = card(text, dear)
    assert 'data-status="pending"' in shown and "house-chat" in shown and "Approve" in shown
    assert "$0.002000 → $0.004000 ($0.002000)" in shown
    assert "100.0%" in shown and t.account_id in shown
    assert 'name="confirm"' in shown  # past the 10 % threshold: the move is typed
    assert re.search(rf"the markup of <a [^>]*>{t.account_id}</a>", card(text, markup))
    assert "mystery-model" in text.split('id="unpriced"')[1]

    path = f"{PAGE}/changes/{dear['id']}/approve"
    status, text = await page(gw, path, {"confirm": ""})
    assert status == 400 and "100.0%" in text and 'role="alert"' in text, text
    assert await status_of(gw, dear) == "pending"
    status, text = await page(gw, path, {"confirm": "100.0%"})
    assert status == 200 and f"Price change {dear['id']} approved" in text, text
    assert await status_of(gw, dear) == "approved"
    scheduled = text.split('id="scheduled"')[1].split('id="unpriced"')[0]
    assert f'id="change-{dear["id"]}"' in scheduled and "Approve" not in card(text, dear)

    status, text = await page(gw, f"{PAGE}/changes/{markup['id']}/reject", {})
    assert status == 200 and f"Price change {markup['id']} rejected" in text, text
    assert await status_of(gw, markup) == "rejected"
    assert 'data-status="rejected"' in text.split('id="decided"')[1]
    status, text = await page(gw, f"{PAGE}/changes/{markup['id']}/approve", {})
    assert status == 409 and "already rejected" in text, text
    code, audit = await gw.admin("GET", "/admin/v1/audit?action=price_change.approve")
    assert code == 200 and [r["target_id"] for r in audit["data"]] == [str(dear["id"])]


async def test_the_proposer_cannot_approve_from_the_page_when_two_are_required(
    two_gw: Gateway,
) -> None:
    change = await propose(two_gw, "1.10")  # proposed with the admin key
    status, text = await page(two_gw)
    assert "Another operator than the one who proposed" in text
    path = f"{PAGE}/changes/{change['id']}/approve"
    status, text = await page(two_gw, path, {"confirm": change["largest_move_percent"]})
    assert status == 403 and "another operator approves it" in text, text
    assert await status_of(two_gw, change) == "pending"
