# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Response headers SDKs act on: Retry-After, x-should-retry and OpenAI's x-ratelimit-*.

A provider's 4xx passed through (a 429 above all) keeps the provider's own back-off
headers, so an SDK waits as long as the provider asked; Meterway's own rate-limit headers
then move under `x-meterway-ratelimit-` so the two never mix. Every answer carries its id
as both `x-request-id` and `request-id` (the Anthropic SDK reads the latter).

The decisions behind them are billing's (RateWindow, RetryAdvice) and the errors' own
(`MeterwayError.should_retry`, `retry_after_s`); only their spelling lives here.
"""

from __future__ import annotations

from collections.abc import Mapping

from billing.money.admission import RateWindow
from gateway.errors import MeterwayError


def duration(ms: int) -> str:
    """OpenAI's x-ratelimit-reset-* style: "1s", "6m0s", "1h2m3s", "20ms"."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms // 1000
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{s}s"
    return f"{m}m{s}s" if m else f"{s}s"


def retry_headers(retry_after_s: int | None, should_retry: bool | None) -> dict[str, str]:
    """Retry-After when a wait is known; x-should-retry only when the gateway has a view
    (the official SDKs otherwise retry 408/409/429/5xx by their own rules)."""
    headers = {}
    if retry_after_s is not None:
        headers["retry-after"] = str(retry_after_s)
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return headers


def error_headers(error: MeterwayError) -> dict[str, str]:
    """The retry policy the error class (or this instance) declares, then its own headers."""
    return {**retry_headers(error.retry_after_s, error.should_retry), **error.headers}


# Spelled once, set on every answer: the limit, remaining and reset header names of the
# requests window, then of the tokens window.
RATELIMIT_NAMES = tuple(
    tuple(f"x-ratelimit-{part}-{window}" for part in ("limit", "remaining", "reset"))
    for window in ("requests", "tokens")
)


def ratelimit_headers(
    requests: RateWindow | None, tokens: RateWindow | None, now_ms: int
) -> dict[str, str]:
    headers = {}
    for (limit, remaining, reset), window in zip(RATELIMIT_NAMES, (requests, tokens), strict=True):
        if window is not None:
            headers[limit] = str(window.limit)
            headers[remaining] = str(window.remaining)
            headers[reset] = duration(window.reset_at_ms - now_ms)
    return headers


PROVIDER_HEADERS = frozenset({"retry-after", "retry-after-ms", "x-should-retry"})
PROVIDER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
OURS = "x-ratelimit-"
OURS_MOVED = "x-meterway-ratelimit-"


def request_id_headers(request_id: str) -> dict[str, str]:
    return {"x-request-id": request_id, "request-id": request_id}


def provider_error_headers(ours: Mapping[str, str], provider: Mapping[str, str]) -> dict[str, str]:
    """Our headers with our rate limits renamed, then the provider's back-off headers."""
    out = {
        (OURS_MOVED + name.removeprefix(OURS) if name.startswith(OURS) else name): value
        for name, value in ours.items()
    }
    for name, value in provider.items():
        low = name.lower()
        if low in PROVIDER_HEADERS or low.startswith(PROVIDER_PREFIXES):
            out[low] = value
    return out
