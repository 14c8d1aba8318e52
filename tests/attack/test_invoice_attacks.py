"""Attacks on invoices (docs/guides/invoices.md): tax ids checked when set, the tax table's
reverse charge rule, currencies and their minor units, the rounding rule, exchange rates
read from a reference-rate source, credit notes, gapless numbering and who may read an
invoice. One gateway for the module, asking a local VIES and a local ECB document."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.attack.calls import chat, customer_get
from tests.attack.provider import Provider, fake_provider
from tests.support.billing_client import biller
from tests.support.dashboard_client import signed_in
from tests.support.factories import Tenant, tenant
from tests.support.fakes.ecb_rates import Ecb, ecb_server
from tests.support.fakes.vies import Vies, vies_server
from tests.support.harness import LOCAL_SINKS, Gateway, running_gateway, temp_database

FR_VAT = "FR40303265045"
DE_VAT = "DE136695976"
EL_VAT = "EL094259216"
GB_VAT = "GB980780684"
REGISTERED = {FR_VAT, DE_VAT, EL_VAT, "IT00743110157", "NL004495445B01"}
READER = ["statements:read", "chat"]


@dataclass
class World:
    gw: Gateway
    provider: Provider
    vies: Vies
    ecb: Ecb


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    async with (
        temp_database() as dsn,
        fake_provider() as p,
        vies_server() as vies,
        ecb_server() as ecb,
        running_gateway(
            dsn,
            None,
            OPENAI_BASE_URL=p.url + "/v1",
            VIES_URL=vies.url,
            FX_RATES_URL=ecb.url,
            **LOCAL_SINKS,
        ) as gw,
    ):
        vies.registered |= REGISTERED
        yield World(gw, p, vies, ecb)


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def minor(micros: int, rate: str, places: int) -> int:
    """The documented rule: converted and rounded once, half away from zero."""
    exact = Decimal(micros) / Decimal(1_000_000) * Decimal(rate) * (Decimal(10) ** places)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tax_of(subtotal_minor: int, percent: str) -> int:
    exact = Decimal(subtotal_minor) * Decimal(percent) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def details(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "legal_name": "Exemple SAS",
        "country": "FR",
        "tax_id": "",
        "address": ["1 rue de Rivoli", "75001 Paris"],
        "currency": "USD",
        "rate": None,
        "rate_source": "",
        "email": "ap@example.com",
    }
    return {**base, **over}


async def put_details(gw: Gateway, account_id: str, **over: Any) -> tuple[int, Any]:
    return await gw.admin("PUT", f"/admin/v1/accounts/{account_id}/invoicing", details(**over))


async def get_details(gw: Gateway, account_id: str) -> dict[str, Any]:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/invoicing")
    assert status == 200, body
    return dict(body)


async def postpaid(gw: Gateway, scopes: list[str] | None = None, card: bool = False) -> Tenant:
    b = await biller(gw, plan="enterprise", scopes=scopes or ["chat", "billing", *READER])
    if card:
        await b.save_card()
    return b.t


async def charge(gw: Gateway, account_id: str, micros: int) -> None:
    """A charged adjustment of `micros` (money out), on a postpaid account: credited first
    (a credit is listed, not charged) so that the adjustment may take it."""
    key = secrets.token_hex(4)
    s, b = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{account_id}/credits",
        {"amount_micros": micros, "idempotency_key": f"c-{key}", "reason": "seed"},
    )
    assert s == 201, b
    s, b = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{account_id}/adjustments",
        {"amount_micros": -micros, "idempotency_key": f"a-{key}", "reason": "work"},
    )
    assert s in (200, 201), b
    await gw.settle_all()


async def issue(gw: Gateway, account_id: str, month: str | None = None) -> tuple[int, Any]:
    return await gw.admin(
        "POST", f"/admin/v1/accounts/{account_id}/invoices", {"month": month or this_month()}
    )


async def issued(gw: Gateway, account_id: str, month: str | None = None) -> dict[str, Any]:
    s, b = await issue(gw, account_id, month)
    assert s == 201, b
    return dict(b)


def charged_lines(inv: dict[str, Any]) -> list[dict[str, Any]]:
    return [ln for ln in inv["lines"] if ln["section"] not in ("credits", "credit", "refunds")]


# ------------------------------------------------------------------ tax ids


@pytest.mark.parametrize(
    "spelt",
    ["fr40303265045", "FR 403 032 650 45", "40303265045", "FR-403.032.650.45", " FR40303265045 "],
)
async def test_a_vat_number_however_spelt_is_kept_compact(world: World, spelt: str) -> None:
    """invoices.md: "a VAT number of their country (format and check digit; the country
    prefix may be left off, and it is kept in its compact form, `FR40303265045`)"."""
    t = await tenant(world.gw, credit=0)
    s, b = await put_details(world.gw, t.account_id, tax_id=spelt)
    assert s == 200, b
    assert b["tax_id"] == FR_VAT, b
    assert (await get_details(world.gw, t.account_id))["tax_id"] == FR_VAT


