"""Every Redis key name Meterway uses, built in one place.

Accounts map to a fixed number of shards; every key one script touches carries its shard's
hash tag, so each script stays inside one slot and the layout runs unchanged on a Redis
Cluster. The key directory (hash of an API key -> its id and account) is the only untagged
family, and it is read with plain single-key commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.stores.ports.hot import SHARDS as SHARDS
from gateway.stores.ports.hot import shard_of as shard_of


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "mw"

    def tag(self, shard: int) -> str:
        return f"{self.prefix}:{{{shard}}}:"

    def account(self, shard: int, account_id: str) -> str:
        return f"{self.tag(shard)}a:{account_id}"

    def api_key(self, shard: int, key_id: str) -> str:
        return f"{self.tag(shard)}k:{key_id}"

    def reservations(self, shard: int) -> str:
        return f"{self.tag(shard)}res"

    def deadlines(self, shard: int) -> str:
        return f"{self.tag(shard)}resdl"

    def ready(self, shard: int) -> str:
        return f"{self.tag(shard)}ready"

    def clock(self, shard: int) -> str:
        return f"{self.tag(shard)}clock"

    def stream(self, shard: int) -> str:
        return f"{self.tag(shard)}settle"

    def dead_letters(self, shard: int) -> str:
        """Settlement messages the ledger cannot take, parked with the reason (same slot as
        the stream, so moving one between the two is one atomic script)."""
        return f"{self.tag(shard)}dead"

    def lease_stream(self, shard: int, lease_id: str) -> str:
        """The settlements a process appended under one lease, until lease_apply.lua takes
        them (stores/redis/leases/wire.py)."""
        return f"{self.tag(shard)}ls:{lease_id}"

    def lease_seen(self, shard: int, lease_id: str) -> str:
        """The request ids a lease's settlements were applied for: each applied once."""
        return f"{self.tag(shard)}lq:{lease_id}"

    def closed(self, shard: int, request_id: str) -> str:
        """Marker of a closed metered authorization or event: `kind|quantity|cost`."""
        return f"{self.tag(shard)}mc:{request_id}"

    def voided(self, shard: int, request_id: str) -> str:
        """Tombstone of a voided reservation, so a late settle can still debit it."""
        return f"{self.tag(shard)}vd:{request_id}"

    def credits(self, shard: int, account_id: str) -> str:
        return f"{self.tag(shard)}cr:{account_id}"

    def end_users_live(self, shard: int, account_id: str) -> str:
        """An account's end users with live budget windows: a zset of id -> the instant
        (ms) its last counter expires, which bounds how many there can be."""
        return f"{self.tag(shard)}eul:{account_id}"

    def counters(self, shard: int) -> str:
        """Prefix of quota counters: <prefix><scope a|k|t|u>:<id>:<window>:<metric>[:<period>]
        (t a team; an end user's id is '<account>:<end user>')."""
        return f"{self.tag(shard)}c:"

    def counter(self, shard: int, scope: str, owner_id: str, quota_code: str) -> str:
        """A quota's counter as reserve.lua names it: a sliding window's granule hash, or
        the stem a calendar window's period id is appended to (see `period_counter`).
        `quota_code` is `Quota.code` (window code ':' metric code); scope is 'a', 'k', 't'
        (a team) or 'u' (an end user, whose `owner_id` is `end_user_owner`'s)."""
        return f"{self.counters(shard)}{scope}:{owner_id}:{quota_code}"

    def cache_entries(self, shard: int, owner_id: str) -> str:
        """The response cache's entries of one owner (the account, or the organization its
        policy shares with): a hash of cache key -> `<expires ms>|<answer>`
        (stores/redis/cache/entries.py)."""
        return f"{self.tag(shard)}ce:{owner_id}"

    def cache_index(self, shard: int, owner_id: str) -> str:
        """What each of those entries is: cache key -> `<bytes>|<expires ms>|<key id>|<model>`,
        and `=bytes`, their total (the owner's budget is counted against it)."""
        return f"{self.tag(shard)}ci:{owner_id}"

    def cache_expiry(self, shard: int, owner_id: str) -> str:
        """The same entries scored by when they expire: the soonest is evicted first."""
        return f"{self.tag(shard)}cz:{owner_id}"

    @staticmethod
    def end_user_owner(account_id: str, end_user: str) -> str:
        """The owner id of an end user's counters: end users are counted per account."""
        return f"{account_id}:{end_user}"

    @staticmethod
    def period_counter(counter: str, period: str) -> str:
        """A calendar window's counter for one period (`billing.money.windows.calendar_period`)."""
        return f"{counter}:{period}"

    def settled_stat(self) -> str:
        """Ledger rows written by every settler process, for the metrics endpoint."""
        return f"{self.prefix}:stat:settled"

    def owned_response(self, response_id: str) -> str:
        """Who created a Responses API response, and its reservation while it runs."""
        return f"{self.prefix}:resp:{response_id}"

    def owned_batch(self, batch_id: str) -> str:
        """Who created a batch, and its reservation until the gateway sees it end."""
        return f"{self.prefix}:batch:{batch_id}"

    def batches_due(self) -> str:
        """Batches still running, scored by when the gateway next polls them."""
        return f"{self.prefix}:batchdue"

    def owned_file(self, file_id: str) -> str:
        """Who uploaded a batch input file (and its priced summary), or whose batch made it."""
        return f"{self.prefix}:file:{file_id}"

    def responses_due(self) -> str:
        """Background responses still running, scored by when the gateway next polls them."""
        return f"{self.prefix}:respdue"

    def directory(self, key_hash: str) -> str:
        return f"{self.prefix}:kd:{key_hash}"

    def service(self, key_hash: str) -> str:
        """The service-key directory: hash of a service key -> its record."""
        return f"{self.prefix}:sd:{key_hash}"

    def all_patterns(self) -> str:
        return f"{self.prefix}:*"

    def revoked_token(self, jti: str) -> str:
        """A revoked JWT, by jti; it expires when the token would have."""
        return f"{self.prefix}:jwt:jti:{jti}"

    def revoked_before(self, subject: str) -> str:
        """The instant (ms) before which every token of a user is revoked."""
        return f"{self.prefix}:jwt:sub:{subject}"

    def dashboard_session(self, digest: str) -> str:
        """A dashboard sign-in, by the SHA-256 of its cookie; it expires with the session."""
        return f"{self.prefix}:dash:{digest}"

    def signin_ticket(self, digest: str) -> str:
        """A sign-in under way (an OIDC state, an e-mailed link), by its secret's SHA-256."""
        return f"{self.prefix}:signin:{digest}"

    def signin_used(self, digest: str) -> str:
        """A SAML assertion already used to sign in, by the SHA-256 of its issuer and id."""
        return f"{self.prefix}:signin_used:{digest}"

    def signin_limit(self, name: str) -> str:
        """Attempts at an e-mailed sign-in link in the current window, by address digest
        or client address."""
        return f"{self.prefix}:signin_limit:{name}"
