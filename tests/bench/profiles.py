"""Durations for one benchmark run: --quick for a sanity pass, the default for real figures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Durations:
    latency_rounds: int
    latency_s: float
    throughput_s: float
    throughput_rounds: int
    warmup_s: float
    soak_s: float
    workers_s: float
    settler_messages: int
    profile_s: float


QUICK = Durations(
    latency_rounds=2,
    latency_s=2,
    throughput_s=3,
    throughput_rounds=1,
    warmup_s=1,
    soak_s=10,
    workers_s=3,
    settler_messages=20_000,
    profile_s=8,
)
FULL = Durations(
    latency_rounds=5,
    latency_s=5,
    throughput_s=5,
    throughput_rounds=3,
    warmup_s=5,
    soak_s=60,
    workers_s=10,
    settler_messages=100_000,
    profile_s=15,
)
