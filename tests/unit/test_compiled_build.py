"""The optional compiled build (setup.py, mypyc) covers modules that exist, and the compiled
pass (`MW_MYPYC=1 pytest ...` after `build_ext --inplace`) really runs them compiled: were the
build to fall back to the sources unnoticed, that pass would test the pure build twice."""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import pytest

from gateway.build import build

ROOT = Path(__file__).resolve().parents[2]


def _hot_path() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HOT_PATH":
            return [str(ast.literal_eval(e)) for e in node.value.elts]  # type: ignore[attr-defined]
    raise AssertionError("setup.py has no HOT_PATH")


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_every_module_the_compiled_build_lists_is_a_typed_module_of_the_package() -> None:
    listed = _hot_path()
    assert listed, "setup.py compiles nothing"
    for path in listed:
        assert (ROOT / path).is_file(), f"setup.py compiles {path}, which does not exist"
        assert path.startswith(("gateway/", "billing/")), path


def test_no_compiled_function_names_two_kinds_of_exception_alike() -> None:
    """mypyc gives `except A as exc` and a later `except B as exc` of one function one
    variable of type A, so the second handler raises TypeError instead of running (an
    upstream timeout answered 500, not 504, in the compiled build).

    Upstream: mypyc/mypyc#620, open as of mypy 2.4.1 (the version pinned in pyproject.toml,
    docs/performance.md and gateway/Dockerfile). Retire with the first mypy release that
    closes it: raise the pin, delete this guard, and run the compiled pass."""
    for path in _hot_path():
        tree = ast.parse((ROOT / path).read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            kinds: dict[str, str] = {}
            for handler in ast.walk(fn):
                if isinstance(handler, ast.ExceptHandler) and handler.name and handler.type:
                    kind = ast.unparse(handler.type)
                    first = kinds.setdefault(handler.name, kind)
                    assert first == kind, (
                        f"{path}:{handler.lineno} {fn.name}: `except {kind} as {handler.name}`"
                        f" after `except {first} as {handler.name}`: name it apart"
                    )


def test_no_compiled_handler_reraises_bare_after_an_await() -> None:
    """A bare `raise` after an `await` in an `except` block of a compiled coroutine re-raised
    an exception mypyc had already let go: the process crashed (a trickled body's 408 took
    the gateway down). Such a handler names its exception and raises it.

    Upstream: mypyc/mypyc#1177, fixed by python/mypy#20547 (merged 2026-01-08); mypy 2.4.1,
    the pinned version, carries the fix (lib-rt's CPy_YieldFromErrorHandle no longer
    re-raises the caught exception). Retirable now: delete this guard and run the compiled
    pass, whose tests/hostile/test_hostile_listener.py sends the trickled body that crashed."""
    for path in _hot_path():
        for handler in ast.walk(ast.parse((ROOT / path).read_text())):
            if not isinstance(handler, ast.ExceptHandler):
                continue
            awaited = False
            for statement in handler.body:
                for node in ast.walk(statement):
                    awaited = awaited or isinstance(node, ast.Await)
                    if isinstance(node, ast.Raise) and node.exc is None:
                        assert not awaited, f"{path}:{node.lineno}: bare raise after await"


def test_the_compiled_pass_imports_every_listed_module_compiled() -> None:
    if os.environ.get("MW_MYPYC") != "1":
        pytest.skip("the pure build's run: MW_MYPYC=1 marks the compiled pass")
    for path in _hot_path():
        spec = importlib.util.find_spec(_module(path))
        assert spec is not None and spec.origin is not None, path
        assert not spec.origin.endswith(".py"), f"{path} ran from its source in the compiled pass"


def test_the_build_says_which_it_is() -> None:
    """`meterway version` and /healthz say gateway.build's answer: compiled exactly when the
    hot path's modules are extension modules (the compiled pass sets MW_MYPYC=1)."""
    expected = "compiled" if os.environ.get("MW_MYPYC") == "1" else "pure"
    assert build() == expected
    from gateway.cli.main import _version

    assert _version().endswith(f"({expected} build)")


MARKER = '# mypyc: compiled (setup.py\'s HOT_PATH; ARCHITECTURE.md, "Two builds")'


def test_a_compiled_module_says_so_on_its_first_line() -> None:
    """Whoever edits a compiled module sees it there: the marker and setup.py's list agree."""
    marked = {
        path.relative_to(ROOT).as_posix()
        for package in ("gateway", "billing")
        for path in (ROOT / package).rglob("*.py")
        if path.read_text().split("\n", 1)[0] == MARKER
    }
    assert marked == set(_hot_path())
