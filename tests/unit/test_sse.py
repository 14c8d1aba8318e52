"""The SSE parser against a slow, obviously-correct reference, under every way of chunking."""

from __future__ import annotations

import itertools
import random

import pytest

from gateway.llm.sse import SSEEvent, SSEParser

Parsed = tuple[str | None, str]

EDGE_STREAM = (
    b": keep-alive\n\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b"data:no-space\r\n\r\n"
    b"data: multi\ndata: line\n\n"
    b"data: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\r\r"
    b"data\n\n"
    b"\n"
    b"id: 7\nretry: 100\ndata: x\r\n\n"
    b"event:\ndata:  two spaces\r\n\r\n"
    b"data: [DONE]\n\n"
)
LF_STREAM = (
    b": ping\n\n"
    b'event: content_block_delta\ndata: {"text": "\xe4\xb8\x96\xe7\x95\x8c"}\n\n'
    b"data: a\ndata:\ndata: b\n\n"
    b"\n"
    b"data: \xf0\x9f\x8e\x89\n\n"
)


def _reference_lines(stream: bytes) -> list[tuple[bytes, int]]:
    """Each complete line with the offset just past its line break, one byte at a time."""
    lines, start, i = [], 0, 0
    while i < len(stream):
        byte = stream[i : i + 1]
        if byte == b"\r" and stream[i + 1 : i + 2] == b"\n":
            lines.append((stream[start:i], i + 2))
            i = start = i + 2
        elif byte in (b"\r", b"\n"):
            lines.append((stream[start:i], i + 1))
            i = start = i + 1
        else:
            i += 1
    return lines


def _reference_event(lines: list[bytes]) -> Parsed:
    event, data = None, []
    for line in (raw.decode("utf-8", "replace") for raw in lines):
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value or None
    return event, "\n".join(data)


def reference(stream: bytes) -> list[tuple[bytes, str | None, str]]:
    """A line break at the very end counts as complete, as the streaming parser must assume."""
    events, pending, event_start = [], [], 0
    for line, end in _reference_lines(stream):
        if line:
            pending.append(line)
            continue
        events.append((stream[event_start:end], *_reference_event(pending)))
        pending, event_start = [], end
    return events


def feed_all(chunks: list[bytes], parser: SSEParser | None = None) -> list[SSEEvent]:
    parser = parser or SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def parsed(events: list[SSEEvent]) -> list[Parsed]:
    return [(e.event, e.data) for e in events]


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def assert_same_as_reference(stream: bytes, chunks: list[bytes]) -> None:
    expected = reference(stream)
    parser, seen, fed = SSEParser(), [], b""
    for chunk in chunks:
        seen += parser.feed(chunk)
        fed += chunk
        assert len(seen) == len(reference(fed)), f"event held back after {fed!r}"
    assert parsed(seen) == [(name, data) for _, name, data in expected]
    forwarded = b"".join(e.raw for e in seen)
    assert stream.startswith(forwarded)
    # The LF of a CRLF split after an event's final CR travels with the next event.
    assert len(b"".join(raw for raw, _, _ in expected)) - len(forwarded) in (0, 1)


@pytest.mark.parametrize("stream", [EDGE_STREAM, LF_STREAM], ids=["mixed", "lf"])
def test_single_feed_matches_reference_raw_and_fields(stream: bytes) -> None:
    events = feed_all([stream])
    assert [(e.raw, e.event, e.data) for e in events] == reference(stream)


def test_edge_stream_fields() -> None:
    assert parsed(feed_all([EDGE_STREAM])) == [
        (None, ""),
        ("message_start", '{"a": 1}'),
        (None, "no-space"),
        (None, "multi\nline"),
        (None, "café € 😀"),
        (None, ""),
        (None, ""),
        (None, "x"),
        (None, " two spaces"),
        (None, "[DONE]"),
    ]


@pytest.mark.parametrize("stream", [EDGE_STREAM, LF_STREAM], ids=["mixed", "lf"])
def test_every_single_split(stream: bytes) -> None:
    for cut in range(len(stream) + 1):
        chunks = split_at(stream, [cut])
        assert_same_as_reference(stream, chunks)
        assert b"".join(e.raw for e in feed_all(chunks)) == stream


@pytest.mark.parametrize("stream", [EDGE_STREAM, LF_STREAM], ids=["mixed", "lf"])
def test_every_pair_of_splits(stream: bytes) -> None:
    for first in range(1, len(stream)):
        for second in range(first, len(stream)):
            chunks = split_at(stream, [first, second])
            assert parsed(feed_all(chunks)) == parsed(feed_all([stream]))


