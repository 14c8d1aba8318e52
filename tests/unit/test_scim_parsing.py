"""SCIM filters and PATCH paths, parsed and applied without a server: the forms Okta and
Entra ID send, and the RFC's refusals with their scimType."""

from __future__ import annotations

import pytest

from billing.members.scim_filter import (
    MAX_CHARS,
    MAX_DEPTH,
    AttrPath,
    ScimSyntax,
    depth,
    matches,
    parse_filter,
)
from billing.members.scim_patch import apply, parse_path

MULTI = frozenset({"emails", "members"})
ADA = {
    "userName": "Ada@Example.com",
    "externalId": "00uA",
    "active": True,
    "name": {"givenName": "Ada"},
    "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
    "meta": {"lastModified": "2026-05-01T00:00:00Z"},
}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('userName eq "ada@example.com"', True),  # case-insensitive
        ('externalId eq "00ua"', False),  # case-exact
        ('externalId eq "00uA"', True),
        ('emails[type eq "work" and value co "example"]', True),
        ('emails.value ew ".com"', True),
        ("name.familyName pr", False),
        ('not (active eq false) and meta.lastModified gt "2026-01-01T00:00:00Z"', True),
        ('userName sw "bo" or name.givenName eq "Ada"', True),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ada@example.com"', True),
        ('displayName eq "Ops"', False),
    ],
)
def test_filters_match_as_the_rfc_says(text: str, found: bool) -> None:
    assert matches(ADA, parse_filter(text)) is found


@pytest.mark.parametrize("text", ["userName zz 1", 'userName eq "x" and', "(userName pr", "eq 1"])
def test_a_malformed_filter_is_an_invalid_filter(text: str) -> None:
    with pytest.raises(ScimSyntax) as caught:
        parse_filter(text)
    assert caught.value.scim_type == "invalidFilter"


def test_a_path_with_a_filter_and_a_sub_attribute() -> None:
    path = parse_path('emails[type eq "work"].value')
    assert path.path == AttrPath("emails", "value") and path.where is not None
    enterprise = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
    assert enterprise.path.schema.endswith("enterprise:2.0:User")


def test_okta_replaces_without_a_path() -> None:
    out = apply(ADA, [{"op": "replace", "value": {"active": False}}], MULTI)
    assert out["active"] is False and ADA["active"] is True  # the input is left as it was


def test_entra_removes_members_by_value_and_adds_with_capitalised_ops() -> None:
    group = {"displayName": "Ops", "members": [{"value": "u1"}, {"value": "u2"}]}
    out = apply(group, [{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}], MULTI)
    assert out["members"] == [{"value": "u2"}]
    out = apply(out, [{"op": "Add", "path": "members", "value": [{"value": "u3"}]}], MULTI)
    assert [m["value"] for m in out["members"]] == ["u2", "u3"]


def test_okta_removes_one_member_by_filter() -> None:
    group = {"members": [{"value": "u1"}, {"value": "u2"}]}
    out = apply(group, [{"op": "remove", "path": 'members[value eq "u2"]'}], MULTI)
    assert out["members"] == [{"value": "u1"}]


def test_replace_through_a_filter_sets_the_sub_attribute() -> None:
    op = {"op": "replace", "path": 'emails[type eq "work"].value', "value": "a@b.c"}
    assert apply(ADA, [op], MULTI)["emails"][0]["value"] == "a@b.c"


@pytest.mark.parametrize(
    ("op", "scim_type"),
    [
        ({"op": "remove"}, "noTarget"),
        ({"op": "replace", "path": 'emails[type eq "home"].value', "value": "x"}, "noTarget"),
        ({"op": "move", "path": "userName", "value": "x"}, "invalidSyntax"),
        ({"op": "replace", "value": "not an object"}, "invalidValue"),
        ({"op": "add", "path": "emails[type eq", "value": "x"}, "invalidPath"),
    ],
)
def test_refusals_name_their_scim_type(op: dict[str, object], scim_type: str) -> None:
    with pytest.raises(ScimSyntax) as caught:
        apply(ADA, [op], MULTI)
    assert caught.value.scim_type == scim_type


UNREADABLE = [
    ('userName eq "\\q"', "invalidFilter"),  # an escape JSON has not
    ('userName eq "a\tb"', "invalidFilter"),  # a raw tab inside a string
    ("(" * 2000 + "userName pr" + ")" * 2000, "invalidFilter"),  # deep parentheses
    ("not (" * 600 + "userName pr" + ")" * 600, "invalidFilter"),  # deep `not`s
    (" or ".join(["userName pr"] * 2000), "invalidFilter"),  # a long `or` chain
    ("userName eq 1_0", "invalidFilter"),  # a number JSON has not
    ("userName eq \u0661\u0660", "invalidFilter"),  # Arabic-Indic digits
]


@pytest.mark.parametrize(("text", "scim_type"), UNREADABLE)
def test_what_cannot_be_read_is_an_invalid_filter_never_a_crash(text: str, scim_type: str) -> None:
    with pytest.raises(ScimSyntax) as caught:
        matches(ADA, parse_filter(text))
    assert caught.value.scim_type == scim_type


@pytest.mark.parametrize(("text", "_"), UNREADABLE)
def test_the_same_inside_a_patch_path_is_an_invalid_path(text: str, _: str) -> None:
    with pytest.raises(ScimSyntax) as caught:
        parse_path(f"emails[{text}]")
    assert caught.value.scim_type == "invalidPath"


def _chain(n: int) -> str:
    return " or ".join(["userName pr"] * n)


def _nested(n: int, inner: str = "userName pr") -> str:
    return "(" * n + inner + ")" * n


def test_a_filter_at_its_bounds_is_read_and_one_past_them_is_refused() -> None:
    long = 'userName eq "' + "a" * (MAX_CHARS - len('userName eq ""')) + '"'
    assert len(long) == MAX_CHARS and not matches(ADA, parse_filter(long))
    for fits in (
        _chain(MAX_DEPTH),
        _nested(MAX_DEPTH),
        "emails[" + _nested(MAX_DEPTH - 1, "value pr") + "]",
    ):
        assert depth(parse_filter(fits)) <= MAX_DEPTH and matches(ADA, parse_filter(fits))
    past = [long + " ", _chain(MAX_DEPTH + 1), _nested(MAX_DEPTH + 1)]
    past.append("emails[" + _nested(MAX_DEPTH, "value pr") + "]")
    for text in past:
        with pytest.raises(ScimSyntax) as caught:
            parse_filter(text)
        assert caught.value.scim_type == "invalidFilter", text[:40]
    assert parse_path("x" * MAX_CHARS).path.attr == "x" * MAX_CHARS
    with pytest.raises(ScimSyntax) as too_long:
        parse_path("x" * (MAX_CHARS + 1))
    assert too_long.value.scim_type == "invalidPath"