@pytest.mark.parametrize(
    ("country", "bad"),
    [
        ("FR", "FR40303265046"),  # check digit
        ("FR", DE_VAT),  # another EU country's valid number
        ("FR", GB_VAT),  # a non-EU country's valid number
        ("FR", "FR"),
        ("FR", "FR403032650451"),
        ("FR", "FR4O303265045"),  # a letter O
        ("FR", "FR40303265045;DROP"),
        ("FR", "FR40303265045\x00"),
        ("DE", FR_VAT),
        ("GB", "GB980780685"),
        ("AU", "83 914 571 674"),
        ("CH", "CHE-113.690.318"),
        ("JP", "not a number"),
    ],
)
async def test_a_tax_id_that_is_not_valid_is_400_naming_tax_id_and_sets_nothing(
    world: World, country: str, bad: str
) -> None:
    """invoices.md: "Anything else is refused with a 400 naming `tax_id`"."""
    t = await tenant(world.gw, credit=0)
    before = await get_details(world.gw, t.account_id)
    s, b = await put_details(world.gw, t.account_id, country=country, tax_id=bad)
    assert s == 400, (s, b)
    assert b["error"]["param"] == "tax_id", b
    assert await get_details(world.gw, t.account_id) == before


@pytest.mark.parametrize(
    ("country", "good"),
    [("GB", GB_VAT), ("CH", "CHE-113.690.319"), ("AU", "83 914 571 673"), ("GR", EL_VAT)],
)
async def test_a_valid_number_of_the_customers_country_is_accepted(
    world: World, country: str, good: str
) -> None:
    """invoices.md: "in another country, that country's number where python-stdnum knows
    it (GB VAT, CH UID, AU ABN...)"; Greece's VAT numbers are written `EL`."""
    t = await tenant(world.gw, credit=0)
    s, b = await put_details(world.gw, t.account_id, country=country, tax_id=good)
    assert s == 200, (s, b)
    assert b["tax_id"], b


@pytest.mark.parametrize(
    ("first", "then"), [(("FR", FR_VAT), "DE"), (("GB", GB_VAT), "FR"), (("DE", DE_VAT), "AT")]
)
async def test_a_change_of_country_that_leaves_another_countrys_number_is_refused(
    world: World, first: tuple[str, str], then: str
) -> None:
    """invoices.md: refused with a 400 naming `tax_id` ... "as is a change of country that
    leaves a VAT number of another country". And "A stored id that is not valid never makes
    a sale reverse charged"."""
    gw = world.gw
    t = await tenant(gw, credit=0, plan="enterprise")
    s, b = await put_details(gw, t.account_id, country=first[0], tax_id=first[1])
    assert s == 200, b
    s, b = await put_details(gw, t.account_id, country=then, tax_id=first[1])
    assert s == 400 and b["error"]["param"] == "tax_id", (s, b)
    s, b = await gw.admin("PUT", f"/admin/v1/accounts/{t.account_id}/invoicing", {"country": then})
    if s == 200:  # a partial change kept the number: it must not reverse charge
        stored = await get_details(gw, t.account_id)
        assert stored["country"] != then or not stored["tax_id"], stored
    await charge(gw, t.account_id, 1_000_000)
    inv = await issued(gw, t.account_id)
    assert not (inv["customer"]["country"] == then and inv["tax"]["reverse_charge"]), (
        inv
    )  # never reverse charged on a number of another country


