"""The pure tag rules: bounds on names and values, and what a tag group goes with."""

from __future__ import annotations

import pytest

from billing.usage.tags import TagSpecError, parse_tags, tag_group, tag_of


def test_tags_are_checked_and_sorted_by_name() -> None:
    assert parse_tags({"project": "x", "cost_center": "cc-12"}) == {
        "cost_center": "cc-12",
        "project": "x",
    }
    assert list(parse_tags({"b": "1", "a": "2"})) == ["a", "b"]
    assert parse_tags({}) == {}
    assert parse_tags({"a" * 40: "v" * 100}) == {"a" * 40: "v" * 100}
    assert parse_tags({"unicode": "Zürich ☕"}) == {"unicode": "Zürich ☕"}


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        "cost_center=1",
        {f"t{i}": "v" for i in range(11)},
        {"Cost": "v"},
        {"1abc": "v"},
        {"a-b": "v"},
        {"a" * 41: "v"},
        {"": "v"},
        {"a": ""},
        {"a": "v" * 101},
        {"a": 1},
        {"a": None},
        {"a": "line\nbreak"},
        {"a": "\x00"},
        {"a": "\x85"},
    ],
)
def test_malformed_tags_are_refused(raw: object) -> None:
    with pytest.raises(TagSpecError):
        parse_tags(raw)


def test_ten_tags_are_the_most() -> None:
    assert len(parse_tags({f"t{i}": "v" for i in range(10)})) == 10


def test_a_group_word_names_a_tag() -> None:
    assert tag_group("tag:cost_center") == "cost_center"
    assert tag_group("model") is None
    for bad in ("tag:", "tag:Cost", "tag:a-b"):
        with pytest.raises(TagSpecError):
            tag_group(bad)


def test_a_tag_groups_alone_or_by_a_time_bucket() -> None:
    assert tag_of(("model",)) is None
    assert tag_of(("tag:cc",)) == "cc"
    assert tag_of(("day", "tag:cc"), ("model", "team")) == "cc"
    assert tag_of(("month", "tag:cc")) == "cc"
    for by, filters in (
        (("model", "tag:cc"), ()),
        (("tag:a", "tag:b"), ()),
        (("tag:cc",), ("end_user",)),
        (("tag:Bad",), ()),
    ):
        with pytest.raises(TagSpecError):
            tag_of(by, filters)
