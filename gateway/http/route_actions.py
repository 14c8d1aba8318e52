"""The route table: every route of the app and the action it needs, read off the route
records the app was built from (gateway/http/routing.py), never written out a second time.
Printed by `python -m gateway.http.route_actions`; tests/unit/test_authority.py checks it
names only actions billing/authority.py knows, and tests/e2e/test_authority_matrix.py asks
every kind of caller every account, billing, operator, metering and dashboard route in it
and checks each answer against `may`.

A WebSocket or JSON-RPC route that declares its messages adds one row per message type or
method (`method path #message`), with that message's action.
"""

from __future__ import annotations

from aiohttp import web

from billing.authority import Action
from gateway.http.routing import Route, declared

Row = tuple[str, str]


def table(app: web.Application) -> dict[Row, Action]:
    """(method, whole path) of every route, and its action."""
    return {(route.method, path): route.action for path, route in declared(app)}


def records(app: web.Application) -> dict[Row, Route]:
    """(method, whole path) of every route, and its record."""
    return {(route.method, path): route for path, route in declared(app)}


def message_table(app: web.Application) -> dict[tuple[str, str, str], Action]:
    """(method, whole path, message type or method) of every message a route declares."""
    return {
        (route.method, path, name): action
        for path, route in declared(app)
        for name, action in route.messages.items()
    }


def lines(app: web.Application) -> list[str]:
    out = [f"{m:6} {p:70} {a.name}" for (m, p), a in table(app).items()]
    out += [f"{m:6} {p + ' #' + n:70} {a.name}" for (m, p, n), a in message_table(app).items()]
    return out


def reference_app() -> web.Application:
    """The app as a placeholder configuration builds it (no store is opened): every route
    it can serve, user tokens' included, for the printout and the reference pages."""
    from gateway.app import create_app  # the app imports this module's room, not the reverse
    from gateway.config.settings import load_settings

    env = {
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:5432/unused",
        "ADMIN_API_KEY": "a-placeholder-admin-key-for-printing",
        "JWT_SECRET": "p" * 40,
        "JWT_AUDIENCE": "meterway",
        "JWT_ISSUER": "meterway",
    }
    return create_app(load_settings(env))


def main() -> None:
    print("\n".join(lines(reference_app())))


if __name__ == "__main__":
    main()
