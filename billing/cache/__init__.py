"""Cache: the rules of the exact-match response cache, pure (no store, no clock).

Whose entry a call may share (`scope_token`), whether it may be cached at all (`refusal`),
its key (`cache_key`), what the client's headers allow (`read_controls`) and what a hit
costs under the operator's policy (`CachePolicy`, `hit_cost_micros`). The face below is what
another capability or the gateway may use; the modules are this room's own.
"""

from billing.cache.headers import (
    TTL_HEADER,
    CacheControlError,
    CacheControls,
    read_controls,
)
from billing.cache.key import VERSION, cache_key
from billing.cache.policy import (
    HIT_KIND,
    CachePolicy,
    CachePolicyError,
    HitPolicy,
    hit_cost_micros,
    parse_hit_policy,
)
from billing.cache.replayable import refusal
from billing.cache.scope import SCOPES, CacheScopeError, ScopeKind, scope_token

__all__ = [
    "HIT_KIND",
    "SCOPES",
    "TTL_HEADER",
    "VERSION",
    "CacheControlError",
    "CacheControls",
    "CachePolicy",
    "CachePolicyError",
    "CacheScopeError",
    "HitPolicy",
    "ScopeKind",
    "cache_key",
    "hit_cost_micros",
    "parse_hit_policy",
    "read_controls",
    "refusal",
    "scope_token",
]
