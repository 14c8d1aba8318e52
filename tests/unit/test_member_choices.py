"""When a sign-in goes straight in and when it shows the page of choices
(services/members/identity.py):
one obvious way in goes in; anything else is the person's choice, never first come."""

from __future__ import annotations

import pytest

from gateway.services.members.identity import Choices, Person
from gateway.stores.records import Row

OIDC = Person("p@example.com", "https://idp.example", "sub-1")
MAIL = Person("p@example.com")


def rows(n: int) -> list[Row]:
    return [{"id": f"mem_{i}"} for i in range(n)]


@pytest.mark.parametrize(
    ("members", "pending", "choose"),
    [
        (0, 0, False),  # nobody invited them: refused
        (1, 0, False),  # their one organization
        (1, 1, False),  # in; the invitation waits (its link, or a later choice)
        (0, 1, True),  # an invitation is accepted, never taken for them
        (0, 2, True),  # two organizations: neither until they choose
        (1, 2, True),
        (2, 0, True),  # an address in several organizations picks one
    ],
)
def test_the_page_of_choices_comes_first_unless_one_way_in(
    members: int, pending: int, choose: bool
) -> None:
    assert Choices(MAIL, rows(members), rows(pending)).must_choose is choose


def test_an_identity_provider_user_bound_to_one_organization_accepts_no_other() -> None:
    assert not Choices(OIDC, rows(1), rows(2)).may_accept
    assert Choices(OIDC, [], rows(2)).may_accept
    assert Choices(MAIL, rows(1), rows(2)).may_accept  # an address may be in several


def test_a_person_survives_their_ticket() -> None:
    for person in (OIDC, MAIL):
        assert Person.from_ticket(person.ticket()) == person
