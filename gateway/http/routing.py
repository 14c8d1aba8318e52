"""A route is one record: its method, path, handler, the action it needs, what it writes to
the audit log, its OpenAPI operation and, for a WebSocket or JSON-RPC route, the action of
each message type or method it accepts. The router is built from the records (`declare`),
and the authority table, /openapi.json, the route printout and the authority and audit tests
read them back off the app (`declared`), so no second list of routes is written anywhere.

`Route` refuses, when it is made, a route without an action or its OpenAPI operation, a
message without an action, or a changing route that does not say what it audits;
`check_declared` refuses, when the app is built, any route added to the router some other
way. The record rides on the aiohttp route itself (`DeclaredRoute`), so finding a request's
action is one attribute read.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource, ResourceRoute

from billing.authority import Action
from gateway.services.audit import ACTIONS as AUDIT_ACTIONS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Operation = dict[str, Any]
Doc = Operation | Callable[[str], Operation]
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
METHODS = frozenset({"GET", "*"}) | MUTATING
NO_MESSAGES: Mapping[str, Action] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Audit:
    """What a changing route writes to the audit log: the records' actions (`events`), or,
    when none, why nothing it changes belongs there (`none_because`)."""

    events: tuple[str, ...] = ()
    none_because: str = ""

    def __post_init__(self) -> None:
        if bool(self.events) == bool(self.none_because):
            raise TypeError("an Audit names its events or why there are none, not both")
        unknown = sorted(set(self.events) - set(AUDIT_ACTIONS))
        if unknown:
            raise TypeError(f"no audit action named {unknown} (services/audit.py ACTIONS)")


def audits(*events: str) -> Audit:
    return Audit(events)


def unaudited(why: str) -> Audit:
    return Audit(none_because=why)


@dataclass(frozen=True, slots=True)
class Route:
    """One route, declared once. `path` is relative to the sub-app it is declared on; `doc`
    its OpenAPI operation (or a function of its whole path that makes it), left out only by
    a catch-all (`*`), which the document does not list; `messages`: a WebSocket or JSON-RPC
    route's message types or methods, each with the action it needs (the route's own action
    lets a caller open it at all)."""

    method: str
    path: str
    handler: Handler
    action: Action
    audit: Audit | None = None
    doc: Doc | None = None
    messages: Mapping[str, Action] = field(default_factory=lambda: NO_MESSAGES)

    def __post_init__(self) -> None:
        where = f"{self.method} {self.path}"
        if self.method not in METHODS:
            raise TypeError(f"{where}: no such method")
        if not isinstance(self.action, Action):
            raise TypeError(f"{where}: a route needs the action it takes")
        if self.doc is None and self.method != "*":
            raise TypeError(f"{where}: a route gives its OpenAPI operation (doc)")
        if self.method in MUTATING and self.audit is None:
            raise TypeError(f"{where}: a changing route says what it audits (audits/unaudited)")
        for name, action in self.messages.items():
            if not isinstance(action, Action):
                raise TypeError(f"{where}: message {name!r} needs the action it takes")


class DeclaredRoute(ResourceRoute):
    """An aiohttp route carrying its record."""

    def __init__(self, declared: Route, method: str, resource: web.Resource) -> None:
        super().__init__(method, declared.handler, resource)
        self.declared = declared


def declare(router: web.UrlDispatcher, *routes: Route) -> None:
    """Add each route to the router (a GET answers HEAD too, as aiohttp's `add_get` does)."""
    for route in routes:
        resource = router.add_resource(route.path)
        methods = ("HEAD", "GET") if route.method == "GET" else (route.method,)
        for method in methods:
            if any(r.method in (method, "*") for r in resource):
                raise RuntimeError(f"{route.method} {route.path} is declared twice")
            resource.register_route(DeclaredRoute(route, method, resource))


class Undeclared(RuntimeError):
    """A route added to the router without a record."""


def declared(app: web.Application) -> Iterator[tuple[str, Route]]:
    """Every route of the app and its sub-apps as (its whole path, its record); an aiohttp
    route without a record raises `Undeclared`."""
    for resource in app.router.resources():
        if isinstance(resource, PrefixedSubAppResource):
            yield from declared(resource._app)
            continue
        for route in resource:
            if not isinstance(route, DeclaredRoute):
                raise Undeclared(f"{route.method} {resource.canonical} has no route record")
            if route.method != "HEAD":
                yield resource.canonical, route.declared


def check_declared(app: web.Application) -> None:
    """Refuse to build an app with a route added some other way than `declare`."""
    for _ in declared(app):
        pass


def operation(path: str, route: Route) -> Operation:
    """The route's OpenAPI operation, a copy the document may own."""
    doc = route.doc(path) if callable(route.doc) else route.doc
    return copy.deepcopy(doc) if doc is not None else {}


def action_of(request: web.Request) -> Action:
    """The action of the route `request` matched. A request no route matched gets the
    router's own answer (404 or 405)."""
    unmatched = request.match_info.http_exception
    if unmatched is not None:
        raise unmatched
    route = request.match_info.route
    if not isinstance(route, DeclaredRoute):
        raise Undeclared(f"{request.method} {request.path} has no route record")
    return route.declared.action


# Why the changing routes that write nothing to the audit log write nothing, said once.
PROVIDER_CALL = unaudited("a call to a provider: its money is a ledger row")
METERED = unaudited("a metered hold or debit: its money is a ledger row")
CHECKOUT = unaudited("a checkout page: the money arrives as a ledger row")
PROVIDER_PAGE = unaudited("opens the provider's page: nothing changes here")
LOCAL_PAGES = unaudited("the local provider's own pages: its money arrives as a ledger row")
SIGN_IN = unaudited("a sign-in: a session, no change to an account")
SESSION_END = unaudited("ends a session: no change to an account")
SIGN_UP = unaudited("a sign-up waits for its address: recorded when verified")
INVITEE = unaudited("the invited person declines: the invitation is member.invite")


def message_action(request: web.Request, name: str) -> Action | None:
    """The action a WebSocket or JSON-RPC route's record gives message type or method
    `name`; None for one it does not declare, which the handler refuses by name. The
    handler decides each message with `may` over this, so the table it obeys is the one the
    route printout and the matrix read."""
    route = request.match_info.route
    if not isinstance(route, DeclaredRoute):
        raise Undeclared(f"{request.method} {request.path} has no route record")
    return route.declared.messages.get(name)
