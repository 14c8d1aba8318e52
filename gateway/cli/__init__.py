"""The `meterway` command: one subcommand per job, each opening only what it needs."""

from gateway.cli.main import main

__all__ = ["main"]
