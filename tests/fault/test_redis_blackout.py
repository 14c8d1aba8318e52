"""A Redis that stops answering refuses calls at once instead of hanging them (issue 82: in
a 20 s blackout half the calls waited until the heal, 14.7 s; in a 45 s one up to 40 s,
reconnects one at a time behind one lock, each waiting the reply timeout).

Redis is blackholed (connections stay open and pass no byte): every call gets a 503 naming
Redis within 1.5 x REDIS_REPLY_TIMEOUT_S + REDIS_CONNECT_TIMEOUT_S (the silent connection
closed, then one shared connect that nobody answers), and once that connect failed, every
later call is refused at once. After the heal, calls pass again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fault.tcp_proxy import CuttableProxy
from tests.support.factories import tenant
from tests.support.harness import Gateway, running_gateway

TIMEOUT_S = 1.0  # REDIS_CONNECT_TIMEOUT_S and REDIS_REPLY_TIMEOUT_S of the gateway here
# The longest a call may wait: a silent connection closed within 1.5 x the reply timeout,
# then the connect after it, with a loaded machine's slack.
BOUND_S = 2.5 * TIMEOUT_S + 1.0
AT_ONCE_S = 0.5  # a call to a Redis known down
CALLS, SPREAD_S = 24, 4.0  # calls during the blackout, started evenly over SPREAD_S
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


@pytest.fixture
async def gw(dsn: str, redis_proxy: CuttableProxy) -> AsyncIterator[Gateway]:
    async with running_gateway(
        dsn,
        REDIS_URL=redis_proxy.redis_url,
        REDIS_CONNECT_TIMEOUT_S=str(TIMEOUT_S),
        REDIS_REPLY_TIMEOUT_S=str(TIMEOUT_S),
    ) as gw:
        try:
            yield gw
        finally:
            redis_proxy.restore()


async def _call(gw: Gateway, key: str, after_s: float = 0.0) -> tuple[int, Any, float, float]:
    """(status, body, when it was asked, how long its answer took)."""
    await asyncio.sleep(after_s)
    asked = time.monotonic()
    headers = {"Authorization": f"Bearer {key}"}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=BODY, headers=headers) as r:
        body = await r.json()
        return r.status, body, asked, time.monotonic() - asked


@pytest.mark.parametrize("fault", ["blackhole", "half_open"])
async def test_a_blackholed_redis_refuses_calls_at_once_naming_it(
    gw: Gateway, redis_proxy: CuttableProxy, fault: str
) -> None:
    """`blackhole`: packets dropped both ways. `half_open`: Redis's side of every connection
    closed, the gateway's left open and silent (a Redis host gone without a word)."""
    t = await tenant(gw, credit=1_000_000)
    assert (await _call(gw, t.key))[0] == 200
    getattr(redis_proxy, fault)()
    answers = await asyncio.gather(*(_call(gw, t.key, i * SPREAD_S / CALLS) for i in range(CALLS)))
    assert [a[0] for a in answers] == [503] * CALLS, [a[1] for a in answers]
    slowest = max(a[3] for a in answers)
    assert slowest < BOUND_S, f"a call waited {slowest:.1f} s for a Redis that does not answer"
    error = answers[-1][1]["error"]
    assert error["store"] == "redis" and "Redis" in error["message"], error
    # The first refusal closed the silent connection; the one connect after it failed
    # within TIMEOUT_S: from then on Redis is known down.
    known_down = min(a[2] + a[3] for a in answers) + TIMEOUT_S
    later = [a[3] for a in answers if a[2] > known_down + 0.1]
    assert later and max(later) < AT_ONCE_S, later
    redis_proxy.restore()
    for _ in range(100):  # healed: the next connect in the background lets calls through
        status = (await _call(gw, t.key))[0]
        if status == 200:
            break
        await asyncio.sleep(0.1)
    assert status == 200
