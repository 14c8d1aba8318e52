"""`python -m tests.bench [--quick] [--soak SECONDS] [--profile] [--keep-db]`

Measures, in one run, a direct call to a fixed-body nginx upstream, a bare aiohttp proxy
(the ceiling) and `meterway serve` (auth, the 4 windows of the "pro" plan plus 2 key
quotas, reservation, settlement, in-process settler), prints a markdown table and writes
it to tests/bench/results/latest.md. The gateway or bare proxy runs on CPU 0; wrk, nginx
and py-spy on CPU 1; Redis and PostgreSQL are left unpinned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import uvloop

from gateway.config.settings import Settings, load_settings
from tests.bench import fixtures, phases
from tests.bench.fixtures import Population
from tests.bench.load import write_body
from tests.bench.procs import free_port
from tests.bench.profile import record, summary
from tests.bench.profiles import FULL, QUICK, Durations
from tests.bench.report import Row, document
from tests.bench.settler_bench import settler_throughput
from tests.bench.targets import (
    LOAD_CPU,
    Target,
    gateway_env,
    start_bare,
    start_meterway,
    start_settler,
)
from tests.bench.upstream import start_nginx

RESULTS = Path(__file__).resolve().parent / "results"


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short durations (~2.5 minutes)")
    p.add_argument("--soak", type=float, help="soak seconds (default 60; 10 with --quick)")
    p.add_argument("--profile", action="store_true", help="py-spy the gateway under load")
    p.add_argument("--keep-db", action="store_true", help="keep the meterway_bench database")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000, help="keys in all (spread over accounts)")
    return p.parse_args()


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _settings(config_dir: Path) -> Settings:
    return load_settings(gateway_env("http://127.0.0.1:1", free_port(), config_dir, 1))


def _prepare(work: Path, args: argparse.Namespace) -> tuple[Settings, Population]:
    settings = _settings(fixtures.bench_config(work / "config"))

    async def go() -> Population:
        await fixtures.drop_prefix()
        await fixtures.fresh_database()
        return await fixtures.populate(settings, args.accounts, args.keys // args.accounts)

    pop = uvloop.run(go())
    (work / "keys-all.txt").write_text("\n".join(pop.secrets) + "\n")
    (work / "keys-hot.txt").write_text(pop.secrets[0] + "\n")
    for stream in (False, True):
        write_body(work / f"body-{phases.MODES[stream]}.json", stream)
    return settings, pop


def bench(d: Durations, work: Path, upstream: str, bare: Target, mw: Target) -> phases.Bench:
    """The arms and the files `_prepare` wrote into `work` (keys, bodies)."""
    return phases.Bench(
        d,
        work / "keys-all.txt",
        work / "keys-hot.txt",
        {s: work / f"body-{phases.MODES[s]}.json" for s in (False, True)},
        Target("direct", upstream),
        bare,
        mw,
    )


@contextlib.contextmanager
def _cleanup(keep_db: bool) -> Iterator[None]:
    try:
        yield
    finally:
        dropped = uvloop.run(fixtures.drop_prefix())
        _say(f"dropped {dropped} Redis keys under {fixtures.PREFIX}:")
        if not keep_db:
            uvloop.run(fixtures.drop_database())


def _profile(b: phases.Bench) -> list[str]:
    assert b.mw.proc is not None
    out = RESULTS / "profile-plain-c64.txt"
    spy = record(b.mw.proc.pid, b.d.profile_s, out)
    time.sleep(0.5)
    b.load(b.mw, stream=False, c=64, seconds=b.d.profile_s)
    spy.wait(60)
    return [
        "## Profile (plain, c=64, 1,000 keys; py-spy, not part of the figures)",
        "",
        *summary(out),
    ]


def _measure(b: phases.Bench, args: argparse.Namespace, soak_s: float) -> list[Row]:
    rows: list[Row] = []
    for t in (b.direct, b.bare, b.mw):
        b.warm(t)
    for stream in (False, True):
        _say(f"latency c=1 ({phases.MODES[stream]})")
        rows += phases.latency(b, stream)
    for stream in (False, True):
        for c in (32, 64):
            _say(f"throughput c={c} ({phases.MODES[stream]})")
            rows += phases.throughput(b, stream, c)
    _say(f"soak {soak_s:g}s")
    rows += phases.soak(b, soak_s, b.bare.rss())
    _say("floor: the bare proxy plus two Redis round trips")
    floor_t = start_bare(b.direct.url, b.keys_all.parent, fixtures.REDIS_URL)
    try:
        b.warm(floor_t)
        rows += phases.floor(b, floor_t)
    finally:
        floor_t.close()
    return rows


def _apart(b: phases.Bench, upstream: str, settings: Settings, work: Path) -> list[Row]:
    gateway = start_meterway(
        upstream, settings.config_dir, work, extra_env={"SETTLER_DISABLED": "1"}
    )
    gateway.name = "meterway-apart"  # its 2xx count toward the ledger check
    settler: Target | None = None
    try:
        b.warm(gateway)
        _say("latency c=1, ledger written afterwards")
        rows = phases.deferred(b, gateway)
        _say("settler in its own process")
        settler = start_settler(upstream, settings.config_dir, work)
        rows += phases.apart(b, gateway, settler)
        asyncio.run(phases.settled(fixtures.PREFIX))  # its settler writes what it served
        return rows
    finally:
        gateway.close()
        if settler is not None:
            settler.close()


def main() -> int:
    args = _args()
    d = QUICK if args.quick else FULL
    soak_s = args.soak if args.soak is not None else d.soak_s
    RESULTS.mkdir(exist_ok=True)
    extra: list[str] = []
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="mwbench-") as tmp, _cleanup(args.keep_db):
        work = Path(tmp)
        _say("setup: database, accounts, keys, rebuild")
        settings, pop = _prepare(work, args)
        upstream = start_nginx(free_port(), LOAD_CPU)
        bare = start_bare(upstream.url, work)
        mw = start_meterway(upstream.url, settings.config_dir, work)
        b = bench(d, work, upstream.url, bare, mw)
        try:
            rows = _measure(b, args, soak_s)
            if args.profile:
                _say("profile")
                extra = _profile(b)
            mw.close()
            rows += _apart(b, upstream.url, settings, work)
            _say("WORKERS=2")
            w2 = start_meterway(upstream.url, settings.config_dir, work, workers=2)
            try:
                b.warm(w2)
                rows += [phases.workers(b, w2, s) for s in (False, True)]
                _say("ledger check (the gateway's settler drains the streams)")
                done = asyncio.run(phases.settled(fixtures.PREFIX))
                rows += phases.ledger_rows(b.served, b.in_flight, done)
            finally:
                w2.close()
            _say(f"settler: {d.settler_messages:,} messages")
            n, secs = uvloop.run(settler_throughput(settings, pop, d.settler_messages))
            rows.append(phases.settler_row(n, secs, b.max_rps[False]))
        finally:
            for t in (mw, bare):
                t.close()
            upstream.close()
    setup = [
        f"run: {'--quick' if args.quick else 'full'}, soak {soak_s:g}s, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}",
        "gateway / bare proxy pinned to CPU 0; wrk (-t1), nginx (1 worker) on CPU 1; "
        "Redis and PostgreSQL unpinned",
        f"Meterway: WORKERS=1, {args.accounts} accounts on 'pro' (4 windows, limits x"
        f"{fixtures.SCALE:,}), {args.keys} keys with 2 key quotas, in-process settler",
        "latency rows: Direct = absolute direct figure, other columns = added over direct",
        "Errors = non-2xx / socket errors (wrk); throughput: median of "
        f"{d.throughput_rounds} interleaved round(s) of {d.throughput_s:g}s per arm",
        f"load average before/after: {' '.join(load_before)} / "
        f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])} "
        "(other processes on CPU 0 skew the figures)",
    ]
    text = document("Meterway benchmark", setup, rows, extra)
    (RESULTS / "latest.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
