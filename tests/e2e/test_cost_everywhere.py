"""The debit in the body wherever a client reads an answer: dall-e-3's images (no usage
object: a top-level `cost_micros`), every retrieve of a background response (its
`usage.cost_micros`, as a create's) and of a batch, and each billed line of a batch's output
file (its share of the batch's one debit)."""

from __future__ import annotations

import asyncio
import json
import math
from fractions import Fraction
from typing import Any

from google import genai
from google.genai import types

from tests.e2e.test_audio import wav
from tests.e2e.test_batches import ENDPOINT, jsonl
from tests.support.factories import anthropic_client, debits, openai_client, tenant
from tests.support.harness import Gateway, running_gateway

USAGE = {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500}


async def test_a_dall_e_3_answer_carries_its_cost(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    async with openai_client(gw, t.key) as client:
        image = await client.images.generate(
            model="dall-e-3", prompt="a lighthouse", size="1792x1024", quality="hd"
        )
    assert image.model_extra is not None and image.model_extra["cost_micros"] == 120_000


async def test_every_retrieve_of_a_settled_background_response_carries_the_ledgers_debit(
    gw: Gateway,
) -> None:
    """The retrieve that settles it, one before the settler has written the ledger (the debit
    queued, kept on the owner's record), and one read from the ledger alone (the record's
    copy removed): each carries the ledger's debit, in the body and the header."""
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.background_s = 0.2
    costs: list[int] = []
    async with openai_client(gw, t.key) as client:
        created = await client.responses.create(
            model="gpt-4o-mini", input="later", background=True, max_output_tokens=500
        )
        done = await client.responses.retrieve(created.id)
        while done.status != "completed":
            await asyncio.sleep(0.1)
            done = await client.responses.retrieve(created.id)
        retrieve = client.responses.with_raw_response.retrieve
        answers = [done, (await retrieve(created.id)).parse()]
        rows = await debits(gw, t.account_id)
        await gw.store.redis.hdel(gw.store.keys.owned_response(created.id), "cost_micros")
        raw = await retrieve(created.id)
        answers.append(raw.parse())
        costs.append(int(raw.headers["x-meterway-cost-micros"]))
    for answer in answers:
        assert answer.usage is not None and answer.usage.model_extra
        costs.append(answer.usage.model_extra["cost_micros"])
    # gpt-4o-mini: 1200 x 0.15 + 300 x 0.60 = 180 + 180 micros
    assert [-r["amount_micros"] for r in rows] == [360] and costs == [360] * 4
    assert all(a.usage is not None and a.usage.model_extra == {"cost_micros": 360} for a in answers)


def _exact_line_costs(output: bytes) -> list[Fraction | None]:
    """Each line's exact cost at gpt-4o-mini's batch rates (0.075 and 0.3 micros a token);
    None for a failed line."""
    costs: list[Fraction | None] = []
    for raw in output.splitlines():
        response = json.loads(raw)["response"]
        usage = response["body"].get("usage")
        if response["status_code"] != 200 or usage is None:
            costs.append(None)
            continue
        costs.append(Fraction(75 * usage["prompt_tokens"] + 300 * usage["completion_tokens"], 1000))
    return costs


async def test_a_batchs_output_lines_carry_shares_summing_to_its_debit(gw: Gateway) -> None:
    """Lines whose exact costs have fractional micros: rounded one by one they would bill
    more than the batch's one rounding; each line's `cost_micros` (as the official SDK's
    files.content downloads it) is its cumulative share, and the shares sum to the debit.
    Every retrieve of the batch (the settling one, one before the ledger has the debit, one
    after) carries that debit."""
    t = await tenant(gw, credit=10_000_000)
    ids = ("a", "bb " * 7, "fail-c", "d" * 13, "e " * 5, "f" * 3, "g " * 11)
    async with openai_client(gw, t.key) as client:
        uploaded = await client.files.create(file=("in.jsonl", jsonl(*ids)), purpose="batch")
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
        )
        retrieved = [await client.batches.retrieve(batch.id)]
        retrieved.append(await client.batches.retrieve(batch.id))
        assert retrieved[0].output_file_id
        output = (await client.files.content(retrieved[0].output_file_id)).content
        rows = await debits(gw, t.account_id)
        raw = await client.batches.with_raw_response.retrieve(batch.id)
        retrieved.append(raw.parse())
    debit = -rows[0]["amount_micros"]
    exact = _exact_line_costs(output)
    shares = [
        json.loads(line)["response"]["body"].get("usage", {}).get("cost_micros")
        for line in output.splitlines()
    ]
    assert [s is None for s in shares] == [e is None for e in exact] and shares[2] is None
    assert len(rows) == 1 and sum(s for s in shares if s is not None) == debit
    billed = [e for e in exact if e is not None]
    assert debit == math.ceil(sum(billed)) < sum(math.ceil(e) for e in billed)
    running = Fraction(0)
    for share, cost in zip(shares, exact, strict=True):
        if cost is not None:
            running += cost
            assert share == math.ceil(running) - math.ceil(running - cost)
    assert [(b.model_extra or {}).get("cost_micros") for b in retrieved] == [debit] * 3
    assert int(raw.headers["x-meterway-cost-micros"]) == debit


