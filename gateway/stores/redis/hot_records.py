"""The hot records of accounts and keys: what the admin API, payments and the key lookup
write and read outside the money scripts (plan, quotas, grace, auto top-up threshold, credit
line and grants' ends, key state and expiry), and the balances and window counts the usage
views show.
"""

from __future__ import annotations

from collections.abc import Sequence

from billing.money.next_step import FullWindow
from billing.money.quotas import Quota, decode_quotas, encode_quotas
from gateway.stores.records import (
    AccountFacts,
    GrantEnd,
    HotBalance,
    KeyRecord,
    KeyState,
    WindowCount,
)
from gateway.stores.redis import counters
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.leases.process import Leases
from gateway.stores.redis.records import (
    KEY_STATES,
    decode_grant_ends,
    decode_refusal,
    encode_grant_ends,
    encode_key_record,
    encode_refusal,
)
from gateway.stores.redis.upkeep import HotUpkeep
from gateway.stores.redis.wire.scripts import ScriptFn

# An account's `pend` field: a sign-up waiting for approval (1) or rejected (2); else 0.
HELD_BACK = {"pending": "1", "rejected": "2"}


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class HotRecords(HotUpkeep):
    _grant_end_script: ScriptFn  # grant_end.lua, loaded by HotStore
    leases: Leases  # HotStore's: every change below waits out the leases granted before it

    async def put_account(
        self,
        account_id: str,
        *,
        plan: str,
        mode: str,
        billing_ready: bool,
        quotas: Sequence[Quota],
        markup_bps: int,
        signup_status: str | None = None,
        next_markup: tuple[int, int] | None = None,
    ) -> None:
        """Create or update an account's hot record; never touches its balance. `markup_bps`
        is the markup resolved for it (its own, else its plan's: billing.money.plans);
        `next_markup` the one an approved change schedules (markup, from ms): reserve.lua
        charges it from then on by its own clock (`mkn`, `mka`), None removes it."""
        name = self.keys.account(shard_of(account_id), account_id)
        fields = {
            "plan": plan,
            "mk": str(markup_bps),
            "mode": mode,
            "q": encode_quotas(quotas),
            "billing": "1" if billing_ready else "0",
            "pend": HELD_BACK.get(signup_status or "", "0"),  # reserve.lua refuses 1 and 2
        }
        with map_redis_errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(name, "bal", 0)
                pipe.hsetnx(name, "held", 0)
                pipe.hset(name, mapping=fields)  # type: ignore[arg-type]
                if next_markup is None:
                    pipe.hdel(name, "mkn", "mka")
                else:
                    pipe.hset(name, mapping={"mkn": next_markup[0], "mka": next_markup[1]})
                await pipe.execute()
        await self.leases.wait_out(name)

    async def put_key(
        self,
        record: KeyRecord,
        key_hash: str,
        *,
        expires_at_ms: int,
        quotas: Sequence[Quota],
        state: KeyState | None = None,
    ) -> None:
        name = self.keys.api_key(record.shard, record.key_id)
        fields: dict[str, str | int] = {
            "acct": record.account_id,
            "exp": expires_at_ms,
            "q": encode_quotas(quotas),
            "an": ",".join(record.ancestors),  # reserve.lua counts the call in theirs too
        }
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                if state is None:
                    pipe.hsetnx(name, "st", KEY_STATES["active"])  # a new key; else as it was
                else:
                    fields["st"] = KEY_STATES[state]
                pipe.hset(name, mapping=fields)  # type: ignore[arg-type]
                pipe.set(self.keys.directory(key_hash), encode_key_record(record))
                await pipe.execute()
        await self.leases.wait_out(name)

    async def set_key_quotas(self, shard: int, key_id: str, quotas: Sequence[Quota]) -> None:
        name = self.keys.api_key(shard, key_id)
        with map_redis_errors():
            await self.redis.hset(name, "q", encode_quotas(quotas))
        await self.leases.wait_out(name)

    async def put_end_user_budget(
        self, account_id: str, key_id: str, end_user: str, quotas: Sequence[Quota]
    ) -> None:
        """The account hash's or key hash's `uq` (a default for end users), or the
        account hash's `u:<end user>` (their own), read by the reserve script's HMGET."""
        s = shard_of(account_id)
        if end_user:
            name, field = self.keys.account(s, account_id), f"u:{end_user}"
        elif key_id:
            name, field = self.keys.api_key(s, key_id), "uq"
        else:
            name, field = self.keys.account(s, account_id), "uq"
        with map_redis_errors():
            if quotas:
                await self.redis.hset(name, field, encode_quotas(quotas))
            else:
                await self.redis.hdel(name, field)

    async def set_key_team(
        self, shard: int, key_id: str, team_id: str | None, quotas: Sequence[Quota]
    ) -> None:
        """The key's team (`tm`) and a copy of the team's quotas (`tq`), read with the key
        by the reserve script; None takes the key out of any team."""
        name = self.keys.api_key(shard, key_id)
        with map_redis_errors():
            if team_id is None:
                await self.redis.hdel(name, "tm", "tq")
            else:
                await self.redis.hset(name, mapping={"tm": team_id, "tq": encode_quotas(quotas)})
        await self.leases.wait_out(name)

    async def revoke_key(self, shard: int, key_id: str) -> None:
        name = self.keys.api_key(shard, key_id)
        with map_redis_errors():
            await self.redis.hset(name, "st", KEY_STATES["revoked"])
        await self.leases.wait_out(name)

    async def set_byok_version(self, account_id: str, version: int) -> None:
        name = self.keys.account(shard_of(account_id), account_id)
        with map_redis_errors():
            if await self.redis.exists(name):
                await self.redis.hset(name, "bk", str(version))
        await self.leases.wait_out(name)

    async def set_key_paused(self, shard: int, key_id: str, paused: bool) -> None:
        name = self.keys.api_key(shard, key_id)
        with map_redis_errors():
            await self.redis.hset(name, "st", KEY_STATES["paused" if paused else "active"])
        await self.leases.wait_out(name)

    async def set_key_expiry(self, shard: int, key_id: str, expires_at_ms: int) -> None:
        name = self.keys.api_key(shard, key_id)
        with map_redis_errors():
            await self.redis.hset(name, "exp", expires_at_ms)
        await self.leases.wait_out(name)

    async def key_is_live(self, shard: int, key_id: str) -> bool:
        """Active and not past its expiry, on the same clock the reserve script uses."""
        with map_redis_errors():
            state, exp = await self.redis.hmget(self.keys.api_key(shard, key_id), ["st", "exp"])
        if _text(state or "") != KEY_STATES["active"]:
            return False
        expires = int(exp or 0)
        return expires == 0 or await self.now_ms() < expires

    async def _set_account_field(self, account_id: str, field: str, value: int | None) -> None:
        """Set one optional field of the account hash; None removes it."""
        name = self.keys.account(shard_of(account_id), account_id)
        with map_redis_errors():
            if value is None:
                await self.redis.hdel(name, field)
            else:
                await self.redis.hset(name, field, value)

    async def set_grace(self, account_id: str, until_ms: int | None) -> None:
        await self._set_account_field(account_id, "grace", until_ms)

    async def in_grace(self, account_id: str) -> bool:
        with map_redis_errors():
            return bool(
                await self.redis.hexists(
                    self.keys.account(shard_of(account_id), account_id), "grace"
                )
            )

    async def set_auto_threshold(self, account_id: str, threshold: int | None) -> None:
        await self._set_account_field(account_id, "att", threshold)

    async def auto_threshold(self, account_id: str) -> int | None:
        name = self.keys.account(shard_of(account_id), account_id)
        with map_redis_errors():
            raw = await self._command("HGET", name, "att")  # after every settlement
        return None if raw is None else int(raw)

    async def balance(self, account_id: str) -> tuple[int, int] | None:
        """(balance, held) in micros, or None if the account is not in Redis."""
        s = shard_of(account_id)
        with map_redis_errors():
            bal, held = await self.redis.hmget(self.keys.account(s, account_id), ["bal", "held"])
        return None if bal is None else (int(bal), int(held or 0))

    async def money(self, account_id: str) -> HotBalance | None:
        """Balance, held and available in micros, or None if the account is not in Redis.
        Available is reserve.lua's `spendable()` on Redis's clock (test_available.py holds
        them equal): what every surface calls available."""
        fields = ["bal", "held", "gx", "cl"]
        with map_redis_errors():
            bal, held, gx, line = await self.redis.hmget(self._account(account_id), fields)
        if bal is None:
            return None
        now = await self.now_ms() if gx else 0
        ended = sum(e.rest_micros for e in decode_grant_ends(gx) if e.end_ms <= now)
        left = int(bal) - int(held or 0)
        return HotBalance(int(bal), int(held or 0), left - ended + int(line or 0))

    async def note_refusal(
        self, account_id: str, window: FullWindow | None, now_ms: int
    ) -> AccountFacts | None:
        """Only on a 429's path, one round trip: remember the account's refused window
        (`lq`, None: a key's, a team's or an end user's, not remembered) and read the facts
        its next step is decided from; None when the account is not in Redis."""
        name = self._account(account_id)
        fields = ["bal", "held", "gx", "cl", "mode", "billing", "grace", "pend"]
        with map_redis_errors():
            async with self.redis.pipeline(transaction=True) as pipe:
                if window is not None:
                    pipe.hset(name, "lq", encode_refusal(window))
                pipe.hmget(name, fields)
                bal, held, gx, line, mode, billing, grace, pend = (await pipe.execute())[-1]
        if bal is None:
            return None
        ended = sum(e.rest_micros for e in decode_grant_ends(gx) if e.end_ms <= now_ms)
        available = int(bal) - int(held or 0) - ended + int(line or 0)
        return AccountFacts(
            _text(mode or b"prepaid"), billing == b"1", grace is not None, pend == b"1", available
        )

    async def last_refusal(self, account_id: str) -> FullWindow | None:
        """The account's last refused window (`note_refusal`), whether or not it stands."""
        with map_redis_errors():
            return decode_refusal(await self.redis.hget(self._account(account_id), "lq"))

    async def account_quotas(self, account_id: str) -> tuple[Quota, ...]:
        with map_redis_errors():
            raw = await self.redis.hget(self.keys.account(shard_of(account_id), account_id), "q")
        return decode_quotas(raw.decode() if isinstance(raw, bytes) else str(raw or ""))

    async def window_counts(
        self, shard: int, scope: str, owner_id: str, quotas: Sequence[Quota]
    ) -> list[WindowCount]:
        now, offset = await self.now_ms(), int(self.tz_offset_ms())
        with map_redis_errors():
            return await counters.window_counts(
                self.redis, self.keys, (shard, scope, owner_id), quotas, now, offset
            )

    def _account(self, account_id: str) -> str:
        return self.keys.account(shard_of(account_id), account_id)

    # What an account may spend down to: its credit line (`cl`: the floor is minus it) and
    # its grants' ends (`gx`, records.py's GrantEnd). reserve.lua admits against, and
    # settle.lua collects from, the balance less what is held and what ended grants still
    # hold, above the floor (docs/concepts/reservations.md). A new credit enters its grant's
    # end with its money (credit.lua), the keeper keeps it exact once the grant ended
    # (write_off.lua); a revocation and a closed grant set it here; rebuild writes it whole.

    async def set_credit_line(self, account_id: str, micros: int | None) -> None:
        """The account may go down to -micros (None or 0: to 0, or no floor if postpaid)."""
        name = self._account(account_id)
        with map_redis_errors():
            if micros:
                await self.redis.hset(name, "cl", str(micros))
            else:
                await self.redis.hdel(name, "cl")
        await self.leases.wait_out(name)

    async def set_grant_end(self, account_id: str, end: GrantEnd) -> None:
        """One grant's entry (a rest of 0 drops it), atomically beside the scripts."""
        args = (end.grant_id, end.rest_micros, end.end_ms)
        with map_redis_errors():
            await self._grant_end_script((self._account(account_id),), args)
        await self.leases.wait_out(self._account(account_id))

    async def put_grant_ends(self, account_id: str, ends: Sequence[GrantEnd]) -> None:
        """Every grant end of the account at once (rebuild, self-restore)."""
        name, text = self._account(account_id), encode_grant_ends(ends)
        with map_redis_errors():
            if text:
                await self.redis.hset(name, "gx", text)
            else:
                await self.redis.hdel(name, "gx")
        await self.leases.wait_out(name)

    async def grant_ends(self, account_id: str) -> tuple[GrantEnd, ...]:
        with map_redis_errors():
            return decode_grant_ends(await self.redis.hget(self._account(account_id), "gx"))

    async def credit_line(self, account_id: str) -> int:
        with map_redis_errors():
            raw = await self.redis.hget(self._account(account_id), "cl")
        return int(raw or 0)
