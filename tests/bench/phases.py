"""The measurements, one function per phase; each returns rows for the table."""

from __future__ import annotations

import asyncio
import resource
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from gateway.stores.redis.keys import Keys
from gateway.stores.redis.stream import backlog
from tests.bench import fixtures
from tests.bench.load import Run, wrk
from tests.bench.procs import cpu_by_pid, matching
from tests.bench.profiles import Durations
from tests.bench.report import Row
from tests.bench.targets import LOAD_CPU, Target

MODES = {False: "plain", True: "stream"}


@dataclass
class Bench:
    d: Durations
    keys_all: Path
    keys_hot: Path
    bodies: dict[bool, Path]
    direct: Target
    bare: Target
    mw: Target
    served: int = 0  # 2xx from every Meterway process, for the ledger check
    in_flight: int = 0  # requests wrk may have left running at the end of its runs
    max_rps: dict[bool, float] = field(default_factory=dict)
    bare_rps: dict[bool, float] = field(default_factory=dict)  # c=64, for WORKERS=2
    c1_p50: dict[bool, float] = field(default_factory=dict)

    def load(
        self,
        t: Target,
        *,
        stream: bool,
        c: int,
        seconds: float,
        hot: bool = False,
        delay_ms: int = 0,
    ) -> Run:
        keys = self.keys_hot if hot else self.keys_all
        body = self.bodies[stream]
        run = wrk(
            t.url,
            keys=keys,
            body=body,
            stream=stream,
            connections=c,
            seconds=seconds,
            cpu=LOAD_CPU,
            delay_ms=delay_ms,
        )
        if t.name.startswith("meterway"):
            self.served += run.ok
            self.in_flight += c
        return run

    def warm(self, t: Target) -> None:
        for stream in (False, True):
            self.load(t, stream=stream, c=8, seconds=self.d.warmup_s)


def _errors(*runs: Run) -> str:
    return f"{sum(r.non2xx for r in runs)}/{sum(r.socket_errors for r in runs)}"


@dataclass
class Rounds:
    """c=1 runs of several arms, interleaved round by round."""

    runs: dict[str, list[Run]]

    def median(self, name: str, p: str) -> float:
        return float(statistics.median(float(getattr(r, p)) for r in self.runs[name]))


def _c1_rounds(b: Bench, arms: tuple[Target, ...], stream: bool) -> Rounds:
    runs: dict[str, list[Run]] = {t.name: [] for t in arms}
    for _ in range(b.d.latency_rounds):
        for t in arms:
            runs[t.name].append(b.load(t, stream=stream, c=1, seconds=b.d.latency_s))
    return Rounds(runs)


def latency(b: Bench, stream: bool) -> list[Row]:
    """c=1, interleaved rounds; per arm the median over rounds of wrk's p50 and p99."""
    rounds = _c1_rounds(b, (b.direct, b.bare, b.mw), stream)
    b.c1_p50[stream] = rounds.median(b.mw.name, "p50_ms")
    return _c1_rows(b, rounds, b.mw, f"{MODES[stream]} c=1 added latency {{}} (ms)")


def _c1_rows(b: Bench, rounds: Rounds, t: Target, title: str) -> list[Row]:
    """p50 and p99 rows: the direct figure, and the bare proxy's and `t`'s added to it."""
    med, rows = rounds.median, []
    for p in ("p50_ms", "p99_ms"):
        base = med(b.direct.name, p)
        rows.append(
            Row(
                title.format(p[:3]),
                base,
                med(b.bare.name, p) - base,
                med(t.name, p) - base,
                errors=_errors(*rounds.runs[t.name]),
                note=f"direct column = absolute; {b.d.latency_rounds}x{b.d.latency_s:g}s rounds",
            )
        )
    return rows


def _measured(b: Bench, t: Target, **kw: object) -> tuple[Run, float]:
    """A run and the CPU ms the target used per 1,000 requests in it."""
    before = t.cpu()
    run = b.load(t, **kw)  # type: ignore[arg-type]
    used = t.cpu() - before
    return run, (used * 1e6 / run.requests if run.requests else 0.0)