# ------------------------------------------------------------------ VIES


async def test_vies_not_listing_the_number_refuses_it(world: World) -> None:
    """invoices.md: "one VIES does not list is refused (400, `tax_id`)"."""
    t = await tenant(world.gw, credit=0)
    s, b = await put_details(world.gw, t.account_id, country="BE", tax_id="BE0403019261")
    assert s == 400 and b["error"]["param"] == "tax_id", (s, b)
    assert (await get_details(world.gw, t.account_id))["tax_id"] == ""


async def test_vies_is_asked_the_compact_number_of_a_spelt_one(world: World) -> None:
    """invoices.md: the prefix may be left off and lowercase/spaces are a spelling: VIES is
    asked of the number itself (its country code and the compact digits)."""
    t = await tenant(world.gw, credit=0)
    n = len(world.vies.asked)
    s, b = await put_details(world.gw, t.account_id, country="NL", tax_id="nl 0044.95.445.b01")
    assert s == 200, (s, b)
    assert b["tax_id"] == "NL004495445B01", b
    asked = world.vies.asked[n:]
    assert asked and asked[-1]["countryCode"] == "NL", asked
    assert asked[-1]["vatNumber"] == "004495445B01", asked


async def test_vies_not_answering_sets_nothing_and_answers_503(world: World) -> None:
    """invoices.md: "VIES not answering sets nothing (503)"."""
    t = await tenant(world.gw, credit=0)
    world.vies.status = 500
    try:
        s, b = await put_details(world.gw, t.account_id, country="FR", tax_id=FR_VAT)
    finally:
        world.vies.status = 200
    assert s == 503, (s, b)
    assert (await get_details(world.gw, t.account_id))["tax_id"] == ""


async def test_a_non_eu_number_is_not_asked_of_vies(world: World) -> None:
    """invoices.md: "an EU VAT number is also asked of VIES" (a GB one is not an EU one)."""
    t = await tenant(world.gw, credit=0)
    n = len(world.vies.asked)
    s, b = await put_details(world.gw, t.account_id, country="GB", tax_id=GB_VAT)
    assert s == 200, (s, b)
    assert world.vies.asked[n:] == []


# ------------------------------------------------------------------ the tax rule


@dataclass
class Case:
    country: str
    tax_id: str
    currency: str
    rate: str
    places: int
    percent: str
    reverse: bool
    mention: str | None = None


