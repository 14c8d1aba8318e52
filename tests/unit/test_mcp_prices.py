"""An MCP tool's price: exact in micros or the load fails; the hold covers the worst case and
no debit exceeds it; the config's `[mcp.NAME]` tables, validated once at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.authority import may_call_tool
from billing.pricing.mcp_prices import McpPriceError, ToolPrice, ledger_model, parse_tool_price
from gateway.config.settings import load_settings
from gateway.config.values import ConfigError

GOOD = {"DATABASE_URL": "postgresql://u@h/db", "ADMIN_API_KEY": "0123456789abcdef-secret"}


def test_dollars_are_parsed_exactly_and_micros_taken_as_they_are() -> None:
    assert parse_tool_price("s", "t", {"per_call": "0.002"}) == ToolPrice(2000)
    assert parse_tool_price("s", "t", {"per_call_micros": 7}) == ToolPrice(7)
    assert parse_tool_price("s", "t", {"per_call": "0"}).worst_case_micros == 0


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"per_call": "0.0000001"}, "not exact in micros"),
        ({"per_call": 0.002}, "TOML float is not exact"),
        ({"per_call": "-1"}, "negative"),
        ({"per_call": "0.1", "per_call_micros": 1}, "not both"),
        ({"per_call_micros": 1.5}, "whole number"),
        ({"per_call_micros": True}, "whole number"),
        ({}, "name a price"),
        ({"per_call": "0.1", "cost": 1}, "unknown field"),
        ({"per_unit": "0.001", "max_units": 3}, "unit_field"),
        ({"per_unit": "0.001", "unit_field": "structuredContent.n"}, "max_units"),
        ({"per_unit": "0.001", "unit_field": "a..b", "max_units": 3}, "unit_field"),
        ({"per_unit": "0.001", "unit_field": "a", "max_units": 0}, "max_units"),
        ({"per_call": "0.1", "max_units": 3}, "need per_unit"),
        ({"per_call": "2000000000"}, "above"),
    ],
)
def test_a_price_that_cannot_be_charged_exactly_fails_loudly(
    entry: dict[str, object], words: str
) -> None:
    with pytest.raises(McpPriceError, match=words) as caught:
        parse_tool_price("search", "web", entry)
    assert "[mcp.search.tools.web]" in str(caught.value)


def test_a_per_unit_price_holds_its_worst_case_and_never_debits_more() -> None:
    price = parse_tool_price(
        "s",
        "pages",
        {
            "per_call_micros": 100,
            "per_unit": "0.0005",
            "unit_field": "structuredContent.pages",
            "max_units": 10,
        },
    )
    assert price.worst_case_micros == 100 + 10 * 500
    assert price.cost_micros(7) == 3600
    assert price.cost_micros(11) == price.cost_micros(10_000) == price.worst_case_micros
    assert price.cost_micros(-3) == 100
    assert price.units_in({"structuredContent": {"pages": 7}}) == 7
    for result in (
        {},
        {"structuredContent": {"pages": "7"}},
        {"structuredContent": {"pages": 7.0}},
        {"structuredContent": {"pages": True}},
        {"structuredContent": {"pages": -1}},
        {"structuredContent": [7]},
    ):
        assert price.units_in(result) is None, result


def test_a_tool_s_ledger_model_names_its_server_and_tool() -> None:
    assert ledger_model("search", "web_search") == "mcp:search/web_search"


def test_scopes_name_every_server_one_server_or_one_tool() -> None:
    assert may_call_tool((), "s", "t")  # no scopes: every endpoint, as for the proxy
    assert may_call_tool(("mcp",), "s", "t")
    assert may_call_tool(("chat", "mcp:s"), "s", "t")
    assert may_call_tool(("mcp:s:t",), "s", "t")
    assert not may_call_tool(("mcp:s:t",), "s", "u")
    assert not may_call_tool(("mcp:other",), "s", "t")
    assert not may_call_tool(("chat",), "s", "t")
    assert not may_call_tool(("mcp:s:",), "s", "t")


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meterway.toml"
    path.write_text(text)
    return path


def test_mcp_tables_are_read_and_the_secret_kept_out_of_repr(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        '[mcp.search]\nurl = "https://mcp.example.com/mcp"\nauth = "Bearer upstream-s3cret"\n'
        '[mcp.search.tools.web]\nper_call = "0.002"\n',
    )
    s = load_settings(GOOD, cfg)
    server = s.mcp["search"]
    assert server.url == "https://mcp.example.com/mcp" and server.auth_header == "Authorization"
    assert server.price("web") == ToolPrice(2000) and server.price("other") is None
    assert "upstream-s3cret" not in repr(s)
    env = load_settings({**GOOD, "MCP_SEARCH_AUTH": "Bearer from-env"}, cfg)
    assert env.mcp["search"].auth == "Bearer from-env"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[mcp.s]\nurl = "https://m.example"\n[mcp.s.tools.t]\nper_call = "0.0000001"\n', "exact"),
        ('[mcp.s]\nurl = "ftp://m.example"\n', "URL"),
        ("[mcp.s]\n", "URL"),
        ('[mcp.S]\nurl = "https://m.example"\n', "server name"),
        ('[mcp.s]\nurl = "https://m.example"\nheaders = 1\n', "unknown field"),
        ('[mcp.s]\nurl = "https://m.example"\nauth_header = "X Bad"\n', "auth_header"),
    ],
)
def test_a_bad_mcp_table_stops_the_boot(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(GOOD, _config(tmp_path, text))
