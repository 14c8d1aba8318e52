"""What a caller may hand to a key it creates: never more than it holds itself.

A grant is the scopes, models, providers, quotas and expiry a key carries. A user (signed
in) may create keys within their token's scopes plus the proxy scopes; an API key may create
keys only within its own grant: a subset of its scopes, models and providers, each of its
quotas at most as large, and expiring no later than it does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from billing.money.quotas import Quota

PROXY_SCOPES = frozenset(
    {
        "chat",
        "completions",
        "responses",
        "embeddings",
        "messages",
        "moderations",
        "images",
        "audio",
        "batches",
        "realtime",
    }
)
# A scope group a key may be created with: every proxy scope, what each SDK's and coding
# agent's default path needs (the Responses API included). Stored expanded, so a scope added
# here later widens no key already made.
INFERENCE = "inference"
# Every MCP server's tools; `mcp:NAME` one server's, `mcp:NAME:TOOL` one tool (docs/guides/mcp.md).
# Not in `inference`: a tool's price is the operator's, and no key reaches tools unasked.
MCP_SCOPE = "mcp"


def expand_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes asked for, with the `inference` group spelled out, each once, in order."""
    out: list[str] = []
    for scope in scopes:
        out += sorted(PROXY_SCOPES) if scope == INFERENCE else [scope]
    return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class Grant:
    scopes: frozenset[str]
    models: frozenset[str]  # empty: every model
    quotas: tuple[Quota, ...] = ()
    expires_at_ms: int | None = None  # None: never
    providers: frozenset[str] = frozenset()  # empty: every provider


class GrantTooWide(ValueError):
    """The requested key would hold more than its creator; args[1] names the field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)
        self.message = message
        self.field = field


def covers(held: frozenset[str], scope: str) -> bool:
    """Whether scopes `held` include `scope`: itself, or a wider MCP scope (`mcp` covers
    `mcp:NAME`, which covers `mcp:NAME:TOOL`)."""
    if scope in held:
        return True
    server = scope.split(":")[1] if scope.startswith(MCP_SCOPE + ":") else None
    return server is not None and (MCP_SCOPE in held or f"{MCP_SCOPE}:{server}" in held)


def _scopes_within(parent: Grant, child: Grant) -> None:
    extra = sorted(s for s in child.scopes if not covers(parent.scopes, s))
    if extra:
        raise GrantTooWide(f"You cannot grant scope '{extra[0]}': you do not hold it.", "scopes")
    if not child.scopes and not parent.scopes >= PROXY_SCOPES | {MCP_SCOPE}:
        raise GrantTooWide(
            "A key without scopes may call every endpoint; list its scopes.", "scopes"
        )


def _models_within(parent: Grant, child: Grant) -> None:
    if not parent.models:
        return
    if not child.models:
        raise GrantTooWide(
            "Your access is limited to some models; list the key's models.", "models"
        )
    extra = sorted(child.models - parent.models)
    if extra:
        raise GrantTooWide(f"You cannot grant model '{extra[0]}'.", "models")


def _providers_within(parent: Grant, child: Grant) -> None:
    """A key pinned to some providers (data residency) hands on no wider a pin."""
    if not parent.providers:
        return
    if not child.providers:
        raise GrantTooWide(
            "Your access is limited to some providers; list the key's providers.", "providers"
        )
    extra = sorted(child.providers - parent.providers)
    if extra:
        raise GrantTooWide(f"You cannot grant provider '{extra[0]}'.", "providers")


def _quotas_within(parent: Grant, child: Grant) -> None:
    limits = {(q.window, q.metric): q.limit for q in child.quotas}
    for q in parent.quotas:
        mine = limits.get((q.window, q.metric))
        if mine is None or mine > q.limit:
            raise GrantTooWide(
                f"The key needs a {q.window} {q.metric} quota of at most {q.limit}.", "quotas"
            )


def _expiry_within(parent: Grant, child: Grant) -> None:
    if parent.expires_at_ms is None:
        return
    if child.expires_at_ms is None or child.expires_at_ms > parent.expires_at_ms:
        raise GrantTooWide("The key cannot outlive the key creating it.", "expires_at")


def check_within(parent: Grant, child: Grant) -> None:
    """Raise GrantTooWide naming the first field where `child` exceeds `parent`."""
    checks = (_scopes_within, _models_within, _providers_within, _quotas_within, _expiry_within)
    for check in checks:
        check(parent, child)


def user_grant(token_scopes: Iterable[str], plan_models: Iterable[str]) -> Grant:
    """A signed-in user holds their token's scopes, every proxy scope, every MCP tool and
    their plan's models."""
    return Grant(frozenset(token_scopes) | PROXY_SCOPES | {MCP_SCOPE}, frozenset(plan_models))


def check_key_quotas(account_quotas: Iterable[Quota], key_quotas: Iterable[Quota]) -> None:
    """A key's own limit on a window and metric the account also limits must fit inside it:
    a larger one could never be reached and would only mislead whoever reads it."""
    ceiling = {(q.window, q.metric): q.limit for q in account_quotas}
    for q in key_quotas:
        top = ceiling.get((q.window, q.metric))
        if top is not None and q.limit > top:
            raise GrantTooWide(
                f"The account allows at most {top} {q.metric} per {q.window}.", "quotas"
            )


def check_no_looser(current: Iterable[Quota], wanted: Iterable[Quota]) -> None:
    """A principal changes its own limits only tighter: each current quota kept, at most as
    large (GrantTooWide naming `quotas` otherwise)."""
    _quotas_within(
        Grant(frozenset(), frozenset(), tuple(current)),
        Grant(frozenset(), frozenset(), tuple(wanted)),
    )


def fit_quotas(parent: tuple[Quota, ...], child: tuple[Quota, ...]) -> tuple[Quota, ...]:
    """`child`'s quotas clamped under `parent`'s, and `parent`'s it lacks added: the
    tightest of both (a key's quotas under its minter's, an end-user budget under its
    minting key's)."""
    ceiling = {(q.window, q.metric): q.limit for q in parent}
    kept = tuple(
        Quota(q.window, q.metric, min(q.limit, ceiling.get((q.window, q.metric), q.limit)))
        for q in child
    )
    mine = {(q.window, q.metric) for q in child}
    return kept + tuple(q for q in parent if (q.window, q.metric) not in mine)


def _fit_set(parent: frozenset[str], child: frozenset[str]) -> frozenset[str]:
    """Models or providers: empty means every one."""
    if not parent:
        return child
    return child & parent if child else parent


def _fit_scopes(parent: frozenset[str], child: frozenset[str]) -> frozenset[str]:
    """A child without scopes holds every proxy scope; empty here means nothing is left."""
    if not parent:
        return child
    return (child or PROXY_SCOPES) & parent


def _fit_expiry(parent: int | None, child: int | None) -> int | None:
    if parent is None:
        return child
    return parent if child is None else min(parent, child)


def fit_within(parent: Grant, child: Grant) -> Grant:
    """`child` narrowed until `parent` holds it (check_within passes): scopes and pins
    intersected, each of the parent's quotas clamped onto the child's, expiry no later. How a
    key minted under another follows it when that key is tightened later. Empty scopes in the
    answer mean none is left (the caller revokes the key), not every proxy scope."""
    return Grant(
        _fit_scopes(parent.scopes, child.scopes),
        _fit_set(parent.models, child.models),
        fit_quotas(parent.quotas, child.quotas),
        _fit_expiry(parent.expires_at_ms, child.expires_at_ms),
        _fit_set(parent.providers, child.providers),
    )
