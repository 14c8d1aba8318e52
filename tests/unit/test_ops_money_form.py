"""The operators' money forms read their idempotency key and reason as the API reads them:
a NUL (which PostgreSQL cannot store) is a 400 naming the field, not a 500 (the forms fuzz
found it on the credit form)."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from gateway.errors import InvalidRequest
from gateway.http.dashboard.ops_money import _key, _reason


@pytest.mark.parametrize("key", ["\x00", "a\x00b", "k" * 201, " "])
def test_a_key_the_api_refuses_the_form_refuses(key: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        _key(MultiDict({"idempotency_key": key}))
    assert refused.value.param == "idempotency_key"


def test_a_reason_with_a_nul_is_refused_and_none_is_none() -> None:
    with pytest.raises(InvalidRequest) as refused:
        _reason(MultiDict({"reason": "promo\x00"}))
    assert refused.value.param == "reason"
    assert _reason(MultiDict({"reason": "  "})) == ""
    assert _reason(MultiDict({"reason": " promo "})) == "promo"
    assert _key(MultiDict({"idempotency_key": "form-1"})) == "form-1"
