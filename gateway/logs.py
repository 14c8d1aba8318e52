"""Every log line Meterway or aiohttp writes is redacted before any handler sees it.

aiohttp logs a malformed request with its raw bytes, `Authorization: Bearer mw-...`
included; a provider error may quote the operator's key. A log record factory formats each
record's message (and traceback) at creation and scrubs it, so no handler, formatter or
test capture ever holds the secret.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.llm.scrub import scrub

_FORMATTER = logging.Formatter()


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call: leave it to logging's own error path
        return record
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(_FORMATTER.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def install_log_redaction() -> None:
    """Idempotent: wraps the current record factory once per process."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "meterway_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redacted(previous(*args, **kwargs))

    factory.meterway_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
