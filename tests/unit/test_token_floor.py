"""The byte floor of a prompt count (`TokenCounter.floor()`): never above the real count, for
every request shape the readers count, so refusing on it never refuses an affordable call."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.metering.encodings import ENCODING_NAMES
from billing.metering.tokens import ByteBound, TokenCounter

COUNTER = TokenCounter()
FLOOR = COUNTER.floor()

texts = st.text(min_size=0, max_size=300) | st.sampled_from(
    [" " * 500, "a" * 2000, "=" * 700, "\n\n\n" * 50, "日本語のテキスト" * 40, "\ud800x"]
)
parts = st.one_of(
    texts,
    st.builds(lambda t: {"type": "text", "text": t}, texts),
    st.just({"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 900}}),
    st.builds(lambda t: {"type": "input_audio", "data": t}, texts),
)
contents = st.one_of(st.none(), texts, st.lists(parts, max_size=4))
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system"]), "content": contents},
        optional={"name": texts, "tool_calls": st.lists(st.just({"function": {"x": 1}}))},
    ),
    min_size=1,
    max_size=5,
)
prompts = st.one_of(
    texts,
    st.lists(texts, max_size=4),
    st.lists(st.integers(0, 50_000), max_size=20),
    st.lists(st.lists(st.integers(0, 50_000), max_size=5), max_size=4),
)


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_longest_token_is_what_the_vocabulary_holds(name: str) -> None:
    enc = COUNTER.encoding(name)
    longest = COUNTER.longest_token_bytes(name)
    assert 16 <= longest <= 256
    sample = " " * 3000 + "=" * 3000 + "-" * 3000 + "a" * 3000 + "\n" * 300 + "0123456789" * 50
    pieces = [enc.decode_single_token_bytes(t) for t in enc.encode_ordinary(sample)]
    assert max(map(len, pieces)) <= longest


def test_byte_bound_rounds_up_and_counts_utf8_bytes() -> None:
    assert [ByteBound(4).count(t) for t in ("", "a", "abcd", "abcde", "é")] == [0, 1, 1, 2, 1]
    assert ByteBound(1).count("日本") == 6


@settings(max_examples=150, deadline=None)
@given(msgs=messages, name=st.sampled_from(ENCODING_NAMES))
def test_chat_and_anthropic_floors_never_exceed_the_count(
    msgs: list[dict[str, Any]], name: str
) -> None:
    assert FLOOR.count_chat_prompt(name, msgs, 765) <= COUNTER.count_chat_prompt(name, msgs, 765)
    system = "Be brief. " * 3
    assert FLOOR.count_anthropic_prompt(name, system, msgs) <= COUNTER.count_anthropic_prompt(
        name, system, msgs
    )


@settings(max_examples=150, deadline=None)
@given(prompt=prompts, name=st.sampled_from(ENCODING_NAMES))
def test_completion_and_embedding_floors_never_exceed_the_count(prompt: Any, name: str) -> None:
    assert FLOOR.count_completion_prompt(name, prompt) <= COUNTER.count_completion_prompt(
        name, prompt
    )
    assert FLOOR.count_text(name, str(prompt)) <= COUNTER.count_text(name, str(prompt))


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_a_large_prompt_has_a_floor_that_grows_with_its_bytes(name: str) -> None:
    """4 MB of one letter: the count takes seconds; the floor is a fraction of a byte each."""
    big = [{"role": "user", "content": "a" * 4_000_000}]
    floor = FLOOR.count_chat_prompt(name, big)
    assert floor == 3 + 3 + 1 + -(-4_000_000 // COUNTER.longest_token_bytes(name))
    assert floor <= COUNTER.count_chat_prompt(name, big)
