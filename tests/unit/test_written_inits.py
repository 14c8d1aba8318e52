"""A dataclass whose __init__ is written out (so that the compiled build runs it as C: mypyc
leaves a generated one to the interpreter, ~5,000 instructions a call) takes the same
parameters, in the same order, with the same defaults, as the one `dataclass` would
generate, and sets every field from them; a frozen one stays frozen.

Found in the sources (the docstring "Written out"), so that the check holds in both builds:
the compiled class's __init__ is C, with no signature to read."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest

from gateway import build

ROOT = Path(__file__).resolve().parents[2]
COMPILED = build.COMPILED


def _written_out() -> list[tuple[type[Any], ast.FunctionDef]]:
    found = []
    for package in ("billing", "gateway"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                for item in node.body:
                    if (
                        isinstance(item, ast.FunctionDef)
                        and item.name == "__init__"
                        and "Written out" in (ast.get_docstring(item) or "")
                    ):
                        cls = getattr(importlib.import_module(module), node.name)
                        found.append((cls, item))
    return found


WRITTEN_OUT = _written_out()


def test_the_hot_paths_values_are_written_out() -> None:
    names = {cls.__name__ for cls, _ in WRITTEN_OUT}
    assert {"SSEEvent", "Usage", "Call", "Admitted", "Settlement", "Hold"} <= names


@pytest.mark.parametrize(("cls", "init"), WRITTEN_OUT, ids=lambda v: getattr(v, "__name__", ""))
def test_the_written_init_is_the_generated_one(cls: type[Any], init: ast.FunctionDef) -> None:
    assert dataclasses.is_dataclass(cls), cls
    module = importlib.import_module(cls.__module__)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    params = init.args.args[1:]
    assert not init.args.kwonlyargs and init.args.vararg is None and init.args.kwarg is None
    assert [p.arg for p in params] == [f.name for f in fields], cls
    defaults = [None] * (len(params) - len(init.args.defaults)) + list(init.args.defaults)
    for f, default in zip(fields, defaults, strict=True):
        want = f.default
        got = dataclasses.MISSING if default is None else eval(ast.unparse(default), vars(module))
        assert got == want, f"{cls.__qualname__}.{f.name}: default {got!r}, field's {want!r}"
    assigned = [_assigned(statement) for statement in init.body[1:]]  # after the docstring
    assert assigned == [(f.name, f.name) for f in fields], f"{cls.__qualname__} sets {assigned}"


def _assigned(statement: ast.stmt) -> tuple[str, str] | None:
    """(field, parameter) of `object.__setattr__(self, "field", parameter)` (a frozen class)
    or `self.field = parameter`; None for anything else."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        call = statement.value
        if ast.unparse(call.func) == "object.__setattr__" and len(call.args) == 3:
            _, name, value = call.args
            if isinstance(name, ast.Constant) and isinstance(value, ast.Name):
                return str(name.value), value.id
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
        if isinstance(target, ast.Attribute) and isinstance(value, ast.Name):
            return target.attr, value.id
    return None


@pytest.mark.skipif(COMPILED, reason="the compiled classes check their fields' types")
@pytest.mark.parametrize(("cls", "init"), WRITTEN_OUT, ids=lambda v: getattr(v, "__name__", ""))
def test_a_written_init_sets_every_field_and_a_frozen_one_stays_frozen(
    cls: type[Any], init: ast.FunctionDef
) -> None:
    marks = {f.name: object() for f in dataclasses.fields(cls) if f.init}
    value = cls(**marks)
    for name, mark in marks.items():
        assert getattr(value, name) is mark
    if cls.__dataclass_params__.frozen:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, next(iter(marks)), None)
