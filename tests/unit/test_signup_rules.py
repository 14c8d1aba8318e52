"""Sign-up's pure rules (billing/members/signup.py): what one address is, blocked domains, a plan's
trial, the next step of a pending account, and a `meterway login` user code as typed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.members.signup import AddressError, address, blocked
from billing.money.next_step import AccountState, decide
from billing.money.plans import PlanError, parse_plans
from billing.money.trials import Trial, parse_trial
from gateway.services.keys.device_login import ALPHABET, normal_user_code


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("Ada@Example.com", "ada@example.com"),
        ("  ada+test@example.com ", "ada@example.com"),
        ("ada+a+b@example.com", "ada@example.com"),
        ("a.da@example.com", "a.da@example.com"),  # dots kept: another provider's people
        ("A.Da+x@gmail.com", "ada@gmail.com"),
        ("a.d.a@googlemail.com", "ada@gmail.com"),
        ("+tag@example.com", "+tag@example.com"),  # nothing before the + : kept whole
    ],
)
def test_one_address_however_spelt(typed: str, normalized: str) -> None:
    assert address(typed).normalized == normalized
    assert address(typed).email == typed.strip().lower()


@pytest.mark.parametrize(
    "bad",
    ["", "ada", "@example.com", "ada@", "ada@localhost", "ada@ex..com", "a da@example.com",
     "ada@example.com.", "ädä@example.com", "<ada@example.com>", "x" * 250 + "@example.com"],
)  # fmt: skip
def test_what_is_no_address(bad: str) -> None:
    with pytest.raises(AddressError):
        address(bad)


@given(st.text(max_size=300))
def test_any_text_is_an_address_or_a_clear_refusal(text: str) -> None:
    try:
        found = address(text)
    except AddressError:
        return
    assert found.normalized.count("@") >= 1 and "+" not in found.normalized.split("@")[0][1:]


def test_blocked_domains_and_their_subdomains() -> None:
    assert blocked("mailinator.com", ["mailinator.com"])
    assert blocked("eu.mailinator.com", ["mailinator.com"])
    assert not blocked("notmailinator.com", ["mailinator.com"])
    assert not blocked("example.com", [])


def test_a_plans_trial() -> None:
    assert parse_trial("free", {"amount": "5.00", "days": 30}) == Trial(5_000_000, 30, 10)
    book = parse_plans(
        {"plans": {"free": {"trial": {"amount": "0.50", "days": 7, "priority": 5}}, "pro": {}}}
    )
    assert book.plans["free"].trial == Trial(500_000, 7, 5)
    assert book.plans["pro"].trial is None


@pytest.mark.parametrize(
    "bad",
    [
        {"amount": "0"},
        {"amount": "-1"},
        {"amount": 5},
        {"amount": "1", "days": 0},
        {"amount": "1", "days": True},
        {"amount": "1", "priority": 5000},
        {"amount": "1", "extra": 1},
        "5.00",
    ],
)
def test_a_bad_trial_fails_the_start(bad: object) -> None:
    with pytest.raises(PlanError, match="trial"):
        parse_plans({"plans": {"free": {"trial": bad}}})


def test_a_pending_account_waits_for_approval_first() -> None:
    book = parse_plans({"plans": {"free": {}}})
    state = AccountState("free", "prepaid", available_micros=0, pending_approval=True)
    step = decide(state, book)
    assert step.action == "wait_for_approval" and step.blocked
    assert "approval" in step.reason and step.command == "meterway auth status"
    assert decide(AccountState("free", "prepaid", available_micros=0), book).action == "top_up"


@pytest.mark.parametrize(
    ("typed", "code"),
    [("bcdf-ghjk", "BCDF-GHJK"), ("BCDFGHJK", "BCDF-GHJK"), (" bcdf ghjk ", "BCDF-GHJK"),
     ("BCDF-GHJ", ""), ("AEIO-UBCD", ""), ("", "")],
)  # fmt: skip
def test_a_user_code_as_typed(typed: str, code: str) -> None:
    assert normal_user_code(typed) == code
    assert all(c in ALPHABET + "-" for c in code)
