"""Which networks each key is used from, and which prompts it repeats in bursts, for the
new-network and repeated-request anomaly rules (billing/trust/anomalies.py): counted in the
process as calls are admitted (a hash of the prompt and a dictionary update: no Redis round
trip, no PostgreSQL wait) and written to PostgreSQL in one batch every NETWORK_FLUSH_S by a
supervised job (`network_sightings`, in /readyz). A prompt counts as repeated when a key
sends it at least twice within one batch: a burst, as an agent loop makes.

A batch that PostgreSQL refuses is kept for the next; past MAX_PENDING distinct (key,
address) pairs a batch takes no new pair until written (counted in `dropped`), so a flood
of addresses cannot grow the process without bound.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import orjson

from billing.trust.trial_checks import network_of
from gateway.stores.errors import StoreUnavailable
from gateway.stores.ports.trust.anomalies import AnomaliesPort, NetworkSighting, RepeatedPrompt

NETWORK_FLUSH_S = 5.0
MAX_PENDING = 100_000
PROMPT_FIELDS = ("messages", "input", "contents", "prompt")  # chat, responses, gemini, legacy


def prompt_digest(body: Mapping[str, object]) -> str:
    """What a request asks, as 16 hex digits: the hash of its prompt field's JSON; "" for a
    request without one."""
    for field in PROMPT_FIELDS:
        value = body.get(field)
        if value is not None:
            try:
                return hashlib.blake2b(orjson.dumps(value), digest_size=8).hexdigest()
            except TypeError:
                return ""
    return ""


class _Seen:
    """One (key, address) pair's calls since the last batch."""

    __slots__ = ("calls", "first_at", "request_id")

    def __init__(self, request_id: str, first_at: float) -> None:
        self.calls = 1
        self.request_id = request_id
        self.first_at = first_at


class NetworkSightings:
    def __init__(self, port: AnomaliesPort, clock: Callable[[], float] = time.time) -> None:
        self._port = port
        self._clock = clock
        self._pending: dict[tuple[str, str, str], _Seen] = {}  # (account, key, address)
        self._prompts: dict[tuple[str, str, str], _Seen] = {}  # (account, key, digest)
        self.dropped = 0

    def seen(
        self,
        account_id: str,
        key_id: str,
        address: str | None,
        request_id: str,
        body: Mapping[str, object],
    ) -> None:
        """One admitted call of a key from a client address, asking `body`."""
        self._count(self._pending, (account_id, key_id, address or ""), request_id)
        digest = prompt_digest(body)
        if digest:
            self._count(self._prompts, (account_id, key_id, digest), request_id)

    def _count(
        self, into: dict[tuple[str, str, str], _Seen], k: tuple[str, str, str], rid: str
    ) -> None:
        entry = into.get(k)
        if entry is not None:
            entry.calls += 1
        elif len(into) < MAX_PENDING:
            into[k] = _Seen(rid, self._clock())
        else:
            self.dropped += 1

    async def flush(self) -> None:
        """Write the prompts repeated in this batch, and what was seen since the last batch
        by network; each kept for the next when PostgreSQL refuses it."""
        prompts, self._prompts = self._prompts, {}
        repeated = [
            RepeatedPrompt(key, account, digest, _hour(seen.first_at), seen.calls, seen.request_id)
            for (account, key, digest), seen in prompts.items()
            if seen.calls > 1
        ]
        if repeated:
            try:
                await self._port.record_repeats(repeated)
            except StoreUnavailable:
                _keep(self._prompts, prompts)
                raise
        pending, self._pending = self._pending, {}
        if not pending:
            return
        now = datetime.fromtimestamp(self._clock(), UTC)
        by_network: dict[tuple[str, str, str], NetworkSighting] = {}
        for (account, key, address), seen in pending.items():
            network = network_of(address)
            if not network:
                continue
            at = datetime.fromtimestamp(seen.first_at, UTC)
            had = by_network.get((account, key, network))
            if had is not None and had.first_seen <= at:
                at, rid = had.first_seen, had.first_request_id
            else:
                rid = seen.request_id
            calls = seen.calls + (had.calls if had is not None else 0)
            by_network[(account, key, network)] = NetworkSighting(
                key, account, network, at, now, calls, rid
            )
        try:
            await self._port.record_networks(list(by_network.values()))
        except StoreUnavailable:
            _keep(self._pending, pending)
            raise


def _keep(
    into: dict[tuple[str, str, str], _Seen], refused: dict[tuple[str, str, str], _Seen]
) -> None:
    """A batch PostgreSQL refused, put back under what was counted since, for the next."""
    for k, old in refused.items():
        new = into.get(k)
        if new is None:
            into[k] = old
        else:
            new.calls += old.calls
            new.first_at, new.request_id = old.first_at, old.request_id


def _hour(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC).replace(minute=0, second=0, microsecond=0)
