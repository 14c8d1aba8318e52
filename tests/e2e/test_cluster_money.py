"""The end-to-end money tests again, on a real Redis Cluster (3 masters, 3 replicas).

The tests are the same functions as in their own modules, imported here so they run a
second time: the module's `gw` fixture overrides the suite's with a gateway whose every
part (hot-path scripts, settler, sweeper, readiness, admin reads) talks to the cluster.
Covered: reserve/settle/ledger, 402 and 429 refusals, quotas, streaming, the 200-way races
for credit and for quota, metered holds expired by the sweeper, and a flushed cluster
refusing until `rebuild` (then `reconcile` finds no drift); each with leases off and on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.test_core_flow import (
    test_chat_completion_is_debited_exactly,
    test_upstream_failure_is_not_billed,
)
from tests.e2e.test_metering import (
    test_concurrent_authorizations_race_for_the_last_credit,
    test_expiry_charges_or_voids_per_meter,
)
from tests.e2e.test_proxy_api import (
    test_200_concurrent_requests_never_spend_credit_that_is_not_there,
)
from tests.e2e.test_quotas import (
    test_insufficient_balance_names_what_it_can_afford,
    test_key_quota_change_is_immediate,
    test_ratelimit_headers_decrease_plain_and_streaming,
    test_sdk_does_not_retry_a_quota_that_resets_tomorrow,
)
from tests.e2e.test_quotas_windows import (
    test_200_concurrent_requests_never_overshoot,
    test_settlement_replaces_the_reserved_amount_with_the_actual,
)
from tests.e2e.test_streaming import (
    test_stream_is_billed_from_the_usage_chunk_which_stays_hidden,
    test_stream_without_usage_is_billed_from_counted_tokens,
)
from tests.fault.test_redis_flush import test_flushed_redis_refuses_until_rebuild
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.redis_cluster import RedisCluster

__all__ = [
    "test_200_concurrent_requests_never_overshoot",
    "test_200_concurrent_requests_never_spend_credit_that_is_not_there",
    "test_chat_completion_is_debited_exactly",
    "test_concurrent_authorizations_race_for_the_last_credit",
    "test_expiry_charges_or_voids_per_meter",
    "test_flushed_redis_refuses_until_rebuild",
    "test_insufficient_balance_names_what_it_can_afford",
    "test_key_quota_change_is_immediate",
    "test_ratelimit_headers_decrease_plain_and_streaming",
    "test_sdk_does_not_retry_a_quota_that_resets_tomorrow",
    "test_settlement_replaces_the_reserved_amount_with_the_actual",
    "test_stream_is_billed_from_the_usage_chunk_which_stays_hidden",
    "test_stream_without_usage_is_billed_from_counted_tokens",
    "test_upstream_failure_is_not_billed",
]


@pytest.fixture(params=["0", "1"], ids=["per-request", "leases"])
async def gw(
    dsn: str, redis_cluster: RedisCluster, request: pytest.FixtureRequest
) -> AsyncIterator[Gateway]:
    # SELF_RESTORE=0: the flushed-cluster test checks the refusal until `rebuild`; with the
    # gateway's own restorer on, the cluster would be restored under it. Each test runs
    # with calls reserved one by one, and again with busy keys' calls leased (LEASES=1).
    async with running_gateway(
        dsn, REDIS_CLUSTER_URLS=redis_cluster.urls, SELF_RESTORE="0", LEASES=request.param
    ) as gateway:
        assert gateway.settings.redis_cluster, "the gateway must run in cluster mode"
        yield gateway
        await gateway.settle_all()


async def test_readiness_checks_every_shard_on_the_cluster(gw: Gateway) -> None:
    operator = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with gw.http.get(gw.url + "/readyz", headers=operator) as r:
        body = await r.json()
    assert (r.status, body["redis"], body["redis_consistent"]) == (200, True, True), body
    # One shard's ready marker gone (EXISTS over 64 slots is split per slot): not ready.
    await gw.store.redis.delete(gw.store.keys.ready(63))
    async with gw.http.get(gw.url + "/readyz", headers=operator) as r:
        body = await r.json()
    assert (r.status, body["redis_consistent"]) == (503, False), body
    await gw.store.mark_ready()
