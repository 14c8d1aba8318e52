"""SCIM 2.0 PATCH (RFC 7644 §3.5.2) applied to a resource as plain JSON, with the forms
directories send: Okta's `{"op": "replace", "value": {"active": false}}` (no path, a dict),
Entra ID's capitalised ops and `{"op": "Remove", "path": "members", "value": [{"value":
"u1"}]}`, and paths with a filter (`members[value eq "u1"]`, `emails[type eq "work"].value`).

`apply(resource, operations, multi)` returns the resource as the operations leave it (the
input is not changed); `multi` names the multi-valued attributes (lower case), which `add`
appends to and `replace` swaps whole. A malformed operation raises `ScimSyntax` with the
`scimType` the RFC names (`invalidSyntax`, `invalidPath`, `noTarget`, `invalidValue`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from billing.members.scim_filter import (
    MAX_CHARS,
    AttrPath,
    Filter,
    ScimSyntax,
    attr_path,
    matches,
    parse_filter,
)

OPS = frozenset({"add", "remove", "replace"})


@dataclass(frozen=True, slots=True)
class PatchPath:
    """`attr[.sub]`, or `attr[filter][.sub]` selecting values of a multi-valued attribute."""

    path: AttrPath
    where: Filter | None = None


def parse_path(text: str) -> PatchPath:
    """A PATCH operation's `path`; ScimSyntax (`invalidPath`) when it is not one, or is
    longer than MAX_CHARS (its filter as deep as a filter may be)."""
    if len(text) > MAX_CHARS:
        raise ScimSyntax(f"the path is longer than {MAX_CHARS} characters", "invalidPath")
    if "[" not in text:
        return PatchPath(attr_path(text))
    head, _, rest = text.partition("[")
    inner, close, tail = rest.rpartition("]")
    if not close or (tail and not tail.startswith(".")):
        raise ScimSyntax(f"{text!r} is not a path", "invalidPath")
    try:
        where = parse_filter(inner)
    except ScimSyntax as exc:
        raise ScimSyntax(f"{text!r}: {exc}", "invalidPath") from exc
    base = attr_path(head)
    sub = tail[1:]
    return PatchPath(AttrPath(base.attr, sub, base.schema), where)


def _key(data: Mapping[str, Any], name: str) -> str:
    """The key `name` has in `data` (matched case-insensitively), else `name`."""
    lowered = name.lower()
    return next((k for k in data if k.lower() == lowered), name)


def _holder(resource: dict[str, Any], path: AttrPath, create: bool) -> dict[str, Any] | None:
    if not path.schema:
        return resource
    key = _key(resource, path.schema)
    held = resource.get(key)
    if not isinstance(held, dict):
        if not create:
            return None
        held = resource[key] = {}
    return held


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _merge(into: dict[str, Any], value: Mapping[str, Any], multi: frozenset[str], op: str) -> None:
    """`add` or `replace` without a path: each attribute of `value` in turn."""
    for name, item in value.items():
        if ":" in name and name.lower().startswith("urn:") and isinstance(item, Mapping):
            held = into.setdefault(_key(into, name), {})
            if isinstance(held, dict):
                _merge(held, item, frozenset(), op)
            continue
        _set(into, AttrPath(*_split(name)), item, multi, op)


def _split(name: str) -> tuple[str, str]:
    attr, _, sub = name.partition(".")
    return attr, sub


def _set(
    holder: dict[str, Any], path: AttrPath, value: Any, multi: frozenset[str], op: str
) -> None:
    key = _key(holder, path.attr)
    current = holder.get(key)
    if path.sub:
        if isinstance(current, list):
            for item in current:
                if isinstance(item, dict):
                    item[_key(item, path.sub)] = value
            return
        target = current if isinstance(current, dict) else {}
        target[_key(target, path.sub)] = value
        holder[key] = target
        return
    if path.attr.lower() in multi:
        added = _as_list(value)
        if op == "add" and isinstance(current, list):
            holder[key] = current + [v for v in added if v not in current]
        else:
            holder[key] = added
        return
    if op == "add" and isinstance(current, dict) and isinstance(value, Mapping):
        current.update({_key(current, k): v for k, v in value.items()})
        return
    holder[key] = value


def _selected(items: list[Any], where: Filter) -> list[int]:
    return [i for i, item in enumerate(items) if isinstance(item, Mapping) and matches(item, where)]


def _on_selection(holder: dict[str, Any], target: PatchPath, op: str, value: Any) -> None:
    key = _key(holder, target.path.attr)
    items = holder.get(key)
    items = items if isinstance(items, list) else []
    assert target.where is not None
    chosen = _selected(items, target.where)
    if not chosen and op != "remove":
        raise ScimSyntax("the path's filter matches no value", "noTarget")
    sub = target.path.sub
    if op == "remove":
        if sub:
            for i in chosen:
                items[i].pop(_key(items[i], sub), None)
        else:
            items = [v for i, v in enumerate(items) if i not in chosen]
    else:
        for i in chosen:
            if sub:
                items[i][_key(items[i], sub)] = value
            elif isinstance(value, Mapping):
                items[i] = dict(value) if op == "replace" else {**items[i], **value}
            else:
                raise ScimSyntax("a filtered path's value is an object", "invalidValue")
    holder[key] = items


def _remove(holder: dict[str, Any], path: AttrPath, value: Any) -> None:
    key = _key(holder, path.attr)
    current = holder.get(key)
    if path.sub:
        items = current if isinstance(current, list) else [current]
        for item in items:
            if isinstance(item, dict):
                item.pop(_key(item, path.sub), None)
        return
    if value is not None and isinstance(current, list):  # Entra ID: which values to remove
        gone = [v for v in _as_list(value)]
        wanted = {str(v.get("value")) for v in gone if isinstance(v, Mapping)}
        holder[key] = [
            v
            for v in current
            if v not in gone and not (isinstance(v, Mapping) and str(v.get("value")) in wanted)
        ]
        return
    holder.pop(key, None)


def _one(resource: dict[str, Any], op: Mapping[str, Any], multi: frozenset[str]) -> None:
    kind = str(op.get("op", "")).lower()
    if kind not in OPS:
        raise ScimSyntax(
            f"{op.get('op')!r} is not a PATCH op (add, remove, replace)", "invalidSyntax"
        )
    raw, value = op.get("path"), op.get("value")
    if raw is None or raw == "":
        if kind == "remove":
            raise ScimSyntax("a remove names its path", "noTarget")
        if not isinstance(value, Mapping):
            raise ScimSyntax("an op without a path carries an object", "invalidValue")
        _merge(resource, value, multi, kind)
        return
    if not isinstance(raw, str):
        raise ScimSyntax("a path is a string", "invalidPath")
    target = parse_path(raw)
    if kind != "remove" and "value" not in op:
        raise ScimSyntax(f"{kind} needs a value", "invalidValue")
    holder = _holder(resource, target.path, create=kind != "remove")
    if holder is None:
        return
    if target.where is not None:
        _on_selection(holder, target, kind, value)
    elif kind == "remove":
        _remove(holder, target.path, value)
    else:
        _set(holder, target.path, value, multi, kind)


def apply(
    resource: Mapping[str, Any], operations: Sequence[object], multi: frozenset[str]
) -> dict[str, Any]:
    """The resource after the operations, in order; the input is left as it was."""
    out = copy.deepcopy(dict(resource))
    for op in operations:
        if not isinstance(op, Mapping):
            raise ScimSyntax("each operation is an object", "invalidSyntax")
        _one(out, op, multi)
    return out
