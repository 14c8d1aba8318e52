"""The operator's secrets, read off their one declaration: every setting declared
`field(repr=False)` (gateway/config/*.py) is a secret, so a new one is scrubbed from every
log line (gateway/logs.py) without being listed again. A URL's password is taken out too:
a server echoes the password it was sent, not the whole `postgres://user:pw@host` URL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from gateway.scrubbing import url_secrets


def declared_secrets(settings: object) -> tuple[str, ...]:
    """Every text secret the settings hold (and each URL's password), once each."""
    return tuple(dict.fromkeys(s for s in _walk(settings, False) if s))


def _walk(value: object, secret: bool) -> Iterator[str]:
    if isinstance(value, str):
        if secret:
            yield value
            yield from url_secrets(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name), secret or not f.repr)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item, secret)
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from _walk(item, secret)
