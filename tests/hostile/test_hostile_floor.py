"""Issue 10, item 10: a large prompt is checked against the balance and the windows at its
byte floor before any tokenizing, so an account that cannot afford even the floor costs the
gateway no counting; one that can is counted (in a thread) and admitted, and never overdraws.

Whether a prompt was tokenized is read from `meterway_prompts_counted_total`, not timed."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Coroutine
from typing import Any

import orjson

from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from gateway.http.appkeys import COUNTER, PRICING
from gateway.llm import endpoints
from gateway.llm.reading.calls import parse_json, read_call
from gateway.stores.records import KeyRecord
from tests.hostile.conftest import money
from tests.hostile.provider import HostileProvider, chat_body, json_answer
from tests.hostile.test_hostile_clients import post
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway

BIG = "a" * 4_000_000  # floor: ceil(4e6 / 128) = 31,250 tokens, ~4,690 micros on gpt-4o-mini


def big_body(text: str = BIG, **extra: object) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


async def counted(gw: Gateway) -> dict[str, float]:
    """meterway_prompts_counted_total by `where` (absent until the first count)."""
    operator = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with gw.http.get(gw.url + "/metrics", headers=operator) as r:
        text = await r.text()
    found = re.findall(r'^meterway_prompts_counted_total\{where="(\w+)"\} (\S+)$', text, re.M)
    return {where: float(value) for where, value in found}


async def test_a_prompt_whose_floor_is_unaffordable_is_refused_without_tokenizing(
    hgw: Gateway, hp: HostileProvider
) -> None:
    poor = await tenant(hgw, credit=3_000)  # passes the 1-micro check before the body
    before = await counted(hgw)
    status, body = await post(hgw, poor.key, big_body(max_tokens=5))
    assert (status, body["error"]["code"]) == (402, "billing_required"), body
    assert body["error"]["required_micros"] > 3_000
    assert "affordable_max_tokens" not in body["error"]
    assert await counted(hgw) == before
    m = await money(hgw, poor.account_id)
    assert (m.balance, m.held, m.rows, hp.seen) == (3_000, 0, [], [])


async def test_a_prompt_whose_floor_fills_a_window_is_refused_without_tokenizing(
    hgw: Gateway, hp: HostileProvider
) -> None:
    quota = {"window": "minute", "metric": "input_tokens", "limit": 30_000}
    t = await tenant(hgw, quotas=[quota])
    before = await counted(hgw)
    status, body = await post(hgw, t.key, big_body(max_tokens=5))
    assert (status, body["error"]["code"]) == (429, "quota_exceeded"), body
    assert await counted(hgw) == before
    m = await money(hgw, t.account_id)
    assert (m.held, m.rows, hp.seen) == (0, [], [])


async def test_too_much_new_text_for_an_account_short_of_its_floor_is_never_tokenized(
    hgw: Gateway, hp: HostileProvider
) -> None:
    """A body under 1 MiB with more new text than the event loop may tokenize (32 KiB): a
    probe finds that from kept-count lookups alone, so the floor check refuses it before any
    of its text is tokenized or kept (the request it sent costs the gateway no counting)."""
    poor = await tenant(hgw, credit=20)  # the floor of 48 KB is ~375 tokens, ~56 micros
    turns = [{"role": "user", "content": f"new {i}: " + "unpaid invoices " * 500} for i in range(6)]
    cache = hgw.app[COUNTER].cache
    kept, before = (cache.hits, cache.misses, cache.held_chars), await counted(hgw)
    status, body = await post(
        hgw, poor.key, {"model": "gpt-4o-mini", "messages": turns, "max_tokens": 5}
    )
    assert (status, body["error"]["code"]) == (402, "billing_required"), body
    assert body["error"]["required_micros"] > 20
    assert "affordable_max_tokens" not in body["error"]  # a floor refusal
    assert (cache.hits, cache.misses, cache.held_chars) == kept
    assert await counted(hgw) == before
    m = await money(hgw, poor.account_id)
    assert (m.balance, m.held, m.rows, hp.seen) == (20, 0, [], [])


async def test_new_text_that_fits_is_counted_on_the_loop_once_and_billed_exactly(
    hgw: Gateway, hp: HostileProvider
) -> None:
    """The probe tokenizes nothing and records no use: after it, the count tokenizes each
    new text once (misses), finds each kept one once (hits), and bills the uncached count."""
    t = await tenant(hgw, credit=10_000_000)
    kept = [
        {"role": "user", "content": f"old {i}: " + "the ledger balances " * 400} for i in range(6)
    ]
    new = [{"role": "user", "content": f"new {i}: " + "unpaid invoices " * 600} for i in range(3)]
    bodies = [
        {"model": "gpt-4o-mini", "messages": m, "max_tokens": 5} for m in (kept, [*kept, *new])
    ]
    hp.script.extend(json_answer(chat_body(usage=None)) for _ in bodies)
    status, answer = await post(hgw, t.key, bodies[0])  # 48 KB new: the floor, a thread
    assert status == 200, answer
    cache = hgw.app[COUNTER].cache
    hits, misses, before = cache.hits, cache.misses, await counted(hgw)
    status, answer = await post(hgw, t.key, bodies[1])  # 29 KB of it new: on the loop
    assert status == 200, answer
    assert (cache.hits - hits, cache.misses - misses) == (6, 3)
    after = await counted(hgw)
    assert {w: after[w] - before.get(w, 0) for w in after} == {"loop": 1, "thread": 0}
    price = hgw.app[PRICING].lookup("gpt-4o-mini")
    assert price is not None
    uncached = TokenCounter().count_chat_prompt("o200k_base", [*kept, *new])
    out = TokenCounter().count_text("o200k_base", "hello")
    usage = Usage(input_tokens=uncached, output_tokens=out, source="counted")
    m = await money(hgw, t.account_id)
    assert m.debits[0] == price.cost_micros(usage) and m.held == 0  # newest first


async def test_an_affordable_large_prompt_is_counted_in_a_thread_and_never_overdraws(
    hgw: Gateway, hp: HostileProvider
) -> None:
    """Three concurrent large prompts (each counted at 300,007 tokens: ~45,000 micros; three
    fit the pro plan's 1M tokens a minute) on a balance that covers two: all pass the floor
    and are counted, off the event loop; each admitted one was reserved at its real count,
    so the balance never goes below zero."""
    t = await tenant(hgw, credit=100_000)
    body = big_body("a" * 2_400_000, max_tokens=5)
    before = await counted(hgw)
    hp.script.extend(json_answer(chat_body(usage=None)) for _ in range(3))
    answers = await asyncio.gather(*(post(hgw, t.key, body) for _ in range(3)))
    statuses = sorted(status for status, _ in answers)
    assert statuses in ([200, 200, 402], [200, 402, 402]), answers
    after = await counted(hgw)
    assert after.get("thread", 0) - before.get("thread", 0) == 3
    assert after.get("loop", 0) == before.get("loop", 0)
    m = await money(hgw, t.account_id)
    assert len(m.debits) == statuses.count(200)
    assert set(m.debits) == {45_002}  # 300,007 tokens in, "hello" out
    assert m.held == 0 and m.balance == 100_000 - sum(m.debits) >= 0


async def test_a_long_conversation_is_counted_on_the_loop_once_its_turns_were_counted(
    hgw: Gateway, hp: HostileProvider
) -> None:
    """Over 32 KiB, a body whose texts were counted for the account before (a conversation's
    earlier turns) is counted on the event loop, with no floor check; one with more new text
    than that still goes to a thread. Every one is billed at its exact count."""
    t = await tenant(hgw, credit=10_000_000)
    turns = [
        {
            "role": ("user", "assistant")[i % 2],
            "content": f"turn {i}: " + "the ledger balances " * 200,
        }
        for i in range(12)
    ]  # ~48 KB of text
    bodies: list[dict[str, Any]] = [
        {"model": "gpt-4o-mini", "messages": turns, "max_tokens": 5},
        {"model": "gpt-4o-mini", "messages": [*turns, {"role": "user", "content": "And?"}]},
        {
            "model": "gpt-4o-mini",
            "messages": [{**m, "content": "new " + m["content"]} for m in turns],
        },
    ]
    hp.script.extend(json_answer(chat_body(usage=None)) for _ in bodies)
    wheres = []
    for body in bodies:
        before = await counted(hgw)
        status, answer = await post(hgw, t.key, body)
        assert status == 200, answer
        after = await counted(hgw)
        wheres.append({w for w in after if after[w] != before.get(w, 0)})
    assert wheres == [{"thread"}, {"loop"}, {"thread"}]
    price = hgw.app[PRICING].lookup("gpt-4o-mini")
    assert price is not None
    uncached = TokenCounter()
    expected = [
        price.cost_micros(
            Usage(
                input_tokens=uncached.count_chat_prompt("o200k_base", b["messages"]),
                output_tokens=uncached.count_text("o200k_base", "hello"),
                source="counted",
            )
        )
        for b in bodies
    ]
    m = await money(hgw, t.account_id)
    assert m.debits[::-1] == expected and m.held == 0  # the ledger lists newest first


async def test_walking_a_body_of_many_tiny_messages_for_its_floor_never_holds_the_loop(
    hgw: Gateway, hp: HostileProvider
) -> None:
    """~140,000 empty messages in 4 MiB: nothing to tokenize, yet walking them for the floor
    takes a large fraction of a second (measured here first, on this machine). The walk runs
    in a worker thread, so a task on the gateway's loop keeps running through it: its
    longest pause is the parse, not parse and walk together as when the floor was walked on
    the loop, whatever this machine's speed.

    Up to three rounds, each measured afresh: a busy machine can stretch one round's pause
    (the scheduler takes the loop's core), but a walk on the loop stretches every round's.
    """
    poor = await tenant(hgw, credit=3_000)  # passes the 1-micro check before the body
    messages = [{"role": "user", "content": ""}] * 140_000
    raw = orjson.dumps({"model": "gpt-4o-mini", "messages": messages, "max_tokens": 5})
    assert 3 * 1024 * 1024 < len(raw) < hgw.settings.max_body_bytes
    rounds = []
    for _ in range(3):
        parse_s, walk_s = _parse_and_walk(hgw, raw, poor.account_id)
        longest = await _longest_pause_while(_refused(hgw, poor.key, raw))
        m = await money(hgw, poor.account_id)
        assert (m.balance, m.held, m.rows, hp.seen) == (3_000, 0, [], [])
        rounds.append((longest, parse_s, walk_s))
        # Parsing the 4 MiB stays on the loop (orjson holds the GIL: a thread would not
        # help); on the loop, the walk followed it in the same pause.
        if longest < parse_s + walk_s / 2:
            return
    raise AssertionError(f"the loop paused for parse and walk (longest, parse, walk): {rounds}")


def _parse_and_walk(hgw: Gateway, raw: bytes, account_id: str) -> tuple[float, float]:
    """How long parsing the body and walking it for the floor take here and now, on the
    test's own thread."""
    key = KeyRecord("key_walk", account_id, 0, "walk", ("chat",), ())
    floor = hgw.app[COUNTER].floor()
    started = time.perf_counter()
    body = parse_json(raw)
    parsed = time.perf_counter()
    read_call(endpoints.CHAT, body, key, hgw.app[PRICING], floor)
    return parsed - started, time.perf_counter() - parsed


async def _refused(hgw: Gateway, key: str, raw: bytes) -> None:
    status, answer = await post(hgw, key, raw)
    assert (status, answer["error"]["code"]) == (402, "billing_required"), answer


async def _longest_pause_while(work: Coroutine[Any, Any, None]) -> float:
    """The longest the event loop went without running a 1 ms ticker while `work` ran."""
    pauses: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            pauses.append(now - last)
            last = now

    side = asyncio.create_task(ticker())
    try:
        await work
    finally:
        done.set()
        await side
    return max(pauses)
