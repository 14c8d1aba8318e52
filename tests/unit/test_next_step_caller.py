"""A next step as its caller may take it (issue 48, item 5): the rule is authority's `may`,
not a list of scopes written here; a full key, team or end-user window is named by level."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.authority import Actor
from billing.money.next_step import NEEDS, AccountState, FullWindow, decide, for_caller, who_may
from billing.money.plans import load_plans

PLANS = load_plans(Path(__file__).parents[2] / "config" / "plans.toml")
EMPTY = AccountState("free", "prepaid", available_micros=0)


def key(*scopes: str) -> Actor:
    return Actor("key", "acct_1", frozenset(scopes))


def test_a_chat_only_key_gets_no_command_and_is_told_who_can() -> None:
    step = for_caller(decide(EMPTY, PLANS), key("chat"))
    assert (step.action, step.command, step.api) == ("top_up", "", None)
    assert step.url == "/dashboard/billing#topup"  # the page of the member asked
    assert step.ask == ("owner", "billing")
    assert step.reason.endswith(
        "This key may not do it: ask a member of the organization with the owner or billing role."
    )


@pytest.mark.parametrize("scopes", [("billing",), ("billing:setup",), ("chat", "billing")])
def test_a_key_that_may_pay_keeps_the_command(scopes: tuple[str, ...]) -> None:
    step = for_caller(decide(EMPTY, PLANS), key(*scopes))
    assert step == decide(EMPTY, PLANS)


def test_a_person_without_billing_is_told_by_role() -> None:
    viewer = Actor("person", "acct_1", frozenset({"account:read", "usage:read"}))
    step = for_caller(decide(EMPTY, PLANS), viewer)
    assert "Your role may not do it" in step.reason and step.command == ""


def test_waiting_needs_nobody_but_drops_what_the_key_cannot_open() -> None:
    full = FullWindow("hour", "requests", 1, 1, "2026-11-26T05:00:00Z", "team", 1, "research")
    state = AccountState("pro", "prepaid", full=(full,))
    step = for_caller(decide(state, PLANS), key("chat"))
    assert (step.action, step.command, step.ask) == ("wait", "", ())
    assert step.reason == (
        "This team's quota of requests per hour (team 'research', 1 of 1) is used up until"
        " 2026-11-26T05:00:00Z."
    )


@pytest.mark.parametrize(
    ("scope", "words"),
    [("key", "This key's quota of requests per hour (key 'ci-bot', 1 of 1)"),
     ("end_user", "This end user's quota of requests per hour (end user 'ci-bot', 1 of 1)"),
     ("account", "The quota of requests per hour (1 of 1)")],
)  # fmt: skip
def test_each_level_is_named(scope: str, words: str) -> None:
    full = FullWindow("hour", "requests", 1, 1, "2026-11-26T05:00:00Z", scope, 1, "ci-bot")
    assert decide(AccountState("enterprise", "prepaid", full=(full,)), PLANS).reason.startswith(
        words
    )


def test_who_may_follows_the_roles_table() -> None:
    assert who_may(NEEDS["top_up"]) == ("owner", "billing")
    assert "viewer" in who_may(NEEDS["wait"])
