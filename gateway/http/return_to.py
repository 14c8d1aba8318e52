"""Absolute addresses for people and providers, built on PUBLIC_URL.

A page on this gateway handed to a browser or a provider is named in full: Stripe refuses a
path, and a person's mail or terminal has no page to resolve one against. PUBLIC_URL is the
address the world reaches the gateway at; only when it is unset (a local provider on a
laptop) is the request's own origin used, since then nothing leaves the machine.
"""

from __future__ import annotations

from aiohttp import web

from gateway.config.return_urls import ReturnUrls
from gateway.http.appkeys import SETTINGS


def base(request: web.Request) -> str:
    """PUBLIC_URL, else this request's origin."""
    return request.config_dict[SETTINGS].public_url or str(request.url.origin())


def absolute(request: web.Request, url: str) -> str:
    """A path on this gateway in full; an absolute URL (a provider's page) as it is."""
    return base(request) + url if url.startswith("/") else url


def return_url(request: web.Request, requested: object) -> str:
    """Where the person goes back to: the caller's `return_url` if its origin is allowed,
    else the dashboard's billing page; a 400 naming return_url otherwise."""
    origins = frozenset(request.config_dict[SETTINGS].payments.return_url_origins)
    return ReturnUrls(origins).pick(requested, base(request))
