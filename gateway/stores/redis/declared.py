"""Declaring, through KEYS, every quota counter a reserve may touch.

Redis Cluster (and the scripting contract) wants each key a script touches passed in KEYS,
but which counters a reserve touches depends on the quota specs stored in the key and
account hashes, and a calendar counter's name on the period, which the script computes from
Redis's clock. So this process keeps what it last saw of each spec and of Redis's clock, and
declares the names they imply (both periods when the clock is within GRACE_MS of a
boundary). A script that meets a name it was not given touches nothing and answers
`undeclared` with the current specs and its clock; the store learns them and calls again.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, TypeVar

from billing.money.end_users import INVALID
from billing.money.quotas import WINDOW_BY_CODE
from billing.money.windows import calendar_period
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import Keys
from gateway.stores.redis.wire.replies import Specs

GRACE_MS = 2_000
SLIDING_CODES = frozenset({"mi", "h"})
CACHE_SIZE = 100_000
_K = TypeVar("_K")
_V = TypeVar("_V")


@lru_cache(maxsize=4096)
def spec_codes(spec: str) -> tuple[tuple[str, str], ...]:
    """(window code, metric code) of each quota in an encoded spec ("mi:r:60;d:t:1000")."""
    return tuple((w, m) for w, m, _ in (part.split(":") for part in spec.split(";") if part))


def counter_names(
    keys: Keys, owner: tuple[int, str, str], spec: str, now_ms: int, offset_ms: int
) -> tuple[list[str], int | None]:
    """Names reserve.lua may build for one owner (shard, scope 'a'|'k', id) around now, and
    until when (ms) they stay right: the first period boundary past now + GRACE_MS, less it."""
    shard, scope, owner_id = owner
    out, until = [], None
    for w, m in spec_codes(spec):
        base = keys.counter(shard, scope, owner_id, f"{w}:{m}")
        if w in SLIDING_CODES:
            out.append(base)
            continue
        window = WINDOW_BY_CODE[w]
        early = calendar_period(window, now_ms - GRACE_MS, offset_ms)[0]
        late, reset = calendar_period(window, now_ms + GRACE_MS, offset_ms)
        out.extend(Keys.period_counter(base, p) for p in sorted({early, late}))
        if reset is not None:
            until = reset - GRACE_MS if until is None else min(until, reset - GRACE_MS)
    return out, until


class Declarations:
    """This process's view of quota specs and of Redis's clock, corrected on every miss.

    The names for a key are kept until a period boundary could change them, so the hot
    path computes them about once a day per key, not once a request; an end user's, once a
    day per end user with a budget. An end user's budget is guessed as Redis chooses it
    (its own, else the key's default, else the account's): a guess that misses a counter is
    answered `undeclared` and corrected like a spec.
    """

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        # (scope, id) -> encoded spec: 'k' key, 'a' account, 't' team, 'uk' / 'ua' their
        # end-user defaults, 'u' an end user's own ('<account>:<end user>'); ('tm', key
        # id) -> the key's team; ('an', key id) -> its ancestors as Redis last told them
        self._specs: dict[tuple[str, str], str] = {}
        # (key id, account id) -> names; a metered hold on an account by id has key id ''
        self._names: dict[tuple[str, str], tuple[int, int, tuple[str, ...]]] = {}
        # (end user owner, spec) -> (valid until, offset, names)
        self._end_users: dict[tuple[str, str], tuple[int, int, tuple[str, ...]]] = {}
        # (key id, account id, end user) -> (valid until, offset, every name, the key's
        # entry in _names it was made with: a newer one there makes it stale)
        self._with_end_user: dict[tuple[str, str, str], tuple[int, int, tuple[str, ...], Any]] = {}
        self._ancestors: dict[str, tuple[str, ...]] = {}  # key id -> as Redis told them
        self._skew_ms = 0

    def names(self, key: KeyRecord, offset_ms: int, end_user: str = "") -> tuple[str, ...]:
        now = int(time.time() * 1000) + self._skew_ms
        ids = (key.key_id, key.account_id)
        hit = self._names.get(ids)
        if end_user and end_user != INVALID:
            both = self._with_end_user.get((*ids, end_user))
            if both is not None and both[0] > now and both[1] == offset_ms and both[3] is hit:
                return both[2]
        if hit is not None and hit[0] > now and hit[1] == offset_ms:
            out = hit[2]
        else:
            out = self._owner_names(key, now, offset_ms)
        if not end_user or end_user == INVALID:
            return out
        own, valid = self._end_user_names(key, end_user, now, offset_ms)
        base = self._names[ids]
        every = (min(base[0], valid), offset_ms, out + own, base)
        _keep(self._with_end_user, (*ids, end_user), every)
        return every[2]

    def _owner_names(self, key: KeyRecord, now: int, offset_ms: int) -> tuple[str, ...]:
        ancestors = self._ancestors.get(key.key_id, key.ancestors)
        out = [self.keys.api_key(key.shard, a) for a in ancestors]
        valid = now + 86_400_000
        owners = [("k", key.key_id), ("a", key.account_id), *(("k", a) for a in ancestors)]
        team = self._specs.get(("tm", key.key_id))
        if team:
            owners.append(("t", team))
        for scope, owner_id in owners:
            spec = self._specs.get((scope, owner_id), "")
            names, until = counter_names(
                self.keys, (key.shard, scope, owner_id), spec, now, offset_ms
            )
            out += names
            valid = valid if until is None else min(valid, until)
        _keep(self._names, (key.key_id, key.account_id), (valid, offset_ms, tuple(out)))
        return tuple(out)

    def _end_user_names(
        self, key: KeyRecord, end_user: str, now: int, offset_ms: int
    ) -> tuple[tuple[str, ...], int]:
        """The end user's counters and until when they stay right."""
        owner = Keys.end_user_owner(key.account_id, end_user)
        specs = self._specs
        spec = (
            specs.get(("u", owner))
            or specs.get(("uk", key.key_id))
            or specs.get(("ua", key.account_id))
        )
        if not spec:
            return (), now + 86_400_000
        hit = self._end_users.get((owner, spec))
        if hit is not None and hit[0] > now and hit[1] == offset_ms:
            return hit[2], hit[0]
        names, until = counter_names(self.keys, (key.shard, "u", owner), spec, now, offset_ms)
        valid = now + 86_400_000 if until is None else until
        _keep(self._end_users, (owner, spec), (valid, offset_ms, tuple(names)))
        return tuple(names), valid

    def _learn_ancestors(self, key: KeyRecord, told: str) -> None:
        """The keys the key was minted under and their specs (reserve.lua's `id=spec,...`;
        `?` when it could not read one, whose hash is declared next time)."""
        ids = []
        for part in told.split(",") if told else ():
            ancestor, _, spec = part.partition("=")
            ids.append(ancestor)
            if spec != "?":
                self._specs[("k", ancestor)] = spec
        if tuple(ids) != key.ancestors:
            _keep(self._ancestors, key.key_id, tuple(ids))
        else:
            self._ancestors.pop(key.key_id, None)

    def learn_clock(self, redis_now_ms: int) -> None:
        self._skew_ms = redis_now_ms - int(time.time() * 1000)

    def learn_specs(self, key: KeyRecord, specs: Specs, end_user: str = "") -> None:
        """After a miss: the specs Redis holds now (the clock was learnt just before)."""
        if len(self._specs) >= CACHE_SIZE:
            self._specs.clear()
        self._specs[("k", key.key_id)] = specs.key
        self._specs[("a", key.account_id)] = specs.account
        self._specs[("uk", key.key_id)] = specs.key_end_user
        self._specs[("ua", key.account_id)] = specs.account_end_user
        self._specs[("tm", key.key_id)] = specs.team
        if specs.team:
            self._specs[("t", specs.team)] = specs.team_quotas
        self._learn_ancestors(key, specs.ancestors)
        if end_user and end_user != INVALID:
            owner = ("u", Keys.end_user_owner(key.account_id, end_user))
            if specs.end_user:
                self._specs[owner] = specs.end_user
            else:
                self._specs.pop(owner, None)
            self._with_end_user.pop((key.key_id, key.account_id, end_user), None)
        self._names.pop((key.key_id, key.account_id), None)


def _keep(cache: dict[_K, _V], key: _K, value: _V) -> None:
    """A full cache starts over: a miss makes its names again."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
