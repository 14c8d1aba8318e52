"""Every state a change must keep, as a property: a key's pause, revocation, expiry and
rotation survive every other change to it (limits, scopes, team, rotation, a lost Redis
rebuilt from PostgreSQL). Only the one action meant to lift a refusal lifts it: `resume`
for a pause; nothing for a revocation or an expiry.

Random sequences of changes go through the services the account and operator APIs call,
on real PostgreSQL and Redis; after each, every secret of the key is asked of the reserve
script, and the pauses the dashboard reads are compared, against a model written from
docs/guides/anomalies.md and docs/concepts/keys-and-quotas.md. The sequences are drawn by
hypothesis, the same ones every run (derandomized): a failure names the sequence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.grants import Grant
from billing.money.admission import KeyRefused
from billing.money.quotas import Quota
from gateway.ops.rebuild import rebuild
from gateway.services.auth import new_id
from gateway.services.keys.life_cycle import grant_of_key, revoke_key, rotate_key, set_key_grant
from gateway.services.keys.life_cycle import set_key_quotas as set_quotas
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.services.keys.teams import assign_key
from gateway.services.trust import key_pauses
from gateway.stores.connect import Stores
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import KeyRecord
from tests.integration.test_rebuild_metering import PLANS
from tests.support.harness import REDIS_URL, drop_prefix

CHANGES = ["quotas", "narrow", "team", "untie", "rotate", "rebuild", "pause", "resume", "revoke"]
STEPS = st.lists(
    st.tuples(st.sampled_from(CHANGES), st.integers(0, 7), st.integers(1, 9)),
    min_size=1,
    max_size=12,
)


def drawn(n: int) -> list[list[tuple[str, int, int]]]:
    found: list[list[tuple[str, int, int]]] = []

    @settings(max_examples=n, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(STEPS)
    def draw(steps: list[tuple[str, int, int]]) -> None:
        found.append(steps)

    draw()
    return found


@dataclass
class Model:
    """What the docs say each secret's state is."""

    account: str
    secrets: list[str]  # the key's secrets, the newest (current) last
    paused: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    flags: int = 0

    def refusal(self, key_id: str) -> str | None:
        if key_id in self.revoked:
            return "key_revoked"
        if key_id in self.paused:
            return "key_paused"
        return "key_expired" if key_id in self.expired else None


async def _refusal(stores: Stores, acct: str, key_id: str) -> str | None:
    record = KeyRecord(key_id, acct, shard_of(acct), "k", (), (), None, ())
    decision = await stores.store.reserve(
        new_id("req"), record, input_tokens=0, max_output_tokens=0, spend_micros=0, mode="key"
    )
    return decision.reason if isinstance(decision, KeyRefused) else None


async def _flag(stores: Stores, m: Model, key_id: str) -> None:
    """The detector's action on a flag of an opted-in key (workers/anomalies.py)."""
    anomalies = stores.anomalies()
    m.flags += 1
    hour = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=m.flags)
    row = await anomalies.record(
        {"account_id": m.account, "key_id": key_id, "scope": "key", "scope_id": key_id,
         "rule": "rate", "window_start": hour, "window_end": hour, "figures": {},
         "request_ids": [], "summary": "test"},
        pause=True,
    )  # fmt: skip
    assert row is not None
    if row["paused"]:
        await key_pauses.pause(anomalies, stores.store, key_id, m.account)
    assert row["paused"] is (key_id not in m.revoked | m.paused)
    if key_id not in m.revoked:
        m.paused.add(key_id)


async def _row(stores: Stores, key_id: str) -> dict[str, object]:
    row = await stores.ledger.get_key(key_id)
    assert row is not None
    return dict(row)


async def _change(stores: Stores, m: Model, step: tuple[str, int, int]) -> None:
    kind, pick, n = step
    key_id = m.secrets[-1] if kind in ("rotate", "pause") else m.secrets[pick % len(m.secrets)]
    row = await _row(stores, key_id)
    if kind == "quotas":
        await set_quotas(stores.ledger, stores.store, row, (Quota("day", "requests", n * 100),))
    elif kind == "narrow":
        held = grant_of_key(row)
        scopes = frozenset(sorted(held.scopes)[: 1 + n % max(1, len(held.scopes))])
        await set_key_grant(stores.ledger, stores.store, row, _with_scopes(held, scopes))
    elif kind in ("team", "untie"):
        name = f"t{len(m.secrets)}-{m.flags}-{n}-{new_id('x')}"
        team = await stores.teams().create(m.account, name, ()) if kind == "team" else None
        await assign_key(stores.teams(), stores.store, row, team)
    elif kind == "rotate" and key_id not in m.revoked:
        org = (stores.teams(), stores.end_user_budgets())
        issued = await rotate_key(stores.ledger, stores.store, stores.directory(), row, 0, org)
        m.expired.add(key_id)  # no grace: the old secret ends now
        m.secrets.append(issued.key_id)  # a pause belongs to the secret that ran away
    elif kind == "rebuild":
        await drop_prefix(REDIS_URL, stores.store.keys.prefix)
        await rebuild(stores, PLANS)
    elif kind == "pause":
        await _flag(stores, m, key_id)
    elif kind == "resume":
        lifted = await key_pauses.resume(stores.anomalies(), stores.store, key_id, m.account)
        assert lifted is (key_id in m.paused)
        m.paused.discard(key_id)
    elif kind == "revoke":
        await revoke_key(stores.ledger, stores.store, row)
        m.revoked.add(key_id)


def _with_scopes(held: Grant, scopes: frozenset[str]) -> Grant:
    return Grant(scopes, held.models, held.quotas, held.expires_at_ms, held.providers)


async def test_a_refusal_holds_until_the_one_action_meant_to_lift_it(own: Stores) -> None:
    anomalies = own.anomalies()
    for steps in drawn(40):
        acct = new_id("acct")
        await own.ledger.create_account(acct, acct, "pro", "prepaid")
        await own.store.put_account(
            acct, plan="pro", mode="prepaid", billing_ready=True, quotas=(), markup_bps=0
        )
        await anomalies.set_opt_in(acct, "", True)
        spec = KeySpec("k", scopes=("chat", "embeddings", "keys:write"))
        issued = await issue_key(own.ledger, own.store, acct, spec)
        m = Model(acct, [issued.key_id])
        for i, step in enumerate(steps):
            await _change(own, m, step)
            seen = {k: await _refusal(own, acct, k) for k in m.secrets}
            assert seen == {k: m.refusal(k) for k in m.secrets}, (steps[: i + 1], seen)
            assert set(await anomalies.paused(m.secrets)) == m.paused, steps[: i + 1]
