"""SCIM 2.0 filters (RFC 7644 §3.4.2.2) and attribute paths, parsed and evaluated over plain
JSON: `userName eq "ada@example.com"`, `externalId eq "00u1"`, `emails[type eq "work"]`,
`not (active eq false) and meta.lastModified gt "2026-01-01T00:00:00Z"`.

A directory sends these (Okta and Entra ID look a person up by `userName eq` or
`externalId eq` before creating them, a group by `displayName eq`), and a PATCH path is an
attribute path with an optional filter (`members[value eq "u1"]`), so both are parsed here,
without I/O. Attribute names match case-insensitively, as do string values except the
case-exact ones (`id`, `externalId`); a bad filter or path raises `ScimSyntax` with the
`scimType` the RFC names for it. What cannot be read is refused, never half-read: a string
is a JSON string (no odd escape or raw tab), a number a JSON number in ASCII digits, a filter at
most MAX_CHARS long and MAX_DEPTH deep (each `and`, `or`, `not`, `[...]` and parenthesis is
a level: n comparisons joined by `or` are n deep), so recursion never meets Python's limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CORE_PREFIX = "urn:ietf:params:scim:schemas:core:2.0:"
MAX_CHARS = 4096  # a filter's, or a PATCH path's, length
MAX_DEPTH = 32  # how deeply a filter nests (docs/guides/scim.md)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
CASE_EXACT = frozenset({"id", "externalid"})
OPERATORS = frozenset({"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"})
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<punct>[()\[\]])|(?P<word>[^\s()\[\]"]+))'
)


class ScimSyntax(ValueError):
    """A filter or path the RFC does not allow; `scim_type` is its error's `scimType`."""

    def __init__(self, message: str, scim_type: str = "invalidFilter") -> None:
        super().__init__(message)
        self.scim_type = scim_type


@dataclass(frozen=True, slots=True)
class AttrPath:
    """`[urn:]attr[.sub]`; `schema` is an extension's URN (the core schema's is dropped)."""

    attr: str
    sub: str = ""
    schema: str = ""


@dataclass(frozen=True, slots=True)
class Compare:
    path: AttrPath
    op: str  # one of OPERATORS, or "pr"
    value: object = None


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # "and" or "or"
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Not:
    inner: Filter


@dataclass(frozen=True, slots=True)
class ValuePath:
    """`attr[filter]`: some value of a multi-valued attribute matches `inner`."""

    path: AttrPath
    inner: Filter


Filter = Compare | Logic | Not | ValuePath


def attr_path(text: str) -> AttrPath:
    """An attribute path: `userName`, `name.givenName`, or one behind its schema's URN."""
    schema = ""
    if text.lower().startswith("urn:"):
        schema, _, text = text.rpartition(":")
        if schema.lower().startswith(CORE_PREFIX):
            schema = ""
        if not text:
            raise ScimSyntax(f"no attribute after the schema in {schema!r}", "invalidPath")
    attr, _, sub = text.partition(".")
    if not re.fullmatch(r"\$?[A-Za-z][\w$-]*", attr) or (sub and not re.fullmatch(r"\w+", sub)):
        raise ScimSyntax(f"{text!r} is not an attribute path", "invalidPath")
    return AttrPath(attr, sub, schema)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    text = text.strip()
    while at < len(text):
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            raise ScimSyntax(f"cannot read the filter at {text[at:]!r}")
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        at = found.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.level = 0  # groups open now: parentheses, `not (`, `[`

    def group(self, close: str) -> Filter:
        """What a group holds, up to its `close`; too deep a nesting is refused."""
        self.level += 1
        if self.level > MAX_DEPTH:
            raise ScimSyntax(f"the filter nests deeper than {MAX_DEPTH} levels")
        inner = self.either()
        self.expect(close)
        self.level -= 1
        return inner

    def peek(self) -> str:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else ""

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ScimSyntax("the filter ends too soon")
        self.at += 1
        return self.tokens[self.at - 1]

    def expect(self, word: str) -> None:
        if self.take()[1] != word:
            raise ScimSyntax(f"expected {word!r} in the filter")

    def either(self) -> Filter:
        left = self.both()
        while self.peek().lower() == "or":
            self.take()
            left = Logic("or", left, self.both())
        return left

    def both(self) -> Filter:
        left = self.one()
        while self.peek().lower() == "and":
            self.take()
            left = Logic("and", left, self.one())
        return left

    def one(self) -> Filter:
        if self.peek().lower() == "not":
            self.take()
            self.expect("(")
            return Not(self.group(")"))
        if self.peek() == "(":
            self.take()
            return self.group(")")
        kind, word = self.take()
        if kind != "word":
            raise ScimSyntax(f"expected an attribute, found {word!r}")
        if self.peek() == "[":
            self.take()
            return ValuePath(attr_path(word), self.group("]"))
        path = attr_path(word)
        op = self.take()[1].lower()
        if op == "pr":
            return Compare(path, "pr")
        if op not in OPERATORS:
            raise ScimSyntax(f"{op!r} is not a filter operator")
        return Compare(path, op, _value(*self.take()))


