"""The `meterway` command (`gateway.cli.main:main`): one subcommand per job, each opening
only what it needs. Importing this package imports nothing else, so the HTTP client
commands start without the server's modules."""
