"""Calls whose clients left are owned: a gateway stopped (SIGTERM) while such a call is still
with the provider waits for it and bills it, instead of dropping the task unbilled."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal

import aiohttp
import pytest

from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.workers.settler import Settler
from tests.fault.procs import serving
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}


async def _abandoned_call(url: str, key: str) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {key}"}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.4):
                await http.post(url + "/v1/chat/completions", json=BODY, headers=headers)


@pytest.mark.timeout(480)
async def test_stop_drains_calls_whose_clients_left(dsn: str) -> None:
    upstream = await start_upstream(control=UpstreamControl(delay_s=1.5))
    env = gateway_env(dsn, upstream.url, f"mwt{secrets.token_hex(4)}")
    try:
        async with serving(env, 10_000_000) as s:
            await asyncio.gather(*(_abandoned_call(s.url, s.tenant.key) for _ in range(3)))
            await s.gateway.kill(signal.SIGTERM)  # the provider has not answered yet
            await Settler(s.stores.settlement_stream(), s.stores.ledger, claim_idle_ms=0).drain()
            report = await check_invariants(s.stores, [s.tenant.account_id])
            assert report.debits == 3 and report.voids == 0
    finally:
        await upstream.close()
