"""The end-to-end money tests again with busy keys' calls admitted under leases (LEASES=1,
stores/redis/leases/process.py), on one Redis: the same functions as in their own modules, imported
here so they run a second time with this module's `gw` fixture. The cluster runs them with
leases too (test_cluster_money.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.test_core_flow import (
    test_chat_completion_is_debited_exactly,
    test_upstream_failure_is_not_billed,
)
from tests.e2e.test_proxy_api import (
    test_200_concurrent_requests_never_spend_credit_that_is_not_there,
)
from tests.e2e.test_quotas import (
    test_insufficient_balance_names_what_it_can_afford,
    test_key_quota_change_is_immediate,
    test_ratelimit_headers_decrease_plain_and_streaming,
)
from tests.e2e.test_quotas_windows import (
    test_200_concurrent_requests_never_overshoot,
    test_settlement_replaces_the_reserved_amount_with_the_actual,
)
from tests.e2e.test_streaming import (
    test_stream_is_billed_from_the_usage_chunk_which_stays_hidden,
    test_stream_without_usage_is_billed_from_counted_tokens,
)
from tests.support.harness import Gateway, running_gateway

__all__ = [
    "test_200_concurrent_requests_never_overshoot",
    "test_200_concurrent_requests_never_spend_credit_that_is_not_there",
    "test_chat_completion_is_debited_exactly",
    "test_insufficient_balance_names_what_it_can_afford",
    "test_key_quota_change_is_immediate",
    "test_ratelimit_headers_decrease_plain_and_streaming",
    "test_settlement_replaces_the_reserved_amount_with_the_actual",
    "test_stream_is_billed_from_the_usage_chunk_which_stays_hidden",
    "test_stream_without_usage_is_billed_from_counted_tokens",
    "test_upstream_failure_is_not_billed",
]


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, LEASES="1") as gateway:
        yield gateway
        await gateway.settle_all()
