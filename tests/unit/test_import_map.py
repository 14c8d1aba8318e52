"""The map is a test: ARCHITECTURE.md's room table ("may import") against the real imports.

Each row of the table names a room (its key in backticks, first in the first cell) and the
rooms it may import (backticked keys in the last cell, or "anything"). Every import in
gateway/ and billing/ (at any depth: functions and TYPE_CHECKING blocks included) is read
with `ast`; an import from one room into another that its row does not list fails, and so
does a row listing a room above it (the table is ordered top to bottom, so the map has no
cycle). The Redis and PostgreSQL adapters and the opener of the stores are rooms of their
own to everything outside gateway/stores/ (`stores/redis`, `stores/postgres`,
`stores/connect`): the rest of the code sees the ports, their records and the store errors.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

from tests.unit.test_boundaries import imported_by_call

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

# Modules at gateway/'s top level, by room (every other module's room is its directory).
TOP_LEVEL = {
    "app": "root",
    "background": "root",
    "runtime": "root",
    "logs": "root",
    "errors": "base",
    "addresses": "base",
    "telemetry": "base",
    "build": "base",
    "scrubbing": "base",
}
PRIVATE_STORES = ("redis", "postgres", "connect")

# The one import that runs back up, with its reason (ARCHITECTURE.md says it too).
CLIMBS = {
    ("gateway.http.route_actions", "root"): (
        "the route table's printout builds the app a placeholder configuration makes; the"
        " import is inside `reference_app`, so importing http/ never imports the app"
    ),
}
# Imports the table does not allow yet, each with its reason; a fixed one must leave.
KNOWN: dict[tuple[str, str], str] = {}


def room_of(module: str, importer_room: str | None = None) -> str | None:
    """The room a dotted module belongs to, as seen from `importer_room`."""
    parts = module.split(".")
    if parts[0] == "billing":
        return "billing"
    if parts[0] != "gateway" or len(parts) == 1:
        return None
    if parts[1] in TOP_LEVEL:
        return TOP_LEVEL[parts[1]]
    if parts[1] == "stores" and len(parts) > 2 and parts[2] in PRIVATE_STORES:
        if importer_room != "stores":
            return f"stores/{parts[2]}"
        return "stores"
    return parts[1]


def table() -> list[tuple[str, frozenset[str] | None]]:
    """The rows of ARCHITECTURE.md's room table, top to bottom: (room, may import), None
    for "anything"."""
    rows = []
    for line in section("Rooms, and who may import whom"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        room = re.findall(r"`([^`]+)`", cells[0])[0]
        last = cells[-1]
        allowed = None if last.startswith("anything") else frozenset(re.findall(r"`([^`]+)`", last))
        rows.append((room, allowed))
    return rows


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def section(title: str) -> list[str]:
    """The lines of ARCHITECTURE.md's `## title` section."""
    text = ARCHITECTURE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)].splitlines()


def module_of(path: Path) -> str:
    """The dotted name of a module file of the package (a package's is its __init__'s)."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_targets(path: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each import in the file, at any depth, as (module, the names taken from it): `import
    a.b` is ("a.b", ()), `from a import b, c` ("a", ("b", "c")), a relative import resolved
    against the file's package, and `importlib.import_module("a.b")` or `__import__("a.b")`
    with a literal name ("a.b", ())."""
    return targets_in(parsed(path), path)