CASES = {
    "eu_business_reverse_charge": Case("FR", FR_VAT, "EUR", "0.92", 2, "0", True, "Reverse charge"),
    "greek_el_number_reverse_charge": Case("GR", EL_VAT, "EUR", "0.92", 2, "0", True),
    "eu_consumer_taxed": Case("FR", "", "EUR", "0.92", 2, "20", False),
    "issuers_own_country_taxed": Case("DE", DE_VAT, "EUR", "0.92", 2, "19", False),
    "gb_business_taxed": Case("GB", GB_VAT, "GBP", "0.79", 2, "20", False),
    "japan_in_yen": Case("JP", "", "JPY", "149.5", 0, "10", False),
    "unlisted_country_default": Case(
        "US", "", "USD", "1", 2, "0", False, "Outside the scope of VAT"
    ),
    "kuwait_three_places": Case("KW", "", "KWD", "0.30745", 3, "0", False),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_the_tax_rule_and_the_rounding_rule(world: World, name: str) -> None:
    """invoices.md: "a customer in an EU country other than yours ... whose tax id is a valid
    VAT number of that country is invoiced at 0% with the mention "Reverse charge"; anyone
    else at their country's rate, else the default" and "each line is converted and rounded
    once to the minor unit, half away from zero; the subtotal is the sum of the rounded
    charged lines; the tax is the subtotal times the rate, rounded the same way; the total is
    subtotal plus tax" (JPY no minor unit, EUR two, KWD three)."""
    c = CASES[name]
    gw = world.gw
    t = await tenant(gw, credit=0, plan="enterprise")
    s, b = await put_details(
        gw,
        t.account_id,
        country=c.country,
        tax_id=c.tax_id,
        currency=c.currency,
        rate=c.rate,
        rate_source="attack",
    )
    assert s == 200, b
    micros = 1_234_567
    await charge(gw, t.account_id, micros)
    inv = await issued(gw, t.account_id)
    assert inv["currency"] == c.currency and inv["minor_units"] == c.places, inv
    assert Decimal(inv["rate"]) == Decimal(c.rate), inv
    assert Decimal(inv["tax"]["percent"]) == Decimal(c.percent), inv["tax"]
    assert inv["tax"]["reverse_charge"] is c.reverse, inv["tax"]
    if c.mention is not None:
        assert inv["tax"]["mention"] == c.mention, inv["tax"]
    lines = charged_lines(inv)
    assert [ln["amount_micros"] for ln in lines] == [micros], inv["lines"]
    for ln in lines:
        assert ln["amount_minor"] == minor(ln["amount_micros"], c.rate, c.places), ln
    subtotal = sum(ln["amount_minor"] for ln in lines)
    assert inv["subtotal_minor"] == subtotal, inv
    assert inv["tax_minor"] == tax_of(subtotal, c.percent), inv
    assert inv["total_minor"] == subtotal + inv["tax_minor"], inv


async def test_lines_round_each_and_the_subtotal_adds_the_rounded_lines(world: World) -> None:
    """invoices.md: "each line is converted and rounded once ... half away from zero; the
    subtotal is the sum of the rounded charged lines". Two models, each half a cent, and a
    discount of half a cent: 1 + 1 - 1 cents, never the rounded sum."""
    gw, p = world.gw, world.provider
    t = await postpaid(gw, card=True)
    s, b = await put_details(gw, t.account_id, country="US")
    assert s == 200, b
    # gpt-4o-mini input: 0.15 micros a token -> 5,000 micros = 33,334 tokens (5,000.1 -> 5,001)
    for model, prompt in (("gpt-4o-mini", "a"), ("gpt-4.1-nano", "b")):
        tag = f"{prompt}-{secrets.token_hex(3)}"
        p.usage_by_prompt[tag] = (33_334, 0)
        status, _, answer = await chat(gw, t.key, model, tag, max_tokens=1)
        assert status == 200, answer
    await gw.settle_all()
    key = secrets.token_hex(4)
    s, b = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{t.account_id}/adjustments",
        {"amount_micros": 5_000, "idempotency_key": key, "reason": "discount"},
    )
    assert s in (200, 201), b
    await gw.settle_all()
    inv = await issued(gw, t.account_id)
    lines = charged_lines(inv)
    assert len(lines) >= 3, inv["lines"]
    for ln in lines:
        assert ln["amount_minor"] == minor(ln["amount_micros"], "1", 2), ln
    assert [ln["amount_micros"] for ln in lines if ln["amount_micros"] < 0] == [-5_000], lines
    assert inv["subtotal_minor"] == sum(ln["amount_minor"] for ln in lines), inv
    assert inv["usage_micros"] == sum(
        ln["amount_micros"] for ln in lines if ln["section"] == "usage"
    )


