"""Bedrock: its provider settings, InvokeModel's body and path, and AWS event-stream frames
read into Anthropic's SSE events with botocore's decoder, split anywhere."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.config.settings import load_settings
from gateway.config.values import ConfigError
from gateway.devtools.demo_upstream.routes.bedrock import chunk, frame
from gateway.llm.bedrock import EventStreamToSSE, invoke_body, invoke_path

GOOD = {"DATABASE_URL": "postgresql://u@h/db", "ADMIN_API_KEY": "0123456789abcdef-secret"}


def _providers(tmp_path: Path, text: str) -> dict[str, object]:
    cfg = tmp_path / "meterway.toml"
    cfg.write_text(text)
    return dict(load_settings(GOOD, cfg).providers)


def test_the_region_comes_from_the_runtime_url_or_the_table(tmp_path: Path) -> None:
    found = _providers(
        tmp_path,
        '[providers.aws]\nwire = "bedrock"\n'
        'base_url = "https://bedrock-runtime.eu-central-1.amazonaws.com"\n'
        '[providers.aws-proxy]\nwire = "bedrock"\nbase_url = "https://vpce.example"\n'
        'region = "us-west-2"\n',
    )
    aws, proxy = found["aws"], found["aws-proxy"]
    assert (aws.region, aws.catalogue, aws.body_wire) == ("eu-central-1", "aws", "anthropic")  # type: ignore[attr-defined]
    assert proxy.region == "us-west-2"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('wire = "bedrock"', "needs region"),
        ('wire = "bedrock"\nregion = "moon"', "needs region"),
        ('region = "us-east-1"', "region is Bedrock's"),
    ],
)
def test_a_bad_region_stops_the_boot(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _providers(tmp_path, f'[providers.b]\nbase_url = "https://b.example"\n{text}\n')


def test_invoke_takes_the_model_and_stream_out_of_the_body() -> None:
    body, stream = invoke_body(b'{"model":"m","stream":true,"max_tokens":5,"messages":[]}')
    assert stream and orjson.loads(body) == {
        "max_tokens": 5,
        "messages": [],
        "anthropic_version": "bedrock-2023-05-31",
    }
    with_betas, _ = invoke_body(b'{"model":"m","messages":[]}', "a-2025, b-2025")
    assert orjson.loads(with_betas)["anthropic_beta"] == ["a-2025", "b-2025"]
    assert invoke_path("a.b-v1:0", stream) == "/model/a.b-v1%3A0/invoke-with-response-stream"
    assert invoke_path("a/b", False) == "/model/a%2Fb/invoke"


EVENTS: list[dict[str, object]] = [
    {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "message_stop"},
]


def test_frames_split_anywhere_become_the_same_sse_events() -> None:
    wire = b"".join(chunk(e) for e in EVENTS)
    for cut in range(1, len(wire)):
        parser = EventStreamToSSE()
        events = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
        assert [e.event for e in events] == [e["type"] for e in EVENTS]
        assert [orjson.loads(e.data) for e in events] == EVENTS
        assert events[1].raw.startswith(b"event: content_block_delta\ndata: {")
        assert parser.flush() == []


def test_a_corrupt_frame_is_malformed_and_a_cut_one_fails_at_the_end() -> None:
    good = chunk(EVENTS[0])
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    [event] = EventStreamToSSE().feed(corrupt)
    assert event.data == "{"  # the relay's tally flags it malformed
    parser = EventStreamToSSE()
    assert parser.feed(good[:10]) == [] and parser.flush()


def test_an_exception_message_is_anthropics_error_event() -> None:
    headers = {":message-type": "exception", ":exception-type": "throttlingException"}
    [event] = EventStreamToSSE().feed(frame(headers, b'{"message":"Too many requests"}'))
    assert event.event == "error"
    assert orjson.loads(event.data)["error"]["message"] == (
        "Bedrock throttlingException: Too many requests"
    )
