"""End-user ids are bounded before they name Redis keys; end-user budgets must expire."""

from __future__ import annotations

import pytest

from billing.money.end_users import (
    INVALID,
    MAX_LENGTH,
    check_end_user_id,
    end_user_id,
    parse_end_user_quotas,
)
from billing.money.quotas import Quota, QuotaSpecError
from gateway.llm.reading.end_user import end_user_of


@pytest.mark.parametrize(
    "value", ["alice", "u-1", "alice+tag@example.com", "b64/AB==", "#7", "x" * MAX_LENGTH]
)
def test_ids_within_bounds_are_kept(value: str) -> None:
    assert end_user_id(value) == value == check_end_user_id(value)


@pytest.mark.parametrize(
    "value", ["a:b", "a|b", "John Smith", "x" * (MAX_LENGTH + 1), "é", "a\nb", 7, ["a"], {}]
)
def test_ids_out_of_bounds_are_marked_and_refused_to_operators(value: object) -> None:
    assert end_user_id(value) == INVALID
    with pytest.raises(QuotaSpecError, match="1 to 128 characters"):
        check_end_user_id(value)


def test_no_id_is_no_end_user() -> None:
    assert end_user_id(None) == end_user_id("") == ""


def test_the_header_wins_over_the_body() -> None:
    body = {"user": "from-body", "metadata": {"user_id": "from-metadata"}}
    assert end_user_of("openai", body, "from-header") == ("from-header", "x-meterway-end-user")
    assert end_user_of("openai", body, None) == ("from-body", "user")
    assert end_user_of("anthropic", body, None) == ("from-metadata", "metadata.user_id")
    assert end_user_of("anthropic", {"metadata": "x"}, None) == ("", "metadata.user_id")


def test_end_user_budgets_take_expiring_windows_only() -> None:
    ok = [{"window": "day", "metric": "requests", "limit": 10}]
    assert parse_end_user_quotas(ok) == (Quota("day", "requests", 10),)
    with pytest.raises(QuotaSpecError, match="not total"):
        parse_end_user_quotas([{"window": "total", "metric": "requests", "limit": 10}])
