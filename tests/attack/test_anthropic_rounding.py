"""Anthropic's cost report is in cents to the hundredth: a cost difference of up to 50
micros per line is `provider_rounding`, 51 is `price_drift` (docs/guides/reconciliation.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.attack.reports import Scene, scene
from tests.support.factories import anthropic_client
from tests.support.harness import temp_database


@pytest.fixture
async def own_dsn() -> AsyncIterator[str]:
    async with temp_database() as name:
        yield name


def cost_report(workspace: str, cents: str) -> Any:
    def rewrite(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path.startswith("/v1/organizations/cost_report"):
            page = json.loads(body)
            page["data"][0]["results"] = [
                {
                    "currency": "USD",
                    "amount": cents,
                    "workspace_id": workspace,
                    "description": "Claude Haiku 3.5 Usage - Output Tokens",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": "claude-3-5-haiku-20241022",
                    "service_tier": "standard",
                    "token_type": "output_tokens",
                }
            ]
            return status, json.dumps(page).encode()
        return None

    return rewrite


async def workspace_and_tokens(s: Scene) -> tuple[str, int]:
    seen: list[dict[str, Any]] = []

    def spy(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path.startswith("/v1/organizations/usage_report/messages"):
            for bucket in json.loads(body)["data"]:
                seen.extend(bucket["results"])
        return None

    s.reports.rewrite = spy
    rc, _, text = await s.reconcile()
    assert rc == 0 and seen, text
    return str(seen[0]["workspace_id"]), sum(int(r["output_tokens"]) for r in seen)


async def test_fifty_micros_are_anthropic_rounding_and_fifty_one_are_drift(own_dsn: str) -> None:
    async with scene(own_dsn, calls=0) as s:
        client = anthropic_client(s.gw, s.payer.key)
        await client.messages.create(
            model="claude-3-5-haiku",
            max_tokens=50,
            messages=[{"role": "user", "content": "hi there"}],
        )
        await s.gw.settle_all()
        workspace, tokens = await workspace_and_tokens(s)
        ledger = tokens * 4  # $4 per 1M output tokens: 4 micros a token
        for extra, cls in ((50, "provider_rounding"), (-50, "provider_rounding"),
                           (51, "price_drift"), (-51, "price_drift")):  # fmt: skip
            cents = f"{(ledger + extra) / 10_000:.4f}"  # 1 cent is 10,000 micros
            s.reports.rewrite = cost_report(workspace, cents)
            rc, found, text = await s.reconcile()
            out = [r for r in found if r["credential"] == "anthropic" and r["kind"] == "output"]
            if cls == "provider_rounding":
                assert all(r["class"] == cls for r in out), json.dumps([extra, cents, found])
            else:
                assert rc == 3, text
                assert len(out) == 1, json.dumps([extra, cents, found])
                assert out[0]["class"] == cls and out[0]["delta_micros"] == extra, out
