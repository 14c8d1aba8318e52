"""Domain claims' pure rules: which names a claim can be made for, and what proves one."""

from __future__ import annotations

import pytest

from billing.members.domains import (
    InvalidDomain,
    domain_of,
    normalized,
    proven,
    record_name,
    record_value,
)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("  eu.example.com ", "eu.example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_claims_are_kept_in_one_form(given: str, kept: str) -> None:
    assert normalized(given) == kept


@pytest.mark.parametrize(
    "bad",
    ["com", "*.example.com", "ann@example.com", "10.0.0.1", "-a.com", "a..com", "", "a_b.com"],
)
def test_what_is_not_a_domain_is_refused(bad: str) -> None:
    with pytest.raises(InvalidDomain):
        normalized(bad)


def test_an_address_names_its_domain_exactly() -> None:
    assert domain_of("Ann@Example.com") == "example.com"
    assert domain_of("ann@eu.example.com") == "eu.example.com"
    assert domain_of("ann@example.com.evil.test") == "example.com.evil.test"
    assert domain_of("no-at-sign") == ""


def test_only_the_exact_value_proves_a_claim() -> None:
    assert record_name("example.com") == "_meterway-challenge.example.com"
    assert proven(["v=spf1 -all", record_value("tok")], "tok")
    assert not proven([record_value("tok") + "x"], "tok")
    assert not proven([record_value("other")], "tok")
    assert not proven([], "tok")
