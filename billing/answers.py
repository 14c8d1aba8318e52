"""The words and fields of refusals that drive upgrades: pure functions over decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.admission import BalanceRefused, QuotaRefused, RateWindow
from billing.money import format_usd
from billing.plans import PlanBook, Upgrade

METRIC_WORDS = {
    "requests": "requests",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "tokens": "tokens",
    "spend_micros": "spend (USD micros)",
}
RETRY_HORIZON_MS = 60_000


def rfc3339(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


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


def _upgrade(refusal: QuotaRefused, plans: PlanBook) -> Upgrade | None:
    """Only account quotas come from a plan; a key's own quota is the operator's to raise."""
    if refusal.scope != "account":
        return None
    return plans.upgrade_for(
        refusal.plan, refusal.window, refusal.metric, refusal.used + refusal.requested
    )


def _retry(refusal: QuotaRefused, now_ms: int) -> tuple[str, dict[str, str]]:
    """(the sentence on when to retry, Retry-After / x-should-retry headers)."""
    never = refusal.requested > refusal.limit
    if refusal.resets_at_ms is None:
        tail = " This window does not reset." if refusal.window == "total" else ""
        if never:
            tail += " The request is larger than the limit."
        return tail, {"x-should-retry": "false"}
    wait_ms = max(0, refusal.resets_at_ms - now_ms)
    headers = {"retry-after": str(-(-wait_ms // 1000))}
    if never or wait_ms > RETRY_HORIZON_MS:
        headers["x-should-retry"] = "false"
    return f" Resets at {rfc3339(refusal.resets_at_ms)}.", headers


def quota_answer(
    refusal: QuotaRefused, plans: PlanBook, now_ms: int
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(message, extra body fields, headers) for a 429 quota_exceeded."""
    owner = "this API key" if refusal.scope == "key" else "your account"
    when, headers = _retry(refusal, now_ms)
    upgrade = _upgrade(refusal, plans)
    message = (
        f"Quota exceeded for {owner} on {METRIC_WORDS[refusal.metric]} per {refusal.window}: "
        f"Limit {refusal.limit}, Used {refusal.used}, Requested {refusal.requested}.{when}"
    )
    if upgrade is not None:
        shown = "no limit" if upgrade.limit is None else str(upgrade.limit)
        message += f" Upgrade to {upgrade.plan} for {shown}."
    extra: dict[str, Any] = {
        "window": refusal.window,
        "metric": refusal.metric,
        "scope": refusal.scope,
        "limit": refusal.limit,
        "used": refusal.used,
        "requested": refusal.requested,
        "upgrade": None if upgrade is None else {"plan": upgrade.plan, "limit": upgrade.limit},
    }
    if refusal.resets_at_ms is not None:
        extra["resets_at"] = rfc3339(refusal.resets_at_ms)
    return message, extra, headers


def balance_answer(
    refusal: BalanceRefused, required: int, affordable_max_tokens: int | None, next_url: str
) -> tuple[str, dict[str, Any]]:
    if refusal.reason == "no_payment_method":
        message = f"Billing is not set up for this account. Set it up at {next_url}."
    else:
        message = (
            f"Insufficient balance: this request may cost up to "
            f"${format_usd(required)} but the balance available is "
            f"${format_usd(max(refusal.available_micros, 0))}."
        )
        if affordable_max_tokens:
            message += f" You can only afford max_tokens={affordable_max_tokens}."
        message += f" Add credit at {next_url}."
    extra: dict[str, Any] = {
        "reason": refusal.reason,
        "balance_micros": refusal.available_micros,
        "required_micros": required,
        "next": next_url,
    }
    if affordable_max_tokens:
        extra["affordable_max_tokens"] = affordable_max_tokens
    return message, extra


def ratelimit_headers(
    requests: RateWindow | None, tokens: RateWindow | None, now_ms: int
) -> dict[str, str]:
    headers = {}
    for suffix, window in (("requests", requests), ("tokens", tokens)):
        if window is not None:
            headers[f"x-ratelimit-limit-{suffix}"] = str(window.limit)
            headers[f"x-ratelimit-remaining-{suffix}"] = str(window.remaining)
            headers[f"x-ratelimit-reset-{suffix}"] = duration(window.reset_at_ms - now_ms)
    return headers
