"""The Batch API through the gateway with the official SDK: files.create, batches.create,
batches.retrieve, batches.cancel and files.content; each debit is the usage of the output
file's succeeded lines at OpenAI's batch rates for gpt-4o-mini ($0.075 per 1M input and
$0.30 per 1M output tokens), worked out here by hand; failed lines are not billed."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Final

import openai
import orjson
import pytest

from tests.support.factories import balance, debits, held, openai_client, tenant
from tests.support.harness import Gateway

CREDIT = 10_000_000
ENDPOINT: Final = "/v1/chat/completions"


def jsonl(*custom_ids: str, model: str = "gpt-4o-mini") -> bytes:
    lines = [
        {
            "custom_id": cid,
            "method": "POST",
            "url": ENDPOINT,
            "body": {
                "model": model,
                "messages": [{"role": "user", "content": f"Say something about {cid}."}],
                "max_tokens": 20,
            },
        }
        for cid in custom_ids
    ]
    return "\n".join(json.dumps(line) for line in lines).encode() + b"\n"


def by_hand(output: bytes) -> int:
    """The succeeded lines' usage at gpt-4o-mini's batch rates, rounded up once."""
    prompt = completion = 0
    for raw in output.splitlines():
        line = json.loads(raw)
        if line["response"]["status_code"] == 200:
            usage = line["response"]["body"]["usage"]
            prompt += usage["prompt_tokens"]
            completion += usage["completion_tokens"]
    return math.ceil(Fraction(75, 1000) * prompt + Fraction(300, 1000) * completion)


async def _batch(client: openai.AsyncOpenAI, data: bytes) -> tuple[str, str]:
    uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h"
    )
    return uploaded.id, batch.id


async def test_a_batch_is_reserved_then_billed_once_for_its_succeeded_lines(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        _, batch_id = await _batch(client, jsonl("a", "b", "fail-c", "d"))
        assert await held(gw, t.account_id) > 0  # the worst case of every line, at batch rates
        done = await client.batches.retrieve(batch_id)
        assert done.status == "completed" and done.output_file_id
        output = (await client.files.content(done.output_file_id)).content
        await client.batches.retrieve(batch_id)  # seen ended again: billed once
    assert done.request_counts is not None and done.request_counts.failed == 1
    expected = by_hand(output)
    assert done.model_extra is not None
    cost = (done.usage.model_extra or {}) if done.usage else done.model_extra
    assert cost["cost_micros"] == expected  # the retrieve that settled it carries its debit
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [expected]
    assert (await held(gw, t.account_id), await balance(gw, t.account_id)) == (0, CREDIT - expected)


async def test_a_batch_cancelled_half_way_bills_the_lines_that_ran(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        _, batch_id = await _batch(client, jsonl("a", "b", "c", "d"))
        cancelled = await client.batches.cancel(batch_id)
        assert cancelled.status == "cancelled" and cancelled.output_file_id
        output = (await client.files.content(cancelled.output_file_id)).content
    assert len(output.splitlines()) == 2
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [by_hand(output)]
    assert await held(gw, t.account_id) == 0


async def test_another_key_sees_neither_the_files_nor_the_batches(gw: Gateway) -> None:
    owner, other = await tenant(gw, credit=CREDIT), await tenant(gw, credit=CREDIT)
    async with openai_client(gw, owner.key) as client:
        file_id, batch_id = await _batch(client, jsonl("a"))
    async with openai_client(gw, other.key) as client:
        with pytest.raises(openai.NotFoundError):
            await client.batches.retrieve(batch_id)
        with pytest.raises(openai.NotFoundError):
            await client.batches.cancel(batch_id)
        with pytest.raises(openai.NotFoundError):
            await client.files.content(file_id)
        with pytest.raises(openai.NotFoundError):
            await client.batches.create(
                input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h"
            )
    assert await held(gw, other.account_id) == 0 and await debits(gw, other.account_id) == []


@pytest.mark.parametrize(
    ("data", "purpose", "param", "words"),
    [
        (jsonl("a"), "fine-tune", "purpose", "batch"),
        (jsonl("a") + jsonl("b", model="no-such-model"), "batch", "file", "Line 2"),
        (jsonl("a") + jsonl("b", model="gpt-4o"), "batch", "file", "Line 2"),
        (b"not json\n", "batch", "file", "Line 1"),
    ],
)
async def test_a_file_the_gateway_cannot_price_is_refused_by_name(
    gw: Gateway, data: bytes, purpose: str, param: str, words: str
) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.files.create(file=("in.jsonl", data), purpose=purpose)  # type: ignore[arg-type]
    assert refused.value.param == param and words in refused.value.message
    assert gw.control.requests == []


async def test_a_key_without_the_batches_scope_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, scopes=["chat"])
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.PermissionDeniedError, match="'batches' scope"):
            await client.files.create(file=("in.jsonl", jsonl("a")), purpose="batch")
    assert gw.control.requests == []


async def test_a_line_with_a_key_twice_is_refused_naming_the_key_and_the_line(
    gw: Gateway,
) -> None:
    """Priced as the last 'model' (gpt-4o-mini), a provider keeping the first would run
    gpt-4o: the file never reaches it."""
    twice = jsonl("b").replace(
        b'"model": "gpt-4o-mini"', b'"model": "gpt-4o", "model": "gpt-4o-mini"'
    )
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.files.create(file=("in.jsonl", jsonl("a") + twice), purpose="batch")
    assert refused.value.param == "file"
    assert "duplicate key 'model' on line 2" in refused.value.message
    assert gw.control.requests == []


async def test_the_provider_stores_each_line_as_it_was_priced(gw: Gateway) -> None:
    """The file the provider keeps is each line re-serialized from the object priced, not the
    bytes uploaded (white space and escapes are gone; the objects are the same)."""
    data = jsonl("a", "b").replace(b'": ', b'" :  ').replace(b"Say", b"\\u0053ay")
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
        stored = (await client.files.content(uploaded.id)).content
    assert stored == b"".join(orjson.dumps(json.loads(line)) + b"\n" for line in data.splitlines())
    assert stored != data


async def test_a_line_that_ran_on_a_dearer_model_is_billed_at_it(gw: Gateway) -> None:
    """A gpt-4o-mini batch whose second line reports gpt-4o ($1.25/$5 per 1M at batch
    rates): that line is billed at gpt-4o's, the first at gpt-4o-mini's, rounded once."""
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        _, batch_id = await _batch(client, jsonl("a", "ran-on:gpt-4o:b"))
        done = await client.batches.retrieve(batch_id)
        assert done.output_file_id
        output = (await client.files.content(done.output_file_id)).content
    exact = Fraction(0)
    for raw in output.splitlines():
        body = json.loads(raw)["response"]["body"]
        rates = (1250, 5000) if body["model"] == "gpt-4o" else (75, 300)
        usage = body["usage"]
        exact += Fraction(
            rates[0] * usage["prompt_tokens"] + rates[1] * usage["completion_tokens"], 1000
        )
    assert [json.loads(r)["response"]["body"]["model"] for r in output.splitlines()] == [
        "gpt-4o-mini", "gpt-4o",
    ]  # fmt: skip
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [math.ceil(exact)]


async def test_a_batch_whose_provider_over_reports_is_debited_at_most_its_cap(
    gw: Gateway,
) -> None:
    """A batch held 302 micros and was debited 15,002 (the customer's whole balance) when
    its provider reported 50,000 output tokens a line: batches skipped the charge cap the
    foreground applies. The debit is capped; the rest is the operator's to chase. The
    output file's line shares add up to the capped debit, not to what the lie would cost."""
    t = await tenant(gw, credit=15_002)
    lie = {"prompt_tokens": 10, "completion_tokens": 50_000, "total_tokens": 50_010}
    gw.control.usage = lie
    async with openai_client(gw, t.key) as client:
        _, batch_id = await _batch(client, jsonl("a", "b"))
        hold = await held(gw, t.account_id)
        done = await client.batches.retrieve(batch_id)
        assert done.output_file_id
        output = (await client.files.content(done.output_file_id)).content
    [row] = await debits(gw, t.account_id)
    shares = [
        json.loads(raw)["response"]["body"]["usage"]["cost_micros"] for raw in output.splitlines()
    ]
    assert len(shares) == 2 and sum(shares) == -row["amount_micros"], (shares, row)
    lied = math.ceil(Fraction(300, 1000) * 100_000)  # 30,000 micros of output alone
    # two lines of max_tokens 20 at batch rates, input at 4x its count + 8,192: well under it
    assert hold <= -row["amount_micros"] < 4_000 < lied, (hold, row)
    assert await balance(gw, t.account_id) == 15_002 + row["amount_micros"]
