"""Issue 10, items 1, 2 (images, functions), 9-13: hostile clients get a 4xx, never free
output, an overdraft or a 500, and a refused probe leaves balance, held and ledger alone."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest

from tests.hostile.conftest import money
from tests.hostile.provider import HostileProvider, chat_body, json_answer
from tests.hostile.rawclient import request_bytes, send_raw
from tests.support.factories import Tenant, price, tenant
from tests.support.harness import ADMIN_KEY, Gateway

MESSAGES = [{"role": "user", "content": "hi"}]
CREDIT = 1_000_000


async def post(
    gw: Gateway, key: str, body: Any, path: str = "/v1/chat/completions", **headers: str
) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"Authorization": f"Bearer {key}", "content-type": "application/json", **headers}
    async with gw.http.post(gw.url + path, data=io.BytesIO(data), headers=hdrs) as r:
        return r.status, await r.json(content_type=None)


async def assert_untouched(gw: Gateway, t: Tenant, hp: HostileProvider) -> None:
    m = await money(gw, t.account_id)
    assert (m.balance, m.held, m.rows) == (CREDIT, 0, [])
    assert hp.seen == []


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"max_completion_tokens": 1, "max_tokens": 16000}, "max_tokens"),
        ({"stream": "true"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"stream": True, "stream_options": "x"}, "stream_options"),
        ({"stream": True, "stream_options": {"include_usage": "yes"}}, "stream_options"),
    ],
)
async def test_ambiguous_bodies_are_refused_before_anything_is_held(
    hgw: Gateway, hp: HostileProvider, extra: dict[str, Any], param: str
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    status, body = await post(hgw, t.key, {"model": "gpt-4o-mini", "messages": MESSAGES, **extra})
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == ("invalid_request", param)
    await assert_untouched(hgw, t, hp)


async def test_concurrent_two_max_fields_cannot_overdraw(hgw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(hgw, credit=100)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_completion_tokens": 1}
    body["max_tokens"] = 16000
    answers = await asyncio.gather(*[post(hgw, t.key, body) for _ in range(50)])
    assert {status for status, _ in answers} == {400}
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, m.rows, hp.seen) == (100, 0, [], [])


async def test_duplicate_keys_forward_exactly_what_was_priced(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    raw = (
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],'
        b' "max_tokens": 5, "model": "gpt-4o", "max_tokens": 7}'
    )
    hp.script.append(json_answer(chat_body(usage=None)))
    status, _ = await post(hgw, t.key, raw)
    assert status == 200
    forwarded = hp.seen[0]
    assert forwarded.body.count(b'"model"') == 1 and forwarded.body.count(b'"max_tokens"') == 1
    assert (forwarded.json()["model"], forwarded.json()["max_tokens"]) == ("gpt-4o", 7)
    m = await money(hgw, t.account_id)
    assert [r["model"] for r in m.rows] == ["gpt-4o"]
    assert (m.balance, m.held) == (CREDIT - m.debits[0], 0)


async def test_images_are_reserved_at_their_upper_bound(hgw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(hgw, credit=5_000)
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    messages = [{"role": "user", "content": [image] * 10}]
    body = {"model": "gpt-4o-mini", "messages": messages, "max_tokens": 5}
    status, answer = await post(hgw, t.key, body)
    assert status == 402
    mini = price(hgw, "gpt-4o-mini")
    assert answer["error"]["required_micros"] >= mini.worst_case_micros(10 * 48169, 5)
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, m.rows, hp.seen) == (5_000, 0, [], [])


async def test_legacy_functions_are_counted(hgw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(hgw, credit=CREDIT)
    functions = [{"name": "lookup", "description": "word " * 500, "parameters": {}}]
    for extra in ({}, {"functions": functions}):
        hp.script.append(json_answer(chat_body(usage=None)))
        body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 5, **extra}
        assert (await post(hgw, t.key, body))[0] == 200
    m = await money(hgw, t.account_id)
    plain, with_functions = sorted(r["input_tokens"] for r in m.rows)
    assert with_functions - plain >= 500
    assert (m.balance, m.held) == (CREDIT - sum(m.debits), 0)


@pytest.mark.parametrize(
    ("extra", "headers", "param"),
    [
        ({"service_tier": "flex"}, {}, "service_tier"),
        ({"store": True}, {}, "store"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "x"}}, {}, "modalities"),
        ({"web_search_options": {}}, {}, "web_search_options"),
        ({"tools": [{"type": "web_search_preview"}]}, {}, "tools"),
        ({}, {"anthropic-beta": "code-execution-2025-05-22"}, "anthropic-beta"),
    ],
)  # an Anthropic beta is named by itself: the header is only where it was asked for
async def test_billable_options_are_refused_by_name(
    hgw: Gateway,
    hp: HostileProvider,
    extra: dict[str, Any],
    headers: dict[str, str],
    param: str,
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, **extra}
    status, answer = await post(hgw, t.key, body, **headers)
    assert status == 400
    option = headers.get("anthropic-beta", param)
    assert (answer["error"]["param"], answer["error"]["unpriced_option"]) == (param, option)
    assert param in answer["error"]["message"] and option in answer["error"]["message"]
    await assert_untouched(hgw, t, hp)


async def test_billing_headers_are_not_forwarded(hgw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(hgw, credit=CREDIT)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 5}
    extra = {"OpenAI-Organization": "org-attacker", "OpenAI-Project": "proj_x", "X-Other": "1"}
    assert (await post(hgw, t.key, body, **extra))[0] == 200
    sent = hp.seen[0].headers
    assert not {"openai-organization", "openai-project", "x-other"} & set(sent)
    assert sent["authorization"] == "Bearer sk-operator-secret-0123456789abcdef"
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, len(m.rows)) == (CREDIT - m.debits[0], 0, 1)


async def test_refused_keys_cost_no_tokenizing_and_large_bodies_leave_the_loop_free(
    hgw: Gateway, hp: HostileProvider
) -> None:
    broke = await tenant(hgw, credit=0)
    big: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "a" * 4_000_000}],
    }
    started = time.monotonic()
    status, body = await post(hgw, broke.key, big)
    assert (status, body["error"]["code"]) == (402, "billing_required")
    assert time.monotonic() - started < 1.0  # 4 MB of "a" takes seconds to tokenize
    t = await tenant(hgw, credit=CREDIT)
    big["max_tokens"] = 5
    victim_latency: list[float] = []

    async def victim() -> None:
        while len(victim_latency) < 20:
            t0 = time.monotonic()
            async with hgw.http.get(hgw.url + "/healthz") as r:
                assert r.status == 200
            victim_latency.append(time.monotonic() - t0)
            await asyncio.sleep(0.05)

    (status, _), _ = await asyncio.gather(post(hgw, t.key, big), victim())
    assert status == 200
    assert max(victim_latency) < 1.0
    m = await money(hgw, t.account_id)
    assert (m.balance, m.held, len(m.rows)) == (CREDIT - m.debits[0], 0, 1)


async def test_tokenizer_panic_falls_back_to_bytes(hgw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(hgw, credit=CREDIT)
    status, _ = await hgw.admin(
        "PUT",
        f"/admin/v1/accounts/{t.account_id}/plan",
        {"plan": "enterprise", "billing_ready": True},
    )
    assert status == 200
    spaces = " " * 1_000_000
    hp.script.append(json_answer(chat_body(text=spaces, usage=None)))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": spaces}]}
    status, answer = await post(hgw, t.key, {**body, "max_tokens": 5})
    assert status == 200, answer
    m = await money(hgw, t.account_id)
    row = m.rows[0]
    assert row["usage_source"] == "counted"
    assert row["input_tokens"] >= 1_000_000 and row["output_tokens"] == 1_000_000
    assert (m.balance, m.held) == (CREDIT - m.debits[0], 0)


async def test_hostile_bytes_in_keys_get_401_not_500(hgw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(hgw, credit=CREDIT)
    body = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}).encode()
    for path, header in [
        ("/v1/chat/completions", "Authorization: Bearer mw-\xff\xfe"),
        ("/v1/messages", "x-api-key: mw-\xff"),
        ("/admin/v1/accounts/" + t.account_id, "Authorization: Bearer \xff" + ADMIN_KEY),
    ]:
        name, _, value = header.partition(": ")
        raw = request_bytes("POST", path, {name: value, "Content-Type": "application/json"}, body)
        answer = await send_raw(hgw.url, raw)
        assert answer.status == 401, answer
        assert "x-request-id" in answer.headers
        err = answer.json()["error"]
        assert err.get("code", err.get("type")) in ("invalid_api_key", "authentication_error")
    await assert_untouched(hgw, t, hp)


async def test_deep_nesting_is_a_400(hgw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(hgw, credit=CREDIT)
    deep = "[" * 1000 + "]" * 1000
    raw = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ' + deep + "}]}"
    status, body = await post(hgw, t.key, raw.encode())
    assert (status, body["error"]["param"]) == (400, "body")
    await assert_untouched(hgw, t, hp)


FAR_FUTURE = "9999-12-31T23:59:59-23:59"
FAR_PAST = "0001-01-01T00:00:00+14:00"
NUL = "\x00"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/admin/v1/accounts", {"name": "a\x00b"}),
        ("GET", "/admin/v1/accounts/acct%00x", None),
        ("GET", "/admin/v1/keys/k%00/usage", None),
        ("GET", "/admin/v1/accounts/{acct}/ledger?before=" + str(2**70), None),
        ("POST", "/admin/v1/accounts/{acct}/credits", {"amount_micros": 5, "idempotency_key": NUL}),
        ("POST", "/admin/v1/keys", {"account_id": "{acct}", "name": "k", "expires_at": FAR_FUTURE}),
        ("POST", "/admin/v1/keys", {"account_id": "{acct}", "name": "k", "expires_at": FAR_PAST}),
        ("POST", "/admin/v1/keys", {"account_id": "a\x00", "name": "k"}),
    ],
)  # fmt: skip
async def test_admin_api_answers_4xx_to_hostile_values(
    hgw: Gateway, hp: HostileProvider, method: str, path: str, body: Any
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    path = path.replace("{acct}", t.account_id)
    if isinstance(body, dict):
        body = {k: v.replace("{acct}", t.account_id) if isinstance(v, str) else v
                for k, v in body.items()}  # fmt: skip
    status, answer = await hgw.admin(method, path, body)
    assert status in (400, 404), answer
    assert answer["error"]["code"] in ("invalid_request", "not_found")
    await assert_untouched(hgw, t, hp)


async def test_revoked_and_expired_keys_are_refused_before_validation(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw, credit=CREDIT)
    later = await tenant(hgw, credit=CREDIT, expires_at="2030-01-01T00:00:00Z")
    status, _ = await hgw.admin("DELETE", f"/admin/v1/keys/{t.key_id}")
    assert status == 200
    await hgw.advance_clock(10 * 365 * 86_400_000)
    for who, reason in ((t, "key_revoked"), (later, "key_expired")):
        async with hgw.http.get(
            hgw.url + "/v1/models", headers={"Authorization": f"Bearer {who.key}"}
        ) as r:
            assert (r.status, (await r.json())["error"]["reason"]) == (401, reason)
        for bad in ({"messages": MESSAGES}, {"model": "nope"}, {"model": "gpt-4o-mini"}):
            status, body = await post(hgw, who.key, bad)
            assert (status, body["error"]["code"]) == (401, "invalid_api_key")
        await assert_untouched(hgw, who, hp)