async def test_an_anthropic_stream_carries_its_cost_on_message_delta(gw: Gateway) -> None:
    """The SDK's accumulated final message drops fields it does not know; the
    `message_delta` event a client iterates over keeps it (docs/guides/clients.md)."""
    t = await tenant(gw, credit=1_000_000)
    cost = None
    async with (
        anthropic_client(gw, t.key) as claude,
        claude.messages.stream(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        async for event in stream:
            if event.type == "message_delta":
                cost = (event.usage.model_extra or {}).get("cost_micros")
        final = await stream.get_final_message()
    rows = await debits(gw, t.account_id)
    assert cost is not None and [-r["amount_micros"] for r in rows] == [cost]
    assert "cost_micros" not in (final.usage.model_extra or {})  # as the guide says


async def test_a_google_genai_answer_carries_its_cost_in_the_sdks_http_response(
    gw: Gateway,
) -> None:
    """google-genai drops fields it does not know from `usage_metadata`; it keeps the
    answer's headers (docs/guides/clients.md)."""
    async with running_gateway(gw.settings.database_url, GOOGLE_API_KEY="g-key") as google:
        t = await tenant(google, credit=1_000_000)
        client = genai.Client(api_key=t.key, http_options=types.HttpOptions(base_url=google.url))
        answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        rows = await debits(google, t.account_id)
        await google.settle_all()
    assert answer.sdk_http_response is not None and answer.sdk_http_response.headers
    cost = answer.sdk_http_response.headers["x-meterway-cost-micros"]
    assert [-r["amount_micros"] for r in rows] == [int(cost)]


async def test_a_google_genai_streams_cost_is_read_from_the_account_api(gw: Gateway) -> None:
    """google-genai drops `cost_micros` from a stream's last `usage_metadata`, and a stream's
    headers leave before its debit is known; they carry its request id, whose cost the
    account API answers once the ledger has it. The raw last event carries it too."""
    async with running_gateway(gw.settings.database_url, GOOGLE_API_KEY="g-key") as google:
        t = await tenant(google, credit=1_000_000, scopes=["inference", "account:read"])
        client = genai.Client(api_key=t.key, http_options=types.HttpOptions(base_url=google.url))
        stream = await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"
        )
        chunks = [chunk async for chunk in stream]
        last = chunks[-1]
        assert last.usage_metadata is not None and last.sdk_http_response is not None
        headers = last.sdk_http_response.headers or {}
        assert "x-meterway-cost-micros" not in {name.lower() for name in headers}
        rows = await debits(google, t.account_id)
        auth = {"Authorization": f"Bearer {t.key}"}
        url = f"{google.url}/v1/account/requests/{headers['request-id']}"
        async with google.http.get(url, headers=auth) as r:
            assert r.status == 200
            answer = await r.json()
        path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        async with google.http.post(
            google.url + path,
            json={"contents": [{"parts": [{"text": "hi"}]}]},
            headers={"x-goog-api-key": t.key},
        ) as r:
            events = [line for line in (await r.read()).splitlines() if line.startswith(b"data:")]
        raw_cost = json.loads(events[-1][5:])["usageMetadata"]["cost_micros"]
        rows += (await debits(google, t.account_id))[1:]
    assert "cost_micros" not in last.usage_metadata.model_dump()
    assert answer["amount_micros"] == rows[0]["amount_micros"] == -raw_cost
    assert [-r["amount_micros"] for r in rows] == [raw_cost, raw_cost]


async def test_the_batch_list_shows_the_keys_own_batches_each_settled_one_with_its_cost(
    gw: Gateway,
) -> None:
    """`client.batches.list()`: another key's batch is left out, a batch still running has
    no cost yet, a settled one carries the ledger's debit."""
    t, other = await tenant(gw, credit=10_000_000), await tenant(gw, credit=10_000_000)
    async with openai_client(gw, other.key) as client:
        uploaded = await client.files.create(file=("in.jsonl", jsonl("x")), purpose="batch")
        await client.batches.create(
            input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
        )
    async with openai_client(gw, t.key) as client:
        made = []
        for ids in (("a", "b"), ("c",)):
            uploaded = await client.files.create(file=("in.jsonl", jsonl(*ids)), purpose="batch")
            made.append(
                await client.batches.create(
                    input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
                )
            )
        await client.batches.retrieve(made[0].id)  # it runs, and is settled
        rows = await debits(gw, t.account_id)
        listed = [b async for b in client.batches.list(limit=2)]
    assert [b.id for b in listed] == [made[1].id, made[0].id]
    assert [(b.model_extra or {}).get("cost_micros") for b in listed] == [
        None, -rows[0]["amount_micros"],
    ]  # fmt: skip


async def test_a_json_transcript_carries_its_cost_with_usage_or_without(gw: Gateway) -> None:
    """whisper-1 (billed per second) and gpt-4o-transcribe (per token), then whisper-1 from a
    provider that reports no usage (the WAV's own duration billed): the JSON answer carries
    the ledger's debit, in its `usage` when it has one, else top-level."""
    t = await tenant(gw, credit=10_000_000)
    costs: list[Any] = []  # the fields read, None where one is missing
    async with openai_client(gw, t.key) as client:
        for model in ("whisper-1", "gpt-4o-transcribe", "whisper-1"):
            gw.control.omit_usage = len(costs) == 2
            answer = await client.audio.transcriptions.create(
                model=model, file=("a.wav", wav(3), "audio/wav")
            )
            usage = getattr(answer, "usage", None)
            costs.append(((usage or answer).model_extra or {}).get("cost_micros"))
        gw.control.omit_usage = False
        text = await client.audio.transcriptions.with_raw_response.create(
            model="whisper-1", file=("a.wav", wav(3), "audio/wav"), response_format="text"
        )  # no JSON: the header only
        costs.append(int(text.headers["x-meterway-cost-micros"]))
    rows = await debits(gw, t.account_id)
    assert sorted(costs) == sorted(-r["amount_micros"] for r in rows) and len(rows) == 4
    assert costs[0] == costs[2] == costs[3] == 300  # 3 s at 100 micros a second
