"""The operators' money forms read their single-use token and reason safely: a NUL (which
PostgreSQL cannot store) is a refusal, not a 500 (the forms fuzz found it on the credit
form)."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from gateway.errors import InvalidRequest, PermissionDenied
from gateway.http.dashboard.form_tokens import EXPIRED, token_of
from gateway.http.dashboard.operators.money import _reason


@pytest.mark.parametrize("token", ["\x00", "a\x00b" * 8, "k" * 65, " " * 20, "", "short"])
def test_a_malformed_token_is_an_expired_form(token: str) -> None:
    with pytest.raises(PermissionDenied) as refused:
        token_of(MultiDict({"form_token": token}))
    assert refused.value.message == EXPIRED


def test_a_reason_with_a_nul_is_refused_and_none_is_none() -> None:
    with pytest.raises(InvalidRequest) as refused:
        _reason(MultiDict({"reason": "promo\x00"}))
    assert refused.value.param == "reason"
    assert _reason(MultiDict({"reason": "  "})) == ""
    assert _reason(MultiDict({"reason": " promo "})) == "promo"
    assert token_of(MultiDict({"form_token": "Ab-_" * 6})) == "Ab-_" * 6
