"""The words and fields of refusals that drive upgrades: pure functions over decisions.

How a refusal is spelled in HTTP headers (retry-after, x-should-retry) is gateway/http's
business; this module only decides when a retry could pass (RetryAdvice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing.admission import BalanceRefused, QuotaRefused
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


def _upgrade(refusal: QuotaRefused, plans: PlanBook) -> Upgrade | None:
    """Only account quotas come from a plan; a key's own quota is the operator's to raise."""
    if refusal.scope != "account":
        return None
    return plans.upgrade_for(
        refusal.plan, refusal.window, refusal.metric, refusal.used + refusal.requested
    )


@dataclass(frozen=True, slots=True)
class RetryAdvice:
    """When the same request could pass: after `after_s` seconds (None: the window never
    resets), and whether a client should retry on its own (False) or decide (None)."""

    after_s: int | None
    should_retry: bool | None


def _retry(refusal: QuotaRefused, now_ms: int) -> tuple[str, RetryAdvice]:
    """(the sentence on when to retry, the advice an SDK's retry logic gets)."""
    never = refusal.requested > refusal.limit
    if refusal.resets_at_ms is None:
        tail = " This window does not reset." if refusal.window == "total" else ""
        if never:
            tail += " The request is larger than the limit."
        return tail, RetryAdvice(None, False)
    wait_ms = max(0, refusal.resets_at_ms - now_ms)
    too_long = never or wait_ms > RETRY_HORIZON_MS
    advice = RetryAdvice(-(-wait_ms // 1000), False if too_long else None)
    return f" Resets at {rfc3339(refusal.resets_at_ms)}.", advice


def quota_answer(
    refusal: QuotaRefused, plans: PlanBook, now_ms: int, upgrade_url: str | None = None
) -> tuple[str, dict[str, Any], RetryAdvice]:
    """(message, extra body fields, retry advice) for a 429 quota_exceeded."""
    owner = _owner(refusal)
    when, advice = _retry(refusal, now_ms)
    upgrade = _upgrade(refusal, plans)
    words = METRIC_WORDS.get(refusal.metric, refusal.metric)
    message = (
        f"Quota exceeded for {owner} on {words} per {refusal.window}: "
        f"Limit {refusal.limit}, Used {refusal.used}, Requested {refusal.requested}.{when}"
    )
    if upgrade is not None:
        shown = "no limit" if upgrade.limit is None else str(upgrade.limit)
        message += f" Upgrade to {upgrade.plan} for {shown}."
    extra: dict[str, Any] = {
        "window": refusal.window,
        "metric": refusal.metric,
        "scope": refusal.scope,
        "scope_id": refusal.scope_id,
        "limit": refusal.limit,
        "used": refusal.used,
        "requested": refusal.requested,
        "upgrade": _upgrade_json(upgrade, upgrade_url),
    }
    if refusal.resets_at_ms is not None:
        extra["resets_at"] = rfc3339(refusal.resets_at_ms)
    return message, extra, advice


def _owner(refusal: QuotaRefused) -> str:
    if refusal.scope == "key":
        return "this API key"
    if refusal.scope == "end_user":
        return f"end user '{refusal.scope_id}'"
    if refusal.scope == "team":
        return f"team '{refusal.scope_id}'"
    return "your account"


def _upgrade_json(upgrade: Upgrade | None, url: str | None) -> dict[str, Any] | None:
    if upgrade is None:
        return None
    shown: dict[str, Any] = {"plan": upgrade.plan, "limit": upgrade.limit}
    return shown | ({"url": url} if url else {})


def balance_answer(
    refusal: BalanceRefused, required: int, affordable_max_tokens: int | None, next_url: str
) -> tuple[str, dict[str, Any]]:
    if refusal.reason == "no_payment_method":
        message = f"Billing is not set up for this account. Set it up at {next_url}."
    elif refusal.reason == "payment_failed":
        message = (
            "The last payment for this account's plan failed. Update the payment method at "
            f"{next_url}."
        )
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