def targets_in(tree: ast.Module, path: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    package = module_of(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, ()) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module, tuple(a.name for a in node.names)
        elif (named := imported_by_call(node)) is not None:
            yield named, ()


def imports(path: Path) -> Iterator[str]:
    """Every module an import names, with `from a import b` read as both a and a.b (b may
    be a module)."""
    for module, names in import_targets(path):
        yield module
        yield from (f"{module}.{name}" for name in names)


@functools.cache
def edges() -> dict[tuple[str, str], str]:
    """(importing module, imported room) -> room of the importer, for every cross-room
    import in the package."""
    found = {}
    for path in sorted([*ROOT.glob("gateway/**/*.py"), *ROOT.glob("billing/**/*.py")]):
        module = module_of(path)
        # inside gateway/stores/ its adapters are its own; the package's __init__ is a docstring
        mine = "base" if module == "gateway" else room_of(module, "stores")
        assert mine is not None, module
        for name in imports(path):
            theirs = room_of(name, mine)
            if theirs is not None and theirs != mine:
                found[(module, theirs)] = mine
    return found


def test_every_import_is_one_the_map_allows() -> None:
    allowed = dict(table())
    broken = sorted(
        f"{module} imports {theirs} ({mine} may import: {sorted(allowed[mine] or [])})"
        for (module, theirs), mine in edges().items()
        if allowed.get(mine, frozenset()) is not None
        and theirs not in (allowed.get(mine) or frozenset())
        and (module, theirs) not in CLIMBS
        and (module, theirs) not in KNOWN
    )
    assert broken == []


def test_every_room_is_on_the_map_and_below_nothing_it_imports() -> None:
    rows = table()
    names = [room for room, _ in rows]
    assert len(names) == len(set(names)), names
    seen = {mine for mine in edges().values()} | {t for _, t in edges()}
    private = {f"stores/{name}" for name in PRIVATE_STORES}  # the `stores` row's own parts
    assert seen - set(names) - private == set(), "rooms the table does not name"
    assert names.index("stores") > max(
        i for i, (_, allowed) in enumerate(rows) if (allowed or frozenset()) & private
    ), "a room naming a store adapter sits below stores"
    for i, (room, allowed) in enumerate(rows):
        above = set(names[: i + 1])
        assert (allowed or frozenset()) & above == set(), f"{room} may import a room above it"


def test_the_listed_exceptions_are_still_needed() -> None:
    """A climb or a known break that is gone must leave the lists (so each stays true)."""
    found = edges()
    assert [e for e in [*CLIMBS, *KNOWN] if e not in found] == []
    assert len(CLIMBS) <= 1


def test_a_climb_is_seen() -> None:
    assert room_of("gateway.stores.redis.keys", "services") == "stores/redis"
    assert room_of("gateway.stores.redis.keys", "stores") == "stores"
    assert room_of("gateway.stores.ports.hot", "services") == "stores"
    assert room_of("gateway.http.appkeys") == "http"
    allowed = dict(table())
    assert "services" not in (allowed["outbound"] or ())
    assert "stores/redis" not in (allowed["services"] or ())
    assert "stores/postgres" not in (allowed["http"] or ())
    # Only entrypoints (cli, devtools) and the composition root reach past the ports.
    adapters = {"stores/redis", "stores/postgres"}
    assert {room for room, may in allowed.items() if may is None or adapters & may} == {
        "cli",
        "devtools",
    }


# http/'s surfaces (each its own sub-app) share through common modules: those at http/'s
# top level (`routing.py`, `links.py`, ...), `shared/` (what several surfaces serve:
# teams, grants, reports, keys, money...), `openapi/` (the documents), `people/`,
# `observability/` and `ops/`. A surface never imports another, and the common modules
# import no surface.
SURFACES = frozenset(
    {"account", "admin", "billing", "metering", "mcp", "proxy", "dashboard", "scim"}
)
COMMON = frozenset({"shared", "openapi", "observability", "ops", "people"})


def surface_reaches() -> set[tuple[str, str]]:
    found = set()
    for path in sorted((ROOT / "gateway/http").rglob("*.py")):
        parts = path.relative_to(ROOT / "gateway/http").with_suffix("").parts
        if len(parts) > 1 and parts[0] not in SURFACES | COMMON:
            raise AssertionError(f"http/{parts[0]}/ is neither a surface nor common: name it")
        for name in imports(path):
            theirs = [*name.split("."), ""]
            if theirs[:2] == ["gateway", "http"] and theirs[2] in SURFACES - {parts[0]}:
                found.add((".".join(parts), theirs[2]))
    return found


def test_a_surface_shares_only_through_a_common_module() -> None:
    assert surface_reaches() == set(), "a surface (or a common module) imports a surface"


def module_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at any depth, TYPE_CHECKING included);
    `from a import b` is an import of a.b when that is a module, else of a."""
    paths = {}
    for path in [*ROOT.glob("gateway/**/*.py"), *ROOT.glob("billing/**/*.py")]:
        paths[module_of(path)] = path
    graph: dict[str, set[str]] = {module: set() for module in paths}
    for module, path in paths.items():
        for base, names in import_targets(path):
            named = [f"{base}.{n}" if f"{base}.{n}" in paths else base for n in names] or [base]
            graph[module] |= {name for name in named if name in paths and name != module}
    return graph


def _finish_order(graph: dict[str, set[str]]) -> list[str]:
    """Every module once, each after all it reaches (an iterative depth-first walk)."""
    order: list[str] = []
    seen: set[str] = set()
    for root in sorted(graph):
        if root in seen:
            continue
        seen.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, children = work[-1]
            child = next((c for c in children if c not in seen), None)
            if child is None:
                work.pop()
                order.append(node)
            else:
                seen.add(child)
                work.append((child, iter(sorted(graph[child]))))
    return order


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Kosaraju's: walk the reversed
    graph from each module in reverse finishing order)."""
    reverse: dict[str, set[str]] = {node: set() for node in graph}
    for node, children in graph.items():
        for child in children:
            reverse[child].add(node)
    placed: set[str] = set()
    found = []
    for root in reversed(_finish_order(graph)):
        if root in placed:
            continue
        part, todo = [], [root]
        placed.add(root)
        while todo:
            node = todo.pop()
            part.append(node)
            fresh = reverse[node] - placed
            placed |= fresh
            todo.extend(fresh)
        if len(part) > 1:
            found.append(sorted(part))
    return sorted(found)


def test_no_import_circle_of_more_than_one_module() -> None:
    """Type-only and function-level imports count: a circle hidden behind TYPE_CHECKING
    still makes two modules one unit a reader must hold at once."""
    assert circles(module_graph()) == []


