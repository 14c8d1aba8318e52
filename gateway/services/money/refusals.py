"""A refused reservation as the error the client sees: 429 for a window (naming it, its
reset and the plan that would allow it), 402 for money (with the max_tokens that would fit),
and the key's, the end user's and readiness refusals, each counted in the metrics."""

from __future__ import annotations

from billing.authority import Actor
from billing.money.admission import (
    BalanceRefused,
    Decision,
    DuplicateRequest,
    EndUserInvalid,
    EndUsersFull,
    KeyRefused,
    NotReady,
    QuotaRefused,
    output_room,
)
from billing.money.answers import balance_answer, quota_answer
from billing.money.end_users import MAX_LENGTH as END_USER_MAX
from billing.money.micros import marked_up, within
from billing.money.next_step import AccountState, Links
from billing.money.plans import PlanBook
from gateway.errors import (
    AccountPending,
    AccountRejected,
    BillingRequired,
    InvalidApiKey,
    InvalidRequest,
    KeyPaused,
    QuotaExceeded,
    RequestInFlight,
    ServiceUnavailable,
)
from gateway.llm.reading.calls import Call
from gateway.telemetry import metrics

KEY_MESSAGES = {
    "key_revoked": "This API key has been revoked.",
    "key_expired": "This API key has expired.",
    "key_invalid": "Incorrect API key provided.",
}
PAUSED_MESSAGE = (
    "This API key is paused after a spend anomaly. Its owner lifts the pause with"
    " POST /v1/account/keys/<key id>/resume, `meterway billing key-resume KEY_ID` or the Resume"
    " button on the dashboard's API keys page (docs/guides/anomalies.md)."
)
END_USER_RULE = (
    f"An end-user id is 1 to {END_USER_MAX} characters of letters, digits and ._~@+=/#- when"
    " an end-user budget applies."
)


def refusal_error(
    decision: Decision,
    call: Call | None,
    plans: PlanBook,
    links: Links,
    *,
    suggest: bool = True,
    caller: Actor | None = None,
    worst_micros: int | None = None,
    state: AccountState | None = None,
) -> Exception:
    """The client-visible error of a refused reservation; `suggest` offers the max_tokens
    the balance would cover; its next step is one `caller` (the key) may take;
    `worst_micros`: the hold of a call with no `Call` (an MCP tool call's), before the
    account's markup; `state`: the account's facts a 429's next step is decided from."""
    _count_refusal(decision)
    if isinstance(decision, QuotaRefused):
        message, extra, retry = quota_answer(decision, plans, decision.now_ms, links, caller, state)
        fits = _fits_window(call, decision) if call and suggest else None
        if fits:
            message += f" You can only afford max_tokens={fits} in this window."
            extra["affordable_max_tokens"] = fits
        return QuotaExceeded(
            message, extra=extra, retry_after_s=retry.after_s, should_retry=retry.should_retry
        )
    if isinstance(decision, BalanceRefused):
        affordable = _affordable(call, decision) if call and suggest else None
        worst = call.worst_case_micros if call is not None else worst_micros
        required = 1 if worst is None else marked_up(worst, decision.markup_bps)
        message, extra = balance_answer(decision, required, affordable, links, caller)
        return BillingRequired(message, extra=extra)
    if isinstance(decision, DuplicateRequest):
        return RequestInFlight(
            f"A request with id {decision.request_id} is already being served.",
            should_retry=False,
        )
    if isinstance(decision, EndUsersFull):
        return QuotaExceeded(
            f"This organization already has {decision.limit} end users with live budget"
            " windows; a new end user is admitted once some of their windows expire.",
            extra={
                "scope": "end_user",
                "scope_id": call.end_user if call else "",
                "metric": "live_end_users",
                "limit": decision.limit,
            },
            retry_after_s=None,
            should_retry=False,
        )
    if isinstance(decision, EndUserInvalid):
        return InvalidRequest(END_USER_RULE, param=call.end_user_param if call else None)
    if isinstance(decision, NotReady):
        return ServiceUnavailable(
            "Metering state is being restored from the ledger; request not sent.",
            retry_after_s=5,
        )
    assert isinstance(decision, KeyRefused)
    return _key_refusal(decision)


def _key_refusal(decision: KeyRefused) -> Exception:
    """The key's or its account's refusal: paused, held back, or not a live key."""
    if decision.reason == "account_pending":
        return AccountPending(
            "This account is waiting for the operator's approval; its keys work once it is"
            " approved (you will get an e-mail).",
            extra={"reason": decision.reason},
        )
    if decision.reason == "key_paused":
        return KeyPaused(PAUSED_MESSAGE, extra={"reason": decision.reason})
    if decision.reason == "account_rejected":
        return AccountRejected(
            "This account's sign-up was declined by the operator; its keys are not served.",
            extra={"reason": decision.reason},
        )
    return InvalidApiKey(
        KEY_MESSAGES.get(decision.reason, "Invalid API key."), extra={"reason": decision.reason}
    )


def _affordable(call: Call, refusal: BalanceRefused) -> int | None:
    """The max_tokens the balance would cover, when lowering it would help."""
    if not call.endpoint.clamps:
        return None
    budget = within(refusal.available_micros, refusal.markup_bps)
    fits = call.price.affordable_output_tokens(call.input_tokens, budget)
    return fits if 0 < fits < call.max_output_tokens else None


def _fits_window(call: Call, refusal: QuotaRefused) -> int | None:
    """The max_tokens a full token window still has room for, when lowering it would help
    (the 402's advice, in a 429: the caller named its cap, so it is not fitted for it)."""
    fits = output_room(refusal, call.input_tokens) if call.endpoint.clamps else None
    return fits if fits is not None and 0 < fits < call.max_output_tokens else None


def _count_refusal(decision: Decision) -> None:
    """Balance and quota refusals by reason (and window); key and readiness ones are not
    reservations refused for money or quota, so they are left to the request counts."""
    if isinstance(decision, QuotaRefused):
        metrics().refused.labels("quota", decision.window).inc()
    elif isinstance(decision, BalanceRefused):
        metrics().refused.labels(decision.reason, "").inc()
