"""The compiled build, built once per content (tests/speed/test_compiled_build.py).

What mypyc and the C compiler make depends only on what they read: the modules setup.py
lists and every module of the package they import (mypyc compiles against their types), the
build's own files (setup.py, pyproject.toml's mypy settings, docs/performance.md's recipe),
the installed distributions (the mypy pin among them), the Python and the C compiler. The
key hashes exactly those, so a change anywhere else (a CLI command, a test, a doc page)
reuses the extension modules built before, and a change to any of them builds again, as
mypy's and black's wheels and ccache are reused per content. The cache lives outside the
checkout (`~/.cache/meterway-tests/compiled`), like focus-validator's venv, and keeps the
newest few builds.
"""

from __future__ import annotations

import ast
import fcntl
import functools
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE = Path.home() / ".cache" / "meterway-tests" / "compiled"
KEPT = 4  # builds kept: the suite's, and a few branches' worth
PACKAGES = ("gateway", "billing")
BUILD_FILES = ("setup.py", "pyproject.toml", "docs/performance.md")


def _module_file(tree: Path, name: str) -> Path | None:
    base = tree.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(tree: Path, path: Path) -> set[str]:
    """The package's modules `path` imports, absolute or relative, at any depth of its body
    (`TYPE_CHECKING` blocks too: mypyc reads those types)."""
    package = path.relative_to(tree).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = list(package[: len(package) - node.level + 1]) if node.level else []
            base = ".".join(parts + ([node.module] if node.module else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in names if name.split(".")[0] in PACKAGES}


def closure(tree: Path, listed: Iterable[str]) -> list[Path]:
    """The listed modules, every module of the package they import transitively, and the
    `__init__.py` of each package on the way."""
    seen: set[Path] = set()
    todo = [tree / path for path in listed]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        relative = path.relative_to(tree)
        for depth in range(1, len(relative.parts)):
            todo.append(tree.joinpath(*relative.parts[:depth], "__init__.py"))
        for name in _imported_names(tree, path):
            found = _module_file(tree, name)
            if found is not None:
                todo.append(found)
    return sorted(path for path in seen if path.is_file())


@functools.cache
def _toolchain() -> str:
    compiler = shutil.which("cc") or shutil.which("gcc") or "cc"
    said = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    dists = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != "meterway"
    )
    return "\n".join([sys.version, said.stdout, *dists])


def content_key(tree: Path, listed: Iterable[str]) -> str:
    digest = hashlib.sha256(_toolchain().encode())
    for path in [*closure(tree, listed), *(tree / name for name in BUILD_FILES)]:
        digest.update(str(path.relative_to(tree)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def fetch(key: str, tree: Path, cache: Path = CACHE) -> list[Path] | None:
    """The cached build's extension modules copied into `tree` (where `build_ext --inplace`
    puts them), or None when this content was never built here."""
    with _locked(cache):
        built = cache / key
        if not built.is_dir():
            return None
        placed = [module.relative_to(built) for module in built.glob("**/*.so")]
        for where in placed:
            shutil.copy2(built / where, tree / where)
        built.touch()  # the newest used is the last evicted
        return placed


def store(key: str, tree: Path, placed: Iterable[Path], cache: Path = CACHE) -> None:
    """Keep a build's extension modules under its key, evicting the least recently used."""
    with _locked(cache):
        staging = cache / f"{key}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        for where in placed:
            (staging / where).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tree / where, staging / where)
        shutil.rmtree(cache / key, ignore_errors=True)
        staging.rename(cache / key)
        builds = sorted(
            (entry for entry in cache.iterdir() if entry.is_dir() and "." not in entry.name),
            key=lambda entry: entry.stat().st_mtime,
        )
        for old in builds[:-KEPT]:
            shutil.rmtree(old, ignore_errors=True)
