"""Every retry's warning names its cause (issue 82): a store error made from a library error
that says nothing by itself (a bare TimeoutError) still names its kind."""

from __future__ import annotations

import pytest

from gateway.stores.errors import LedgerUnavailable
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.redis.errors import unavailable


def test_a_bare_timeout_from_redis_names_its_kind() -> None:
    assert str(unavailable(TimeoutError())) == "TimeoutError (no message)"


def test_a_silent_postgres_error_names_its_kind() -> None:
    silent = pytest.raises(LedgerUnavailable, match=r"^TimeoutError \(no message\)$")
    with silent, map_postgres_errors():
        raise TimeoutError  # an OSError: unreachable
