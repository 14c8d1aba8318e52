"""`meterway rebuild` writes back to Redis what organizations keep in PostgreSQL: the
end-user budgets (the account's default, an end user's own) and each key's team with the
team's quotas, so a lost Redis enforces the same budgets."""

from __future__ import annotations

from billing.money.quotas import Quota, encode_quotas
from gateway.ops.rebuild import rebuild
from gateway.services.auth import new_id
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.stores.connect import Stores
from gateway.stores.redis.keys import shard_of
from tests.integration.test_rebuild_metering import PLANS
from tests.support.harness import REDIS_URL, drop_prefix
from tests.support.replies import present

HOUR = (Quota("hour", "requests", 3),)
DAY = (Quota("day", "tokens", 1_000),)


async def test_rebuild_restores_end_user_budgets_and_key_teams(stores: Stores) -> None:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    issued = await issue_key(stores.ledger, stores.store, acct, KeySpec("k"))
    budgets, teams = stores.end_user_budgets(), stores.teams()
    await budgets.put(acct, "", "", HOUR)
    await budgets.put(acct, "", "vip", DAY)
    team = await teams.create(acct, "research", DAY)
    await teams.set_key_team(issued.key_id, team["id"])

    await drop_prefix(REDIS_URL, stores.store.keys.prefix)  # Redis lost everything
    await rebuild(stores, PLANS)

    keys, redis, s = stores.store.keys, stores.redis, shard_of(acct)
    account = await redis.hmget(keys.account(s, acct), ["uq", "u:vip"])
    assert [present(v).decode() for v in account] == [encode_quotas(HOUR), encode_quotas(DAY)]
    key = await redis.hmget(keys.api_key(s, issued.key_id), ["tm", "tq"])
    assert [present(v).decode() for v in key] == [team["id"], encode_quotas(DAY)]
