"""The words, fields and headers of quota and balance refusals."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.money.admission import BalanceRefused, QuotaRefused
from billing.money.answers import RetryAdvice, balance_answer, quota_answer
from billing.money.next_step import Links
from billing.money.plans import parse_plans
from gateway.http.headers import retry_headers

PLANS = parse_plans(
    {
        "plans": {
            "free": {"quotas": [{"window": "day", "metric": "tokens", "limit": 100000}]},
            "pro": {
                "price": "20.00",
                "quotas": [{"window": "day", "metric": "tokens", "limit": 1000000}],
            },
            "sales": {"quotas": [{"window": "day", "metric": "tokens", "limit": 10000000}]},
        }
    }
)
NOW = int(datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp() * 1000)
MIDNIGHT = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp() * 1000)


def refusal(**kw: object) -> QuotaRefused:
    base: dict[str, object] = {
        "scope": "account",
        "window": "day",
        "metric": "tokens",
        "limit": 100000,
        "used": 99800,
        "requested": 500,
        "resets_at_ms": MIDNIGHT,
        "plan": "free",
        "now_ms": NOW,
        "scope_id": "acct_1",
    }
    base.update(kw)
    return QuotaRefused(**base)  # type: ignore[arg-type]


def _headers(advice: RetryAdvice) -> dict[str, str]:
    """What the gateway sends for this advice (gateway/http/headers.py)."""
    return retry_headers(advice.after_s, advice.should_retry)


def test_day_quota_message_fields_and_headers() -> None:
    message, extra, advice = quota_answer(refusal(), PLANS, NOW)
    headers = _headers(advice)
    assert message == (
        "Quota exceeded for your account on tokens per day: Limit 100000, Used 99800, "
        "Requested 500. Resets at 2026-11-22T00:00:00Z. Upgrade to pro for 1000000."
    )
    assert extra == {
        "window": "day",
        "metric": "tokens",
        "scope": "account",
        "scope_id": "acct_1",
        "scope_name": "acct_1",
        "limit": 100000,
        "used": 99800,
        "requested": 500,
        "upgrade": {"plan": "pro", "limit": 1000000, "url": "/dashboard/billing?upgrade=pro#plans"},
        "next": {
            "action": "upgrade",
            "blocked": True,
            "reason": "The quota of tokens per day (99,800 of 100,000) is used up: "
            "the pro plan lifts it.",
            "url": "/dashboard/billing?upgrade=pro#plans",
            "command": "meterway billing plan pro",
            "api": {"method": "POST", "path": "/v1/account/billing/subscription"},
            "plan": "pro",
            "resets_at": None,
        },
        "resets_at": "2026-11-22T00:00:00Z",
    }
    assert headers == {"retry-after": str(12 * 3600), "x-should-retry": "false"}


def test_an_end_user_refusal_names_the_end_user_and_offers_no_upgrade() -> None:
    over = refusal(scope="end_user", scope_id="alice@example.com", window="minute")
    message, extra, _ = quota_answer(over, PLANS, NOW)
    assert message.startswith("Quota exceeded for end user 'alice@example.com' on tokens per ")
    assert (extra["scope"], extra["scope_id"], extra["upgrade"]) == (
        "end_user",
        "alice@example.com",
        None,
    )


def test_soon_reset_lets_the_client_retry() -> None:
    _, _, advice = quota_answer(refusal(window="minute", resets_at_ms=NOW + 4500), PLANS, NOW)
    headers = _headers(advice)
    assert headers == {"retry-after": "5"}


def test_key_quota_has_no_upgrade() -> None:
    message, extra, _ = quota_answer(refusal(scope="key"), PLANS, NOW)
    assert extra["upgrade"] is None
    assert message.startswith("Quota exceeded for this API key")
    assert "Upgrade" not in message


def test_a_plan_arranged_with_sales_is_named_not_sold() -> None:
    message, extra, _ = quota_answer(refusal(used=999_900), PLANS, NOW)
    assert extra["upgrade"] == {
        "plan": "sales",
        "limit": 10000000,
        "url": "/dashboard/billing#plans",
    }
    assert extra["next"]["action"] == "contact_sales"
    assert message.endswith(" The sales plan (10000000) is arranged with sales.")


def test_no_upgrade_when_no_plan_would_admit() -> None:
    _, extra, _ = quota_answer(refusal(used=9_999_900), PLANS, NOW)
    assert extra["upgrade"] is None
    assert extra["next"]["action"] == "wait"
    assert extra["next"]["resets_at"] == "2026-11-22T00:00:00Z"


def test_an_operators_billing_page_is_the_link() -> None:
    _, extra, _ = quota_answer(refusal(), PLANS, NOW, Links("https://pay.example/acme"))
    assert extra["upgrade"]["url"] == extra["next"]["url"] == "https://pay.example/acme"


def test_total_window_has_no_reset() -> None:
    message, extra, advice = quota_answer(refusal(window="total", resets_at_ms=None), PLANS, NOW)
    headers = _headers(advice)
    assert "resets_at" not in extra
    assert headers == {"x-should-retry": "false"}
    assert "does not reset" in message


def test_request_larger_than_limit_is_never_retried() -> None:
    _, _, advice = quota_answer(
        refusal(window="minute", requested=200_000, used=0, resets_at_ms=NOW + 1000), PLANS, NOW
    )
    headers = _headers(advice)
    assert headers["x-should-retry"] == "false"


def test_balance_answer_fields() -> None:
    message, extra = balance_answer(
        BalanceRefused("insufficient_balance", 1500, "free"), 9000, 120, Links("https://b.example")
    )
    assert extra == {
        "reason": "insufficient_balance",
        "balance_micros": 1500,
        "required_micros": 9000,
        "next": {
            "action": "top_up",
            "blocked": True,
            "reason": "The balance ($0.001500 available) does not cover this request "
            "(up to $0.009000): add credit.",
            "url": "https://b.example",
            "command": "meterway billing topup --amount 10",
            "api": {"method": "POST", "path": "/v1/account/billing/topups"},
            "plan": None,
            "resets_at": None,
        },
        "affordable_max_tokens": 120,
    }
    assert "max_tokens=120" in message
    assert "may cost up to $0.009000 but the balance available is $0.001500" in message


def test_no_payment_method_answer() -> None:
    message, extra = balance_answer(
        BalanceRefused("no_payment_method", 0, "enterprise"), 10, None, Links("https://b.example")
    )
    assert extra["reason"] == "no_payment_method"
    assert extra["next"]["action"] == "setup"
    assert "affordable_max_tokens" not in extra
    assert "https://b.example" in message
