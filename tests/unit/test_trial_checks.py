"""The trial's pure rules (billing/trust/trial_checks.py): what network a client address counts
as, a device fingerprint as stored, the verdict of a sign-up's checks, and suspected farms
grouped by a shared card, network or mailbox."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.members.signup import address
from billing.trust.trial_checks import Findings, device_of, farms, network_of, verdict
from gateway.config.settings import load_settings
from gateway.config.values import ConfigError
from gateway.services.trust.trial_gate import disposable
from tests.unit.test_settings import GOOD


@pytest.mark.parametrize(
    ("remote", "network"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.250", "203.0.113.0/24"),
        ("203.0.114.7", "203.0.114.0/24"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),  # IPv4-mapped: its IPv4 /24
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("2001:db8:abcd:ffff:1:2:3:4", "2001:db8:abcd::/48"),
        ("fe80::1%eth0", "fe80::/48"),
        ("", ""),
        ("not-an-ip", ""),
    ],
)
def test_the_network_a_client_counts_as(remote: str, network: str) -> None:
    assert network_of(remote) == network


def test_a_device_is_kept_as_a_hash_and_none_is_empty() -> None:
    assert device_of("") == device_of("   ") == ""
    kept = device_of("cookie-value")
    assert kept == device_of(" cookie-value ") and "cookie" not in kept and len(kept) == 32
    assert device_of("other") != kept


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (Findings(), ("none", None)),
        (Findings(card_required=True), ("card", None)),
        (Findings(disposable=True, card_required=True), ("refused", "disposable")),
        (Findings(network_count=3, network_limit=3), ("none", None)),  # the limit's last place
        (Findings(network_count=4, network_limit=3, card_required=True), ("refused", "network")),
        (Findings(network_count=99, network_limit=0), ("none", None)),  # 0: off
        (Findings(device_count=2, device_limit=1), ("refused", "device")),
        (Findings(device_count=1, device_limit=1, card_required=True), ("card", None)),
    ],
)
def test_the_verdict(found: Findings, expected: tuple[str, str | None]) -> None:
    assert verdict(found) == expected


@settings(deadline=None, derandomize=True, database=None)
@given(st.booleans(), st.integers(0, 9), st.integers(0, 9), st.integers(0, 5), st.booleans())
def test_a_card_never_buys_back_a_refusal(
    dispos: bool, net: int, dev: int, limit: int, card: bool
) -> None:
    found = Findings(dispos, net, dev, limit, limit, card)
    refused = dispos or (limit and (net > limit or dev > limit))
    hold, check = verdict(found)
    assert (hold == "refused") == bool(refused) and (check is None) == (not refused)
    if not refused:
        assert hold == ("card" if card else "none")


def test_a_plus_tag_or_gmail_dots_are_one_mailbox_for_the_check_only() -> None:
    tagged, plain = address("Ada+farm1@Gmail.com"), address("a.da@googlemail.com")
    assert tagged.normalized == plain.normalized == "ada@gmail.com"
    assert tagged.email != plain.email  # who the person is: the address as typed


def test_disposable_domains_come_from_the_maintained_list() -> None:
    assert disposable("mailinator.com") and disposable("eu.mailinator.com")
    assert not disposable("example.com") and not disposable("gmail.com")


def rows(*links: tuple[str, str, str, str]) -> list[dict[str, str]]:
    return [{"account_id": a, "card": c, "network": n, "mailbox": m} for a, c, n, m in links]


def test_farms_join_accounts_through_any_shared_value() -> None:
    found = farms(
        rows(
            ("a1", "fp1", "n1", "a1@x"),
            ("a2", "fp1", "n2", "a2@x"),  # card with a1
            ("a3", "", "n2", "a3@x"),  # network with a2: in a1's farm through a2
            ("b1", "", "n9", "b@x"),
            ("b2", "", "", "b@x"),  # mailbox with b1
            ("lone", "fp7", "n7", "lone@x"),
        )
    )
    assert [f.accounts for f in found] == [("a1", "a2", "a3"), ("b1", "b2")]
    assert found[0].shared == {"card": ("fp1",), "network": ("n2",)}
    assert found[1].shared == {"mailbox": ("b@x",)}


def test_an_empty_value_links_nothing() -> None:
    assert farms(rows(("a", "", "", ""), ("b", "", "", ""))) == []


@settings(deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=30))
def test_farms_are_the_connected_groups_in_any_order(links: list[tuple[int, int]]) -> None:
    """Each account once, in exactly one farm with every account it shares a value with;
    the grouping is the same whatever order the sign-ups come in."""
    data = rows(*((f"acct{i}", f"c{c}", f"n{n}", "") for i, (c, n) in enumerate(links)))
    found = farms(data)
    seen = [a for f in found for a in f.accounts]
    assert len(seen) == len(set(seen))
    where = {a: f.accounts for f in found for a in f.accounts}
    for x in data:
        for y in data:
            if x is not y and (x["card"] == y["card"] or x["network"] == y["network"]):
                assert where[str(x["account_id"])] == where[str(y["account_id"])]
    shuffled = list(data)
    random.Random(len(links)).shuffle(shuffled)
    assert farms(shuffled) == found


SIGNUP_ON = {
    "SIGNUP_POLICY": "open",
    "SMTP_URL": "smtp://127.0.0.1:1",
    "NOTIFY_EMAIL_FROM": "m@example.com",
    "PUBLIC_URL": "https://meter.example.com",
}


def test_the_checks_are_off_until_turned_on_and_read_once() -> None:
    off = load_settings({**GOOD, **SIGNUP_ON}).signup
    assert (off.trial_disposable, off.trial_limit_network, off.trial_limit_device) == (
        False, 0, 0)  # fmt: skip
    assert not off.trial_card
    on = load_settings(
        {
            **GOOD,
            **SIGNUP_ON,
            "SIGNUP_TRIAL_DISPOSABLE": "1",
            "SIGNUP_TRIAL_LIMIT_NETWORK": "3",
            "SIGNUP_TRIAL_LIMIT_DEVICE": "2",
        }
    ).signup
    assert (on.trial_disposable, on.trial_limit_network, on.trial_limit_device) == (True, 3, 2)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SIGNUP_TRIAL_CARD": "1"}, "SIGNUP_TRIAL_CARD needs PAYMENTS_PROVIDER=stripe"),
        ({"SIGNUP_TRIAL_CARD": "1", "PAYMENTS_PROVIDER": "local"}, "PAYMENTS_PROVIDER=stripe"),
        ({"SIGNUP_TRIAL_LIMIT_NETWORK": "-1"}, "SIGNUP_TRIAL_LIMIT_NETWORK"),
        ({"SIGNUP_TRIAL_LIMIT_DEVICE": "many"}, "SIGNUP_TRIAL_LIMIT_DEVICE"),
    ],
)
def test_a_check_that_cannot_run_stops_the_boot(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings({**GOOD, **SIGNUP_ON, **env})