def _value(kind: str, word: str) -> object:
    if kind == "string":
        try:
            return json.loads(word)
        except ValueError:  # an escape JSON has not (`\q`), a raw control character
            raise ScimSyntax(f"{word[:40]!r} is not a JSON string") from None
    literal = {"true": True, "false": False, "null": None}
    if word.lower() in literal:
        return literal[word.lower()]
    if not _NUMBER.fullmatch(word):
        raise ScimSyntax(f"{word[:40]!r} is not a value (strings are quoted)")
    return int(word) if word.lstrip("-").isdigit() else float(word)


def depth(node: Filter) -> int:
    """How deeply `node` nests (a comparison is 1), walked without recursion."""
    deepest, todo = 0, [(node, 1)]
    while todo:
        at, level = todo.pop()
        deepest = max(deepest, level)
        if isinstance(at, Logic):
            todo += [(at.left, level + 1), (at.right, level + 1)]
        elif isinstance(at, Not | ValuePath):
            todo.append((at.inner, level + 1))
    return deepest


def parse_filter(text: str) -> Filter:
    """The filter `text` as a tree; ScimSyntax (`invalidFilter`) when it is not one, or is
    longer than MAX_CHARS or deeper than MAX_DEPTH."""
    if len(text) > MAX_CHARS:
        raise ScimSyntax(f"the filter is longer than {MAX_CHARS} characters")
    parser = _Parser(text)
    found = parser.either()
    if parser.at != len(parser.tokens):
        raise ScimSyntax(f"unexpected {parser.peek()!r} in the filter")
    if depth(found) > MAX_DEPTH:
        raise ScimSyntax(f"the filter nests deeper than {MAX_DEPTH} levels")
    return found


def get_ci(data: Mapping[str, Any], name: str) -> Any:
    """`data[name]`, the name matched case-insensitively."""
    lowered = name.lower()
    return next((v for k, v in data.items() if k.lower() == lowered), None)


def values_at(resource: Mapping[str, Any], path: AttrPath) -> list[Any]:
    """Every value `path` names in `resource` (a multi-valued attribute gives each)."""
    holder = get_ci(resource, path.schema) if path.schema else resource
    found = get_ci(holder, path.attr) if isinstance(holder, Mapping) else None
    items = found if isinstance(found, list) else [] if found is None else [found]
    if not path.sub:
        return items
    subs = [get_ci(i, path.sub) for i in items if isinstance(i, Mapping)]
    return [s for s in subs if s is not None]


def _compare(have: Any, op: str, want: object, exact: bool) -> bool:
    if isinstance(have, str) and isinstance(want, str):
        if not exact:
            have, want = have.lower(), want.lower()
        checks: dict[str, bool] = {
            "eq": have == want,
            "ne": have != want,
            "co": want in have,
            "sw": have.startswith(want),
            "ew": have.endswith(want),
            "gt": have > want,
            "ge": have >= want,
            "lt": have < want,
            "le": have <= want,
        }
        return checks[op]
    if op in ("eq", "ne"):
        same: bool = have == want
        return same == (op == "eq")
    if isinstance(have, int | float) and isinstance(want, int | float):
        if isinstance(have, bool) or isinstance(want, bool):
            return False
        numbers: dict[str, bool] = {
            "gt": have > want,
            "ge": have >= want,
            "lt": have < want,
            "le": have <= want,
        }
        return numbers.get(op, False)
    return False


def matches(resource: Mapping[str, Any], node: Filter) -> bool:
    """Whether `resource` (a JSON object) passes the filter."""
    if isinstance(node, Logic):
        if node.op == "and":
            return matches(resource, node.left) and matches(resource, node.right)
        return matches(resource, node.left) or matches(resource, node.right)
    if isinstance(node, Not):
        return not matches(resource, node.inner)
    if isinstance(node, ValuePath):
        items = values_at(resource, AttrPath(node.path.attr, "", node.path.schema))
        return any(isinstance(i, Mapping) and matches(i, node.inner) for i in items)
    found = values_at(resource, node.path)
    if node.op == "pr":
        return any(v not in ("", [], {}) for v in found)
    exact = (node.path.sub or node.path.attr).lower() in CASE_EXACT and not node.path.sub
    if node.op == "ne" and not found:
        return node.value is not None
    return any(_compare(v, node.op, node.value, exact) for v in found)
