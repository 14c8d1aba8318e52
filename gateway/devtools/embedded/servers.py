"""The embedded servers of one command: under `$XDG_STATE_HOME/meterway/<command>`
(`~/.local/state/meterway/dev` by default), locked to one process at a time, wiped first by
`--reset`, stopped when the command ends (Ctrl-C included)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.devtools.embedded import EmbeddedFailed
from gateway.devtools.embedded.choice import Choice
from gateway.devtools.embedded.postgres import EmbeddedPostgres, start_postgres
from gateway.devtools.embedded.redis import EmbeddedRedis, start_redis


def state_dir(env: Mapping[str, str], command: str) -> Path:
    """XDG's state directory (an unset or relative XDG_STATE_HOME means ~/.local/state)."""
    home = env.get("XDG_STATE_HOME", "")
    base = Path(home) if os.path.isabs(home) else Path.home() / ".local" / "state"
    return base / "meterway" / command


@dataclass
class Embedded:
    """The servers running, and the URL settings that point the gateway at them."""

    directory: Path
    database: str
    pg_server: EmbeddedPostgres | None = None
    redis_server: EmbeddedRedis | None = None
    urls: dict[str, str] = field(default_factory=dict)

    def names(self) -> str:
        running = [
            n for n, s in (("PostgreSQL", self.pg_server), ("Redis", self.redis_server)) if s
        ]
        return " and ".join(running)

    def stop(self) -> None:
        """Redis first (the gateway is done with both by now), then PostgreSQL."""
        if self.redis_server is not None:
            self.redis_server.stop()
            self.redis_server = None
        if self.pg_server is not None:
            self.pg_server.stop()
            self.pg_server = None


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise EmbeddedFailed(
                f"another meterway is using the embedded servers in {directory}"
            ) from exc
        yield


def _reset(directory: Path) -> None:
    for name in ("postgres", "redis"):
        shutil.rmtree(directory / name, ignore_errors=True)


def _start(choice: Choice, embedded: Embedded) -> None:
    if choice.embed_postgres:
        embedded.pg_server = start_postgres(embedded.directory / "postgres")
        embedded.urls["DATABASE_URL"] = embedded.pg_server.url(embedded.database)
    if choice.embed_redis:
        embedded.redis_server = start_redis(embedded.directory / "redis")
        embedded.urls["REDIS_URL"] = embedded.redis_server.url


@contextlib.contextmanager
def embedded_servers(
    choice: Choice, directory: Path, database: str, reset: bool = False
) -> Iterator[Embedded]:
    """Start what `choice` names under `directory`, yield them, stop them."""
    embedded = Embedded(directory, database)
    if not choice.any:
        yield embedded
        return
    with _locked(directory):
        if reset:
            _reset(directory)
        try:
            _start(choice, embedded)
            yield embedded
        finally:
            embedded.stop()
