"""`meterway dev` as people run it (issue 48): on a taken port it fails at once with one
line naming the port and how to choose another, instead of waiting silently; Ctrl-C stops
it within 2 s; --port moves it."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.cli.dev_guard import DEV_ADMIN_KEY
from tests.bench.procs import wait_port
from tests.support.harness import REDIS_URL, drop_prefix, free_port, temp_database


@asynccontextmanager
async def dev(*argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`meterway dev ARGV` on its own database and Redis prefix, killed if still running."""
    prefix = f"mwdev{secrets.token_hex(4)}"
    async with temp_database() as dsn:
        env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix}
        env.update(ADMIN_API_KEY=DEV_ADMIN_KEY)
        env.pop("LISTEN_ADDR", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "dev", *argv,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await drop_prefix(REDIS_URL, prefix)


async def test_a_taken_port_fails_fast_and_says_how_to_move() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with dev("--port", str(port)) as proc:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
    said = err.decode()
    assert proc.returncode == 1, said
    assert f"port {port} is taken" in said and f"--port {port + 1}" in said, said
    assert "--host" in said and "LISTEN_ADDR" in said and "Traceback" not in said, said
    assert b"Demo key" not in out


async def test_ctrl_c_stops_it_within_two_seconds() -> None:
    port = free_port()
    async with dev("--port", str(port)) as proc:
        await asyncio.to_thread(wait_port, port, 60.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 10)
        took = time.monotonic() - started
    assert took < 2.0, (took, err.decode()[-2000:])
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]
    assert f"127.0.0.1:{port}".encode() in out  # --port moved it
    assert b"PostgreSQL: as set; Redis: as set." in out  # set URLs win: nothing embedded
