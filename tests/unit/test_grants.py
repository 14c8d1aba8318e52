"""A key is never wider than the caller creating it."""

from __future__ import annotations

import pytest

from billing.grants import (
    MCP_SCOPE,
    PROXY_SCOPES,
    Grant,
    GrantTooWide,
    check_within,
    expand_scopes,
    fit_within,
    user_grant,
)
from billing.money.quotas import Quota

DAY = Quota("day", "requests", 100)
PARENT = Grant(frozenset({"chat", "keys:write"}), frozenset({"gpt-4o-mini"}), (DAY,), 5_000)


def child(**kw: object) -> Grant:
    base: dict[str, object] = {
        "scopes": frozenset({"chat"}),
        "models": frozenset({"gpt-4o-mini"}),
        "quotas": (Quota("day", "requests", 10),),
        "expires_at_ms": 4_000,
    }
    return Grant(**{**base, **kw})  # type: ignore[arg-type]


def test_a_narrower_key_passes() -> None:
    check_within(PARENT, child())
    check_within(PARENT, child(quotas=(DAY, Quota("minute", "tokens", 5))))


@pytest.mark.parametrize(
    ("field", "wider"),
    [
        ("scopes", child(scopes=frozenset({"chat", "billing:setup"}))),
        ("scopes", child(scopes=frozenset())),
        ("models", child(models=frozenset())),
        ("models", child(models=frozenset({"gpt-4o-mini", "gpt-4o"}))),
        ("quotas", child(quotas=())),
        ("quotas", child(quotas=(Quota("day", "requests", 101),))),
        ("quotas", child(quotas=(Quota("day", "tokens", 1),))),
        ("expires_at", child(expires_at_ms=None)),
        ("expires_at", child(expires_at_ms=5_001)),
    ],
)
def test_every_way_of_being_wider_is_refused(field: str, wider: Grant) -> None:
    with pytest.raises(GrantTooWide) as caught:
        check_within(PARENT, wider)
    assert caught.value.field == field


def test_a_user_may_grant_proxy_scopes_and_their_token_scopes_only() -> None:
    user = user_grant({"keys:write"}, ())
    check_within(user, Grant(frozenset(), frozenset()))  # a proxy key with every endpoint
    check_within(user, Grant(PROXY_SCOPES | {"keys:write"}, frozenset()))
    with pytest.raises(GrantTooWide):
        check_within(user, Grant(frozenset({"billing:setup"}), frozenset()))
    plan_limited = user_grant({"keys:write"}, {"gpt-4o-mini"})
    with pytest.raises(GrantTooWide):
        check_within(plan_limited, Grant(frozenset({"chat"}), frozenset({"gpt-4o"})))


def test_a_key_pinned_to_providers_hands_on_no_wider_pin() -> None:
    pinned = Grant(frozenset({"chat"}), frozenset(), providers=frozenset({"azure-eu", "mistral"}))
    check_within(pinned, child(models=frozenset(), providers=frozenset({"mistral"})))
    for wider in (frozenset(), frozenset({"openai"})):
        with pytest.raises(GrantTooWide) as caught:
            check_within(pinned, child(models=frozenset(), providers=wider))
        assert caught.value.field == "providers"
    check_within(PARENT, child(providers=frozenset({"openai"})))  # an unpinned parent: any


def test_the_inference_group_is_every_proxy_scope_responses_included() -> None:
    assert "responses" in PROXY_SCOPES
    assert expand_scopes(["billing", "inference", "chat"]) == ["billing", *sorted(PROXY_SCOPES)]
    assert expand_scopes(["chat"]) == ["chat"]


def test_a_signed_in_user_may_hand_out_responses() -> None:
    check_within(user_grant(["keys:write"], []), Grant(frozenset({"responses"}), frozenset()))


def _scopes(*names: str) -> Grant:
    return Grant(frozenset(names), frozenset())


def test_an_mcp_scope_hands_on_itself_or_a_narrower_one_only() -> None:
    check_within(_scopes("mcp"), _scopes("mcp:search", "mcp:files:read"))
    check_within(_scopes("mcp:search"), _scopes("mcp:search:web"))
    check_within(_scopes("mcp:search:web"), _scopes("mcp:search:web"))
    for parent, wider in (
        (_scopes("mcp:search"), _scopes("mcp")),
        (_scopes("mcp:search"), _scopes("mcp:files")),
        (_scopes("mcp:search:web"), _scopes("mcp:search")),
        (_scopes("mcp:search:web"), _scopes("mcp:search:fetch")),
        (_scopes("chat"), _scopes("mcp:search")),
    ):
        with pytest.raises(GrantTooWide):
            check_within(parent, wider)


def test_a_key_without_scopes_reaches_mcp_tools_so_only_a_holder_of_mcp_mints_one() -> None:
    with pytest.raises(GrantTooWide):
        check_within(Grant(PROXY_SCOPES, frozenset()), _scopes())
    check_within(Grant(PROXY_SCOPES | {MCP_SCOPE}, frozenset()), _scopes())
    check_within(user_grant((), ()), _scopes("mcp"))  # a person may mint an MCP key


def test_fit_within_narrows_a_child_until_its_parent_holds_it() -> None:
    day = Quota("day", "spend_micros", 5_000_000)
    parent = Grant(
        frozenset({"chat", "keys:write"}),
        frozenset({"gpt-4o-mini"}),
        (Quota("day", "spend_micros", 1_000_000), Quota("hour", "requests", 10)),
        2_000,
        frozenset(),
    )
    child = Grant(
        frozenset({"chat", "embeddings"}), frozenset(), (day,), None, frozenset({"openai"})
    )
    fitted = fit_within(parent, child)
    check_within(parent, fitted)
    assert fitted == Grant(
        frozenset({"chat"}),
        frozenset({"gpt-4o-mini"}),
        (Quota("day", "spend_micros", 1_000_000), Quota("hour", "requests", 10)),
        2_000,
        frozenset({"openai"}),
    )
    assert fit_within(parent, fitted) == fitted
    assert fit_within(Grant(frozenset({"keys:write"}), frozenset()), child).scopes == frozenset()
