"""Whole numbers from people (gateway/http/whole.py): ASCII digits only, a sign only where
the field allows negatives, a bound per field, and every refusal a 400 naming the field."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.http.whole import INT64_MAX, json_whole, parse_whole

ASCII_WHOLE = re.compile(r"-?[0-9]+")


@pytest.mark.parametrize(
    "text",
    [
        "²",  # isdigit() but not int()
        "١٢",  # Arabic-Indic: int() reads it as 12
        "\uff15",  # full-width 5
        "1²",
        "",
        " ",
        "+5",
        "-5",  # no negatives here
        "-0",
        "1 0",
        "1_000",
        "0x10",
        "1e3",
        "1.0",
        "9" * 5000,  # past int()'s own limit: a 400, not a ValueError
        str(INT64_MAX + 1),
        " 5",  # only a form's field is trimmed
        "5\n",
        "\u00a05",
    ],
)
def test_refused_with_the_field_named(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_whole(text, "limit")
    assert caught.value.param == "limit" and caught.value.status == 400
    assert "'limit'" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("007", 7), (str(INT64_MAX), INT64_MAX), ("0" * 5000 + "42", 42)],
)
def test_ascii_digits_are_read(text: str, expected: int) -> None:
    assert parse_whole(text, "n") == expected


def test_a_sign_only_where_negatives_mean_something() -> None:
    assert parse_whole("-12", "amount_micros", minimum=-100) == -12
    assert parse_whole("-0", "amount_micros", minimum=-100) == 0
    for text in ("--1", "-", "+1", "- 1", "-²", "-101"):
        with pytest.raises(InvalidRequest):
            parse_whole(text, "amount_micros", minimum=-100, maximum=100)


def test_a_form_field_loses_ascii_white_space_around_it_only() -> None:
    assert parse_whole(" \t42\r\n", "grace", form=True) == 42
    for text in ("4 2", "\u00a042", "42\u3000", " "):
        with pytest.raises(InvalidRequest):
            parse_whole(text, "grace", form=True)


def test_each_field_has_its_bound() -> None:
    assert parse_whole("1000", "priority", maximum=1000) == 1000
    with pytest.raises(InvalidRequest, match="from 0 to 1000"):
        parse_whole("1001", "priority", maximum=1000)
    with pytest.raises(InvalidRequest):
        parse_whole("0", "grant_id", minimum=1)


@pytest.mark.parametrize("value", [True, 1.0, "5", None, [5], 2**63])
def test_a_json_field_must_be_a_json_integer_within_bounds(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        json_whole(value, "quantity")
    assert caught.value.param == "quantity"
    assert json_whole(5, "quantity") == 5


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.integers(-(2**70), 2**70), st.integers(0, 2**70))
def test_accepted_exactly_when_ascii_digits_within_bounds(text: str, low: int, span: int) -> None:
    """Any text: either the ASCII reading of it within [low, low + span], or a 400."""
    high = low + span
    fits = ASCII_WHOLE.fullmatch(text) is not None and (low < 0 or not text.startswith("-"))
    expected = int(text) if fits else None
    try:
        got = parse_whole(text, "f", minimum=low, maximum=high)
    except InvalidRequest as exc:
        assert exc.param == "f"
        assert expected is None or not low <= expected <= high
    else:
        assert got == expected and low <= got <= high
