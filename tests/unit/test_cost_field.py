"""`costed_media`: the debit in a media answer's usage, else top-level (dall-e-3's images)."""

from __future__ import annotations

from gateway.llm.cost_field import costed_media


def test_a_media_answer_without_usage_gets_a_top_level_cost() -> None:
    assert costed_media(b'{"created": 1, "data": [{"url": "u"}]}\n', 7) == (
        b'{"created": 1, "data": [{"url": "u"}],"cost_micros":7}\n'
    )
    assert costed_media(b"{ }", 7) == b'{"cost_micros":7}'
    assert costed_media(b"[1]", 7) == b"[1]"


def test_one_with_usage_gets_it_there() -> None:
    assert costed_media(b'{"text":"hi","usage":{"seconds":3}}', 7) == (
        b'{"text":"hi","usage":{"seconds":3,"cost_micros":7}}'
    )