async def test_tax_at_half_a_minor_unit_rounds_away_from_zero_on_invoice_and_credit_note(
    world: World,
) -> None:
    """invoices.md: tax "rounded the same way" (half away from zero); "The tax of a credit
    note is computed on its own subtotal by the same rule". 50 cents at 19% is 9.5 cents."""
    gw = world.gw
    t = await tenant(gw, credit=0, plan="enterprise")
    s, b = await put_details(gw, t.account_id, country="DE")
    assert s == 200, b
    await charge(gw, t.account_id, 500_000)
    inv = await issued(gw, t.account_id)
    assert (inv["subtotal_minor"], inv["tax_minor"], inv["total_minor"]) == (50, 10, 60), inv
    s, cn = await gw.admin(
        "POST", f"/admin/v1/invoices/{inv['number']}/credit-note", {"reason": "x"}
    )
    assert s == 201, cn
    assert (cn["subtotal_minor"], cn["tax_minor"], cn["total_minor"]) == (-50, -10, -60), cn


# ------------------------------------------------------------------ rates from the source


async def test_a_rate_from_the_source_is_per_eur_divided_by_usd_per_eur_to_8_places(
    world: World,
) -> None:
    """invoices.md: "units of the currency per EUR divided by USD per EUR, rounded half away
    from zero to 8 places" (EUR itself: 1 per EUR); the invoice "converts by that recorded
    rate exactly"."""
    gw = world.gw
    ecb = world.ecb
    saved = dict(ecb.rates)
    ecb.rates = {**saved, "USD": "2", "HUF": "0.00000005", "JPY": "161.93"}
    try:
        for currency, per_eur in (("HUF", "0.00000005"), ("JPY", "161.93"), ("EUR", "1")):
            t = await tenant(gw, credit=0, plan="enterprise")
            s, b = await put_details(gw, t.account_id, country="US", currency=currency)
            assert s == 200, b
            await charge(gw, t.account_id, 777_777_777)
            inv = await issued(gw, t.account_id)
            want = (Decimal(per_eur) / Decimal(2)).quantize(
                Decimal("0.00000001"), rounding=ROUND_HALF_UP
            )
            assert Decimal(inv["rate"]) == want, (currency, inv["rate"], want)
            places = inv["minor_units"]
            for ln in charged_lines(inv):
                assert ln["amount_minor"] == minor(ln["amount_micros"], str(want), places), ln
    finally:
        ecb.rates = saved


async def test_a_source_that_redirects_issues_nothing_and_takes_no_number(world: World) -> None:
    """invoices.md: "a source that fails, cannot be reached or redirects issues nothing: 503
    `rate_source_unavailable`"; "an issue that fails leaves no hole"."""
    gw, ecb = world.gw, world.ecb
    t = await tenant(gw, credit=0, plan="enterprise")
    s, b = await put_details(gw, t.account_id, country="US", currency="CHF")
    assert s == 200, b
    await charge(gw, t.account_id, 1_000_000)
    ecb.redirect = "http://127.0.0.1:9/elsewhere.xml"
    try:
        s, b = await issue(gw, t.account_id)
    finally:
        ecb.redirect = ""
    assert s == 503 and b["error"].get("code") == "rate_source_unavailable", (s, b)
    s, b = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/invoices")
    assert s == 200 and b["data"] == [], b


async def test_a_rate_given_as_a_json_float_is_refused_or_kept_exact(world: World) -> None:
    """invoices.md: "Rates are exact decimals ("0.92" EUR per USD), never floats"."""
    t = await tenant(world.gw, credit=0)
    s, b = await world.gw.admin(
        "PUT",
        f"/admin/v1/accounts/{t.account_id}/invoicing",
        details(country="US", currency="EUR", rate=0.1, rate_source="float"),
    )
    if s != 400:
        assert s == 200 and Decimal(b["rate"]) == Decimal("0.1"), (s, b)


# ------------------------------------------------------------------ issuing


async def test_a_month_invoiced_in_full_cannot_be_invoiced_again(world: World) -> None:
    """invoices.md: "A month invoiced in full cannot be invoiced again (409)"."""
    t = await tenant(world.gw, credit=0, plan="enterprise")
    await issued(world.gw, t.account_id, "2026-01")
    results = await asyncio.gather(*(issue(world.gw, t.account_id, "2026-01") for _ in range(3)))
    assert [s for s, _ in results] == [409, 409, 409], results


