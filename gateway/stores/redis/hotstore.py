# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The Redis hot store: the only code that talks to Redis on the request path.

Kept whole: the hot store port's one implementation on the request path; its extensions
(leases, holds, money out, commitments) are modules of their own.

Every hot-path operation is one EVALSHA of a script loaded once at start-up. Every method
runs inside `map_redis_errors`, so callers see HotStoreUnavailable, never a Redis error,
and the HTTP layer can fail closed. This module holds the money: the key lookup and the
reserve, settle, extend, release, void and credit scripts. The same object's account and key
records are in `hot_records.py`, its clock and upkeep reads in `upkeep.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from billing.metering.usage import Usage
from billing.money.admission import Admitted, BalanceRefused, Decision, QuotaRefused
from gateway.config.settings import Settings
from gateway.stores.errors import HotStoreUnavailable
from gateway.stores.ports.hot import CLOSED, UNCOLLECTED
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.cache.entries import CacheEntries
from gateway.stores.redis.declared import Declarations
from gateway.stores.redis.errors import REDIS_FAILURES, map_redis_errors, unavailable
from gateway.stores.redis.holds.commitments import HotCommitments
from gateway.stores.redis.holds.lost import LostReservations
from gateway.stores.redis.holds.meters import MeterHolds
from gateway.stores.redis.holds.money_out import MoneyOutHolds
from gateway.stores.redis.hot_records import HotRecords
from gateway.stores.redis.keys import SHARDS, Keys, shard_of
from gateway.stores.redis.leases.process import Leases
from gateway.stores.redis.records import decode_key_record, decode_reservation
from gateway.stores.redis.wire.replies import decode_reserve_reply, undeclared
from gateway.stores.redis.wire.resp import ScriptWire
from gateway.stores.redis.wire.scripts import ScriptFn, load_script
from gateway.stores.stream_fields import encode_detail

# The value types, the error and CLOSED are re-exported for code written before
# `stores/records.py` and `stores/ports/`.
__all__ = ["CLOSED", "HotStore", "HotStoreUnavailable", "KeyRecord", "Settlement"]
DECLARE_ATTEMPTS = 3  # a cold spec cache, then a clock or spec change mid-call at worst
UNDECLARED = -1  # settle.lua: a held counter was not in KEYS, nothing changed
DEBITED, DEBITED_LATE = 1, 2  # settle.lua's other replies (and CLOSED, ports/hot.py)
TOMBSTONE_TTL_MS = 7 * 24 * 3600 * 1000
HELD_CACHE_SIZE = 100_000
NAMES_CACHE_SIZE = 100_000  # key names per key and per account, rebuilt when cleared


class HotStore(HotRecords):
    """Implements `stores.ports.HotStorePort` on one Redis (or Redis Cluster-ready layout)."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        *,
        reservation_ttl_s: float,
        timezone: str = "UTC",
        test_clock: bool = False,
        settlement_messages: str = "packed",
        wire: ScriptWire | None = None,
        end_users_max: int = 100_000,
        leases: bool = False,
    ) -> None:
        self.redis = client
        self.wire = wire
        self.keys = keys
        self._ttl_ms = str(int(reservation_ttl_s * 1000))
        self._zone = ZoneInfo(timezone)
        self._clock = "1" if test_clock else "0"
        self._end_users_max = str(end_users_max)  # reserve.lua's ARGV[14], with an end user
        self.clock_flag = self._clock  # reserve/settle ARGV: use the test clock (1/0)
        self._messages = settlement_messages  # settle.lua's ARGV[17]: packed | named
        self._reserve = load_script(client, "reserve", wire)
        self._settle = load_script(client, "settle", wire)
        self._extend = load_script(client, "extend", wire)
        self._credit = load_script(client, "credit")
        self._grant_end_script = load_script(client, "grant_end")
        self._tz_cache: tuple[int, str] = (0, "0")
        self._declared = Declarations(keys)
        self._held: dict[str, tuple[str, ...]] = {}  # request id -> counters it declared
        self._key_names: dict[tuple[str, str], tuple[str, ...]] = {}
        self._key_names_eu: dict[tuple[str, str], tuple[str, ...]] = {}
        self._account_names: dict[tuple[int, str], tuple[str, ...]] = {}
        self._counter_prefixes = tuple(keys.counters(shard) for shard in range(SHARDS))
        self.meters = MeterHolds(self)
        self.money_out = MoneyOutHolds(self)
        self.commitments = HotCommitments(self)
        self.lost = LostReservations(self)
        self.leases = Leases(self, enabled=leases)
        self.cache = CacheEntries(self)

    @classmethod
    def for_settings(
        cls, client: aioredis.Redis, settings: Settings, wire: ScriptWire | None = None
    ) -> HotStore:
        return cls(
            client,
            Keys(settings.redis_prefix),
            reservation_ttl_s=settings.reservation_ttl_s,
            timezone=settings.timezone,
            test_clock=settings.test_clock,
            settlement_messages=settings.settlement_messages,
            wire=wire,
            end_users_max=settings.end_users_max,
            leases=settings.leases,
        )

    @property
    def reservation_ttl_ms(self) -> str:
        return self._ttl_ms

    async def call(self, script: ScriptFn, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One script call, Redis's failures seen as HotStoreUnavailable."""
        return await self._call(script, keys, args)

    async def command(self, *args: Any) -> Any:
        """One command on one key, through the lean client when there is one."""
        return await self._command(*args)

    async def _call(self, script: ScriptFn, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await script(keys, args)
        except REDIS_FAILURES as exc:
            raise unavailable(exc) from exc

    async def lookup_key(self, key_hash: str) -> KeyRecord | None:
        with map_redis_errors():
            raw = await self._command("GET", self.keys.directory(key_hash))
        return None if raw is None else decode_key_record(raw)

    async def reserve(
        self,
        request_id: str,
        key: KeyRecord,
        *,
        input_tokens: int,
        max_output_tokens: int,
        spend_micros: int,
        requests: int = 1,
        mode: str = "",
        end_user: str = "",
    ) -> Decision:
        """`mode` "check" runs every check and reserves nothing; "key" checks only the key.
        `end_user` is `billing.money.end_users.end_user_id`'s. A busy key's plain call is
        admitted under a lease when leases are on (stores/redis/leases/process.py)."""
        if self.leases.enabled and not mode and not end_user and requests == 1:
            leased = await self.leases.admit(
                request_id, key, input_tokens, max_output_tokens, spend_micros
            )
            if leased is not None:
                return leased
        args: tuple[Any, ...] = (
            request_id,
            key.account_id,
            key.key_id,
            requests,
            input_tokens,
            max_output_tokens,
            spend_micros,
            self.tz_offset_ms(),
            self._ttl_ms,
            self._clock,
            self._counter_prefixes[key.shard],
            mode,
        )
        if end_user:  # only then the script takes the end user, its cap and live set
            args = (*args, end_user, self._end_users_max)
        reply, counters = await self.reserve_raw(key, args, end_user=end_user)
        decision = self.decided(reply, request_id, key, spend_micros, counters)
        if (
            self.leases.enabled
            and not mode
            and isinstance(decision, QuotaRefused | BalanceRefused)
            and await self.leases.reclaim(key)
        ):  # headroom leased unused may be back: asked once more
            reply, counters = await self.reserve_raw(key, args, end_user=end_user)
            decision = self.decided(reply, request_id, key, spend_micros, counters)
        return decision

    async def reserve_raw(
        self,
        key: KeyRecord,
        args: tuple[Any, ...],
        tail: tuple[str, ...] = (),
        end_user: str = "",
    ) -> tuple[Any, tuple[str, ...]]:
        """One reserve.lua call (again only when a counter was undeclared): its reply and
        the counters declared. `args` start as `reserve` builds them (with `end_user` and
        its cap when there is one); a metered hold adds its meter arguments and, in `tail`,
        its closed marker (meter_holds.py)."""
        fixed = self._reserve_keys_with_end_user(key) if end_user else self._reserve_keys(key)
        for _ in range(DECLARE_ATTEMPTS):
            counters = self._declared.names(key, int(args[7]), end_user)
            reply = await self._call(self._reserve, fixed + counters + tail, args)
            miss = undeclared(reply)
            if miss is None:
                return reply, counters
            self._declared.learn_clock(miss.now_ms)
            self._declared.learn_specs(key, miss, end_user)
        raise HotStoreUnavailable("quota specs changed on every reserve attempt")

    def _reserve_keys(self, key: KeyRecord) -> tuple[str, ...]:
        """reserve.lua's first KEYS, named once per key (formatted twice per request before)."""
        ids = (key.key_id, key.account_id)  # the shard follows from the account
        names = self._key_names.get(ids)
        if names is None:
            k, s = self.keys, key.shard
            names = (
                k.account(s, key.account_id),
                k.api_key(s, key.key_id),
                k.reservations(s),
                k.deadlines(s),
                k.ready(s),
                k.clock(s),
            )
            _keep(self._key_names, ids, names, NAMES_CACHE_SIZE)
        return names

    def _reserve_keys_with_end_user(self, key: KeyRecord) -> tuple[str, ...]:
        """reserve.lua's first KEYS and, with an end user, the account's live end users."""
        ids = (key.key_id, key.account_id)
        names = self._key_names_eu.get(ids)
        if names is None:
            live = self.keys.end_users_live(key.shard, key.account_id)
            names = (*self._reserve_keys(key), live)
            _keep(self._key_names_eu, ids, names, NAMES_CACHE_SIZE)
        return names

    def _close_keys(self, shard: int, account_id: str) -> tuple[str, ...]:
        """settle.lua's first KEYS but the request's own tombstone, named once per account."""
        names = self._account_names.get((shard, account_id))
        if names is None:
            k = self.keys
            names = (
                k.reservations(shard),
                k.deadlines(shard),
                k.account(shard, account_id),
                k.stream(shard),
                k.clock(shard),
            )
            _keep(self._account_names, (shard, account_id), names, NAMES_CACHE_SIZE)
        return names

    def decided(
        self, reply: Any, request_id: str, key: KeyRecord, held: int, counters: tuple[str, ...]
    ) -> Decision:
        decision = decode_reserve_reply(reply, request_id, key, held)
        if isinstance(decision, Admitted | QuotaRefused):
            self._declared.learn_clock(decision.now_ms)
        if isinstance(decision, Admitted) and counters:
            # A full cache starts over: closes then read the names from the record instead.
            _keep(self._held, request_id, counters, HELD_CACHE_SIZE)
        return decision

    async def _held_counters(self, shard: int, request_id: str) -> tuple[str, ...]:
        """The counters a reservation holds, from its record (another process made it), or
        from its void tombstone when it was voided before a late debit."""
        with map_redis_errors():
            raw = await self.redis.hget(self.keys.reservations(shard), request_id)
            if raw is None:
                raw = await self.redis.get(self.keys.voided(shard, request_id))
        return () if raw is None else tuple(c.name for c in decode_reservation(raw).counters)

    async def _close(
        self,
        shard: int,
        account_id: str,
        request_id: str,
        kind: str,
        settlement: Settlement | None,
        metered: tuple[int, str, str, int | None] | None = None,
    ) -> int:
        """`metered` (quantity, closed marker ttl ms, closed marker key, quantity asked for)
        closes a meter's hold."""
        k = self.keys
        u = settlement.usage if settlement else Usage()
        args: tuple[Any, ...] = (
            request_id,
            kind,
            u.total_input_tokens,
            u.output_tokens,
            settlement.cost_micros if settlement else 0,
            self._clock,
            settlement.model if settlement else "",
            settlement.provider if settlement else "",
            u.input_tokens,
            u.cached_input_tokens,
            u.cache_write_tokens,
            u.reasoning_tokens,
            u.source,
        )
        tail: tuple[str, ...] = ()
        quantity, marker_ttl = (metered[0], metered[1]) if metered is not None else (0, "")
        args = (*args, quantity, marker_ttl, TOMBSTONE_TTL_MS, self._messages, *_prices(settlement))
        if metered is not None:
            tail = (metered[2],)
            args = (*args, "" if metered[3] is None else metered[3])
        elif settlement is not None and settlement.end_user:
            args = (*args, "", settlement.end_user)  # ARGV 22: recorded on the debit
        fixed = (*self._close_keys(shard, account_id), k.voided(shard, request_id))
        counters = self._held.get(request_id)
        if counters is None:
            counters = await self._held_counters(shard, request_id)
        done = int(await self._call(self._settle, fixed + counters + tail, args))
        if done == UNDECLARED:
            counters = await self._held_counters(shard, request_id)
            done = int(await self._call(self._settle, fixed + counters + tail, args))
        if done == UNDECLARED:
            raise HotStoreUnavailable(f"reservation {request_id} holds undeclared counters")
        self._held.pop(request_id, None)
        return done

    async def settle(
        self, shard: int, account_id: str, request_id: str, settlement: Settlement
    ) -> int:
        """Debit the actual cost; queue the ledger row in the same atomic step.

        Returns DEBITED, DEBITED_LATE (the reservation had been voided: the usage is still
        debited) or CLOSED (already settled: nothing done); a debit that left the balance
        under the account's auto top-up threshold adds LOW_BALANCE, one that could not all be
        collected adds UNCOLLECTED times the micros left uncollected (ports/hot.py).
        """
        if self.leases.owns(request_id):
            return await self.leases.settle(request_id, settlement)
        return await self._close(shard, account_id, request_id, "debit", settlement)

    async def debit_late(
        self, shard: int, account_id: str, key_id: str, request_id: str, settlement: Settlement
    ) -> int:
        """Debit a call whose hold is gone with nothing of it debited (its lease was closed
        before its settlement began): from what is free, as a debit after a void is
        (the tombstone a void leaves, then settle.lua's late path). DEBITED_LATE."""
        await self.lost.entomb(shard, account_id, key_id, request_id)
        return await self._close(shard, account_id, request_id, "debit", settlement)

    async def extend(self, shard: int, request_id: str) -> bool:
        """Push a live reservation's deadline to now + ttl; False once it is closed. A
        request admitted under a lease is alive while its lease is (`Leases.keep`)."""
        if self.leases.owns(request_id):
            return True
        return await self.extend_by(shard, request_id, self._ttl_ms)

    async def extend_by(self, shard: int, request_id: str, ttl_ms: str) -> bool:
        """Push a reservation's (or a lease's) deadline to now + `ttl_ms`."""
        k = self.keys
        keys = (k.reservations(shard), k.deadlines(shard), k.clock(shard))
        return bool(await self._call(self._extend, keys, (request_id, ttl_ms, self._clock)))

    async def close_metered(
        self,
        account_id: str,
        request_id: str,
        kind: str,
        quantity: int,
        cost: int,
        ttl_ms: int,
        asked: int | None = None,
    ) -> bool:
        """Close a meter's hold (debit, release or expire) and leave its closed marker, with
        the quantity a settle `asked` for (before the cap at the hold)."""
        s = shard_of(account_id)
        settlement = Settlement("", "", Usage(), cost) if kind == "debit" else None
        metered = (quantity, str(ttl_ms), self.keys.closed(s, request_id), asked)
        done = await self._close(s, account_id, request_id, kind, settlement, metered)
        return done % UNCOLLECTED == DEBITED

    async def release(
        self, shard: int, account_id: str, request_id: str, *, keep_request: bool = False
    ) -> bool:
        """Give back everything a failed upstream call reserved; nothing is billed. A request
        the provider refused after forwarding (`keep_request`) stays in request windows."""
        if self.leases.owns(request_id):
            return await self.leases.release(request_id, keep_request)
        kind = "refused" if keep_request else "release"
        return await self._close(shard, account_id, request_id, kind, None) == DEBITED

    async def void(self, shard: int, account_id: str, request_id: str) -> bool:
        """Close a reservation whose gateway died; recorded in the ledger as voided."""
        return await self._close(shard, account_id, request_id, "void", None) == DEBITED

    async def apply_credit(
        self,
        account_id: str,
        entry_id: int,
        amount_micros: int,
        ends: tuple[int, int] | None = None,
        hold: str | None = None,
    ) -> int:
        s = shard_of(account_id)
        keys: tuple[str, ...] = (self.keys.account(s, account_id), self.keys.credits(s, account_id))
        args: tuple[int | str, ...] = (entry_id, amount_micros, *(ends or ("", "")))
        if hold is not None:
            keys, args = (*keys, self.keys.reservations(s), self.keys.deadlines(s)), (*args, hold)
        return int(await self._call(self._credit, keys, args))


def _prices(s: Settlement | None) -> tuple[str, str, str]:
    """settle.lua's ARGV 18-20: what priced a proxied call's debit ('' for none)."""
    if s is None or not s.model:
        return "", "", ""
    provider = s.cost_micros if s.provider_cost_micros is None else s.provider_cost_micros
    return s.price_version, str(provider), encode_detail(s.detail)


def _keep(cache: dict[Any, tuple[str, ...]], key: Any, names: tuple[str, ...], size: int) -> None:
    """Remember a tuple of key names; a full cache starts over (a miss makes them again)."""
    if len(cache) >= size:
        cache.clear()
    cache[key] = names
