"""The provider reconciliation's pure parts: reading the reports' documented shapes exactly,
and every difference landing in its class with its amount."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from billing.proof.provider_reports import (
    CACHED,
    CHARACTERS,
    IMAGES,
    INPUT,
    OTHER,
    OUTPUT,
    ROUNDING_MICROS,
    SECONDS,
    WRITE,
    WRITE_1H,
    WRITE_5M,
    CostLine,
    ReportError,
    Slot,
    TokenLine,
    anthropic_costs,
    anthropic_usage,
    anthropic_workspaces,
    attribution,
    model_name,
    openai_costs,
    openai_line_item,
    openai_usage,
)
from billing.proof.reconcile import (
    DRIFT,
    LEDGER_RATES,
    PROVIDER_BILL,
    ROUNDING,
    UNBILLED,
    UNEXPLAINED,
    UNMETERED,
    UNVALUED,
    LedgerSum,
    alerting,
    reconcile,
    whole_micros,
)

DAY = date(2026, 11, 26)
START = 1795651200  # 2026-11-26T00:00:00Z
SLOT = Slot("openai", DAY, "gpt-4o-mini")
RATES = {"input_mtok": 150_000, "cache_read_mtok": 75_000, "output_mtok": 600_000}


def _page(results: list[dict[str, object]], **bucket: object) -> dict[str, object]:
    return {"object": "page", "data": [{**bucket, "results": results}], "has_more": False}


def test_openai_usage_takes_cached_and_written_out_of_input() -> None:
    page = _page(
        [
            {
                "object": "organization.usage.completions.result",
                "input_tokens": 1000,
                "input_cached_tokens": 300,
                "input_cache_write_tokens": 100,
                "output_tokens": 50,
                "num_model_requests": 2,
                "api_key_id": "key_a",
                "model": "gpt-4o-mini-2024-07-18",
            },
            {"input_tokens": 7, "output_tokens": 1, "api_key_id": "key_other", "model": "x"},
        ],
        start_time=START,
        end_time=START + 86400,
    )
    lines = openai_usage(page, attribution("openai", "key_a"))
    assert {(line.kind, line.tokens) for line in lines} == {
        (INPUT, 600),
        (CACHED, 300),
        (WRITE, 100),
        (OUTPUT, 50),
    }
    assert {line.slot for line in lines} == {SLOT}


def test_without_a_key_id_the_whole_organization_is_the_credentials() -> None:
    page = _page(
        [{"input_tokens": 7, "output_tokens": 1, "api_key_id": "key_b", "model": "m"}],
        start_time=START,
    )
    assert sum(line.tokens for line in openai_usage(page, attribution("openai", ""))) == 8


def test_a_report_without_its_documented_shape_is_refused() -> None:
    with pytest.raises(ReportError):
        openai_usage({"data": []}, attribution("openai", ""))  # no has_more
    bad = _page([{"input_tokens": -1}], start_time=START)
    with pytest.raises(ReportError):
        openai_usage(bad, attribution("openai", ""))
    less = _page([{"input_tokens": 5, "input_cached_tokens": 6}], start_time=START)
    with pytest.raises(ReportError):
        openai_usage(less, attribution("openai", ""))


def test_anthropic_usage_splits_cache_writes_by_ttl() -> None:
    page = _page(
        [
            {
                "uncached_input_tokens": 10,
                "cache_read_input_tokens": 20,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 30,
                    "ephemeral_1h_input_tokens": 40,
                },
                "output_tokens": 5,
                "server_tool_use": {"web_search_requests": 0},
                "api_key_id": "apikey_01",
                "workspace_id": "wrkspc_1",
                "model": "claude-sonnet-4-20250514",
            }
        ],
        starting_at="2026-11-26T00:00:00Z",
        ending_at="2026-11-27T00:00:00Z",
    )
    lines = anthropic_usage(page, attribution("anthropic", "apikey_01"))
    assert {(line.kind, line.tokens) for line in lines} == {
        (INPUT, 10),
        (CACHED, 20),
        (WRITE_5M, 30),
        (WRITE_1H, 40),
        (OUTPUT, 5),
    }
    assert lines[0].slot == Slot("anthropic", DAY, "claude-sonnet-4")


def test_anthropic_costs_count_only_workspaces_that_are_the_keys_alone() -> None:
    usage = _page(
        [
            {"api_key_id": "apikey_01", "workspace_id": "wrkspc_1", "output_tokens": 1},
            {"api_key_id": "apikey_01", "workspace_id": "wrkspc_2", "output_tokens": 1},
            {"api_key_id": "apikey_02", "workspace_id": "wrkspc_2", "output_tokens": 1},
        ],
        starting_at="2026-11-26T00:00:00Z",
    )
    alone = anthropic_workspaces([usage], attribution("anthropic", "apikey_01"))
    assert alone == {DAY: {"wrkspc_1"}}
    costs = _page(
        [
            {
                "amount": "123.45",
                "currency": "USD",
                "cost_type": "tokens",
                "token_type": "cache_read_input_tokens",
                "model": "claude-haiku-4-5",
                "workspace_id": "wrkspc_1",
            },
            {"amount": "9", "currency": "USD", "cost_type": "tokens", "workspace_id": "wrkspc_2"},
            {
                "amount": "2.5",
                "currency": "USD",
                "cost_type": "web_search",
                "workspace_id": "wrkspc_1",
            },
        ],
        starting_at="2026-11-26T00:00:00Z",
    )
    lines = anthropic_costs(costs, "anthropic", alone)
    assert [(c.kind, c.micros, c.tolerance) for c in lines] == [
        (CACHED, Decimal("1234500.00"), Decimal(50)),  # 123.45 cents; half of 0.01 cent
        (OTHER, Decimal("25000.0"), Decimal(50)),  # "2.5": the same rule, whatever it printed
    ]


def _costs_text(value: str, line_item: str) -> list[CostLine]:
    """A Costs API page as its JSON text, one line, read as the client reads it."""
    raw = (
        '{"object": "page", "has_more": false, "data": [{"start_time": START, "results": [{'
        '"object": "organization.costs.result", "api_key_id": "key_a",'
        f' "amount": {{"value": {value}, "currency": "usd"}},'
        f' "line_item": "{line_item}"}}]}}]}}'.replace("START", str(START))
    )
    return openai_costs(json.loads(raw, parse_float=Decimal), attribution("openai", "key_a"))


def test_openai_costs_are_read_exactly_never_as_floats() -> None:
    (line,) = _costs_text("0.1000000000000000055511", "gpt-4o-mini-2024-07-18, input_tokens")
    assert line.micros == Decimal("100000.0000000000055511")
    assert (line.slot, line.kind) == (SLOT, INPUT)
    float_page = _page([{"amount": {"value": 0.5}, "api_key_id": "key_a"}], start_time=START)
    with pytest.raises(ReportError):
        openai_costs(float_page, attribution("openai", "key_a"))


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("gpt-4o-2024-08-06, input", ("gpt-4o", INPUT)),
        ("gpt-4o-mini, cached input", ("gpt-4o-mini", CACHED)),
        ("gpt-6-astra, output_tokens", ("gpt-6-astra", OUTPUT)),
        ("gpt-4o, web search", ("gpt-4o", OTHER)),
        ("storage", ("", OTHER)),
        (None, ("", OTHER)),
    ],
)
def test_line_items(item: object, expected: tuple[str, str]) -> None:
    assert openai_line_item(item) == expected


def test_model_names_lose_their_date() -> None:
    assert model_name("claude-3-5-haiku-20241022") == "claude-3-5-haiku"
    assert model_name("gpt-4o-2024-08-06") == "gpt-4o"
    assert model_name("gpt-4o") == "gpt-4o"


def _ledger(
    inp: int = 0, cached: int = 0, out: int = 0, rates: dict[str, int] = RATES
) -> LedgerSum:
    return LedgerSum(SLOT, rates, inp, cached, 0, 0, out)


def _cost(kind: str, usd: str) -> CostLine:
    amount = Decimal(usd)
    tolerance = Decimal(5).scaleb(amount.as_tuple().exponent - 1) * 1_000_000  # type: ignore[operator]
    return CostLine(SLOT, kind, amount * 1_000_000, tolerance)


def test_agreeing_sides_give_nothing() -> None:
    tokens = [TokenLine(SLOT, INPUT, 1000), TokenLine(SLOT, OUTPUT, 100)]
    costs = [_cost(INPUT, "0.00015"), _cost(OUTPUT, "0.00006")]
    assert reconcile(tokens, costs, [_ledger(inp=1000, out=100)], split_ttl=False) == []


def test_traffic_around_meterway_is_unmetered_with_its_cost() -> None:
    tokens = [TokenLine(SLOT, INPUT, 3000)]
    (d,) = reconcile(tokens, [_cost(INPUT, "0.00045")], [_ledger(inp=1000)], split_ttl=False)
    assert (d.cls, d.kind, d.provider_tokens, d.ledger_tokens) == (UNMETERED, INPUT, 3000, 1000)
    assert (d.provider_micros, d.ledger_micros, d.delta_micros) == (450, 150, 300)


def test_tokens_the_provider_does_not_report_are_unbilled() -> None:
    (d,) = reconcile([], [], [_ledger(out=10)], split_ttl=False)
    assert (d.cls, d.provider_tokens, d.ledger_tokens, d.delta_micros) == (UNBILLED, 0, 10, -6)


def test_same_tokens_another_cost_is_drift_naming_the_rate() -> None:
    tokens = [TokenLine(SLOT, CACHED, 2000)]
    (d,) = reconcile(tokens, [_cost(CACHED, "0.000300")], [_ledger(cached=2000)], split_ttl=False)
    assert (d.cls, d.kind, d.provider_micros, d.ledger_micros, d.delta_micros) == (
        DRIFT,
        CACHED,
        300,
        150,
        150,
    )
    assert "cached_input rate: provider 0.150000 USD per 1M tokens" in d.note
    assert "Meterway's card 0.075000 USD per 1M tokens" in d.note


def test_within_the_providers_last_digit_is_rounding_beyond_it_is_drift() -> None:
    tokens = [TokenLine(SLOT, INPUT, 1000)]  # 150 micros at Meterway's card
    (near,) = reconcile(tokens, [_cost(INPUT, "0.0002")], [_ledger(inp=1000)], split_ttl=False)
    assert (near.cls, near.delta_micros) == (ROUNDING, 50)  # 0.0002 is 0.00015 to 4 places
    (far,) = reconcile(tokens, [_cost(INPUT, "0.00016")], [_ledger(inp=1000)], split_ttl=False)
    assert (far.cls, far.delta_micros) == (DRIFT, 10)


def test_money_without_tokens_is_unexplained() -> None:
    (d,) = reconcile([], [_cost(OTHER, "0.01")], [], split_ttl=False)
    assert (d.cls, d.delta_micros, d.provider_micros) == (UNEXPLAINED, 10_000, 10_000)


def test_cache_writes_compare_by_ttl_where_the_provider_splits_them() -> None:
    ledger = LedgerSum(
        SLOT, {"input_mtok": 1_000_000, "cache_write_1h_mtok": 2_000_000}, 0, 0, 30, 10, 0
    )
    tokens = [TokenLine(SLOT, WRITE_5M, 20), TokenLine(SLOT, WRITE_1H, 12)]
    (d,) = reconcile(tokens, [], [ledger], split_ttl=True)
    assert (d.kind, d.cls, d.provider_tokens, d.ledger_tokens, d.delta_micros) == (
        WRITE_1H,
        UNMETERED,
        12,
        10,
        4,
    )


def test_several_cards_for_one_slot_add_up_exactly() -> None:
    cheap = _ledger(inp=1, rates={"input_mtok": 100_000})  # 0.1 micro
    dear = _ledger(inp=1, rates={"input_mtok": 200_000})  # 0.2 micro
    tokens = [TokenLine(SLOT, INPUT, 2)]
    assert reconcile(tokens, [_cost(INPUT, "0.0000003")], [cheap, dear], split_ttl=False) == []
    (d,) = reconcile(tokens, [_cost(INPUT, "0.0000004")], [cheap, dear], split_ttl=False)
    assert d.cls == DRIFT  # 0.1 micro off, twice the provider's last digit's half


def test_a_round_amount_is_exact_to_the_micro_never_read_from_its_digits() -> None:
    """OpenAI's `0.1` for output Meterway priced at $0.0625 is a 60 % over-bill."""
    costs = _costs_text("0.1", "gpt-4o-mini, output")
    assert [c.tolerance for c in costs] == [ROUNDING_MICROS["openai"]] == [Decimal(1)]
    ledger = _ledger(out=1000, rates={"output_mtok": 62_500_000})
    (d,) = reconcile([TokenLine(SLOT, OUTPUT, 1000)], costs, [ledger], split_ttl=False)
    assert (d.cls, d.delta_micros, d.valued_by) == (DRIFT, 37_500, LEDGER_RATES)
    assert alerting([d], 10_000) == [d]