async def test_two_issues_of_one_past_month_at_once_make_one_invoice(world: World) -> None:
    """invoices.md: a month invoiced in full cannot be invoiced again; "no ledger entry is on
    two invoices"."""
    gw = world.gw
    t = await tenant(gw, credit=0, plan="enterprise")
    results = await asyncio.gather(*(issue(gw, t.account_id, "2026-02") for _ in range(4)))
    assert sorted(s for s, _ in results) == [201, 409, 409, 409], results


async def test_a_prepaid_account_without_commitment_is_refused(world: World) -> None:
    """invoices.md: "Any other account is refused (409)"."""
    t = await tenant(world.gw, credit=5_000_000, plan="pro")
    s, b = await issue(world.gw, t.account_id)
    assert s == 409, (s, b)


async def test_issued_during_the_month_then_again_the_second_covers_only_the_rest(
    world: World,
) -> None:
    """invoices.md: "Issued during the month, it covers the month so far, and the next
    invoice for that month starts where it ended"; "Over all of an account's invoices, each
    debit is counted once"."""
    gw, p = world.gw, world.provider
    t = await postpaid(gw, card=True)
    charges = []
    invoices = []
    for tokens in ((1000, 500), (2000, 100)):
        prompt = f"inv-{secrets.token_hex(4)}"
        p.usage_by_prompt[prompt] = tokens
        status, cost, answer = await chat(gw, t.key, prompt=prompt, max_tokens=600)
        assert status == 200 and cost is not None, answer
        charges.append(cost)
        await gw.settle_all()
        invoices.append(await issued(gw, t.account_id))
    assert [i["usage_micros"] for i in invoices] == charges, (invoices, charges)
    assert invoices[1]["period_start"] == invoices[0]["period_end"], invoices


# ------------------------------------------------------------------ credit notes


async def test_a_line_is_never_credited_twice_even_at_once(world: World) -> None:
    """invoices.md: "a line is never credited twice (409)"; "leave them out to credit every
    line not yet credited"."""
    gw = world.gw
    t = await tenant(gw, credit=0, plan="enterprise")
    s, b = await put_details(
        gw, t.account_id, country="FR", currency="EUR", rate="0.92", rate_source="x"
    )
    assert s == 200, b
    await charge(gw, t.account_id, 3_000_000)
    await charge(gw, t.account_id, 4_000_000)
    inv = await issued(gw, t.account_id)
    positions = [ln["position"] for ln in charged_lines(inv)]
    assert len(positions) >= 1, inv
    path = f"/admin/v1/invoices/{inv['number']}/credit-note"
    first = positions[0]
    results = await asyncio.gather(
        *(gw.admin("POST", path, {"reason": "race", "lines": [first]}) for _ in range(4))
    )
    assert sorted(s for s, _ in results) == [201, 409, 409, 409], results
    cn = next(b for s, b in results if s == 201)
    assert cn["credits"] == inv["number"], cn
    assert [ln["credits_position"] for ln in cn["lines"]] == [first], cn["lines"]
    line = next(ln for ln in inv["lines"] if ln["position"] == first)
    assert [ln["amount_micros"] for ln in cn["lines"]] == [-line["amount_micros"]], cn
    assert cn["tax_minor"] == tax_of(cn["subtotal_minor"], "20"), cn
    rest = await gw.admin("POST", path, {"reason": "rest"})
    if len(positions) > 1:
        assert rest[0] == 201, rest
        assert sorted(ln["credits_position"] for ln in rest[1]["lines"]) == positions[1:], rest
    s, b = await gw.admin("POST", path, {"reason": "again"})
    assert s == 409, (s, b)
    s, b = await gw.admin("POST", path, {"reason": "again", "lines": [first]})
    assert s == 409, (s, b)


