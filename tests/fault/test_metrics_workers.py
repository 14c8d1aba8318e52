"""/metrics under WORKERS=2: every worker's counts in one scrape, in the text format
prometheus_client's own parser reads, with no account or key id among the labels."""

from __future__ import annotations

import secrets
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from tests.fault.procs import Proc, fault_stores, make_tenant, wait_healthy
from tests.support.factories import openai_client
from tests.support.harness import ADMIN_KEY, gateway_env

CALLS = 12
USAGE = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}


class _Url:
    """What tests.support.factories.openai_client needs of a gateway: its URL."""

    def __init__(self, url: str) -> None:
        self.url = url


async def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    operator = {"Authorization": f"Bearer {ADMIN_KEY}"}  # /metrics is the operator's
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics", headers=operator) as r:
        assert r.status == 200
        text = await r.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


@pytest.mark.timeout(480)
async def test_metrics_sum_every_worker_and_parse(dsn: str, tmp_path: Path) -> None:
    control = UpstreamControl(usage=USAGE)
    upstream = await start_upstream(control=control)
    multiproc = tmp_path / "prom"
    env = gateway_env(
        dsn,
        upstream.url,
        f"mwt{secrets.token_hex(4)}",
        WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    url = f"http://{env['LISTEN_ADDR']}"
    try:
        async with fault_stores(env) as (_, stores):
            t = await make_tenant(stores, 10_000_000)
            gateway = Proc(env, "serve")
            await gateway.start()
            await wait_healthy(url)
            for _ in range(CALLS):  # a client (and connection) each, spread over the workers
                async with openai_client(_Url(url), t.key) as client:  # type: ignore[arg-type]
                    await client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                    )
            pids = {p.name.rsplit("_", 1)[1] for p in multiproc.glob("counter_*.db")}
            assert len(pids) == 2, "both workers wrote their counts"
            for _ in range(4):  # whichever worker answers the scrape, the sums are whole
                samples = await _scrape(url)
                route = (("model", "gpt-4o-mini"), ("route", "/v1/chat/completions"))
                assert samples[("meterway_requests_total", (*route, ("status", "200")))] == CALLS
                spend = ("meterway_spend_micros_total", (("model", "gpt-4o-mini"),))
                assert samples[spend] == CALLS * 45  # 100 x 0.15 + 50 x 0.60 micros
                tokens = (("kind", "output"), ("model", "gpt-4o-mini"))
                assert samples[("meterway_tokens_total", tokens)] == CALLS * 50
                overhead = ("meterway_overhead_seconds_count", (("route", "/v1/chat/completions"),))
                assert samples[overhead] == CALLS
                assert ("meterway_settlement_backlog", ()) in samples
            names = {label for (_, labels) in samples for label, _ in labels}
            assert not names & {"account", "account_id", "key", "key_id"}
            assert t.account_id not in {v for (_, labels) in samples for _, v in labels}
            await gateway.kill()
    finally:
        await upstream.close()
