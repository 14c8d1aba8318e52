"""A cheaper `__init__` for the frozen dataclasses made on every proxied request.

A frozen dataclass cannot assign its own fields (its `__setattr__` refuses), so the
`__init__` dataclasses generates looks up and calls `object.__setattr__` for every field:
~0.3 us a field, 2.2 us for seven, and a proxied request makes about ten such values (the
call, its sizing, the admission and its windows, the usage, the settlement, the pending
debit, the provider target). `quick_init` gives a frozen, slotted dataclass an `__init__`
that stores each field through its slot's descriptor instead, which skips that lookup
(1.25 us for seven). Nothing else changes: equality, hashing, `repr`, `replace`, and
assignment raising `FrozenInstanceError` are the dataclass's own, and mypy still sees the
class as the frozen dataclass it is declared as.

It is called after the class (`quick_init(Usage)`), not put on it as a decorator: mypyc
compiles a class with an unknown decorator as an ordinary Python class, whose attributes
cost a dictionary lookup each. In the compiled build (setup.py) the class is mypyc's own
and keeps its `__init__`, written out in the class because mypyc leaves a generated one to
the interpreter (~5,000 instructions a call); tests/unit/test_written_inits.py checks a
written one against the fields.
"""

from __future__ import annotations

import dataclasses
from types import FunctionType
from typing import Any, TypeVar

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Replace the generated `__init__` of `@dataclass(frozen=True, slots=True)` `cls`.

    Only plain fields are supported (positional or keyword, with or without a default);
    anything else (a default factory, keyword-only or non-init fields, `__post_init__`)
    raises TypeError here, at import, rather than build a different constructor."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not params or not isinstance(cls.__dict__.get("__init__"), FunctionType):
        return cls  # the compiled build's class (setup.py): its written __init__ is C
    params_ok = all(
        f.init and not f.kw_only and f.default_factory is dataclasses.MISSING for f in params
    )
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    shaped = frozen and "__slots__" in cls.__dict__ and not hasattr(cls, "__post_init__")
    if not (params_ok and shaped):
        raise TypeError(f"quick_init takes plain fields of a frozen, slotted dataclass: {cls}")
    env: dict[str, Any] = {}
    signature, body = [], []
    for i, f in enumerate(params):
        env[f"_set{i}"] = getattr(cls, f.name).__set__
        if f.default is dataclasses.MISSING:
            signature.append(f.name)
        else:
            env[f"_default{i}"] = f.default
            signature.append(f"{f.name}=_default{i}")
        body.append(f"        _set{i}(self, {f.name})")
    source = (
        f"def _make({', '.join(env)}):\n"
        f"    def __init__(self, {', '.join(signature)}):\n" + "\n".join(body) + "\n"
        "    return __init__\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, {}, namespace)
    init = namespace["_make"](**env)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
