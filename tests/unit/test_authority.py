"""The authority rule as data: every route of the app is one record with its action (a route
added without one cannot be built: tests/unit/test_routing.py), and `may` decides as
billing/authority.py says."""

from __future__ import annotations

from billing.authority import (
    ACTIONS,
    KEYS_WRITE,
    LEDGER_READ,
    OPERATOR,
    ORG_WRITE,
    SESSION,
    USAGE_READ,
    Action,
    Actor,
    Decision,
    Resource,
    may,
    reach_of,
    role_scopes,
)
from billing.grants import PROXY_SCOPES
from billing.roles import ROLE_SCOPES, ROLES, may_spend
from gateway.app import create_app
from gateway.config.settings import Settings
from gateway.http.route_actions import main, message_table, table
from tests.support.harness import gateway_settings


def _settings() -> Settings:
    return gateway_settings("postgresql://nobody@127.0.0.1/none", "http://127.0.0.1:1", "p")


def _table() -> dict[tuple[str, str], Action]:
    return table(create_app(_settings()))


def test_the_table_prints_one_line_per_route(capsys: object) -> None:
    main()
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    rows = message_table(create_app(_settings()))
    assert len(out.splitlines()) == len(_table()) + len(rows) and len(rows) > 30
    assert "/v1/account/ledger" in out and "ledger:read" in out


ORG = "acct_a"
OWNER = Actor("person", ORG, ROLE_SCOPES["owner"])
MEMBER = Actor("person", ORG, ROLE_SCOPES["member"], reach="mem_1")
ITS_KEY = Actor("key", ORG, frozenset({"keys:write", "account:read"}), reach="mem_1")


def test_an_actor_kept_to_one_member_reaches_that_members_things_only() -> None:
    for actor in (MEMBER, ITS_KEY):
        assert may(actor, KEYS_WRITE, Resource(ORG, "mem_1")) is Decision.ALLOW
        assert may(actor, KEYS_WRITE, Resource(ORG, "mem_2")) is Decision.HIDE
        assert may(actor, KEYS_WRITE, Resource(ORG, None)) is Decision.HIDE
        assert may(actor, LEDGER_READ, Resource(ORG, None)) is Decision.HIDE
        assert may(actor, USAGE_READ) is Decision.DENY
    wide = Actor("key", ORG, frozenset({"usage:read", ORG_WRITE.scope or ""}), reach="mem_1")
    assert may(wide, USAGE_READ) is Decision.DENY and may(wide, ORG_WRITE) is Decision.DENY


def test_another_organizations_things_are_hidden_and_missing_scopes_denied() -> None:
    assert may(OWNER, KEYS_WRITE, Resource("acct_b")) is Decision.HIDE
    assert may(OWNER, KEYS_WRITE, Resource(ORG)) is Decision.ALLOW
    viewer = Actor("person", ORG, ROLE_SCOPES["viewer"])
    assert may(viewer, KEYS_WRITE, Resource("acct_b")) is Decision.DENY  # denied before hidden
    assert may(Actor("key", ORG, frozenset({"chat"})), SESSION) is Decision.ALLOW


def test_only_the_operator_acts_on_the_operator_surface() -> None:
    assert may(Actor("operator"), OPERATOR) is Decision.ALLOW
    for actor in (OWNER, ITS_KEY, Actor("service")):
        assert may(actor, OPERATOR) is Decision.DENY
    assert may(Actor("operator"), KEYS_WRITE) is Decision.DENY  # the account's own APIs
    assert may(Actor("operator"), SESSION) is Decision.ALLOW


def test_a_members_key_holds_at_most_the_members_role_as_it_is_now() -> None:
    assert role_scopes("member", PROXY_SCOPES) >= ROLE_SCOPES["member"] | PROXY_SCOPES
    assert ORG_WRITE.scope not in role_scopes("member", PROXY_SCOPES)
    assert "keys:read" in role_scopes("member", frozenset())
    assert reach_of("member", "mem_1") == "mem_1" and reach_of("member", None) == ""
    assert reach_of("admin", "mem_1") is None


def test_every_action_is_named_once() -> None:
    assert all(name == action.name for name, action in ACTIONS.items())
    assert {a.name for a in _table().values()} <= set(ACTIONS)


def test_only_roles_that_make_keys_hold_a_scope_that_spends() -> None:
    """A viewer or billing member gets no proxy scope from `role_scopes`, whatever path
    mints their key (issue 56: `meterway login` handed them every proxy scope)."""
    spending = {r for r in ROLES if may_spend(r)}
    assert spending == {"owner", "admin", "member"}
    for role in ROLES:
        held = role_scopes(role, PROXY_SCOPES)
        assert (held >= PROXY_SCOPES) == (role in spending), role
        assert bool(held & PROXY_SCOPES) == (role in spending), role
