"""Claude Code, Codex CLI and Gemini CLI, at the versions tests/agents/package.json pins,
each run one-shot against the gateway and the demo upstream: each completes, every request
it sends is accepted (no 4xx, seen by a recording proxy in front of the gateway), and every
call that reached the provider is debited exactly what its reported usage costs.

`tests/agents/bump.sh` moves the pins to the latest releases and runs this file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from billing.metering.usage import Usage
from tests.support.agents_kit import ensure_installed, recording_proxy, run_agent
from tests.support.factories import debits, held, price, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

IN, OUT = 1200, 30
# The same usage in each wire's own fields, so each debit's exact cost is known.
USAGE: dict[str, dict[str, Any]] = {
    "claude": {
        "input_tokens": IN,
        "output_tokens": OUT,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    },
    "codex": {"input_tokens": IN, "output_tokens": OUT, "total_tokens": IN + OUT},
    "gemini": {"promptTokenCount": IN, "candidatesTokenCount": OUT, "totalTokenCount": IN + OUT},
}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
UNBILLED = ("count_tokens", ":countTokens")  # lookups the gateway forwards without a debit


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    """A gateway with a Google key, so Gemini's models answer on the native routes."""
    await ensure_installed()
    async with running_gateway(dsn, GOOGLE_API_KEY="g-key") as gateway:
        yield gateway
        await gateway.settle_all()


@pytest.mark.timeout(480)
@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
async def test_the_agent_completes_and_every_call_is_debited_exactly(
    gw: Gateway, agent: str, tmp_path: Path
) -> None:
    t = await tenant(gw, credit=50_000_000, plan="pro", scopes=["inference"])
    gw.control.usage = USAGE[agent]
    async with recording_proxy(gw.url) as (url, seen):
        run = await run_agent(agent, tmp_path, url, t.key)
    report = f"exit {run.code}\n--- stdout\n{run.out[-3000:]}\n--- stderr\n{run.err[-3000:]}"
    refused = [s for s in seen if s.status >= 400]
    assert not refused, f"{refused}\n{report}"
    assert run.code == 0, report
    assert "This is the Meterway demo upstream" in run.out, report
    billed = [r for r in gw.control.requests if not r.path.endswith(UNBILLED)]
    assert billed, report
    rows = await debits(gw, t.account_id)
    assert len(rows) == len(billed), (rows, [r.path for r in billed])
    usage = Usage(input_tokens=IN, output_tokens=OUT)
    for row in rows:
        assert row["usage_source"] == "provider", row
        assert row["amount_micros"] == -price(gw, row["model"]).cost_micros(usage), row
    assert await held(gw, t.account_id) == 0
    async with gw.http.get(gw.url + "/metrics", headers=ADMIN) as metrics:
        page = await metrics.text()
    assert metrics.status == 200, page  # Claude Code's unlisted betas are counted, unlabelled
    if agent == "claude":
        assert "meterway_anthropic_unknown_betas_total" in page
