"""The next step offered to an account, as billing.payments decides it and the CLI reads it."""

from __future__ import annotations

from billing.payments import next_step
from gateway.cli.billing_cmd import next_step as cli_next_step

BASE = "/v1/account/billing"


def _step(**over: object) -> str:
    args: dict = dict(
        base=BASE,
        mode="prepaid",
        method_on_file=False,
        in_grace=False,
        available=9_970_000,
        upgrade_to=None,
    )
    args.update(over)
    return next_step(**args).action


def test_a_funded_prepaid_account_without_a_card_has_nothing_to_do() -> None:
    assert _step() == "none"


def test_the_order_of_urgency() -> None:
    assert _step(in_grace=True, available=0) == "fix_payment"
    assert _step(mode="postpaid") == "setup"
    assert _step(available=0) == "top_up"
    assert _step(upgrade_to="pro") == "upgrade"
    assert _step(method_on_file=True) == "none"


def test_the_cli_reads_none_as_nothing_to_do() -> None:
    account = {"mode": "prepaid", "billing_ready": True, "available_micros": 5, "windows": []}
    billing = {"next": {"action": "none", "url": BASE, "method": "GET"}}
    assert cli_next_step(account, billing) is None
    billing = {"next": {"action": "upgrade", "url": BASE + "/subscription", "plan": "pro"}}
    assert cli_next_step(account, billing) is not None
