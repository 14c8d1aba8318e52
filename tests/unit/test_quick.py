"""quick_init: the hot path's frozen dataclasses built by a cheaper __init__ behave as the
dataclass's own would: every field set, defaults applied, still frozen, still comparable."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import billing.usage
from billing.admission import Admitted, RateWindow
from billing.quick import quick_init
from billing.usage import Usage
from gateway.llm.calls import Call
from gateway.llm.endpoint import Sizing
from gateway.llm.providers import Target
from gateway.stores.records import PendingDebit, Settlement

HOT = (Admitted, RateWindow, Usage, Call, Sizing, Target, PendingDebit, Settlement)
# The compiled build's classes are mypyc's own, with their written __init__ (a no-op for
# quick_init; test_written_inits.py holds them), and check their fields' types.
pure_only = pytest.mark.skipif(
    not billing.usage.__file__.endswith(".py"), reason="quick_init leaves compiled classes be"
)


@pure_only
@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
def test_every_field_is_set_by_position_and_by_name(cls: type[Any]) -> None:
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    fields = dataclasses.fields(cls)
    values = [object() for _ in fields]
    by_position, by_name = (
        cls(*values),
        cls(**{f.name: v for f, v in zip(fields, values, strict=True)}),
    )
    for f, v in zip(fields, values, strict=True):
        assert getattr(by_position, f.name) is v and getattr(by_name, f.name) is v
    assert by_position == by_name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_position, fields[0].name, 1)


@pure_only
@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
def test_defaults_apply_and_missing_arguments_are_refused(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING]
    made = cls(*[object() for _ in required])
    for f in fields[len(required) :]:
        assert getattr(made, f.name) == f.default
    if required:
        with pytest.raises(TypeError):
            cls(*[object() for _ in required[1:]])
    with pytest.raises(TypeError):
        cls(*[object() for _ in fields], object())


def test_replace_and_hash_are_the_dataclass_s() -> None:
    usage = Usage(input_tokens=10, output_tokens=4)
    assert dataclasses.replace(usage, output_tokens=5) == Usage(10, 0, 0, 5)
    assert hash(usage) == hash(Usage(10, 0, 0, 4)) and usage != Usage(10, 0, 0, 5)


def test_what_it_cannot_build_the_same_way_is_refused_at_import() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Named:
        n: int

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        n: int

    @dataclasses.dataclass(slots=True)
    class Mutable:
        n: int

    for cls in (Factory, Checked, Named, Unslotted, Mutable):
        with pytest.raises(TypeError):
            quick_init(cls)
