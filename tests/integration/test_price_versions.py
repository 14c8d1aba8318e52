"""Which prices billed a debit: the rate cards registered in price_versions, the debit's row
carrying its version, provider cost and detail into the ledger, and the reads that explain
it by request id (live and archived alike)."""

from __future__ import annotations

from collections.abc import Mapping

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.pricing import load_pricing
from gateway.config.settings import DEFAULT_CONFIG_DIR, PROVIDERS
from gateway.services.proof.prices_at_start import CardsAsJson
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.workers.settler import Settler
from tests.integration.conftest import make_holder

PRICING = load_pricing(DEFAULT_CONFIG_DIR / "pricing.toml", frozenset(PROVIDERS))


async def test_rate_cards_register_once_and_read_by_version(stores: Stores) -> None:
    versions = stores.price_versions()
    cards = PRICING.rate_cards()
    await versions.register(cards)
    await versions.register(cards)  # a restart: nothing new, nothing refused
    mini = PRICING.lookup("gpt-4o-mini")
    assert mini is not None
    version = mini.price(Usage(input_tokens=1)).version
    row = await versions.card(version)
    assert row is not None
    assert (row["model"], row["provider"]) == (cards[version]["model"], mini.provider)
    assert row["card"] == cards[version]
    assert await versions.card("no-such-version") is None


async def test_a_debit_row_names_its_prices_and_is_found_by_request_id(stores: Stores) -> None:
    h = await make_holder(stores)
    decision = await stores.store.reserve(
        "rid-pv", h.record, input_tokens=1000, max_output_tokens=500, spend_micros=900
    )
    assert isinstance(decision, Admitted)
    mini = PRICING.lookup("gpt-4o-mini")
    assert mini is not None
    usage = Usage(input_tokens=1000, output_tokens=500, tool_runs=(("web_search_call", 2),))
    priced = mini.price(usage)
    charged = priced.charged(2_000)
    settlement = Settlement(
        mini.name, mini.provider, usage, charged, priced.version, priced.provider_micros,
        priced.detail,
    )  # fmt: skip
    await stores.store.settle(h.shard, h.account_id, "rid-pv", settlement)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    row = await stores.price_versions().request_entry("rid-pv")
    assert row is not None
    assert row["account_id"] == h.account_id and row["amount_micros"] == -charged
    assert row["price_version"] == priced.version != ""
    assert row["provider_cost_micros"] == priced.provider_micros
    assert charged == -(-priced.provider_micros * 12_000 // 10_000)  # whole micros, +20 %
    assert row["usage_detail"] == dict(priced.detail)
    assert await stores.price_versions().request_entry("rid-unknown") is None


async def test_a_start_makes_json_only_of_the_cards_not_yet_registered(stores: Stores) -> None:
    """What a gateway's start registers (app.py): every card on the first start, and on
    the next the versions alone (no card made JSON), registered as `rate_cards()` says."""

    class Counted(CardsAsJson):
        made = 0

        def __getitem__(self, version: str) -> Mapping[str, object]:
            Counted.made += 1
            return super().__getitem__(version)

    versions, every = stores.price_versions(), PRICING.rate_cards()
    await versions.register(Counted(PRICING.cards()))
    first = Counted.made
    await versions.register(Counted(PRICING.cards()))
    assert Counted.made == first <= len(every)
    some = sorted(every)[:: max(1, len(every) // 20)]
    rows = [await versions.card(version) for version in some]
    assert [row["card"] if row else None for row in rows] == [every[v] for v in some]
