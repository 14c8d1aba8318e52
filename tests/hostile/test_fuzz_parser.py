"""Issue 10: the request parser under hypothesis. Whatever body arrives, the answer is never a
5xx, and a refused body reaches no provider and moves no money."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.http.appkeys import METER
from tests.hostile.provider import HostileProvider
from tests.support.factories import Tenant, tenant
from tests.support.harness import Gateway

PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/messages"]
FIELDS = [
    "model", "messages", "prompt", "input", "max_tokens", "max_completion_tokens", "n",
    "best_of", "stream", "stream_options", "tools", "functions", "system", "service_tier",
    "store", "modalities", "response_format", "audio", "tool_choice",
]  # fmt: skip
MODELS = ["gpt-4o-mini", "gpt-3.5-turbo-instruct", "text-embedding-3-small", "claude-haiku-4-5"]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool", 3])},
        optional={"content": json_values, "name": json_values},
    ),
    max_size=3,
)
field_values = st.one_of(json_values, st.sampled_from(MODELS), messages)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), field_values, max_size=7).map(
        lambda d: {"model": "gpt-4o-mini", **d}
    ),
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=7),
)


async def _money(gw: Gateway, t: Tenant) -> tuple[int, int]:
    await gw.app[METER].drain()
    found = await gw.store.balance(t.account_id)
    assert found is not None
    return found


@pytest.fixture
async def fuzz_tenant(hgw: Gateway) -> Tenant:
    return await tenant(hgw, credit=10**12, plan="enterprise")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(PATHS), body=bodies | st.binary(max_size=64))
async def test_no_body_gets_a_5xx_and_no_refusal_moves_money(
    hgw: Gateway, hp: HostileProvider, fuzz_tenant: Tenant, path: str, body: Any
) -> None:
    t = fuzz_tenant
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    before, seen = await _money(hgw, t), len(hp.seen)
    headers = {"Authorization": f"Bearer {t.key}", "content-type": "application/json"}
    async with hgw.http.post(hgw.url + path, data=io.BytesIO(data), headers=headers) as r:
        status = r.status
        answer = await r.read()
    after = await _money(hgw, t)
    assert status < 500, (status, answer)
    assert after[1] == 0
    if status != 200:
        assert (after, len(hp.seen)) == (before, seen), (status, answer)
    else:
        assert len(hp.seen) == seen + 1 and after[0] < before[0]