def test_without_a_ledger_rate_the_provider_bill_values_the_difference() -> None:
    other = Slot("openai", DAY, "gpt-4.1")
    tokens = [TokenLine(other, INPUT, 10_000), TokenLine(other, OUTPUT, 2_000)]
    costs = [
        CostLine(other, INPUT, Decimal(20_000), Decimal(1)),
        CostLine(other, OUTPUT, Decimal(16_000), Decimal(1)),
    ]
    found = reconcile(tokens, costs, [], split_ttl=False)
    assert [(d.kind, d.cls, d.ledger_micros, d.delta_micros, d.valued_by) for d in found] == [
        (INPUT, UNMETERED, None, 20_000, PROVIDER_BILL),
        (OUTPUT, UNMETERED, None, 16_000, PROVIDER_BILL),
    ]
    unpriced = LedgerSum(other, {}, 4_000, 0, 0, 0, 0)  # tokens, no rate: the bill's share
    (d,) = reconcile(tokens[:1], costs[:1], [unpriced], split_ttl=False)
    assert (d.cls, d.delta_micros, d.valued_by) == (UNMETERED, 12_000, PROVIDER_BILL)
    (d,) = reconcile([TokenLine(other, IMAGES, 2)], [], [], split_ttl=False)
    assert (d.delta_micros, d.valued_by) == (0, UNVALUED)


