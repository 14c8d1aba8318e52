"""The spend anomaly detector: every ANOMALY_EVERY_S (15 s by default) it judges each key
with freshly settled use, its team and its account, by billing/trust/anomalies.py's rules over
the hourly sums the settler keeps (`usage_hours`), and the networks and repeated prompts
the gateway processes record, never on the request path. A flag is recorded with its
evidence and its notification (`spend.anomaly`) in one transaction, once per rule, scope
and hour; a key's flag pauses the key where it, or its account, opted in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from billing.trust.anomalies import (
    HOUR,
    WEEK,
    WEEKS,
    Flag,
    Use,
    new_network_flag,
    pricier_flag,
    rate_flag,
    repeat_flag,
)
from gateway.services.trust import key_pauses
from gateway.stores.ports import HotStorePort
from gateway.stores.ports.trust.anomalies import AnomaliesPort
from gateway.stores.records import Row

log = logging.getLogger("meterway.anomalies")
ANOMALY_EVERY_S = 15.0
# Rows settled a little out of order (several settlers) are read again on the next round.
OVERLAP = timedelta(minutes=2)
HISTORY = WEEKS * WEEK + 2 * HOUR
# Hourly sums older than this are no sample of any rule: dropped once an hour.
KEEP = (WEEKS + 1) * WEEK


class Detector:
    def __init__(
        self,
        anomalies: AnomaliesPort,
        store: HotStorePort,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.anomalies = anomalies
        self.store = store
        self.clock = clock
        self.since: datetime | None = None
        self.networks_since: datetime | None = None
        self.repeats_since: datetime | None = None
        self.pruned: datetime | None = None

    async def tick(self) -> None:
        """One round, as the supervisor runs it; once an hour, the old sums go."""
        await self.run_once()
        now = self.clock()
        if self.pruned is None or now - self.pruned >= HOUR:
            await self.anomalies.prune(now - KEEP)
            self.pruned = now

    async def run_once(self) -> list[Row]:
        """Judge every scope with use settled since the last round; the flags recorded."""
        started = self.clock()
        fresh = await self.anomalies.fresh(self.since or started - HOUR)
        # By this process's clock, not the rows' (Redis's): a row stamped ahead of it (a test
        # clock, a skew) must not move the cursor past rows settled after it.
        self.since = started - OVERLAP
        flagged: list[Row] = []
        judged: set[tuple[str, str]] = set()
        for row in fresh:
            account, last_at = row["account_id"], row["last_at"]
            scopes = [("key", row["key_id"]), ("team", row["team_id"]), ("account", account)]
            for scope, scope_id in scopes:
                if scope_id and (scope, scope_id) not in judged:
                    judged.add((scope, scope_id))
                    flagged += await self.judge(scope, scope_id, account, last_at)
        return flagged + await self._new_networks(started) + await self._repeats(started)

    async def _repeats(self, started: datetime) -> list[Row]:
        """The repeated-request rule over the prompts counted since the last round."""
        rows = await self.anomalies.new_repeats(self.repeats_since or started - HOUR)
        self.repeats_since = started - OVERLAP
        flagged: list[Row] = []
        for row in rows:
            key, digest, hour = row["key_id"], row["digest"], row["hour"]
            busiest = await self.anomalies.busiest_repeat(key, digest, hour, hour - WEEKS * WEEK)
            flag = repeat_flag(digest, row["calls"], busiest)
            if flag is None:
                continue
            window = (hour, row["recorded_at"])
            examples = [row["first_request_id"]]
            recorded = await self._record(flag, "key", key, row["account_id"], window, examples)
            flagged += [recorded] if recorded is not None else []
        return flagged

    async def _new_networks(self, started: datetime) -> list[Row]:
        """The new-network rule over the key networks recorded since the last round (by
        the gateway processes' batches: services/trust/network_sightings.py)."""
        rows = await self.anomalies.new_networks(self.networks_since or started - HOUR)
        self.networks_since = started - OVERLAP
        flagged: list[Row] = []
        for row in rows:
            known = await self.anomalies.networks(row["key_id"])
            flag = new_network_flag(row["network"], row["calls"], row["first_seen"], known)
            if flag is None:
                continue
            hour = row["first_seen"].replace(minute=0, second=0, microsecond=0)
            window = (hour, row["last_seen"])
            examples = [row["first_request_id"]]
            recorded = await self._record(
                flag, "key", row["key_id"], row["account_id"], window, examples
            )
            flagged += [recorded] if recorded is not None else []
        return flagged

    async def judge(self, scope: str, scope_id: str, account: str, last_at: datetime) -> list[Row]:
        """Both rules over one scope's hour so far (the hour of its newest use)."""
        hour = last_at.replace(minute=0, second=0, microsecond=0)
        first = await self.anomalies.first_seen(scope, scope_id, account) or hour
        rows = await self.anomalies.hours(scope, scope_id, account, hour - HISTORY)
        uses = {r["hour"]: Use(r["requests"], r["spend_micros"]) for r in rows}
        now = uses.pop(hour, Use())
        flags = [rate_flag(now, uses, hour, first)]
        if scope == "key":
            flags.append(await self._pricier(scope_id, account, hour))
        out = []
        for flag in flags:
            if flag is not None:
                recorded = await self._record(flag, scope, scope_id, account, (hour, last_at))
                out += [recorded] if recorded is not None else []
        return out

    async def _pricier(self, key_id: str, account: str, hour: datetime) -> Flag | None:
        now: dict[str, Use] = {}
        before: dict[str, Use] = {}
        for r in await self.anomalies.models(key_id, account, hour - WEEKS * WEEK):
            into = now if r["hour"] == hour else before
            into[r["model"]] = into.get(r["model"], Use()) + Use(r["requests"], r["spend_micros"])
        return pricier_flag(now, before)

    async def _record(
        self,
        flag: Flag,
        scope: str,
        scope_id: str,
        account: str,
        window: tuple[datetime, datetime],
        examples: list[str] | None = None,
    ) -> Row | None:
        if examples is None:
            examples = await self.anomalies.examples(scope, scope_id, account, window[0])
        key_id = scope_id if scope == "key" else ""
        row = await self.anomalies.record(
            {
                "account_id": account, "key_id": key_id, "scope": scope,
                "scope_id": scope_id, "rule": flag.rule, "window_start": window[0],
                "window_end": window[1], "figures": dict(flag.figures),
                "request_ids": examples, "summary": flag.summary,
            },
            pause=scope == "key",
        )  # fmt: skip
        if row is None:
            return None
        log.warning("spend anomaly %s on %s %s: %s", flag.rule, scope, scope_id, flag.summary)
        if row["paused"]:
            await key_pauses.pause(self.anomalies, self.store, key_id, account)
        return row
