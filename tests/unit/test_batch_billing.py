"""A batch's bill from its output file, pure: failed lines (an error, a non-2xx response,
an unreadable line) are not billed; the rest sum at the batch tier; and a batch's
reservation is its worst case at the batch rates, not the dearer standard ones."""

from __future__ import annotations

import orjson

from billing.batches import is_terminal, output_usage
from billing.usage import Usage, usage_from_openai
from tests.unit.test_pricing_shipped import shipped as shipped_price


def _line(status: int, prompt: int = 10, completion: int = 5, error: object = None) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    body = {"usage": usage} if status == 200 else {"error": {"message": "no"}}
    item = {"response": {"status_code": status, "body": body}, "error": error}
    return orjson.dumps(item)


def _usage(body: dict[str, object]) -> Usage | None:
    raw = body.get("usage")
    return usage_from_openai(raw) if isinstance(raw, dict) else None


def test_only_succeeded_lines_are_billed() -> None:
    lines = [
        _line(200),
        _line(400),
        _line(200, 7, 3),
        _line(200, error={"code": "x"}),
        b"{cut",
        b"",
    ]
    usage, succeeded = output_usage(lines, _usage)
    assert succeeded == 2
    assert (usage.input_tokens, usage.output_tokens, usage.service_tier) == (17, 8, "batch")


def test_terminal_statuses() -> None:
    ended = [is_terminal({"status": s}) for s in ("completed", "expired", "cancelled", "failed")]
    assert ended == [True] * 4
    assert not is_terminal({"status": "in_progress"}) and not is_terminal(None)


def test_a_batch_is_reserved_at_the_batch_rates() -> None:
    price = shipped_price("gpt-4o-mini")  # $0.15/$0.60 per 1M, batch $0.075/$0.30
    assert price.worst_case_micros(1_000_000, 1_000_000, "batch") == 75_000 + 300_000
    assert price.worst_case_micros(1_000_000, 1_000_000) == 150_000 + 600_000