def _median_run(runs: list[tuple[Run, float]]) -> tuple[Run, float]:
    return sorted(runs, key=lambda rc: rc[0].rps)[len(runs) // 2]


def throughput(b: Bench, stream: bool, c: int) -> list[Row]:
    """Arms interleaved over rounds; per arm the round with the median req/s."""
    secs, mode = b.d.throughput_s, MODES[stream]
    arms: dict[str, list[tuple[Run, float]]] = {"direct": [], "bare": [], "rot": [], "hot": []}
    for _ in range(b.d.throughput_rounds):
        arms["direct"].append((b.load(b.direct, stream=stream, c=c, seconds=secs), 0.0))
        arms["bare"].append(_measured(b, b.bare, stream=stream, c=c, seconds=secs))
        arms["rot"].append(_measured(b, b.mw, stream=stream, c=c, seconds=secs))
        arms["hot"].append(_measured(b, b.mw, stream=stream, c=c, seconds=secs, hot=True))
    (direct, _), (bare, bare_cpu) = _median_run(arms["direct"]), _median_run(arms["bare"])
    rot, hot = _median_run(arms["rot"]), _median_run(arms["hot"])
    b.max_rps[stream] = max(b.max_rps.get(stream, 0.0), rot[0].rps)
    if c == 64:
        b.bare_rps[stream] = bare.rps
    rows = []
    for label, (run, cpu) in (("1,000 keys", rot), ("hot key", hot)):
        err = _errors(run)
        rows += [
            Row(f"{mode} c={c} req/s ({label})", direct.rps, bare.rps, run.rps, err),
            Row(f"{mode} c={c} p99 ms ({label})", direct.p99_ms, bare.p99_ms, run.p99_ms, err),
            Row(f"{mode} c={c} CPU ms / 1k req ({label})", None, bare_cpu, cpu, err),
        ]
    return rows


def apart(b: Bench, gateway: Target, settler: Target) -> list[Row]:
    """The gateway with SETTLER_DISABLED=1 and `meterway settler` beside it, floating like
    Redis and PostgreSQL: what one core serves when the settlers are their own tier, as
    README's Running at scale draws them. Interleaved with the bare proxy, plain c=32."""
    secs = b.d.throughput_s
    bare_runs: list[tuple[Run, float]] = []
    runs: list[tuple[Run, float, float]] = []
    for _ in range(b.d.throughput_rounds):
        bare_runs.append(_measured(b, b.bare, stream=False, c=32, seconds=secs))
        settler_before = settler.cpu()
        run, cpu = _measured(b, gateway, stream=False, c=32, seconds=secs)
        settler_ms = (settler.cpu() - settler_before) * 1e6 / run.requests if run.requests else 0
        runs.append((run, cpu, settler_ms))
    bare, bare_cpu = _median_run(bare_runs)
    run, cpu, settler_ms = sorted(runs, key=lambda r: r[0].rps)[len(runs) // 2]
    err, label = _errors(run), "settler in its own process (1,000 keys)"
    return [
        Row(f"plain c=32 req/s, {label}", None, bare.rps, run.rps, err),
        Row(
            f"plain c=32 CPU ms / 1k req, {label}",
            None,
            bare_cpu,
            cpu,
            err,
            note=f"gateway process only; the settler process: {settler_ms:.0f} CPU ms/1k",
        ),
    ]


def deferred(b: Bench, gateway: Target) -> list[Row]:
    """c=1 latency of the gateway with SETTLER_DISABLED=1 and no settler running yet: the
    ledger's work (the settler's reads and acks, PostgreSQL's writes) waits until the rounds
    end. On this 2-vCPU box that work otherwise shares the cores with the gateway, nginx and
    wrk, and it is most of Meterway's c=1 p99 (tests/bench/README.md, "Sixth pass"); in a
    deployment it runs on other cores or hosts. Interleaved with the bare proxy, plain."""
    rounds = _c1_rounds(b, (b.direct, b.bare, gateway), stream=False)
    label = "ledger written after the rounds (no settler during them)"
    return _c1_rows(b, rounds, gateway, f"plain c=1 added latency {{}} (ms), {label}")


def floor(b: Bench, floor_t: Target) -> list[Row]:
    """The bare proxy plus the two Redis round trips (`bare_proxy --redis`), interleaved with
    the bare proxy and Meterway, plain: c=1 latency and c=32 throughput. It splits Meterway's
    distance from the ceiling into what any reserve-then-debit design pays (the hops) and
    what is Meterway's own work."""
    arms = (b.direct, b.bare, floor_t, b.mw)
    rounds = _c1_rounds(b, arms, stream=False)
    med, lat = rounds.median, rounds.runs
    rows, label = [], "floor: bare proxy + 2 Redis round trips"
    for p in ("p50_ms", "p99_ms"):
        base = med(b.direct.name, p)
        fl, mw = med(floor_t.name, p) - base, med(b.mw.name, p) - base
        note = f"Meterway in the same rounds: {mw:.3f} ms = {mw / fl:.2f}x the floor"
        rows.append(
            Row(
                f"plain c=1 added latency {p[:3]} (ms), {label}",
                base,
                med(b.bare.name, p) - base,
                fl,
                _errors(*lat[floor_t.name]),
                note,
            )
        )
    runs: dict[str, list[tuple[Run, float]]] = {t.name: [] for t in arms[1:]}
    for _ in range(b.d.throughput_rounds):
        for t in arms[1:]:
            runs[t.name].append(_measured(b, t, stream=False, c=32, seconds=b.d.throughput_s))
    (bare, bare_cpu), (fl_run, fl_cpu) = _median_run(runs["bare"]), _median_run(runs["floor"])
    mw_run, mw_cpu = _median_run(runs[b.mw.name])
    err = _errors(fl_run)
    rps_note = f"Meterway in the same rounds: {mw_run.rps:,.0f} = {mw_run.rps / fl_run.rps:.2f}x"
    cpu_note = f"Meterway in the same rounds: {mw_cpu:.0f} = {mw_cpu / fl_cpu:.2f}x the floor"
    return [
        *rows,
        Row(f"plain c=32 req/s, {label}", None, bare.rps, fl_run.rps, err, rps_note + " the floor"),
        Row(f"plain c=32 CPU ms / 1k req, {label}", None, bare_cpu, fl_cpu, err, cpu_note),
    ]


# What the gateway shares this machine with: Redis, PostgreSQL and the nginx upstream; wrk's
# own CPU is read from the waited-for children's usage.
SHARED = ("redis-server", "postgres", "nginx")


def _shared_cpu() -> tuple[dict[int, float], float]:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return cpu_by_pid(matching(*SHARED)), children.ru_utime + children.ru_stime


def _shared_cpu_since(start: tuple[dict[int, float], float]) -> float:
    now_procs, now_children = _shared_cpu()
    procs = sum(s - start[0].get(pid, 0.0) for pid, s in now_procs.items())
    return procs + now_children - start[1]


def workers(b: Bench, w2: Target, stream: bool) -> Row:
    """Two workers floating over both cores, against one pinned worker. Two cores hold at
    most 2 / (gateway CPU + shared CPU) requests per second, the shared CPU being what Redis,
    PostgreSQL, nginx and wrk spend per request on the same cores: the note gives that
    bound beside the measured ratio, so a machine too small for the target shows it."""
    start = _shared_cpu()
    run, cpu = _measured(b, w2, stream=stream, c=64, seconds=b.d.workers_s)
    shared = _shared_cpu_since(start) * 1e6 / run.requests if run.requests else 0.0
    w1 = b.max_rps[stream]
    bound = 2e6 / (cpu + shared) if cpu + shared else 0.0
    return Row(
        f"{MODES[stream]} c=64 req/s, WORKERS=2 (1,000 keys)",
        None,
        b.bare_rps.get(stream),
        run.rps,
        _errors(run),
        note=f"{run.rps / w1:.2f}x W=1 ({w1:,.0f}); ceiling: 1 bare proc; {cpu:.0f} CPU ms/1k"
        f" in the workers + {shared:.0f} in Redis, PostgreSQL, nginx and wrk: 2 cores hold"
        f" at most {bound:,.0f} req/s = {bound / w1:.2f}x W=1",
    )


def _soak_delay(b: Bench, target_rps: float, conns: int) -> int:
    """wrk has no rate option: calibrate a per-request delay with two short probes."""
    delay = max(1, round(conns * 1000 / target_rps - b.c1_p50[False]))
    for _ in range(2):
        probe = b.load(b.mw, stream=False, c=conns, seconds=2, delay_ms=delay)
        service_ms = conns * 1000 / max(probe.rps, 1.0) - delay
        delay = max(1, round(conns * 1000 / target_rps - service_ms))
    return delay


def soak(b: Bench, seconds: float, ceiling_rss: float) -> list[Row]:
    """Plain calls at ~70% of the best WORKERS=1 rate, RSS sampled every 5 s."""
    target_rps, conns = 0.7 * b.max_rps[False], 32
    delay = _soak_delay(b, target_rps, conns)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(5.0):
            samples.append(b.mw.rss())

    thread = threading.Thread(target=sample, daemon=True)
    start_rss = b.mw.rss()
    thread.start()
    run = b.load(b.mw, stream=False, c=conns, seconds=seconds, delay_ms=delay)
    stop.set()
    thread.join()
    end_rss = b.mw.rss()
    first = samples[0] if samples else start_rss
    drift = (max([*samples, end_rss]) - first) / first
    verdict = "flat" if drift <= 0.10 else "GROWING"
    pct = 100 * run.rps / b.max_rps[False]
    minute = max(1, min(12, len(samples) // 2))  # 12 samples of 5 s, or half a short soak
    head = statistics.mean(samples[:minute]) if samples else start_rss
    tail = statistics.mean(samples[-minute:]) if samples else end_rss
    return [
        Row(
            f"RSS MiB after {seconds:g}s soak (plain, {pct:.0f}% of max)",
            None,
            ceiling_rss,
            end_rss,
            _errors(run),
            note=(
                f"{run.rps:,.0f} req/s; start {start_rss:.1f}, first 5s sample {first:.1f}, "
                f"max {max([*samples, end_rss]):.1f}; drift {drift:+.1%} -> {verdict} (<=10%); "
                f"mean of the first / last {minute * 5} s: {head:.1f} / {tail:.1f} "
                f"({(tail - head) / head:+.1%})"
            ),
        )
    ]


@dataclass(frozen=True)
class Settled:
    debits: int
    backlog_at_start: int
    seconds: float


async def settled(prefix: str, timeout_s: float = 300.0) -> Settled:
    """Wait (gateway running) until the streams are empty and the ledger count stops moving."""
    client = aioredis.Redis.from_url(fixtures.REDIS_URL)
    keys, last, started = Keys(prefix), -1, time.monotonic()
    try:
        initial = (await backlog(client, keys)).length
        while time.monotonic() - started < timeout_s:
            queued = (await backlog(client, keys)).length
            count = await fixtures.ledger_debits()
            if queued == 0 and count == last:
                return Settled(count, initial, time.monotonic() - started)
            last = count
            await asyncio.sleep(0.5)
    finally:
        await client.aclose()
    raise TimeoutError("settlement backlog did not drain")


def ledger_rows(served: int, in_flight: int, s: Settled) -> list[Row]:
    """wrk stops with up to c requests in flight; the gateway completes and bills those."""
    extra = s.debits - served
    if extra == 0:
        verdict = "equal"
    elif 0 < extra <= in_flight:
        verdict = f"+{extra} rows, within the {in_flight} left in flight when wrk stopped"
    else:
        verdict = f"MISMATCH ({extra:+d}; in-flight bound {in_flight})"
    return [
        Row(
            "ledger debit rows after the settler drained",
            None,
            None,
            float(s.debits),
            note=f"2xx served by Meterway (wrk): {served:,} -> {verdict}",
        ),
        Row(
            "settler backlog when load stopped (messages)",
            None,
            None,
            float(s.backlog_at_start),
            note=f"in-process settler emptied it in {s.seconds:.1f}s (incl. 1s settle check)",
        ),
    ]


def settler_row(rows: int, seconds: float, gateway_rps: float) -> Row:
    rate = rows / seconds
    return Row(
        f"settler debits/s into PostgreSQL ({rows:,} pre-filled)",
        None,
        None,
        rate,
        note=f"{seconds:.2f}s; {rate / gateway_rps:.1f}x the gateway's best plain req/s",
    )
