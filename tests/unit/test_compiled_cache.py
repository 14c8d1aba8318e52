"""The compiled build's cache (tests/support/compiled_cache.py): its key changes with every
file the build reads and with no other, and a stored build comes back byte for byte."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.support.compiled_cache import closure, content_key, fetch, store
from tests.unit.test_compiled_build import _hot_path

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in ("gateway", "billing"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("*.so", "__py*"))
    for name in ("setup.py", "pyproject.toml", "docs/performance.md", "docs/index.md"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    return tree


def test_the_key_follows_the_hot_path_and_what_it_imports_and_nothing_else(
    tmp_path: Path,
) -> None:
    tree = _copy(tmp_path)
    listed = _hot_path()
    read = {str(path.relative_to(tree)) for path in closure(tree, listed)}
    assert set(listed) <= read
    assert "gateway/errors.py" in read  # imported by the hot path, not listed
    assert "gateway/cli/main.py" not in read  # an entrypoint no hot module imports
    key = content_key(tree, listed)
    (tree / "gateway" / "cli" / "main.py").write_text("# changed\n")
    (tree / "docs" / "index.md").write_text("changed\n")
    assert content_key(tree, listed) == key
    for changed in ("gateway/errors.py", listed[0], "setup.py", "docs/performance.md"):
        with (tree / changed).open("a") as file:
            file.write("\n# changed\n")
        before, key = key, content_key(tree, listed)
        assert key != before, changed


def test_a_stored_build_comes_back_into_another_tree_and_the_oldest_is_evicted(
    tmp_path: Path,
) -> None:
    cache, built, fresh = tmp_path / "cache", tmp_path / "built", tmp_path / "fresh"
    placed = [Path("gateway/a.cpython.so"), Path("abc__mypyc.cpython.so")]
    for tree in (built, fresh):
        (tree / "gateway").mkdir(parents=True)
    for where in placed:
        (built / where).write_bytes(os.urandom(64))
    assert fetch("k1", fresh, cache) is None
    store("k1", built, placed, cache)
    assert sorted(fetch("k1", fresh, cache) or []) == sorted(placed)
    for where in placed:
        assert (fresh / where).read_bytes() == (built / where).read_bytes()
    os.utime(cache / "k1", (10**6, 10**6))
    for n in range(2, 7):
        store(f"k{n}", built, placed, cache)
        os.utime(cache / f"k{n}", (n * 10**6, n * 10**6))
    assert fetch("k1", fresh, cache) is None  # the least recently used went first
    assert fetch("k6", fresh, cache) is not None
