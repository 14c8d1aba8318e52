"""Which upstream serves a model that has several (pricing.toml `deployments`), and which
are cooling down.

Each call orders the model's deployments by weight (a weighted draw without replacement),
leaving out those cooling down; the proxy tries them in that order until one answers, and
moves on only when nothing reached the client yet (`RETRY_STATUSES`, or no connection).
An upstream that answered 429 or 5xx, or could not be reached, cools down for as long as its
`retry-after-ms` / `retry-after` says (capped at MAX_COOLDOWN_S), else UPSTREAM_COOLDOWN_S.
The state is the process's own: no Redis round trip is added to a call, and each worker
learns an upstream's trouble from its own calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from billing.pricing import Deployment
from gateway.telemetry import metrics

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
MAX_COOLDOWN_S = 600.0


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait an answer asks for, in seconds: `retry-after-ms` (OpenAI, Azure), else
    `retry-after` in seconds or as an HTTP date; None if it names none."""
    raw_ms = headers.get("retry-after-ms")
    try:
        if raw_ms is not None:
            return max(float(raw_ms) / 1000, 0.0)
        raw = headers.get("retry-after")
        if raw is None:
            return None
        if raw.strip().replace(".", "", 1).isdigit():
            return float(raw)
        at = parsedate_to_datetime(raw).timestamp()
    except (ValueError, TypeError, OverflowError):
        return None
    return max(at - (time.time() if now is None else now), 0.0)


class Upstreams:
    """The cool-downs of every deployment's upstream, by `Deployment.upstream`."""

    def __init__(
        self,
        names: Iterable[str],
        cooldown_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.names = sorted(set(names))
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.wall = wall  # the cool-downs' ends as people read them, in /readyz
        self.rng = rng or random.Random()
        self.cooling: dict[str, float] = {}  # upstream -> clock time its cool-down ends

    def order(self, deployments: Iterable[Deployment]) -> list[Deployment]:
        """The deployments to try, in a weighted random order, without those cooling down."""
        now = self.clock()
        left = [d for d in deployments if self._ready(d.upstream, now)]
        out = []
        while left:
            pick = self.rng.uniform(0, sum(d.weight for d in left))
            for i, d in enumerate(left):
                pick -= d.weight
                if pick <= 0 or i == len(left) - 1:
                    out.append(left.pop(i))
                    break
        return out

    def soonest_s(self, deployments: Iterable[Deployment]) -> float:
        """How long until one of `deployments` is out of its cool-down."""
        now = self.clock()
        return max(min(self.cooling.get(d.upstream, now) for d in deployments) - now, 0.0)

    def failed(self, deployment: Deployment, reason: str, wait_s: float | None = None) -> None:
        """`deployment` failed before its answer reached a client: cool it down."""
        wait = self.cooldown_s if wait_s is None else min(wait_s, MAX_COOLDOWN_S)
        self.cooling[deployment.upstream] = self.clock() + wait
        m = metrics()
        m.tally.count(m.upstream_failures, deployment.upstream, reason)
        m.labelled(m.upstream_cooling, deployment.upstream).set(1)

    def _ready(self, upstream: str, now: float) -> bool:
        until = self.cooling.get(upstream)
        if until is None:
            return True
        if until > now:
            return False
        del self.cooling[upstream]
        metrics().labelled(metrics().upstream_cooling, upstream).set(0)
        return True

    def report(self) -> dict[str, dict[str, object]]:
        """Each upstream's state, for /readyz and /metrics: up, or cooling for a while, until
        a UTC time."""
        now = self.clock()
        out: dict[str, dict[str, object]] = {}
        for name in self.names:
            ready = self._ready(name, now)
            left = 0.0 if ready else round(self.cooling[name] - now, 3)
            out[name] = {"state": "up" if ready else "cooling", "cooling_for_s": left}
            if not ready:
                until = datetime.fromtimestamp(self.wall() + left, UTC)
                out[name]["cooling_until"] = until.isoformat(timespec="milliseconds")
        return out
