"""What /scim/v2 says of itself (RFC 7643 §5-7): the ServiceProviderConfig, the schemas
of its User and Group and their resource types. The schemas name what a read returns and a
write keeps; a directory (and scim2-tester) reads them to know what to send.

Declared unsupported, as the RFC lets a provider: bulk operations, sorting and password
changes (people sign in through their identity provider, not with a password here)."""

from __future__ import annotations

from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
MAX_RESULTS = 200  # a page's most resources, and a filter's
DOCS = "https://meterway.dev/guides/scim/"


def attr(
    name: str,
    kind: str = "string",
    *,
    multi: bool = False,
    required: bool = False,
    mutability: str = "readWrite",
    uniqueness: str = "none",
    subs: list[dict[str, Any]] | None = None,
    refs: list[str] | None = None,
    canonical: list[str] | None = None,
    returned: str = "default",
) -> dict[str, Any]:
    """One attribute's definition (RFC 7643 §7)."""
    out: dict[str, Any] = {
        "name": name,
        "type": kind,
        "multiValued": multi,
        "description": name,
        "required": required,
        "caseExact": False,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if subs is not None:
        out["subAttributes"] = subs
    if refs is not None:
        out["referenceTypes"] = refs
    if canonical is not None:
        out["canonicalValues"] = canonical
    return out


NAME_PARTS = ["formatted", "familyName", "givenName", "middleName"]
NAME_PARTS += ["honorificPrefix", "honorificSuffix"]
USER_ATTRIBUTES = [
    attr("userName", required=True, uniqueness="server"),
    attr("name", "complex", subs=[attr(n) for n in NAME_PARTS]),
    *[attr(n) for n in ("displayName", "nickName", "title", "userType")],
    *[attr(n) for n in ("preferredLanguage", "locale", "timezone")],
    attr("active", "boolean"),
    attr(
        "emails",
        "complex",
        multi=True,
        subs=[
            attr("value"),
            attr("display"),
            attr("type", canonical=["work", "home", "other"]),
            attr("primary", "boolean"),
        ],
    ),
    attr(
        "groups",
        "complex",
        multi=True,
        mutability="readOnly",
        subs=[
            attr("value", mutability="readOnly"),
            attr("$ref", "reference", mutability="readOnly", refs=["Group"]),
            attr("display", mutability="readOnly"),
            attr("type", mutability="readOnly", canonical=["direct"]),
        ],
    ),
]
GROUP_ATTRIBUTES = [
    attr("displayName", required=True, uniqueness="server"),
    attr(
        "members",
        "complex",
        multi=True,
        subs=[
            attr("value", mutability="immutable"),
            attr("$ref", "reference", mutability="immutable", refs=["User"]),
            attr("display", mutability="readOnly"),
            attr("type", mutability="immutable", canonical=["User"]),
        ],
    ),
]
# Attribute names as the schema spells them, by their lower case: what a directory sends
# in any case is kept as the schema spells it.
CANONICAL = {
    a["name"].lower(): a["name"]
    for a in USER_ATTRIBUTES
    + GROUP_ATTRIBUTES
    + [s for a in USER_ATTRIBUTES + GROUP_ATTRIBUTES for s in a.get("subAttributes", [])]
}
MULTI = frozenset(
    a["name"].lower() for a in USER_ATTRIBUTES + GROUP_ATTRIBUTES if a["multiValued"]
) | frozenset({"phonenumbers", "addresses", "ims", "photos", "entitlements", "roles"})


def _meta(base: str, kind: str, where: str) -> dict[str, Any]:
    return {"resourceType": kind, "location": f"{base}/{where}"}


def service_provider_config(base: str) -> dict[str, Any]:
    return {
        "schemas": [CONFIG],
        "documentationUri": DOCS,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The organization's SCIM token: Authorization: Bearer mwscim-...",
                "documentationUri": DOCS,
                "primary": True,
            }
        ],
        "meta": _meta(base, "ServiceProviderConfig", "ServiceProviderConfig"),
    }


def _schema(base: str, urn: str, name: str, attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [SCHEMA],
        "id": urn,
        "name": name,
        "description": name,
        "attributes": attributes,
        "meta": _meta(base, "Schema", f"Schemas/{urn}"),
    }


def schemas(base: str) -> list[dict[str, Any]]:
    return [
        _schema(base, USER, "User", USER_ATTRIBUTES),
        _schema(base, GROUP, "Group", GROUP_ATTRIBUTES),
    ]


def resource_types(base: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [RESOURCE_TYPE],
            "id": kind,
            "name": kind,
            "endpoint": f"/{kind}s",
            "description": f"A {kind.lower()} of the organization's directory",
            "schema": urn,
            "meta": _meta(base, "ResourceType", f"ResourceTypes/{kind}"),
        }
        for kind, urn in (("User", USER), ("Group", GROUP))
    ]