def test_a_circle_is_seen() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


# Capabilities (ARCHITECTURE.md, "Capabilities"): one name, a room of that name in billing/
# and in gateway/services/ where the layer has it. The base ones use no other capability; any
# capability may use them; another capability is used only through its package face (the
# names its __init__.py exports), never a module inside it.
LAYERS = ("billing", "gateway.services")


def capability_table() -> dict[str, bool]:
    """Capability -> whether it is a base one, from ARCHITECTURE.md's table."""
    found = {}
    for line in section("Capabilities"):
        if line.startswith("| `"):
            cell = line.strip("|").split("|")[0]
            found[re.findall(r"`([^`]+)`", cell)[0]] = "(base)" in cell
    return found


def capability_rooms() -> set[str]:
    return {
        path.parent.name
        for layer in LAYERS
        for path in ROOT.joinpath(*layer.split(".")).glob("*/__init__.py")
    }


def capability_of(module: str) -> tuple[str, bool] | None:
    """(capability, whether `module` is its face) for a module inside a capability room."""
    for layer in LAYERS:
        if module.startswith(layer + "."):
            parts = module[len(layer) + 1 :].split(".")
            if ROOT.joinpath(*layer.split("."), parts[0], "__init__.py").exists():
                return parts[0], len(parts) == 1
    return None


def capability_break(importer: str, imported: str, base: frozenset[str]) -> str | None:
    """Why `importer` may not import `imported`, or None."""
    mine, theirs = capability_of(importer), capability_of(imported)
    if mine is None or theirs is None or mine[0] == theirs[0] or theirs[0] in base:
        return None
    if mine[0] in base:
        return f"{importer}: {mine[0]} is a base capability and uses no other ({imported})"
    if not theirs[1]:
        return f"{importer} reaches inside {theirs[0]} ({imported}): use its package face"
    return None


def test_a_capability_uses_another_only_through_its_face() -> None:
    base = frozenset(name for name, is_base in capability_table().items() if is_base)
    graph = module_graph()
    broken = sorted(
        why
        for module, targets in graph.items()
        for target in targets
        if (why := capability_break(module, target, base)) is not None
    )
    assert broken == []


def test_every_capability_room_is_in_the_table() -> None:
    table = capability_table()
    assert capability_rooms() == set(table), "ARCHITECTURE.md's capabilities and the rooms differ"
    assert {name for name, is_base in table.items() if is_base} == {"money", "metering", "pricing"}


def test_a_capability_break_is_seen() -> None:
    base = frozenset({"money", "metering", "pricing"})
    assert capability_break(
        "gateway.services.trust.runway", "billing.contracts.commitments", base
    ) == (
        "gateway.services.trust.runway reaches inside contracts (billing.contracts.commitments):"
        " use its package face"
    )
    assert capability_break("gateway.services.trust.runway", "billing.contracts", base) is None
    assert capability_break("billing.money.plans", "billing.trust", base) is not None
    assert capability_break("billing.trust.runway", "billing.money.micros", base) is None
    assert capability_break("gateway.services.money.out", "gateway.services.audit", base) is None


LONG = 400  # lines: a module over this says why it is kept whole, in its first lines


def test_a_long_module_says_why_it_is_kept_whole() -> None:
    silent = sorted(
        str(path.relative_to(ROOT))
        for path in [*ROOT.glob("gateway/**/*.py"), *ROOT.glob("billing/**/*.py")]
        if len(lines := path.read_text().splitlines()) > LONG
        and not any("Kept whole:" in line for line in lines[:30])
    )
    assert silent == []


ROOM_MOST = 22  # modules in one folder (its __init__.py counted): past that, sub-rooms


def test_no_room_is_too_big_to_read() -> None:
    rooms = {path.parent for path in [*ROOT.glob("gateway/**/*.py"), *ROOT.glob("billing/**/*.py")]}
    crowded = sorted(
        f"{room.relative_to(ROOT)}: {count}"
        for room in rooms
        if (count := len(list(room.glob("*.py")))) > ROOM_MOST
    )
    assert crowded == []


def test_every_spelling_of_an_import_is_read() -> None:
    """Relative imports and literal import_module/__import__ calls count as imports."""
    source = (
        "from ..contracts.commitments import period_after\n"
        "from . import alerts\n"
        "def f():\n    importlib.import_module('billing.contracts.statements')\n"
        "    __import__('gateway.stores.records')\n"
        "    importlib.import_module(name)\n"
    )
    found = sorted(targets_in(ast.parse(source), ROOT / "billing/trust/runway.py"))
    assert found == [
        ("billing.contracts.commitments", ("period_after",)),
        ("billing.contracts.statements", ()),
        ("billing.trust", ("alerts",)),
        ("gateway.stores.records", ()),
    ]
    assert sorted(targets_in(ast.parse("from . import x"), ROOT / "billing/trust/__init__.py")) == [
        ("billing.trust", ("x",))
    ]
