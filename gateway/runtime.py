"""Running the server: one process, or several sharing the port."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import signal

from gateway import telemetry
from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.http.server import GatewayRunner, start_sites
from gateway.stores.connect import Stores, open_stores

PR_SET_PDEATHSIG = 1  # linux/prctl.h
# The collector's young-generation threshold in a serving process (CPython's default: 700
# container objects allocated and not yet freed). See quiet_collector.
YOUNG_GC_THRESHOLD = 7000

__all__ = ["Stores", "open_stores", "serve", "serve_workers"]  # stores: see stores/connect.py


async def serve(
    settings: Settings, *, reuse_port: bool = False, ready: asyncio.Event | None = None
) -> None:
    """Run until SIGINT/SIGTERM, then drain in-flight settlements and stop."""
    runner = GatewayRunner(create_app(settings), settings)
    await runner.setup()
    try:
        await start_sites(runner, settings, reuse_port=reuse_port)
    except BaseException:  # a taken port: stop what setup started, or the process lingers
        await runner.cleanup()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    quiet_collector()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def quiet_collector() -> None:
    """Once a process is serving: its start-up objects (the tokenizers' vocabularies, the
    app, the modules) leave the cyclic collector's sight, and the young generation is
    collected 10x less often. Serving makes no reference cycles at a steady state (a
    request's objects are freed by their reference counts), so the collector found nothing
    while it cost CPU, and every few seconds a full collection walked the vocabularies'
    dicts while holding the event loop (docs/performance.md has the figures).
    Cycles made on error paths (an exception and
    its traceback) are still collected, up to YOUNG_GC_THRESHOLD objects later."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, oldest)


def _die_with(parent: int) -> None:
    """A worker must not outlive its parent: a parent killed with SIGKILL runs no cleanup,
    and an orphaned worker would keep serving (and billing) on the port unsupervised."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def serve_workers(settings: Settings) -> None:
    """WORKERS > 1: fork that many processes sharing the port with SO_REUSEPORT; their
    metrics go to one multi-process directory, so any worker's /metrics sums them all."""
    import uvloop

    if settings.workers > 1:
        telemetry.enable_multiprocess()
    children = []
    for _ in range(settings.workers - 1):
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            _die_with(parent)
            uvloop.run(serve(settings, reuse_port=True))
            os._exit(0)
        children.append(pid)
    try:
        uvloop.run(serve(settings, reuse_port=settings.workers > 1))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            telemetry.worker_exited(pid)
        if settings.workers > 1:
            telemetry.remove_multiprocess_dir()
