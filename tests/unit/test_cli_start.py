"""The HTTP client commands (billing, admin, audit, auth) start without the server's
modules: gateway/cli/main.py parses them with the clients' parsers alone and imports
gateway/cli/server.py only for a server command. They started in 1.3 s, now in about 0.15 s."""

from __future__ import annotations

import subprocess
import sys

SERVER = ("gateway.cli.server", "gateway.runtime", "gateway.app", "gateway.stores.connect")
PROBE = """
import sys
from gateway.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
print("LOADED:" + ",".join(m for m in {server!r} if m in sys.modules))
"""


def loaded(*argv: str, among: tuple[str, ...] = SERVER) -> list[str]:
    code = PROBE.format(argv=list(argv), server=among)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = run.stdout.strip().splitlines()[-1]
    assert line.startswith("LOADED:"), run.stdout
    return [m for m in line.removeprefix("LOADED:").split(",") if m]


def test_a_client_command_loads_no_server_module() -> None:
    for argv in (("admin", "--help"), ("billing", "--help"), ("--config", "x.toml", "audit", "-h")):
        assert loaded(*argv) == [], argv


def test_the_full_help_and_a_server_command_still_parse_everything() -> None:
    assert "gateway.cli.server" not in loaded("--help")  # parsers only
    assert "gateway.cli.server" in loaded("prices", "show", "no-such-model")


def test_a_store_command_loads_its_own_modules_not_the_servers_nor_other_commands() -> None:
    """`meterway ledger verify`, `reconcile providers`: the ledger's code, not the app (a
    second of imports on every start) nor another command's modules."""
    others = ("gateway.app", "gateway.runtime", "gateway.background", "gateway.cli.commands.export",
              "gateway.cli.commands.receipt", "gateway.cli.commands.admin")  # fmt: skip
    for argv in (("ledger", "verify", "--help"), ("reconcile", "providers", "--help")):
        assert loaded(*argv, among=others) == [], argv