def test_whole_micros_round_halves_away_from_zero() -> None:
    assert [whole_micros(Decimal(x)) for x in ("0.5", "-0.5", "1.49", "-2.5")] == [1, -1, 1, -3]


def test_alerting_leaves_out_rounding_and_small_differences() -> None:
    found = reconcile(
        [TokenLine(SLOT, INPUT, 3000), TokenLine(SLOT, OUTPUT, 100)],
        [_cost(INPUT, "0.00045"), _cost(OUTPUT, "0.0001")],
        [_ledger(inp=1000, out=100)],
        split_ttl=False,
    )
    assert [d.cls for d in found] == [UNMETERED, ROUNDING]
    assert [d.cls for d in alerting(found, 300)] == [UNMETERED]
    assert alerting(found, 301) == []


@pytest.mark.parametrize(
    ("obj", "field", "kind"),
    [
        ("organization.usage.images.result", "images", IMAGES),
        ("organization.usage.audio_speeches.result", "characters", CHARACTERS),
        ("organization.usage.audio_transcriptions.result", "seconds", SECONDS),
    ],
)
def test_openai_unit_reports_count_their_unit(obj: str, field: str, kind: str) -> None:
    page = _page(
        [{"object": obj, field: 3, "num_model_requests": 1, "api_key_id": "key_a", "model": "m"}],
        start_time=START,
    )
    (line,) = openai_usage(page, attribution("openai", "key_a"))
    assert (line.kind, line.tokens) == (kind, 3)
    ledger = LedgerSum(Slot("openai", DAY, "m"), {}, 0, 0, 0, 0, 0, **{kind: 1})
    (d,) = reconcile([line], [], [ledger], split_ttl=False)
    assert (d.kind, d.cls, d.provider_tokens, d.ledger_tokens, d.delta_micros) == (
        kind,
        UNMETERED,
        3,
        1,
        0,  # counted, not priced: Meterway's card gives these no token rate
    )


