"""The house rules of ARCHITECTURE.md, checked by parsing every module's imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORE_LIBRARIES = frozenset({"redis", "hiredis", "asyncpg"})
IO_LIBRARIES = STORE_LIBRARIES | {"aiohttp", "stripe"}
# The port modules services import: plain values and Protocols, no library at all.
PURE_STORE_MODULES = (
    "gateway/stores/ports/__init__.py",
    "gateway/stores/ports/hot.py",
    "gateway/stores/ports/ledger.py",
    "gateway/stores/ports/directory.py",
    "gateway/stores/ports/metering/metered.py",
    "gateway/stores/ports/money/settlement.py",
    "gateway/stores/records.py",
    "gateway/stores/errors.py",
    "gateway/stores/stream_fields.py",
)


def modules(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    return roots_of(path.read_text())


def roots_of(source: str) -> set[str]:
    """Top-level names of every import in the module, at any depth (functions included)."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif (named := imported_by_call(node)) is not None:
            roots.add(named.split(".")[0])
    return roots


def imported_by_call(node: ast.AST) -> str | None:
    """The module an `importlib.import_module("a.b")` or `__import__("a.b")` call names, when
    it is a literal (a relative import reaches only the package's own modules)."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func, first = node.func, node.args[0]
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if called not in ("import_module", "__import__"):
        return None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_only_stores_import_redis_hiredis_or_asyncpg() -> None:
    offenders = {
        rel(p): sorted(imported_roots(p) & STORE_LIBRARIES)
        for p in modules("gateway", "billing")
        if not rel(p).startswith("gateway/stores/")
    }
    assert {m: libs for m, libs in offenders.items() if libs} == {}


RAW_CLIENTS = frozenset({"redis", "pool"})  # Stores' and the adapters' raw-client attributes


def raw_client_uses(source: str) -> list[str]:
    """`x.redis` / `x.pool` attribute reads: a raw client taken out of a store."""
    return [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in RAW_CLIENTS
    ]


def test_nothing_outside_stores_takes_a_raw_client_out_of_a_store() -> None:
    offenders = {
        rel(p): uses
        for p in modules("gateway")
        if not rel(p).startswith("gateway/stores/") and (uses := raw_client_uses(p.read_text()))
    }
    assert offenders == {}


def test_the_raw_client_rule_sees_attribute_reads() -> None:
    assert raw_client_uses("async def f(stores):\n    await stores.pool.fetch('x')\n") == [
        "line 2: .pool"
    ]
    assert raw_client_uses("import redis.asyncio\nx = settings.redis_url\n") == []


def test_billing_is_pure() -> None:
    offenders = {rel(p): sorted(imported_roots(p) & IO_LIBRARIES) for p in modules("billing")}
    assert {m: libs for m, libs in offenders.items() if libs} == {}
    assert all("gateway" not in imported_roots(p) for p in modules("billing"))


def test_port_modules_import_no_library() -> None:
    for name in PURE_STORE_MODULES:
        assert imported_roots(ROOT / name) & IO_LIBRARIES == set(), name


def test_the_rule_sees_every_spelling_of_an_import() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import asyncpg.pool\n"
        "def f():\n    from redis.asyncio import Redis\n    import hiredis as h\n"
        "from . import sibling\n"
        "def g():\n    importlib.import_module('aiohttp.web')\n    __import__('stripe')\n"
        "    importlib.import_module(name)\n"
    )
    assert roots_of(source) == {"typing", "asyncpg", "redis", "hiredis", "aiohttp", "stripe"}
    assert "redis" in imported_roots(ROOT / "gateway/stores/redis/hotstore.py")