async def test_numbers_have_no_gaps_under_concurrent_issues_and_refusals(world: World) -> None:
    """invoices.md: "Invoices and credit notes share one series, numbered 1, 2, 3... with no
    gaps: ... an issue that fails leaves no hole"."""
    gw = world.gw
    good = [await tenant(gw, credit=0, plan="enterprise") for _ in range(4)]
    bad = [await tenant(gw, credit=1_000_000, plan="pro") for _ in range(3)]
    calls = [issue(gw, t.account_id, "2026-03") for t in good]
    calls += [issue(gw, t.account_id, "2026-03") for t in bad]
    calls += [issue(gw, good[0].account_id, "2026-03")]
    results = await asyncio.gather(*calls)
    assert sorted(s for s, _ in results) == [201] * 4 + [409] * 4, results
    s, b = await gw.admin("GET", "/admin/v1/invoices?limit=1000")
    assert s == 200, b
    numbers = sorted(int(str(i["number"]).rsplit("-", 1)[1]) for i in b["data"])
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert all(str(i["number"]).startswith("INV-") for i in b["data"]), b["data"][:3]


# ------------------------------------------------------------------ who may read


async def test_only_the_organizations_readers_read_its_invoice(world: World) -> None:
    """invoices.md: `GET /v1/account/invoices/{number}`: "the organization's owners, admins
    and billing members, and keys with a billing scope; JSON or PDF"."""
    gw = world.gw
    owner = await tenant(gw, credit=0, plan="enterprise", scopes=READER)
    await charge(gw, owner.account_id, 2_000_000)
    inv = await issued(gw, owner.account_id)
    number = inv["number"]
    path = f"/v1/account/invoices/{number}"
    # the organization's reader: JSON and PDF (by query and by Accept)
    s, ct, body = await customer_get(gw, owner.key, path)
    assert s == 200 and number.encode() in body, (s, body[:200])
    s, ct, body = await customer_get(gw, owner.key, path + "?format=pdf")
    assert s == 200 and body.startswith(b"%PDF"), (s, ct)
    s, ct, body = await customer_get(gw, owner.key, path, Accept="application/pdf")
    assert s == 200 and body.startswith(b"%PDF"), (s, ct)
    # a key with the billing scope group of the same organization
    s, key = await gw.admin(
        "POST",
        "/admin/v1/keys",
        {"account_id": owner.account_id, "name": "b", "scopes": ["billing"]},
    )
    assert s == 201, key
    s, ct, body = await customer_get(gw, key["key"], path)
    assert s == 200, (s, body[:300])
    # the same organization's key without a billing scope
    for scopes in (["chat"], ["usage:read", "account:read"]):
        s, key = await gw.admin(
            "POST",
            "/admin/v1/keys",
            {"account_id": owner.account_id, "name": "n", "scopes": scopes},
        )
        assert s == 201, key
        for p in (path, path + "?format=pdf", "/v1/account/invoices"):
            s, ct, body = await customer_get(gw, key["key"], p)
            assert s == 403 and number.encode() not in body, (scopes, p, s, body[:200])
    # another organization's reader, by every way of asking
    other = await tenant(gw, credit=0, plan="enterprise", scopes=[*READER, "billing"])
    for p, h in (
        (path, {}),
        (path + "?format=pdf", {}),
        (path, {"Accept": "application/pdf"}),
        (f"/v1/account/invoices/{number.lower()}", {}),
    ):
        s, ct, body = await customer_get(gw, other.key, p, **h)
        assert s in (403, 404) and not body.startswith(b"%PDF"), (p, s, body[:200])
        assert number.encode() not in body or s == 404, body[:200]
    s, ct, body = await customer_get(gw, other.key, "/v1/account/invoices")
    assert s == 200 and number.encode() not in body, body[:300]
    http = await signed_in(gw, other.key)
    try:
        async with http.get(gw.url + f"/dashboard/billing/invoices/{number}/pdf") as r:
            data = await r.read()
            assert not data.startswith(b"%PDF"), r.status
            assert r.status in (403, 404) or number.encode() not in data, r.status
    finally:
        await http.close()
