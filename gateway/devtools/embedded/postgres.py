"""An embedded PostgreSQL 16 from the `pgserver` wheel: its data directory initialized once,
the server listening on a Unix socket in that directory only (no TCP port to collide with or
expose), stopped by `stop()`.

pgserver starts the server (as root it runs it as its own `pgserver` user, since PostgreSQL
refuses root); stopping is ours, with `pg_ctl stop -m fast`, because pgserver stops only
from an atexit hook, which `meterway dev`'s quick exit skips.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.devtools.embedded import EmbeddedFailed


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (pgserver keeps its lock there).
        warnings.simplefilter("ignore")
        try:
            import pgserver

            logging.getLogger("pgserver").setLevel(logging.WARNING)  # a line per command
        except ImportError as exc:
            raise EmbeddedFailed("pgserver is not installed (pip install pgserver)") from exc
    return pgserver


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    socket_dir: Path
    system_user: str | None  # the user the server runs as when started by root

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir))}"

    def stop(self) -> None:
        _pgserver().pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self.system_user
        )


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Initialize `data_dir` if new, start the server (or adopt one a killed run left on
    this directory) and return it."""
    pgserver = _pgserver()
    # A run killed before it could stop leaves its pid on pgserver's list of handles:
    # this directory is ours alone (servers.py holds its lock), so the list starts empty.
    (data_dir / ".handle_pids.json").unlink(missing_ok=True)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(data_dir, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError) as exc:
        raise EmbeddedFailed(f"PostgreSQL did not start: {exc} (log: {data_dir / 'log'})") from exc
    info = server.get_postmaster_info()
    return EmbeddedPostgres(data_dir, Path(info.socket_dir), server.system_user)
