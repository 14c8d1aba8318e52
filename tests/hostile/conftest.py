"""A gateway whose every provider is the hostile fake, and how a probe's money is read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.hostile.provider import HostileProvider
from tests.support.factories import balance, held, ledger
from tests.support.harness import Gateway, running_gateway


@pytest.fixture
async def hp() -> AsyncIterator[HostileProvider]:
    provider = await HostileProvider().start()
    yield provider
    await provider.close()


def hostile_env(hp: HostileProvider, **env: str) -> dict[str, str]:
    urls = {"OPENAI_BASE_URL": hp.url + "/v1", "ANTHROPIC_BASE_URL": hp.url}
    for name in ("GOOGLE", "DEEPSEEK", "MISTRAL"):
        urls[f"{name}_BASE_URL"] = hp.url + "/v1"
    return {**urls, "OPENAI_API_KEY": "sk-operator-secret-0123456789abcdef", **env}


@pytest.fixture
async def hgw(dsn: str, hp: HostileProvider) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **hostile_env(hp)) as gateway:
        yield gateway
        await gateway.settle_all()


@dataclass(frozen=True)
class Money:
    balance: int
    held: int
    rows: list[dict[str, Any]]

    @property
    def debits(self) -> list[int]:
        return [-int(r["amount_micros"]) for r in self.rows if r["kind"] == "debit"]


async def money(gw: Gateway, account_id: str) -> Money:
    """Balance, held and ledger rows once every settlement so far reached the ledger."""
    await gw.settle_all()
    rows = [r for r in await ledger(gw, account_id) if r["kind"] != "credit"]
    return Money(await balance(gw, account_id), await held(gw, account_id), rows)
