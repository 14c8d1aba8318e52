"""The words and fields of refusals that drive upgrades: pure functions over decisions.

How a refusal is spelled in HTTP headers (retry-after, x-should-retry) is gateway/http's
business; this module only decides when a retry could pass (RetryAdvice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing.authority import Actor
from billing.money.admission import BalanceRefused, QuotaRefused
from billing.money.display import usd_cost
from billing.money.next_step import (
    COMMITMENT_USED_UP,
    DASHBOARD_LINKS,
    AccountState,
    FullWindow,
    Links,
    NextStep,
    decide,
    for_caller,
    refused,
)
from billing.money.plans import PlanBook

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


def refused_window(refusal: QuotaRefused) -> FullWindow:
    """The window a 429 refused, as the next step reads a full one."""
    resets = None if refusal.resets_at_ms is None else rfc3339(refusal.resets_at_ms)
    return FullWindow(
        refusal.window, refusal.metric, refusal.used, refusal.limit, resets, refusal.scope,
        refusal.requested, refusal.scope_name or refusal.scope_id,
    )  # fmt: skip


def quota_step(
    refusal: QuotaRefused,
    plans: PlanBook,
    links: Links = DASHBOARD_LINKS,
    caller: Actor | None = None,
    state: AccountState | None = None,
) -> NextStep:
    """The account's next step as a 429 shows it to `caller`: `decide` over the account's
    own facts (`state`, as `billing status` reads them; without it, its plan alone) with
    the refused window full, so the 429 and every surface agree."""
    if state is None:
        mode = plans.plans[refusal.plan].mode if refusal.plan in plans.plans else "prepaid"
        state = AccountState(refusal.plan, mode)
    step = decide(refused(state, refused_window(refusal)), plans, links)
    return for_caller(step, caller)


def balance_step(
    refusal: BalanceRefused,
    required: int,
    links: Links = DASHBOARD_LINKS,
    caller: Actor | None = None,
) -> NextStep:
    """The account's next step as a 402 shows it: this request's worst case must fit. A
    used-up commitment that refuses is the operator's to lift, whatever the balance holds."""
    if refusal.reason == "commitment_exhausted":
        return for_caller(links.place(COMMITMENT_USED_UP), caller)
    state = AccountState(
        refusal.plan,
        "postpaid" if refusal.reason == "no_payment_method" else "prepaid",
        billing_ready=refusal.reason != "no_payment_method",
        in_grace=refusal.reason == "payment_failed",
        available_micros=refusal.available_micros,
        required_micros=required,
    )
    return for_caller(decide(state, PlanBook({}, ""), links), caller)


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
    refusal: QuotaRefused,
    plans: PlanBook,
    now_ms: int,
    links: Links = DASHBOARD_LINKS,
    caller: Actor | None = None,
    state: AccountState | None = None,
) -> tuple[str, dict[str, Any], RetryAdvice]:
    """(message, extra body fields, retry advice) for a 429 quota_exceeded; `state`: the
    account's facts its next step is decided from (`quota_step`)."""
    owner = _owner(refusal)
    when, advice = _retry(refusal, now_ms)
    step = quota_step(refusal, plans, links, caller, state)
    words = METRIC_WORDS.get(refusal.metric, refusal.metric)
    message = (
        f"Quota exceeded for {owner} on {words} per {refusal.window}: "
        f"Limit {refusal.limit}, Used {refusal.used}, Requested {refusal.requested}.{when}"
    )
    if refusal.scope != "account":
        message += f" {step.reason}"
    upgrade = _upgrade_json(step, plans, refusal)
    if upgrade is not None:
        shown = "no limit" if upgrade["limit"] is None else str(upgrade["limit"])
        if step.action == "upgrade":
            message += f" Upgrade to {step.plan} for {shown}."
        else:
            message += f" The {step.plan} plan ({shown}) is arranged with sales."
    extra: dict[str, Any] = {
        "window": refusal.window,
        "metric": refusal.metric,
        "scope": refusal.scope,
        "scope_id": refusal.scope_id,
        "scope_name": refusal.scope_name or refusal.scope_id,
        "limit": refusal.limit,
        "used": refusal.used,
        "requested": refusal.requested,
        "upgrade": upgrade,
        "next": step.json(),
    }
    if refusal.resets_at_ms is not None:
        extra["resets_at"] = rfc3339(refusal.resets_at_ms)
    return message, extra, advice


def _owner(refusal: QuotaRefused) -> str:
    """The level by its name: the key's and the team's as people named them."""
    name = refusal.scope_name or refusal.scope_id
    if refusal.scope == "key":
        return "this API key"  # named in the step's reason that follows: "(key 'ci-bot', ...)"
    if refusal.scope == "end_user":
        return f"end user '{refusal.scope_id}'"
    if refusal.scope == "team":
        return (
            f"this key's team '{name}' ({refusal.scope_id})"
            if name != refusal.scope_id
            else f"this key's team '{name}'"
        )
    return "your account"


def _upgrade_json(step: NextStep, plans: PlanBook, refusal: QuotaRefused) -> dict[str, Any] | None:
    """The plan the next step names, with its limit for the refused window."""
    if step.plan is None:
        return None
    limit = plans.plans[step.plan].limit_for(refusal.window, refusal.metric)
    return {"plan": step.plan, "limit": limit, "url": step.url}


def _ask(step: NextStep) -> str:
    """Who can take a step the caller may not: the roles `for_caller` found."""
    roles = " or ".join(step.ask)
    return f"this key may not; ask a member of the organization with the {roles} role"


def balance_answer(
    refusal: BalanceRefused,
    required: int,
    affordable_max_tokens: int | None,
    links: Links = DASHBOARD_LINKS,
    caller: Actor | None = None,
) -> tuple[str, dict[str, Any]]:
    step = balance_step(refusal, required, links, caller)
    where = f": {_ask(step)} (at {step.url})" if step.ask else f" at {step.url}"
    if refusal.reason == "no_payment_method":
        message = f"Billing is not set up for this account. Set it up{where}."
    elif refusal.reason == "commitment_exhausted":
        message = (
            f"This account's commitment for the period is used up: this request may cost up"
            f" to {usd_cost(required)} but {usd_cost(max(refusal.available_micros, 0))} is"
            f" left of it. Adding credit does not lift it: it renews with the next period;"
            f" ask the operator to raise or renew it, or to let calls past it (overage)."
        )
    elif refusal.reason == "payment_failed":
        message = (
            f"The last payment for this account's plan failed. Update the payment method{where}."
        )
    else:
        message = (
            f"Insufficient balance: this request may cost up to "
            f"{usd_cost(required)} but the balance available is "
            f"{usd_cost(max(refusal.available_micros, 0))}."
        )
        if affordable_max_tokens:
            message += f" You can only afford max_tokens={affordable_max_tokens}."
        message += f" Add credit{where}."
    extra: dict[str, Any] = {
        "reason": refusal.reason,
        "balance_micros": refusal.available_micros,
        "required_micros": required,
        "next": step.json(),
    }
    if affordable_max_tokens:
        extra["affordable_max_tokens"] = affordable_max_tokens
    return message, extra
