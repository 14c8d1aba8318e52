"""Every log line Meterway or aiohttp writes is redacted before any handler sees it.

aiohttp logs a malformed request with its raw bytes, `Authorization: Bearer mw-...`
included; a provider error may quote the operator's key. A log record factory formats each
record's message (and traceback) at creation and scrubs it (gateway/scrubbing.py: credentials
by shape, and every secret the operator configured, gateway/config/secrets.py), so no
handler, formatter or test capture ever holds the secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from gateway.scrubbing import scrub

_FORMATTER = logging.Formatter()


def _redacted(record: logging.LogRecord, secrets: set[str]) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call: leave it to logging's own error path
        return record
    record.msg, record.args = scrub(message, secrets), None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(_FORMATTER.formatException(record.exc_info), secrets)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info, secrets)
    return record


def install_log_redaction(secrets: Iterable[str] = ()) -> None:
    """Wraps the current record factory once per process; `secrets` (the settings'
    declared ones) join those every later line is scrubbed of."""
    previous = logging.getLogRecordFactory()
    known: set[str] | None = getattr(previous, "meterway_redacts", None)
    if known is not None:
        known.update(secrets)
        return
    known = set(secrets)

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redacted(previous(*args, **kwargs), known)

    factory.meterway_redacts = known  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
