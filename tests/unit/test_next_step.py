"""The one next step of an account (billing.money.next_step.decide), for every state a user
meets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from billing.money.next_step import AccountState, FullWindow, Links, decide, refused, standing
from billing.money.plans import load_plans

PLANS = load_plans(Path(__file__).parents[2] / "config" / "plans.toml")
FUNDED = AccountState(plan="pro", mode="prepaid", available_micros=9_970_000, low_micros=1_000_000)
RESETS = "2026-11-25T10:01:00Z"


def _full(
    window: str = "minute", metric: str = "requests", used: int = 20, **over: object
) -> FullWindow:
    args: dict[str, Any] = {
        "window": window,
        "metric": metric,
        "used": used,
        "limit": used,
        "resets_at": RESETS,
    }
    args.update(over)
    return FullWindow(**args)


def _with(**over: object) -> AccountState:
    args: dict[str, Any] = {f: getattr(FUNDED, f) for f in FUNDED.__dataclass_fields__}
    args.update(over)
    return AccountState(**args)


def test_a_funded_prepaid_account_has_nothing_to_do() -> None:
    step = decide(FUNDED, PLANS)
    assert (step.action, step.blocked, step.url) == ("none", False, "/dashboard/")


def test_an_empty_balance_is_a_top_up_with_or_without_a_card() -> None:
    step = decide(_with(available_micros=0), PLANS)
    assert (step.action, step.blocked) == ("top_up", True)
    assert step.url == "/dashboard/billing#topup"
    assert step.command == "meterway billing topup --amount 10"
    assert step.json()["api"] == {"method": "POST", "path": "/v1/account/billing/topups"}
    assert step.reason == "The balance is used up ($0.00 available): add credit."


def test_a_low_balance_is_about_to_block_unless_auto_top_up_refills_it() -> None:
    low = _with(available_micros=400_000)
    step = decide(low, PLANS)
    assert (step.action, step.blocked) == ("top_up", False)
    assert "under $1.00" in step.reason
    assert decide(_with(available_micros=400_000, auto_topup=True), PLANS).action == "none"
    assert decide(_with(available_micros=1_000_000), PLANS).action == "none"


def test_postpaid_without_billing_sets_it_up() -> None:
    step = decide(AccountState(plan="enterprise", mode="postpaid", billing_ready=False), PLANS)
    assert (step.action, step.blocked, step.command) == ("setup", True, "meterway billing setup")
    ready = AccountState(plan="enterprise", mode="postpaid", billing_ready=True)
    assert decide(ready, PLANS).action == "none"  # a postpaid balance may be zero


def test_a_full_quota_with_a_plan_for_sale_is_an_upgrade() -> None:
    step = decide(_with(plan="free", full=(_full(),)), PLANS)
    assert (step.action, step.plan, step.blocked) == ("upgrade", "starter", True)
    assert step.url == "/dashboard/billing?upgrade=starter#plans"
    assert step.command == "meterway billing plan starter"
    assert step.reason == (
        "The quota of requests per minute (20 of 20) is used up: the starter plan lifts it."
    )


def test_the_plan_lifting_every_full_window_is_offered() -> None:
    full = (_full(), _full("minute", "requests", used=120))  # 120 needs pro
    assert decide(_with(plan="free", full=full), PLANS).plan == "pro"


def test_a_full_quota_only_a_sales_plan_lifts_is_contact_sales() -> None:
    step = decide(_with(full=(_full(used=600),)), PLANS)
    assert (step.action, step.plan) == ("contact_sales", "enterprise")
    assert step.url == "/dashboard/billing#plans"


def test_a_full_quota_on_the_top_plan_waits_for_the_reset() -> None:
    top = AccountState(plan="enterprise", mode="postpaid", full=(_full(used=6000),))
    step = decide(top, PLANS)
    assert (step.action, step.resets_at, step.blocked) == ("wait", RESETS, True)
    assert step.url == "/dashboard/#limits"


def test_a_lifetime_window_nothing_lifts_is_contact_sales() -> None:
    full = (_full("total", "requests", used=6000, resets_at=None),)
    step = decide(AccountState(plan="enterprise", mode="postpaid", full=full), PLANS)
    assert (step.action, step.plan) == ("contact_sales", None)


def test_a_keys_own_quota_is_waited_out_not_upgraded() -> None:
    step = decide(_with(plan="free", full=(_full(scope="key"),)), PLANS)
    assert (step.action, step.resets_at) == ("wait", RESETS)
    assert step.reason.startswith("This key's quota of requests per minute")


def test_the_order_of_urgency() -> None:
    assert decide(_with(in_grace=True, available_micros=0), PLANS).action == "fix_payment"
    assert decide(_with(available_micros=0, full=(_full(),)), PLANS).action == "top_up"
    assert decide(_with(plan="free", available_micros=10, full=(_full(),)), PLANS).action == (
        "upgrade"
    )


def test_spend_windows_read_in_dollars() -> None:
    full = (_full("month", "spend_micros", used=5_000_000),)
    step = decide(_with(plan="free", full=full), PLANS)
    assert "spend per month ($5.00 of $5.00)" in step.reason


def test_pages_are_absolute_on_public_url_and_billing_url_replaces_paying_ones() -> None:
    links = Links(public_url="https://gw.example")
    assert decide(FUNDED, PLANS, links).url == "https://gw.example/dashboard/"
    empty = _with(available_micros=0)
    assert decide(empty, PLANS, links).url == "https://gw.example/dashboard/billing#topup"
    own = Links("https://pay.example/acme", "https://gw.example")
    assert decide(empty, PLANS, own).url == "https://pay.example/acme"
    assert decide(FUNDED, PLANS, own).url == "https://gw.example/dashboard/"


def test_the_window_used_up_for_good_is_the_one_named() -> None:
    full = (_full(used=6000), _full("total", "tokens", used=9, resets_at=None))
    step = decide(AccountState(plan="enterprise", mode="postpaid", full=full), PLANS)
    assert step.action == "contact_sales" and "tokens in total" in step.reason


def test_a_refused_window_stands_while_the_refused_call_would_be_refused_again() -> None:
    """A 429's window (18 used, 5 asked, 20 allowed) is full for the account's next step
    while the same call would be refused: after the reset, or on a plan that lifts it, not."""
    refusal = _full(used=18, limit=20, requested=5)
    assert standing(refusal, 18, 20, RESETS) == refusal
    assert standing(refusal, 19, 20, "later") == _full(used=19, limit=20, requested=5,
                                                        resets_at="later")  # fmt: skip
    assert standing(refusal, 0, 20, "later") is None  # reset: 0 + 5 fits
    assert standing(refusal, 18, 100, RESETS) is None  # a bigger plan's limit


def test_a_refusal_and_the_accounts_own_facts_decide_together() -> None:
    """The low balance alone is a top-up; the refused window ranks above it (an upgrade);
    an empty balance ranks above the window (a top-up, blocked); a failed payment first."""
    low = _with(plan="free", available_micros=500_000, low_micros=1_000_000)
    window = _full(used=18, limit=20, requested=5)
    assert decide(low, PLANS).action == "top_up"
    assert decide(refused(low, window), PLANS).action == "upgrade"
    empty = _with(plan="free", available_micros=0)
    assert decide(refused(empty, window), PLANS).action == "top_up"
    grace = _with(plan="free", in_grace=True)
    assert decide(refused(grace, window), PLANS).action == "fix_payment"
    twice = refused(refused(low, _full(used=1, limit=20)), window)
    assert twice.full == (window,)  # the same window counted once, as refused last
