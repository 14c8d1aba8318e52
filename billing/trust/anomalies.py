"""Spend anomalies: when a key's, team's or account's use departs from its own baseline.

Pure rules over hourly sums (the settler's `usage_hours`); the detector worker
(gateway/workers/anomalies.py) reads the sums, asks these rules, and records, notifies and
pauses. docs/guides/anomalies.md states the same rules for people.

- **rate**: the hour so far (UTC) against the same hour of the week, and the hours either
  side of it, in each of the last WEEKS weeks since the scope was first seen (up to 12
  samples; an hour with no use counts 0). Flagged when requests or spend is at least the
  floor, at least RATIO times the median and at least the median plus K robust deviations
  (1.4826 x the median absolute deviation): all three, so a new key (no samples: only the
  floor applies), a quiet one (under the floor) and a growing one (within RATIO of its
  recent median) are left alone.
- **pricier_model**: in the hour so far a model the key did not use in the last WEEKS
  weeks costs, per request, at least PRICIER_RATIO times the dearest model it did use
  (at least PRICIER_MIN_REQUESTS calls and PRICIER_FLOOR_MICROS of spend on it, over a
  history of at least HISTORY_MIN_REQUESTS calls).
- **new_network**: a key is used from a network (its /24, or /48 for IPv6) it was never
  used from, while it was used from another network at least NETWORK_HISTORY before: a key
  known somewhere turning up elsewhere (a leaked key). A new key's first networks are not
  flagged, nor a network it used before.
- **repeated_request**: in the hour so far a key sent the same prompt (the same bytes of
  its messages, input or contents) in bursts (at least twice within one 5-second batch of
  one gateway process) at least REPEAT_MIN times, and at least RATIO times as often as in
  its busiest hour of the last WEEKS weeks: an agent loop. A job that sends the same prompt
  as often every hour is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.money.display import usd_exact as format_usd

WEEKS = 4
RATIO = 4
K = 6
FLOOR_SPEND_MICROS = 1_000_000  # $1.00 in an hour
FLOOR_REQUESTS = 300  # calls in an hour
PRICIER_RATIO = 10
PRICIER_MIN_REQUESTS = 3
PRICIER_FLOOR_MICROS = 100_000  # $0.10 on the new model in the hour
HISTORY_MIN_REQUESTS = 20
HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)
REPEAT_MIN = 50  # identical requests in bursts within an hour
NETWORK_HISTORY = timedelta(days=1)  # a key used elsewhere this long before a network is new
# 1.4826 (the MAD's scale to a normal standard deviation), in ten-thousandths
_MAD_SCALE = 14_826


@dataclass(frozen=True, slots=True)
class Use:
    """Requests and spend (USD micros) of one hour, or of a model over a span."""

    requests: int = 0
    spend_micros: int = 0

    def __add__(self, other: Use) -> Use:
        return Use(self.requests + other.requests, self.spend_micros + other.spend_micros)


@dataclass(frozen=True, slots=True)
class Flag:
    """A departure: which rule, a sentence a person reads, and the figures behind it."""

    rule: str
    summary: str
    figures: Mapping[str, int | str]


def sample_hours(hour: datetime, first_seen: datetime) -> list[datetime]:
    """The hours an hour is compared with: its hour of the week, and the hours either side,
    in each of the WEEKS weeks before it; none before the hour the scope was first seen."""
    start = first_seen.replace(minute=0, second=0, microsecond=0)
    hours = (hour - w * WEEK + s * HOUR for w in range(1, WEEKS + 1) for s in (-1, 0, 1))
    return sorted(at for at in hours if at >= start)


def median(values: Iterable[int]) -> int:
    """The median, rounded down: integers in, an integer out."""
    ordered = sorted(values)
    if not ordered:
        return 0
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2


def threshold(samples: list[int], floor: int) -> tuple[int, int, int]:
    """(threshold, median, MAD) of one measure: the least value flagged."""
    m = median(samples)
    mad = median(abs(v - m) for v in samples)
    robust = m + -(-K * mad * _MAD_SCALE // 10_000)
    return max(floor, RATIO * m, robust), m, mad


def rate_flag(
    now: Use, history: Mapping[datetime, Use], hour: datetime, first_seen: datetime
) -> Flag | None:
    """The rate rule for one scope: `now` the hour so far, `history` its earlier hours
    (absent: no use), `hour` the start of the current hour."""
    hours = sample_hours(hour, first_seen)
    for measure, floor in (("spend_micros", FLOOR_SPEND_MICROS), ("requests", FLOOR_REQUESTS)):
        samples = [getattr(history.get(h, Use()), measure) for h in hours]
        limit, m, mad = threshold(samples, floor)
        value = getattr(now, measure)
        if value >= limit:
            figures = {
                "measure": measure, "value": value, "threshold": limit, "median": m,
                "mad": mad, "samples": len(samples), "floor": floor,
            }  # fmt: skip
            return Flag("rate", _rate_words(measure, value, m, len(samples)), figures)
    return None


def _rate_words(measure: str, value: int, m: int, samples: int) -> str:
    shown = format_usd if measure == "spend_micros" else str
    what = "spend" if measure == "spend_micros" else "requests"
    base = f"a median of {shown(m)} over {samples} like hours" if samples else "no history yet"
    return f"{what} of {shown(value)} this hour, against {base}"


def pricier_flag(now: Mapping[str, Use], history: Mapping[str, Use]) -> Flag | None:
    """The pricier-model rule for one key: `now` its hour so far by model, `history` its
    last WEEKS weeks by model (the hour so far left out)."""
    if sum(u.requests for u in history.values()) < HISTORY_MIN_REQUESTS:
        return None
    usual = max((u.spend_micros // u.requests for u in history.values() if u.requests), default=0)
    for model, use in sorted(now.items()):
        if model in history or use.requests < PRICIER_MIN_REQUESTS:
            continue
        per_call = use.spend_micros // use.requests
        if use.spend_micros >= PRICIER_FLOOR_MICROS and per_call >= PRICIER_RATIO * max(usual, 1):
            usual_model = max(history, key=lambda n: _per_call(history[n]))
            figures: dict[str, int | str] = {
                "model": model, "usual_model": usual_model, "requests": use.requests,
                "spend_micros": use.spend_micros, "per_call_micros": per_call,
                "usual_per_call_micros": usual,
            }  # fmt: skip
            words = (
                f"{use.requests} calls to {model} at {format_usd(per_call)} each, against"
                f" {format_usd(usual)} a call on {usual_model}, the dearest it used before"
            )
            return Flag("pricier_model", words, figures)
    return None


def _per_call(use: Use) -> int:
    return use.spend_micros // use.requests if use.requests else 0


def new_network_flag(
    network: str, calls: int, first_seen: datetime, known: Mapping[str, datetime]
) -> Flag | None:
    """The new-network rule for one key: `network` first used at `first_seen` (`calls` so
    far), `known` every network the key was used from, with its first use."""
    older = [
        at for net, at in known.items() if net != network and at <= first_seen - NETWORK_HISTORY
    ]
    if not network or not older:
        return None
    since = min(older)
    figures: dict[str, int | str] = {
        "network": network, "calls": calls, "first_seen": first_seen.isoformat(),
        "known_networks": len(older), "known_since": since.isoformat(),
    }  # fmt: skip
    words = (
        f"first used from network {network} ({calls} calls so far), after"
        f" {len(older)} other network(s) since {since:%Y-%m-%d}"
    )
    return Flag("new_network", words, figures)


def repeat_flag(digest: str, calls: int, busiest_before: int) -> Flag | None:
    """The repeated-request rule for one key and prompt: `calls` in bursts this hour so far,
    `busiest_before` the most in any earlier hour of the last WEEKS weeks."""
    threshold = max(REPEAT_MIN, RATIO * busiest_before)
    if calls < threshold:
        return None
    figures: dict[str, int | str] = {
        "digest": digest, "calls": calls, "threshold": threshold,
        "busiest_before": busiest_before,
    }  # fmt: skip
    before = f"at most {busiest_before} in an hour before" if busiest_before else "none before"
    words = f"the same request {calls} times this hour, in bursts ({before}): an agent loop?"
    return Flag("repeated_request", words, figures)
