"""An organization's domains on the account API: an owner claims one, publishes the TXT
record the answer names, and proves it (services/members/domain_claims.py says what a proven domain
changes). Every change is audited."""

from __future__ import annotations

from aiohttp import web

from billing import authority, roles
from billing.members import domains
from gateway.http import audited
from gateway.http.appkeys import DOMAIN_CLAIMS, SETTINGS
from gateway.http.openapi.paths import domains as doc
from gateway.http.principal import require
from gateway.http.routing import Route, audits, declare
from gateway.llm.reading.calls import parse_json
from gateway.outbound.dns_txt import txt_values
from gateway.services.members import domain_claims as service


async def list_domains(request: web.Request) -> web.Response:
    who = require(request, roles.DOMAINS)
    rows = await request.config_dict[DOMAIN_CLAIMS].of_account(who.account_id)
    return web.json_response({"object": "list", "data": [service.claim_json(r) for r in rows]})


async def claim(request: web.Request) -> web.Response:
    who = require(request, roles.DOMAINS)
    body = parse_json(await request.read())
    domain = service.domain_field(body.get("domain"))
    join_role = service.join_role_field(body.get("join_role"))
    claims = request.config_dict[DOMAIN_CLAIMS]
    before = await claims.get(who.account_id, domain)
    row = await service.claim(claims, who.account_id, domain, join_role)
    shown = service.claim_json(row)
    was = service.claim_json(before) if before is not None else None
    await audited.record(request, "domain.claim", "domain", domain, who.account_id, was, shown)
    return web.json_response(shown, status=201)


async def verify(request: web.Request) -> web.Response:
    who = require(request, roles.DOMAINS)
    claims = request.config_dict[DOMAIN_CLAIMS]
    domain = service.domain_field(request.match_info["domain"])
    row = await service.owned(claims, who.account_id, domain)
    resolver = request.config_dict[SETTINGS].domains.resolver
    found = await txt_values(domains.record_name(domain), resolver)
    proven = await service.prove(claims, row, found)
    before, after = service.claim_json(row), service.claim_json(proven)
    await audited.record(request, "domain.verify", "domain", domain, who.account_id, before, after)
    return web.json_response(after)


async def remove(request: web.Request) -> web.Response:
    who = require(request, roles.DOMAINS)
    claims = request.config_dict[DOMAIN_CLAIMS]
    domain = service.domain_field(request.match_info["domain"])
    row = await service.owned(claims, who.account_id, domain)
    await claims.remove(who.account_id, domain)
    before = service.claim_json(row)
    await audited.record(request, "domain.remove", "domain", domain, who.account_id, before, None)
    return web.json_response({"domain": domain, "deleted": True})


def add_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/domains", list_domains, authority.DOMAINS, doc=doc.list_domains),
        Route("POST", "/domains", claim, authority.DOMAINS, audits("domain.claim"), doc=doc.claim),
        Route(
            "POST",
            "/domains/{domain}/verify",
            verify,
            authority.DOMAINS,
            audits("domain.verify"),
            doc=doc.verify,
        ),
        Route(
            "DELETE",
            "/domains/{domain}",
            remove,
            authority.DOMAINS,
            audits("domain.remove"),
            doc=doc.remove,
        ),
    )
