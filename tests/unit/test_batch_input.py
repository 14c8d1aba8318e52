"""A batch input file as it is read when uploaded (llm/reading/batch_input.py): the provider is
sent each line re-serialized from the object priced, a line with a key twice is refused
naming the key and the line, and the reservation is each line's worst case at its own
long-context band, summed."""

from __future__ import annotations

import orjson
import pytest

from billing.metering.tokens import TokenCounter
from gateway.errors import InvalidRequest
from gateway.llm.reading.batch_input import read_batch_input
from gateway.stores.records import KeyRecord
from tests.unit.test_pricing_shipped import TABLE
from tests.unit.test_pricing_shipped import shipped as shipped_price

KEY = KeyRecord("k", "a", 0, "k", (), ())
COUNTER = TokenCounter()


def _line(custom_id: str, content: str, model: str = "gpt-4o-mini", **extra: object) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return orjson.dumps(line)


def test_a_key_given_twice_is_refused_naming_the_key_and_the_line() -> None:
    """orjson (and most parsers) keep the last 'model'; some providers' keep the first: the
    line would be priced as gpt-4o-mini and run on gpt-4o."""
    twice = (
        b'{"custom_id": "c", "method": "POST", "url": "/v1/chat/completions", "body":'
        b' {"model": "gpt-4o", "model": "gpt-4o-mini", "messages": [{"role": "user",'
        b' "content": "hi"}]}}'
    )
    with pytest.raises(InvalidRequest) as caught:
        read_batch_input([_line("a", "hi"), _line("b", "hi"), twice], KEY, TABLE, COUNTER)
    assert caught.value.message == "The batch file has a duplicate key 'model' on line 3."
    assert caught.value.param == "file"
    nested = _line("a", "hi").replace(b'"role":"user"', b'"role":"user","role":"system"')
    with pytest.raises(InvalidRequest, match="duplicate key 'role' on line 1"):
        read_batch_input([nested], KEY, TABLE, COUNTER)


def test_the_provider_is_sent_each_line_as_it_was_read() -> None:
    spaced = (
        b'{ "custom_id" : "a", "url": "/v1/chat/completions",\t"body": {"model": "gpt-4o-mini",'
        b' "messages": [{"role": "user", "content": "caf\\u00e9"}], "max_tokens": 5}}'
    )
    sent: list[bytes] = []
    batch = read_batch_input([spaced, b"", _line("b", "x")], KEY, TABLE, COUNTER, sent.append)
    assert batch.lines == 2
    assert sent == [orjson.dumps(orjson.loads(spaced)) + b"\n", _line("b", "x") + b"\n"]
    assert "café".encode() in sent[0]


def test_each_line_reserves_at_its_own_long_context_band() -> None:
    """Eight gpt-5.4 lines of ~40,000 input tokens each: 320,000 together would reach the
    band above 272,000 (twice the input rate), but no request of the batch does."""
    price = shipped_price("gpt-5.4")
    prompt = "hello " * 40_000
    lines = [_line(str(i), prompt, "gpt-5.4", max_tokens=100) for i in range(8)]
    batch = read_batch_input(lines, KEY, TABLE, COUNTER)
    per_line = batch.input_tokens // 8
    assert batch.input_tokens > 272_000 > per_line
    assert batch.worst_micros == 8 * price.worst_case_micros(per_line, 100, "batch")
    assert batch.worst_micros < price.worst_case_micros(batch.input_tokens, 800, "batch")


def test_a_line_nested_past_the_stdlib_parsers_depth_is_refused_not_a_crash() -> None:
    """orjson reads 1,000 levels; the duplicate check's parser cannot: the line is still
    refused as a call nested that deep is (a 400 naming it), never a 500."""
    deep = b'{"custom_id": "a", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini",'
    deep += b' "messages": [{"role": "user", "content": "hi"}], "metadata": '
    deep += b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}"
    with pytest.raises(InvalidRequest, match="Line 1"):
        read_batch_input([deep], KEY, TABLE, COUNTER)
