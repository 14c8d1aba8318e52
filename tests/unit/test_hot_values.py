"""A hot value declares its fields once: a plain `@final` class whose `__init__` sets each
parameter, in order, to the field of its name and does nothing else (`self.f: Final = f` on
a frozen one, a `billing.values.Value`; `self.f = f` on a mutable one), with no dataclass, no
field declared in the class body and no `__slots__`. Adding a field is then one edit, and
everything reads it from there: equality, hashing, `repr`, `replace` and frozenness
(billing/values.py), and the compiled build's native attributes (mypyc runs that `__init__`
as C, where it leaves a dataclass's generated one to the interpreter).

Found in the sources (a subclass of `Value`, or `MUTABLE`), so that the check holds in both
builds: the compiled class's `__init__` is C, with no source to read."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

from billing import values
from billing.values import Value
from gateway import build

ROOT = Path(__file__).resolve().parents[2]
COMPILED = build.COMPILED
# The hot values that change while a request is served (their fields are not `Final`).
MUTABLE = {"Hold", "StreamOutcome"}
# What refuses an assignment to a frozen value's field: the pure build's FrozenInstanceError
# (billing/values.py), the compiled build's read-only native attribute (an AttributeError).
FROZEN = AttributeError if COMPILED else dataclasses.FrozenInstanceError


def _hot_values() -> list[tuple[type[Any], ast.ClassDef]]:
    found = []
    for package in ("billing", "gateway"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and (
                    node.name in MUTABLE or "Value" in map(ast.unparse, node.bases)
                ):
                    found.append((getattr(importlib.import_module(module), node.name), node))
    return found


HOT_VALUES = _hot_values()
IDS = [cls.__qualname__ for cls, _ in HOT_VALUES]


def _init(node: ast.ClassDef) -> ast.FunctionDef:
    inits = [i for i in node.body if isinstance(i, ast.FunctionDef) and i.name == "__init__"]
    assert len(inits) == 1, f"{node.name} has no __init__ of its own"
    return inits[0]


def _params(node: ast.ClassDef) -> list[str]:
    return [p.arg for p in _init(node).args.args[1:]]


def test_the_hot_paths_values_have_the_one_shape() -> None:
    names = {cls.__name__ for cls, _ in HOT_VALUES}
    assert {"SSEEvent", "Usage", "Call", "Admitted", "Settlement", "Hold"} <= names
    assert names >= MUTABLE


@pytest.mark.parametrize(("cls", "node"), HOT_VALUES, ids=IDS)
def test_its_init_is_the_one_declaration_of_its_fields(cls: type[Any], node: ast.ClassDef) -> None:
    assert [ast.unparse(d) for d in node.decorator_list] == ["final"], node.name
    declared = [
        ast.unparse(item) for item in node.body if isinstance(item, ast.AnnAssign | ast.Assign)
    ]
    assert not declared, f"{node.name} declares {declared} in its body, beside its __init__"
    init = _init(node)
    assert not init.args.kwonlyargs and init.args.vararg is None and init.args.kwarg is None
    frozen = node.name not in MUTABLE
    body = init.body[1:] if ast.get_docstring(init) is not None else init.body
    want = [f"self.{p}: Final = {p}" if frozen else f"self.{p} = {p}" for p in _params(node)]
    assert [ast.unparse(statement) for statement in body] == want, node.name


@pytest.mark.parametrize(("cls", "node"), HOT_VALUES, ids=IDS)
def test_the_running_class_is_that_declaration(cls: type[Any], node: ast.ClassDef) -> None:
    """In the compiled build a native class whose attributes are exactly the parameters."""
    assert not dataclasses.is_dataclass(cls), cls
    assert issubclass(cls, Value) == (node.name not in MUTABLE)
    if COMPILED:
        assert cls.__mypyc_attrs__ == tuple(_params(node)), cls
        assert not inspect.isfunction(cls.__init__), f"{cls.__qualname__} runs as Python"
    else:
        assert list(inspect.signature(cls).parameters) == _params(node)


@pytest.mark.skipif(COMPILED, reason="the compiled classes check their fields' types")
@pytest.mark.parametrize(("cls", "node"), HOT_VALUES, ids=IDS)
def test_a_field_added_to_the_init_reaches_everything(cls: type[Any], node: ast.ClassDef) -> None:
    marks = {name: object() for name in _params(node)}
    value = cls(**marks)
    assert values.fields(value) == marks and list(values.fields(value)) == list(marks)
    for name, mark in marks.items():
        assert getattr(value, name) is mark
    if not issubclass(cls, Value):
        return
    same = cls(**marks)
    assert value == same and hash(value) == hash(same) and value is not same
    for name in marks:
        changed = values.replace(value, **{name: object()})
        assert changed != value and getattr(changed, name) is not marks[name]
        assert {k: v for k, v in values.fields(changed).items() if k != name} == {
            k: v for k, v in marks.items() if k != name
        }
        assert f"{name}={marks[name]!r}" in repr(value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, None)
    with pytest.raises(TypeError):
        values.replace(value, not_a_field=1)


def test_only_the_pure_build_routes_a_values_assignments_through_python() -> None:
    """The compiled build's native `__init__` stores each field directly: a `__setattr__` on
    `Value` would send every one of them through it (mypyc honours it), so only the pure
    build's Python class has one (its frozenness; the native attributes are read-only)."""
    assert ("__setattr__" in vars(Value)) is not COMPILED
