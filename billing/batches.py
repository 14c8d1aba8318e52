"""A batch's bill, read from its output file: the usage of every line that succeeded.

A batch ends `completed`, `expired`, `cancelled` or `failed`; whatever lines ran before it
ended are in its output file, one JSON object a line (`{"custom_id", "response":
{"status_code", "body"}, "error"}`). Lines whose response is not a 2xx, or that carry an
error, are not billed (the provider does not bill them); the others' usage is summed and
billed once at the batch tier's rates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import orjson

from billing.usage import Usage

TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
BATCH_TIER = "batch"
UsageOf = Callable[[dict[str, Any]], Usage | None]


def is_terminal(batch: object) -> bool:
    return isinstance(batch, dict) and batch.get("status") in TERMINAL


def _succeeded(line: bytes) -> dict[str, Any] | None:
    """The response body of a line that succeeded, else None."""
    try:
        item = orjson.loads(line)
    except ValueError:
        return None
    if not isinstance(item, dict) or item.get("error"):
        return None
    response = item.get("response")
    if not isinstance(response, dict):
        return None
    status, body = response.get("status_code"), response.get("body")
    ok = isinstance(status, int) and 200 <= status < 300
    return body if ok and isinstance(body, dict) else None


def add(total: Usage, usage: Usage) -> Usage:
    extra = dict(total.extra)
    for key, n in usage.extra:
        extra[key] = extra.get(key, 0) + n
    return replace(
        total,
        input_tokens=total.input_tokens + usage.input_tokens,
        cached_input_tokens=total.cached_input_tokens + usage.cached_input_tokens,
        cache_write_tokens=total.cache_write_tokens + usage.cache_write_tokens,
        output_tokens=total.output_tokens + usage.output_tokens,
        reasoning_tokens=total.reasoning_tokens + usage.reasoning_tokens,
        extra=tuple(sorted(extra.items())),
    )


def output_usage(lines: Iterable[bytes], usage_of: UsageOf) -> tuple[Usage, int]:
    """(the summed usage at the batch tier, how many lines succeeded). A succeeded line
    without usage counts none: the provider's output file is the record of what it billed."""
    total, succeeded = Usage(service_tier=BATCH_TIER), 0
    for line in lines:
        body = _succeeded(line) if line.strip() else None
        if body is None:
            continue
        succeeded += 1
        usage = usage_of(body)
        if usage is not None:
            total = add(total, usage)
    return total, succeeded
