"""What `meterway dev` and `meterway serve --embedded` do about their stores, for the CLI
(imported only by those two, so no other command loads this room).

`dev` embeds a store whose URL is not set when nothing answers on its default address;
`serve` embeds only when `--embedded` names it, then every store whose URL is not set, and
says in one line that it is for a single machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

import uvloop

from gateway.config import values as config_values
from gateway.devtools.embedded import EmbeddedFailed
from gateway.devtools.embedded.choice import Choice, answers, choose
from gateway.devtools.embedded.servers import Embedded, embedded_servers, state_dir
from gateway.stores.postgres.migrate import ensure_database

URL_SETTINGS = ("DATABASE_URL", "REDIS_URL", "REDIS_CLUSTER_URLS")
DATABASES = {"dev": "meterway_dev", "serve": "meterway"}


def given(env: Mapping[str, str], toml: Mapping[str, object]) -> dict[str, str | None]:
    """Each store's URL settings as set explicitly, in the environment or the TOML file."""
    out: dict[str, str | None] = {}
    for name in URL_SETTINGS:
        raw = env.get(name, toml.get(name.lower()))
        out[name] = None if raw is None or not str(raw).strip() else str(raw)
    return out


def stores_line(choice: Choice, embedded: Embedded) -> str:
    """For the banner: where each store is, and for an embedded one, its data."""
    pg = f"embedded ({choice.why_postgres})" if choice.embed_postgres else choice.why_postgres
    rd = f"embedded ({choice.why_redis})" if choice.embed_redis else choice.why_redis
    line = f"PostgreSQL: {pg}; Redis: {rd}."
    if choice.any:
        line += (
            f"\nEmbedded {embedded.names()} data: {embedded.directory} (kept between runs;"
            " `meterway dev --reset` starts clean; stopped with this command)."
        )
    return line


def single_machine_line(embedded: Embedded) -> str:
    return (
        f"meterway: embedded {embedded.names()} in {embedded.directory}: for a single machine"
        " only (one host's disk, no replica); set DATABASE_URL and REDIS_URL to your own"
        " servers to run more than one gateway"
    )


Run = Callable[[argparse.Namespace, dict[str, str]], int]


def with_embedded(args: argparse.Namespace, env: dict[str, str], run: Run) -> int:
    """`run(args, env)` with the embedded servers `args.command` needs started, their URLs
    in `env`, and stopped after it (Ctrl-C included)."""
    section = config_values.read_toml(args.config).get("gateway", {})
    toml = section if isinstance(section, dict) else {}
    choice = choose(given(env, toml), answers if args.command == "dev" else None)
    reset = bool(getattr(args, "reset", False))
    if reset and not choice.any:
        print(
            "meterway: --reset clears the embedded servers' data, and this run embeds none"
            f" (PostgreSQL: {choice.why_postgres}; Redis: {choice.why_redis})",
            file=sys.stderr,
        )
        return 2
    directory = state_dir(env, args.command)
    try:
        with embedded_servers(choice, directory, DATABASES[args.command], reset) as embedded:
            env = {**env, **embedded.urls}
            if args.command == "serve":
                _serve_embedded(args, embedded)
            else:
                args.stores_line = stores_line(choice, embedded)
            return run(args, env)
    except EmbeddedFailed as exc:
        print(f"meterway: embedded servers: {exc}", file=sys.stderr)
        return 1


def _serve_embedded(args: argparse.Namespace, embedded: Embedded) -> None:
    """Said once; an embedded database is created and migrated before serving (one host,
    so no rolling upgrade waits on a migration). Both URLs set: nothing embedded, nothing
    said."""
    if embedded.names():
        print(single_machine_line(embedded), file=sys.stderr, flush=True)
    if embedded.pg_server is not None:
        uvloop.run(ensure_database(embedded.urls["DATABASE_URL"]))
        args.migrate = True
