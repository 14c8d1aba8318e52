"""Counts of long texts kept per account: exactly what tokenizing gives, never another
account's, bounded, and safe from the worker threads large prompts are counted in."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from billing.metering.token_cache import (
    CACHED_MIN_CHARS,
    TEXT_WALK_BYTES,
    CountCache,
    NewTextOverBudget,
)
from billing.metering.tokens import TokenCounter

SYSTEM = "You are a careful assistant for a billing team. " * 40  # ~2 KB, sent every turn
HISTORY: list[Any] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Summarise the invoice dispute from last week. " * 12},
    {
        "role": "assistant",
        "content": [{"type": "text", "text": "The customer disputes two line items. " * 20}],
        "tool_calls": [
            {"function": {"name": "lookup_invoice", "arguments": '{"id": "in_1"}' * 30}}
        ],
    },
    {"role": "user", "content": "Now draft a reply."},
]


def test_an_accounts_counts_are_the_uncached_counts_on_every_turn() -> None:
    shared, fresh = TokenCounter(), TokenCounter()
    mine = shared.for_account("acct_a")
    for turn in range(1, len(HISTORY) + 1):
        messages = HISTORY[:turn]
        expected = fresh.count_chat_prompt("o200k_base", messages)
        assert mine.count_chat_prompt("o200k_base", messages) == expected
        assert mine.count_chat_prompt("o200k_base", messages) == expected  # from the cache
        assert mine.count_anthropic_prompt("cl100k_base", SYSTEM, messages[1:]) == (
            fresh.count_anthropic_prompt("cl100k_base", SYSTEM, messages[1:])
        )
        assert mine.count_completion_prompt("o200k_base", [SYSTEM, "hi"]) == (
            fresh.count_completion_prompt("o200k_base", [SYSTEM, "hi"])
        )
    assert shared.cache.hits > shared.cache.misses > 0
    assert fresh.cache.hits == fresh.cache.misses == 0  # a counter for no account keeps nothing


def test_a_kept_count_is_never_another_accounts() -> None:
    counter = TokenCounter()
    a, b = counter.for_account("acct_a"), counter.for_account("acct_b")
    expected = TokenCounter().count_text("o200k_base", SYSTEM)
    assert a.count_text("o200k_base", SYSTEM) == expected
    assert (counter.cache.hits, counter.cache.misses) == (0, 1)
    assert b.count_text("o200k_base", SYSTEM) == expected
    assert (counter.cache.hits, counter.cache.misses) == (0, 2)  # b tokenized it itself
    assert a.count_text("o200k_base", SYSTEM) == expected
    assert a.count_text("cl100k_base", SYSTEM) == TokenCounter().count_text("cl100k_base", SYSTEM)
    assert (counter.cache.hits, counter.cache.misses) == (1, 3)  # per encoding, too


def test_short_and_oversized_texts_are_counted_not_kept() -> None:
    cache = CountCache(budget_chars=16_000)
    counter = TokenCounter(cache).for_account("acct_a")
    short = "x" * (CACHED_MIN_CHARS - 1)
    oversized = "word " * 201  # over a sixteenth of the budget (1,000 chars)
    for _ in range(2):
        counter.count_text("o200k_base", short)
        counter.count_text("o200k_base", oversized)
    assert (cache.hits, cache.misses, cache.held_chars) == (0, 0, 0)


def test_the_budget_bounds_what_is_held_and_the_oldest_use_goes_first() -> None:
    cache = CountCache(budget_chars=16 * 1_000)
    counter = TokenCounter(cache).for_account("acct_a")
    texts = [f"{i:04d} " + "lorem ipsum " * 80 for i in range(40)]  # ~966 chars each
    reference = TokenCounter()
    for i, text in enumerate(texts):
        counter.count_text("o200k_base", texts[0])  # kept in use throughout
        assert counter.count_text("o200k_base", text) == reference.count_text("o200k_base", text)
        assert cache.held_chars <= 16_000, i
    hits = cache.hits
    counter.count_text("o200k_base", texts[0])
    counter.count_text("o200k_base", texts[-1])
    assert cache.hits == hits + 2
    counter.count_text("o200k_base", texts[1])  # long evicted: tokenized again
    assert cache.hits == hits + 2


def test_threads_sharing_the_cache_count_exactly() -> None:
    counter = TokenCounter()
    texts = [f"thread text {i} " * 30 for i in range(16)]
    expected = {t: TokenCounter().count_text("o200k_base", t) for t in texts}
    wrong: list[str] = []

    def work(n: int) -> None:
        mine = counter.for_account(f"acct_{n % 3}")
        for _ in range(50):
            for t in texts:
                if mine.count_text("o200k_base", t) != expected[t]:
                    wrong.append(t)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert counter.cache.held_chars == 3 * sum(map(len, texts))


def test_the_floor_keeps_nothing_and_stays_a_floor() -> None:
    counter = TokenCounter()
    floor = counter.floor()
    assert floor.for_account("acct_a") is floor
    bound = floor.count_chat_prompt("o200k_base", HISTORY)
    assert bound <= counter.count_chat_prompt("o200k_base", HISTORY)
    assert counter.cache.misses == 0


def test_an_allowance_charges_only_new_text_and_keeps_what_it_counted() -> None:
    counter = TokenCounter()
    long_turns = [{"role": "user", "content": f"{i} " + "ledger lines " * 100} for i in range(6)]
    counter.for_account("acct_a").count_chat_prompt("o200k_base", long_turns[:3])
    size = len(long_turns[0]["content"])  # ASCII: bytes == characters
    # The three kept turns cost only their walk; the three new ones (and 6 roles) their bytes.
    fits = counter.for_account("acct_a", new_bytes=3 * size + 6 * 4 + 12 * TEXT_WALK_BYTES)
    assert fits.count_chat_prompt("o200k_base", long_turns) == (
        TokenCounter().count_chat_prompt("o200k_base", long_turns)
    )
    more = [{"role": "user", "content": f"new {i} " + "ledger lines " * 100} for i in range(3)]
    short = counter.for_account("acct_a", new_bytes=size + size // 2 + 16 * TEXT_WALK_BYTES)
    with pytest.raises(NewTextOverBudget):
        short.count_chat_prompt("o200k_base", [*long_turns, *more])
    misses = counter.cache.misses
    # The first new turn was counted before the allowance ran out, and kept: only two are new.
    new_size = len(more[1]["content"])
    again = counter.for_account("acct_a", new_bytes=2 * new_size + 9 * 4 + 18 * TEXT_WALK_BYTES)
    assert again.count_chat_prompt("o200k_base", [*long_turns, *more]) > 0
    assert counter.cache.misses == misses + 2


def test_non_ascii_text_is_charged_its_utf8_bytes() -> None:
    text = "é" * 300  # 600 bytes
    over, fits = 599 + TEXT_WALK_BYTES, 600 + TEXT_WALK_BYTES
    with pytest.raises(NewTextOverBudget):
        TokenCounter().for_account("acct_a", new_bytes=over).count_text("o200k_base", text)
    assert TokenCounter().for_account("acct_a", new_bytes=fits).count_text("o200k_base", text) > 0


def test_a_probe_over_its_allowance_raises_before_tokenizing_or_keeping_anything() -> None:
    counter = TokenCounter()
    turns = [{"role": "user", "content": f"{i} " + "unpaid invoices " * 100} for i in range(6)]
    counter.for_account("acct_a").count_chat_prompt("o200k_base", turns[:2])
    size = len(turns[0]["content"])  # ASCII: bytes == characters
    stats = (counter.cache.hits, counter.cache.misses, counter.cache.held_chars)
    with pytest.raises(NewTextOverBudget):  # four new turns need 4 * size: the probe stops
        counter.probe("acct_a", new_bytes=3 * size).count_chat_prompt("o200k_base", turns)
    assert (counter.cache.hits, counter.cache.misses, counter.cache.held_chars) == stats
    # Roles are short texts, tokenized too: charged like the new turns, as a count would be.
    with pytest.raises(NewTextOverBudget):
        counter.probe("acct_a", new_bytes=4 * size).count_chat_prompt("o200k_base", turns)
    fits = 4 * size + 6 * len("user") + 12 * TEXT_WALK_BYTES
    counter.probe("acct_a", fits).count_chat_prompt("o200k_base", turns)  # does not raise
    assert (counter.cache.hits, counter.cache.misses, counter.cache.held_chars) == stats
    assert counter.for_account("acct_a", fits).count_chat_prompt("o200k_base", turns) == (
        TokenCounter().count_chat_prompt("o200k_base", turns)
    )
    with pytest.raises(NewTextOverBudget):  # another account's kept counts are not its own
        counter.probe("acct_b", new_bytes=fits).count_chat_prompt("o200k_base", turns)


def test_a_probe_never_changes_the_caches_order_or_stats() -> None:
    cache = CountCache(budget_chars=16 * 1_000)
    counter = TokenCounter(cache)
    mine = counter.for_account("acct_a")
    texts = [f"{i:02d} " + "lorem ipsum " * 80 for i in range(16)]  # 963 chars, 16 fit
    for text in texts:
        mine.count_text("o200k_base", text)
    stats = (cache.hits, cache.misses, cache.held_chars)
    for _ in range(3):  # texts[0], the oldest use, would be the newest if a probe touched it
        walk = 16 * TEXT_WALK_BYTES  # every kept text is charged its walk, nothing more
        counter.probe("acct_a", new_bytes=walk).count_completion_prompt("o200k_base", texts)
    with pytest.raises(NewTextOverBudget):
        counter.probe("acct_a", new_bytes=0).count_text("o200k_base", "new " + texts[0])
    assert (cache.hits, cache.misses, cache.held_chars) == stats
    mine.count_text("o200k_base", "16 " + "lorem ipsum " * 80)  # evicts the oldest use
    mine.count_text("o200k_base", texts[1])
    assert (cache.hits, cache.misses) == (stats[0] + 1, stats[1] + 1)
    mine.count_text("o200k_base", texts[0])  # evicted: tokenized again
    assert (cache.hits, cache.misses) == (stats[0] + 1, stats[1] + 2)


def test_many_short_kept_texts_cost_their_walk_so_the_loop_time_stays_bounded() -> None:
    """Kept counts are free to tokenize but not to walk: 4,096 kept 256-byte messages held
    the event loop ~27 ms when only new bytes were charged. Every text now costs its walk."""
    counter = TokenCounter()
    turns = [{"role": "user", "content": f"{i:04d} " + "x" * 251} for i in range(4096)]
    counter.for_account("acct_a").count_chat_prompt("o200k_base", turns)  # all kept
    allowance = 32 * 1024
    with pytest.raises(NewTextOverBudget):
        counter.probe("acct_a", allowance).count_chat_prompt("o200k_base", turns)
    with pytest.raises(NewTextOverBudget):
        counter.for_account("acct_a", allowance).count_chat_prompt("o200k_base", turns)
    # A conversation of 200 kept turns still fits: it is counted on the loop, exactly.
    some = turns[:200]
    counter.probe("acct_a", allowance).count_chat_prompt("o200k_base", some)
    assert counter.for_account("acct_a", allowance).count_chat_prompt("o200k_base", some) == (
        TokenCounter().count_chat_prompt("o200k_base", some)
    )
