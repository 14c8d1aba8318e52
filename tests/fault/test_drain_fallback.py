"""SIGTERM while requests are still being served and outlast DRAIN_TIMEOUT_S: the fallback.

Three streams are delivering output and two plain calls are still waiting on the provider
when the gateway is told to stop with a 1 s drain budget. Within the budget nothing ends,
so the gateway cuts them: each stream is debited for what the provider had sent (the
client's delivered output included), each plain call, which delivered nothing, is released
(no ledger row, no void), and the process is gone long before the provider would have
finished. Afterwards the money invariants hold exactly: no reservation left open, ledger
== Redis, one debit per stream and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import time
from collections.abc import Callable

import aiohttp
import pytest

from billing.metering.tokens import TokenCounter
from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.workers.settler import Settler
from tests.fault.procs import serving
from tests.support.harness import gateway_env
from tests.support.invariants import check_invariants

WORDS = " ".join(f"word{n}" for n in range(20))
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": WORDS}]}
STREAM_S = 40 * 0.5  # 40 chunks, one every 0.5 s: the provider would need 20 s


async def _stream(http: aiohttp.ClientSession, url: str, key: str, got: list[str]) -> None:
    """Reads content deltas into `got` until the gateway cuts the stream."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {**BODY, "stream": True}
    async with http.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        try:
            async for line in r.content:
                if line.startswith(b"data: {"):
                    for choice in json.loads(line[6:])["choices"]:
                        got.append(choice["delta"].get("content") or "")
        except aiohttp.ClientPayloadError:
            pass  # cut mid-stream, as expected


async def _plain(http: aiohttp.ClientSession, url: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with http.post(url + "/v1/chat/completions", json=BODY, headers=headers) as r:
            return r.status
    except aiohttp.ClientError:
        return 0  # the connection was closed without an answer


async def _until(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(480)
async def test_requests_outlasting_the_drain_are_cut_billed_for_output_and_released(
    dsn: str,
) -> None:
    control = UpstreamControl(chunks=40, chunk_delay_s=0.5)
    upstream = await start_upstream(control=control)
    env = gateway_env(dsn, upstream.url, f"mwt{secrets.token_hex(4)}")
    env["DRAIN_TIMEOUT_S"] = "1"
    try:
        async with serving(env, 10_000_000) as s, aiohttp.ClientSession() as http:
            url, stores, t, gateway = s.url, s.stores, s.tenant, s.gateway
            delivered: list[list[str]] = [[], [], []]
            streams = [asyncio.create_task(_stream(http, url, t.key, d)) for d in delivered]
            await _until(lambda: all(sum(map(len, d)) >= 8 for d in delivered))
            control.delay_s = 60.0  # the plain calls wait on the provider past any drain
            plains = [asyncio.create_task(_plain(http, url, t.key)) for _ in range(2)]
            await _until(lambda: control.hits == 5)

            stopped_at = time.monotonic()
            await gateway.kill(signal.SIGTERM)
            stop_s = time.monotonic() - stopped_at
            await asyncio.gather(*streams)
            statuses = await asyncio.gather(*plains)
            await Settler(stores.settlement_stream(), stores.ledger, claim_idle_ms=0).drain()
            report = await check_invariants(stores, [t.account_id])
            rows = await stores.pool.fetch(
                "SELECT kind, output_tokens, usage_source, amount_micros FROM ledger_entries"
                " WHERE account_id = $1 AND kind <> 'credit'",
                t.account_id,
            )
            pending = await stores.pool.fetchval(
                "SELECT count(*) FROM pending_debits WHERE account_id = $1", t.account_id
            )
    finally:
        await upstream.close()

    assert stop_s < STREAM_S / 2  # cut by the drain budget, not waited out
    assert (control.completed, control.cancelled) == (0, 5)
    assert set(statuses) <= {0, 499, 502, 503}, statuses  # no 200: nothing to bill for them
    assert (report.debits, report.voids, pending) == (3, 0, 0)
    assert all(r["kind"] == "debit" and r["usage_source"] == "counted" for r in rows)
    counter = TokenCounter()
    billed = sorted(r["output_tokens"] for r in rows)
    shown = sorted(counter.count_text("o200k_base", "".join(d)) for d in delivered)
    assert all(s >= 1 for s in shown)
    assert all(b >= s for b, s in zip(billed, shown, strict=True)), (billed, shown)
    assert report.debited_micros == -sum(r["amount_micros"] for r in rows) > 0
