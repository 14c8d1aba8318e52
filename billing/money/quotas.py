# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Quota windows and their compact wire encoding.

A quota is (window, metric, limit). Limits live in Redis next to the account or key they
govern, encoded as one short string the reserve script parses, so a plan or quota change is
visible to every gateway process on its very next request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from billing.names import one_of

Window = Literal["minute", "hour", "day", "week", "month", "total"]
Metric = Literal["requests", "input_tokens", "output_tokens", "tokens", "spend_micros"]

WINDOWS: tuple[Window, ...] = ("minute", "hour", "day", "week", "month", "total")
METRICS: tuple[Metric, ...] = (
    "requests",
    "input_tokens",
    "output_tokens",
    "tokens",
    "spend_micros",
)
SLIDING: frozenset[str] = frozenset({"minute", "hour"})

WINDOW_CODES: Mapping[str, str] = {
    "minute": "mi",
    "hour": "h",
    "day": "d",
    "week": "w",
    "month": "mo",
    "total": "t",
}
METRIC_CODES: Mapping[str, str] = {
    "requests": "r",
    "input_tokens": "i",
    "output_tokens": "o",
    "tokens": "t",
    "spend_micros": "s",
}
WINDOW_BY_CODE = {v: k for k, v in WINDOW_CODES.items()}
METRIC_BY_CODE = {v: k for k, v in METRIC_CODES.items()}
# Non-token meters are limited like tokens: metric "meter:<name>", code "m.<name>".
METER_METRIC = re.compile(r"^meter:([a-z][a-z0-9_]{0,62})$")
MAX_LIMIT = 2**53 - 1  # Lua numbers are doubles: above this, integers stop being exact.


class QuotaSpecError(ValueError):
    """A quota given by an operator or a plan is malformed."""


@dataclass(frozen=True, slots=True)
class Quota:
    window: Window
    metric: Metric | str  # a token metric, or "meter:<name>"
    limit: int

    @property
    def code(self) -> str:
        return f"{WINDOW_CODES[self.window]}:{metric_code(self.metric)}"


def metric_code(metric: str) -> str:
    """The reserve script's name for a metric: one letter, or "m.<name>" for a meter."""
    return METRIC_CODES.get(metric) or "m." + metric.removeprefix("meter:")


def metric_of_code(code: str) -> str:
    return METRIC_BY_CODE.get(code) or "meter:" + code.removeprefix("m.")


def parse_quota(obj: object) -> Quota:
    """Validate one operator-supplied quota object ({"window", "metric", "limit"})."""
    if not isinstance(obj, Mapping):
        raise QuotaSpecError("each quota must be an object with window, metric and limit")
    window, metric, limit = obj.get("window"), obj.get("metric"), obj.get("limit")
    if not one_of(window, WINDOW_CODES):
        raise QuotaSpecError(f"quota window must be one of {list(WINDOWS)}, got {window!r}")
    if not isinstance(metric, str) or (
        metric not in METRIC_CODES and not METER_METRIC.fullmatch(metric)
    ):
        raise QuotaSpecError(
            f"quota metric must be one of {list(METRICS)} or 'meter:<name>', got {metric!r}"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise QuotaSpecError(f"quota limit must be a whole number from 0 to {MAX_LIMIT}")
    return Quota(window, metric, limit)  # type: ignore[arg-type]


def parse_quotas(objs: object) -> tuple[Quota, ...]:
    if not isinstance(objs, Sequence) or isinstance(objs, str | bytes):
        raise QuotaSpecError("quotas must be a list")
    quotas = tuple(parse_quota(o) for o in objs)
    codes = [q.code for q in quotas]
    if len(set(codes)) != len(codes):
        raise QuotaSpecError("quotas repeat a (window, metric) pair")
    return quotas


def encode_quotas(quotas: Iterable[Quota]) -> str:
    """ "mi:r:60;d:t:100000": what the reserve script reads from the account or key hash."""
    return ";".join(f"{q.code}:{q.limit}" for q in quotas)


def decode_quotas(text: str) -> tuple[Quota, ...]:
    out = []
    for part in filter(None, text.split(";")):
        w, m, limit = part.split(":")
        out.append(Quota(WINDOW_BY_CODE[w], metric_of_code(m), int(limit)))  # type: ignore[arg-type]
    return tuple(out)


def quota_to_json(q: Quota) -> dict[str, object]:
    return {"window": q.window, "metric": q.metric, "limit": q.limit}
