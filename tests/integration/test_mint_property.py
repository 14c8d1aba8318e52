"""The one mint's promise, as a property: whatever a creator holds and whatever it asks for,
on every path that makes a credential (an account key, an auth token, a login, a Realtime
client secret, an MCP session, an invitation, a service key), the credential is no wider
than its creator in any dimension and is made only with the path's right; and what is
within the creator, with the right, is made (the rule refuses nothing it allows).

Containment is judged here by `contained`, written from the docs' definition rather than
from billing/grants.py, so a bug shared by the mint and its checker still fails. Keys are
minted for real (PostgreSQL and Redis) and read back from both. The cases are drawn by
hypothesis, the same ones every run (derandomized): a failure names the case to replay."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.grants import MCP_SCOPE, PROXY_SCOPES, Grant
from billing.money.quotas import Quota
from billing.roles import ROLES, may_grant
from gateway.errors import PermissionDenied
from gateway.services.keys.life_cycle import grant_of_key
from gateway.services.keys.mint import (
    Creator,
    KeyStores,
    Right,
    invitation,
    key_creator,
    mcp_session,
    mint_key,
    operator,
    realtime_secret,
    within,
)
from gateway.services.keys.provisioning import KeySpec
from gateway.services.keys.service import SERVICE
from gateway.stores.connect import Stores
from gateway.stores.records import KeyRecord, Lineage
from gateway.stores.redis.records import decode_key_record
from tests.integration.conftest import make_holder

SCOPES = ["chat", "embeddings", "realtime", "keys:write", "org:write", "account:read",
          "mcp", "mcp:tools", "mcp:tools:search", "mcp:other"]  # fmt: skip
MODELS = ["gpt-4o-mini", "gpt-realtime", "o1"]
PROVIDERS = ["openai", "anthropic"]
RIGHTS = [r.value for r in Right] + ["mcp:tools"]
EVERYTHING = PROXY_SCOPES | {MCP_SCOPE}
NOW_MS = int(time.time() * 1000)
DAY_MS = 86_400_000


def _subset(pool: list[str]) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(pool), max_size=len(pool))


QUOTAS = st.lists(
    st.builds(
        Quota,
        st.sampled_from(["hour", "day"]),
        st.sampled_from(["requests", "spend_micros"]),
        st.integers(1, 5),
    ),
    max_size=3,
    unique_by=lambda q: (q.window, q.metric),
).map(tuple)
EXPIRY = st.one_of(st.none(), st.integers(1, 30).map(lambda d: NOW_MS + d * DAY_MS))
GRANTS = st.builds(Grant, _subset(SCOPES), _subset(MODELS), QUOTAS, EXPIRY, _subset(PROVIDERS))


@dataclass(frozen=True)
class Case:
    path: str
    holds: Grant
    rights: frozenset[str]
    asked: Grant
    role: str
    granter: str


CASES = st.builds(
    Case,
    st.sampled_from(["key", "token", "login", "realtime", "mcp", "invite", "service"]),
    GRANTS,
    _subset(RIGHTS),
    GRANTS,
    st.sampled_from(ROLES),
    st.sampled_from(ROLES),
)


def drawn(n: int) -> list[Case]:
    found: list[Case] = []

    @settings(max_examples=n, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(CASES)
    def draw(case: Case) -> None:
        found.append(case)

    draw()
    return found


def _scope_held(held: frozenset[str], scope: str) -> bool:
    parts = scope.split(":")
    wider = {"mcp", f"mcp:{parts[1]}"} if parts[0] == "mcp" and len(parts) > 1 else set()
    return scope in held or bool(wider & held)


def _pinned(parent: frozenset[str], child: frozenset[str]) -> bool:
    """Models or providers: empty is every one."""
    return not parent or (bool(child) and child <= parent)


def contained(p: Grant, c: Grant) -> bool:
    """`c` no wider than `p` in every dimension, from the docs (keys-and-quotas.md)."""
    scopes = all(_scope_held(p.scopes, s) for s in c.scopes) and bool(
        c.scopes or p.scopes >= EVERYTHING
    )
    quotas = all(
        any((q.window, q.metric) == (k.window, k.metric) and k.limit <= q.limit for k in c.quotas)
        for q in p.quotas
    )
    expiry = p.expires_at_ms is None or (
        c.expires_at_ms is not None and c.expires_at_ms <= p.expires_at_ms
    )
    return (
        scopes
        and quotas
        and expiry
        and _pinned(p.models, c.models)
        and _pinned(p.providers, c.providers)
    )


def _open_filled(holds: Grant, asked: Grant) -> Grant:
    """What the docs say an open request means: no models, every model the creator may use
    (likewise providers)."""
    return replace(
        asked, models=asked.models or holds.models, providers=asked.providers or holds.providers
    )


def _record(case: Case, account_id: str) -> KeyRecord:
    scopes = tuple(sorted(case.holds.scopes))
    models = tuple(sorted(case.holds.models))
    providers = tuple(sorted(case.holds.providers))
    return KeyRecord("key_x", account_id, 0, "k", scopes, models, None, providers)


async def _key_path(stores: Stores, case: Case, account_id: str) -> Grant | None:
    right = Right.LOGIN if case.path == "login" else Right.KEY
    creator = Creator(account_id, case.holds, case.rights, Lineage("person", "sub:p"))
    ms = case.asked.expires_at_ms
    expires = None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
    spec = KeySpec(
        "p",
        tuple(sorted(case.asked.scopes)),
        tuple(sorted(case.asked.models)),
        case.asked.quotas,
        None,
        expires,
        tuple(sorted(case.asked.providers)),
    )
    ports = KeyStores(stores.ledger, stores.store, stores.teams(), stores.end_user_budgets())
    try:
        issued = await mint_key(ports, creator, spec, right, token=case.path == "token")
    except PermissionDenied:
        return None
    row = await stores.ledger.get_key(issued.key_id)
    assert row is not None
    raw = await stores.store.redis.get(stores.store.keys.directory(row["key_hash"]))
    assert raw is not None
    cached = decode_key_record(raw)
    assert (cached.scopes, cached.models, cached.providers) == (
        tuple(row["scopes"]), tuple(row["models"]), tuple(row["providers"])
    )  # fmt: skip
    return grant_of_key(row)


def _key_asked(case: Case) -> tuple[Grant, bool]:
    """What a key-creating path asks, and whether the creator holds its right."""
    right = Right.LOGIN if case.path == "login" else Right.KEY
    return _open_filled(case.holds, case.asked), right.value in case.rights


def _short_lived(case: Case, account_id: str) -> tuple[Grant | None, Grant, Grant, bool]:
    """A Realtime secret or an MCP session the key `case.holds` makes: (made or None,
    what it asked, what the key holds, whether the key holds the right)."""
    record = _record(case, account_id)
    holds = key_creator(record).holds
    if case.path == "realtime":
        model = min(case.asked.models, default="")
        asked = Grant(frozenset({"realtime"}), frozenset({model} if model else ()))
        right = "realtime" in holds.scopes
    else:
        tools = frozenset(s for s in holds.scopes if s.startswith("mcp:tools:"))
        whole = _scope_held(holds.scopes, "mcp:tools")
        asked = Grant(frozenset({"mcp:tools"}) if whole or not tools else tools, frozenset())
        right = whole or bool(tools)
    try:
        if case.path == "realtime":
            made: Grant | None = realtime_secret(record, min(asked.models, default=""))
        else:
            made = mcp_session(record, "tools")
    except PermissionDenied:
        made = None
    return made, _open_filled(holds, asked), holds, right


async def test_no_path_mints_wider_than_its_creator_nor_refuses_what_is_within(
    stores: Stores,
) -> None:
    h = await make_holder(stores)
    counts = {"made": 0, "refused": 0}
    for case in drawn(250):
        made: Grant | None
        if case.path in ("key", "token", "login"):
            asked, right = _key_asked(case)
            holds = case.holds
            made = await _key_path(stores, case, h.account_id)
        elif case.path in ("realtime", "mcp"):
            made, asked, holds, right = _short_lived(case, h.account_id)
        elif case.path == "invite":
            creator = Creator(h.account_id, case.holds, case.rights)
            allowed = "org:write" in case.rights and may_grant(case.granter, case.role)
            try:
                invitation(creator, case.granter, case.role)
                assert allowed, case
                counts["made"] += 1
            except PermissionDenied:
                assert not allowed, case
                counts["refused"] += 1
            continue
        else:
            creator = (
                operator(h.account_id)
                if "operator" in case.rights
                else Creator(h.account_id, case.holds, case.rights)
            )
            try:
                within(creator, SERVICE, Right.OPERATOR)
                assert creator.everything, case
                counts["made"] += 1
            except PermissionDenied:
                assert not creator.everything, case
                counts["refused"] += 1
            continue
        if made is None:
            assert not (right and contained(holds, asked)), case
            counts["refused"] += 1
        else:
            assert right and contained(holds, made), (case, made)
            counts["made"] += 1
    assert min(counts.values()) >= 25, counts  # both sides of the rule were exercised
