# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The shape of a hot value: a plain `@final` class whose `__init__` is the one declaration of
its fields (`self.field: Final = field`, one line a parameter, defaults as the parameters'),
as mypy's and charset-normalizer's own hot values are. `Value` derives the rest from what
that `__init__` set: equality, hashing and `repr` as a frozen dataclass has them, `replace`,
and frozenness. So a field is added in one place, and the compiled build (setup.py) runs the
`__init__` as C: mypyc leaves a dataclass's generated one to the interpreter (~5,000
instructions a value), and a decorated class is not one of its native classes at all.

What a value's fields are is read from the instance, not declared again: its `__getstate__`,
which is its `__dict__` in the pure build (so the classes declare no `__slots__`; mypyc
ignores them anyway) and the native attributes in the compiled one.
tests/unit/test_hot_values.py holds every hot value to this shape."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import TypeVar, cast

V = TypeVar("V", bound="Value")


class Value:
    """A frozen value: equal to another of its class with equal fields, hashed and shown by
    its fields, never assigned to once built: its fields are `Final` (mypy refuses the
    assignment; the compiled build's native attributes are read-only) and, in the pure
    build, `_set_once` refuses it at run time."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return fields(self) == fields(other)

    def __hash__(self) -> int:
        return hash(tuple(fields(self).values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in fields(self).items())
        return f"{type(self).__qualname__}({shown})"


def _set_once(self: Value, name: str, value: object) -> None:
    """A Python class's `__setattr__`: its `__init__` sets each field once, then none is
    assigned again (FrozenInstanceError, as a frozen dataclass refuses). Costs what the
    `object.__setattr__` of a frozen dataclass's `__init__` did."""
    state = self.__dict__
    if name in state:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    state[name] = value


# Only where `Value` is a Python class (the pure build): mypyc's native classes refuse an
# assignment to a `Final` attribute themselves (AttributeError: not writable), and mypyc
# sends every assignment of a class that has a `__setattr__`, its own `__init__`'s too,
# through it, where the native `__init__` stores the attributes directly.
if not hasattr(Value, "__mypyc_attrs__"):
    setattr(Value, "__setattr__", _set_once)  # noqa: B010 (mypy: no assigning to a method)


def fields(value: object) -> dict[str, object]:
    """A value's fields by name, in the order its `__init__` sets them (not to be changed)."""
    return cast(dict[str, object], value.__getstate__())


def replace(value: V, **changes: object) -> V:
    """`value` with `changes`, built by its own `__init__` (as `dataclasses.replace` does): a
    name that is not a field is a TypeError."""
    return type(value)(**{**fields(value), **changes})
