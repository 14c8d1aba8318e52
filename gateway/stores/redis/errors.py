"""Redis library errors become store errors here, and only here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from gateway.stores.errors import HotStoreUnavailable, cause
from gateway.stores.redis.wire.resp import ReplyError
from gateway.telemetry import metrics

# OSError covers the lean wire client's WireError (a ConnectionError) and socket failures.
REDIS_FAILURES = (RedisError, OSError, ReplyError)


@contextmanager
def map_redis_errors() -> Iterator[None]:
    """Like httpx's map_httpcore_exceptions: one translation for every Redis command
    (each one counted in meterway_store_errors_total)."""
    try:
        yield
    except REDIS_FAILURES as exc:
        raise unavailable(exc) from exc


def unavailable(exc: Exception) -> HotStoreUnavailable:
    """The translation itself, for the hot path's scripts (HotStore._call), which catch
    REDIS_FAILURES directly: a generator-based context costs a few microseconds a call."""
    metrics().store_errors.labels("redis").inc()
    return HotStoreUnavailable(cause(exc))