@pytest.mark.parametrize("stream", [EDGE_STREAM, LF_STREAM], ids=["mixed", "lf"])
def test_one_byte_at_a_time(stream: bytes) -> None:
    assert_same_as_reference(stream, [stream[i : i + 1] for i in range(len(stream))])


def _random_stream(rng: random.Random) -> bytes:
    pieces = [b"data: ", b"data:", b"data", b"event: ping", b": c", b"id: 1", b"x", b"\xc3\xa9"]
    pieces += [b"\xf0\x9f\x98\x80", b"\xff", b" ", b"{}", b":"]
    breaks = [b"\n", b"\r\n", b"\r"]
    out = bytearray()
    for _ in range(rng.randint(1, 12)):
        for _ in range(rng.randint(0, 3)):
            out += b"".join(rng.choices(pieces, k=rng.randint(1, 3))) + rng.choice(breaks)
        out += rng.choice(breaks)
    return bytes(out)


def test_random_streams_and_random_splits() -> None:
    rng = random.Random(20240607)
    for _ in range(400):
        stream = _random_stream(rng)
        cuts = rng.sample(range(len(stream) + 1), k=min(len(stream), rng.randint(1, 8)))
        assert_same_as_reference(stream, split_at(stream, cuts))


def test_event_ending_in_cr_is_returned_without_waiting_for_the_next_chunk() -> None:
    parser = SSEParser()
    assert parsed(parser.feed(b"data: a\r\n\r")) == [(None, "a")]
    events = parser.feed(b"\ndata: b\r\n\r\n")
    assert parsed(events) == [(None, "b")]
    assert events[0].raw == b"\ndata: b\r\n\r\n"


def test_lone_cr_then_blank_line_is_two_events() -> None:
    parser = SSEParser()
    assert parsed(parser.feed(b"data: a\r\r")) == [(None, "a")]
    assert parsed(parser.feed(b"\r\n")) == [(None, "")]


def test_lf_after_split_crlf_alone_in_a_chunk() -> None:
    parser = SSEParser()
    assert parsed(parser.feed(b"data: a\r\r")) == [(None, "a")]
    assert parser.feed(b"\n") == []
    assert parsed(parser.feed(b"data: b\n\n")) == [(None, "b")]


def test_multibyte_character_split_across_chunks() -> None:
    stream = "data: 世界🎉\n\n".encode()
    for cut in range(len(stream)):
        assert parsed(feed_all([stream[:cut], stream[cut:]])) == [(None, "世界🎉")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parsed(feed_all([b"data: \xff\xfe ok\n\n"])) == [(None, "\ufffd\ufffd ok")]


def test_comment_only_event_is_returned_for_pass_through() -> None:
    (event,) = feed_all([b": keep-alive\n\n"])
    assert event == SSEEvent(raw=b": keep-alive\n\n", event=None, data="")


def test_byte_order_mark_at_stream_start_is_ignored() -> None:
    events = feed_all([b"\xef\xbb", b"\xbfdata: a\n\ndata: b\n\n"])
    assert parsed(events) == [(None, "a"), (None, "b")]
    assert events[0].raw == b"\xef\xbb\xbfdata: a\n\n"


def test_flush_returns_truncated_event_with_data() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: whole\n\nevent: x\ndata: trunc") == [
        SSEEvent(b"data: whole\n\n", None, "whole")
    ]
    assert parser.flush() == [SSEEvent(b"event: x\ndata: trunc", "x", "trunc")]
    assert parser.flush() == []


def test_flush_ignores_tail_without_data_and_resets() -> None:
    parser = SSEParser()
    parser.feed(b"event: x\n: comment\r")
    assert parser.flush() == []
    assert parsed(parser.feed(b"data: again\n\n")) == [(None, "again")]


def test_flush_of_unterminated_crlf_tail() -> None:
    parser = SSEParser()
    parser.feed(b"data: a\r\ndata: b\r")
    assert parsed(parser.flush()) == [(None, "a\nb")]


def test_large_event_in_many_small_chunks() -> None:
    payload = b"x" * 200_000
    stream = b"data: " + payload + b"\r\n\r\n"
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    assert parsed(feed_all(chunks)) == [(None, payload.decode())]


def test_empty_chunk_is_harmless() -> None:
    parser = SSEParser()
    assert parser.feed(b"") == []
    assert parsed(parser.feed(b"data: a\n\n")) == [(None, "a")]