def test_a_workspace_shared_on_another_page_is_not_the_keys_alone() -> None:
    """Pages split a day's hourly buckets: the key shares wrkspc_1 in a later hour."""
    first = _page(
        [{"api_key_id": "apikey_01", "workspace_id": "wrkspc_1"}], starting_at=f"{DAY}T01:00:00Z"
    )
    second = _page(
        [{"api_key_id": "apikey_02", "workspace_id": "wrkspc_1"}], starting_at=f"{DAY}T02:00:00Z"
    )
    who = attribution("anthropic", "apikey_01")
    assert anthropic_workspaces([first], who) == {DAY: {"wrkspc_1"}}
    assert anthropic_workspaces([first, second], who) == {}


def test_a_line_naming_a_model_and_no_kind_values_its_leaked_tokens_by_share() -> None:
    """OpenAI's line item "o1-pro-2025-03-19" bills the model's tokens together: on a model
    the ledger has no rate for, each counted kind gets its share of the bill by tokens."""
    who = attribution("openai", "key_a")
    usage = {
        "has_more": False,
        "data": [
            {
                "start_time": 1_767_225_600,
                "results": [
                    {
                        "model": "o1-pro-2025-03-19",
                        "api_key_id": "key_a",
                        "input_tokens": 1000,
                        "output_tokens": 500,
                    },
                ],
            }
        ],
    }
    costs = {
        "has_more": False,
        "data": [
            {
                "start_time": 1_767_225_600,
                "results": [
                    {
                        "line_item": "o1-pro-2025-03-19",
                        "api_key_id": "key_a",
                        "amount": {"value": "0.75", "currency": "usd"},
                    },
                ],
            }
        ],
    }
    found = reconcile(openai_usage(usage, who), openai_costs(costs, who), [], split_ttl=False)
    assert [(d.slot.model, d.kind, d.delta_micros, d.valued_by) for d in found] == [
        ("o1-pro", INPUT, 500_000, "provider_bill"),
        ("o1-pro", OUTPUT, 250_000, "provider_bill"),
    ]
