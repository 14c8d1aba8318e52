"""Names read from JSON a client, a provider or an operator wrote."""

from __future__ import annotations

from collections.abc import Container
from typing import TypeGuard


def one_of(value: object, names: Container[str]) -> TypeGuard[str]:
    """Whether `value` is one of `names`. Only a string can be: a JSON object or list is
    unhashable, and a bare `in` on a set or dict would raise TypeError for it instead of
    answering no (hostile input must get its clear error, not a 500)."""
    return isinstance(value, str) and value in names
