"""/openapi.json is read off the route records: every route but the dashboard's catch-all is
in it, under its whole path, with the operation its record gives (a route cannot be made
without one: tests/unit/test_routing.py)."""

from __future__ import annotations

from gateway.app import create_app
from gateway.config.settings import load_settings
from gateway.http.openapi.document import build_document, document_of
from gateway.http.route_actions import records

ENV = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/unused",
    "ADMIN_API_KEY": "a-secret-of-enough-length",
    "JWT_SECRET": "s" * 40,
    "JWT_AUDIENCE": "a",
    "JWT_ISSUER": "i",
}


def test_the_served_document_lists_every_declared_route_but_the_catch_all() -> None:
    app = create_app(load_settings(ENV))
    doc = document_of(app)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    declared = {(m, p) for (m, p) in records(app) if m != "*"}
    assert documented == declared and len(declared) > 200
    assert [p for (m, p) in records(app) if m == "*"] == ["/dashboard/{tail}"]


def test_a_records_operation_is_made_for_its_whole_path() -> None:
    """An operation made from the path (a dashboard page, an organization's route on either
    surface) names the path's own parameters and the surface's security."""
    doc = document_of(create_app(load_settings(ENV)))["paths"]
    members = "/admin/v1/accounts/{account_id}/members/{member_id}/role"
    assert [p["name"] for p in doc[members]["put"]["parameters"]] == ["account_id", "member_id"]
    assert doc[members]["put"]["security"] == [{"adminKey": []}]
    assert doc["/v1/account/members/{member_id}/role"]["put"]["security"] != [{"adminKey": []}]
    assert doc["/dashboard/signin"]["get"]["security"] == []
    assert doc["/dashboard/keys"]["get"]["security"] == [{"dashboardSession": []}]


def test_the_document_is_openapi_3_1_with_the_error_body_on_every_operation() -> None:
    doc = build_document(create_app(load_settings(ENV)))
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, ops in doc["paths"].items():
        for method, operation in ops.items():
            if path != "/metrics":
                assert operation["responses"]["default"]["content"], (method, path)
            for param in operation.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
