"""Attacks on contracts: commitments (docs/guides/commitments.md) and price books
(docs/guides/price-books.md), through the operator API, the account API and the OpenAI wire,
with a provider of the attacks' own that reports the usage each test sets."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.attack.calls import chat
from tests.attack.provider import Provider, fake_provider
from tests.support.billing_client import books_balance
from tests.support.factories import (
    FAST_REVIEW,
    Tenant,
    approved_in_time,
    balance,
    ledger,
    openai_client,
    reviewed_markup,
    tenant,
    until_effective,
)
from tests.support.harness import Gateway, running_gateway, temp_database

SCOPES = ["inference", "account:read", "keys:write", "usage:read", "org:write", "ledger:read"]
SCOPES += ["statements:read"]


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[tuple[Gateway, Provider]]:
    async with (
        temp_database() as dsn,
        fake_provider() as p,
        running_gateway(dsn, None, OPENAI_BASE_URL=p.url + "/v1", **FAST_REVIEW) as gw,
    ):
        yield gw, p


def terms(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "period": "month",
        "amount_micros": 1_000_000,
        "billing": "prepaid",
        "discount_bps": 0,
        "on_exhausted": "refuse",
        "overage_bps": 0,
        "rollover_bps": 0,
        "rollover_cap_micros": 0,
        "rollover_periods": 1,
    }
    return {**base, **over}


async def commit(gw: Gateway, account_id: str, **over: Any) -> dict[str, Any]:
    status, body = await gw.admin(
        "PUT", f"/admin/v1/accounts/{account_id}/commitment", terms(**over)
    )
    assert status in (200, 201), body
    return dict(body)


async def commitment(gw: Gateway, account_id: str) -> dict[str, Any]:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/commitment")
    assert status == 200, body
    return dict(body)


async def customer(gw: Gateway, key: str, path: str) -> tuple[int, Any]:
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {key}"}) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


def is_commitment_refusal(status: int, body: dict[str, Any]) -> bool:
    err = body.get("error", {})
    return (
        status == 402
        and err.get("type") == "billing_required"
        and err.get("reason") == "commitment_exhausted"
        and (err.get("next") or {}).get("action") == "contact_sales"
    )


async def debit_rows(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    await gw.settle_all()
    return [r for r in await ledger(gw, account_id) if r["kind"] == "debit"]


# ------------------------------------------------------------------ commitments


async def test_refuse_is_402_commitment_exhausted_and_a_top_up_does_not_lift_it(
    world: tuple[Gateway, Provider],
) -> None:
    """commitments.md: `refuse` (402 `billing_required`, reason `commitment_exhausted`, whose
    `next` step is `contact_sales`: a top-up does not lift it; the operator ... changes
    `on_exhausted`), or `balance` (the account's own price, from its balance)."""
    gw, _ = world
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    await commit(gw, t.account_id, amount_micros=500, discount_bps=1000)
    status, cost, body = await chat(gw, t.key)
    assert status == 200 and cost == 405, body  # 450 at 10% off
    status, _, body = await chat(gw, t.key)
    assert is_commitment_refusal(status, body), (status, body)
    s, b = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{t.account_id}/credits",
        {"amount_micros": 50_000_000, "idempotency_key": "topup-1", "reason": "top-up"},
    )
    assert s == 201, b
    status, _, body = await chat(gw, t.key)
    assert is_commitment_refusal(status, body), (status, body)
    await commit(gw, t.account_id, amount_micros=500, discount_bps=1000, on_exhausted="balance")
    status, cost, body = await chat(gw, t.key)
    assert status == 200 and cost == 450, (status, cost, body)  # the account's own price


async def burst(
    gw: Gateway, p: Provider, key: str, prompt: str, n: int
) -> tuple[int, list[tuple[int, int | None, dict[str, Any]]], list[asyncio.Task[Any]]]:
    """`n` calls at once, each admitted one held at the provider: (admitted, refusals, tasks);
    the test releases the provider."""
    p.hold()
    before = len(p.received)
    tasks = [asyncio.create_task(chat(gw, key, prompt=prompt)) for _ in range(n)]
    while True:
        refused = [x.result() for x in tasks if x.done()]
        if len(p.received) - before + len(refused) >= n:
            return len(p.received) - before, refused, tasks
        await asyncio.sleep(0.02)


async def test_concurrent_calls_never_hold_more_than_the_period_has_left(
    world: tuple[Gateway, Provider],
) -> None:
    """commitments.md: a call whose worst case ... fits what the period has left (...less
    what was drawn and what running calls hold) is held against the commitment ...; one that
    does not fit is decided by `on_exhausted`; its debit is the commitment's drawdown."""
    gw, p = world
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    amount = 5000
    await commit(gw, t.account_id, amount_micros=amount, discount_bps=1000)
    prompt = f"burst {secrets.token_hex(4)}"
    p.usage_by_prompt[prompt] = (5, 400)  # honest: within the worst case (500 output)
    try:
        admitted, refused, tasks = await burst(gw, p, t.key, prompt, 40)
        assert refused and all(is_commitment_refusal(s, b) for s, _, b in refused), refused
        worst = int(refused[0][2]["error"]["required_micros"])
        assert admitted * worst <= amount, (admitted, worst)
        assert admitted == amount // worst, (admitted, worst)  # every call that fits is held
        period = (await commitment(gw, t.account_id))["current_period"]
        assert period["held_micros"] == admitted * worst, period
        assert period["left_micros"] == amount - admitted * worst, period
    finally:
        p.release()
    results = await asyncio.gather(*tasks)
    costs = [c for s, c, _ in results if s == 200]
    # 5 x 0.15 + 400 x 0.60 = 240.75, x 0.9 = 216.675 -> 217
    assert len(costs) == admitted and all(c == 217 for c in costs), results
    rows = await debit_rows(gw, t.account_id)
    assert sorted(-r["amount_micros"] for r in rows) == sorted(costs)
    period = (await commitment(gw, t.account_id))["current_period"]
    assert period["drawn_micros"] == sum(costs) <= amount, period
    assert period["held_micros"] == 0
    assert await balance(gw, t.account_id) == 1_000_000 + amount - sum(costs)


async def test_calls_held_together_whose_provider_reports_more_input_draw_what_they_debit(
    world: tuple[Gateway, Provider],
) -> None:
    """commitments.md: a held call whose provider reports more than its hold is still
    charged at the commitment's price; it draws what the period has left and the rest comes
    from the balance, under `refuse` too. A provider reports 1,000 input tokens for a prompt
    of a few (under the charge cap of 4x the count + 8,192, money.md), so each debit (405)
    is above its hold (272): three calls held at once within a 1,000 commitment debit 1,215
    at the discount, the commitment is drawn to its end, and the next call is refused."""
    gw, p = world
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    amount = 1000
    await commit(gw, t.account_id, amount_micros=amount, discount_bps=1000)
    prompt = f"lying {secrets.token_hex(4)}"
    p.usage_by_prompt[prompt] = (1000, 500)
    try:
        admitted, _, tasks = await burst(gw, p, t.key, prompt, 6)
    finally:
        p.release()
    results = await asyncio.gather(*tasks)
    costs = [c for s, c, _ in results if s == 200]
    assert len(costs) == admitted >= 2 and all(c == 405 for c in costs), results
    debited = -sum(r["amount_micros"] for r in await debit_rows(gw, t.account_id))
    assert debited == sum(costs)
    period = (await commitment(gw, t.account_id))["current_period"]
    assert period["drawn_micros"] == min(amount, debited), (period, debited)
    assert await books_balance(gw, t.account_id) == 1_000_000 + amount - debited
    status, _, body = await chat(gw, t.key, prompt="after")
    assert status == 402 and "commitment_exhausted" in json.dumps(body), (status, body)


async def test_discount_and_markup_combine_into_one_rate_rounded_up_to_whole_bps(
    world: tuple[Gateway, Provider],
) -> None:
    """commitments.md: The discount and the overage rate combine with the account's markup
    into one rate, rounded up to whole basis points; the call's amount then has its one
    upward rounding ... `usage.cost_micros` and `x-meterway-cost-micros` are what the
    customer pays."""
    gw, p = world
    prompt = f"twenty thousand {secrets.token_hex(4)}"
    p.usage_by_prompt[prompt] = (1000, 1750)  # gpt-4o: 2,500 + 17,500 = 20,000 micros exact
    a = await tenant(gw, credit=10_000_000, scopes=SCOPES)
    b = await tenant(gw, credit=10_000_000, scopes=SCOPES)
    await asyncio.gather(reviewed_markup(gw, a.account_id, 1), reviewed_markup(gw, b.account_id, 1))
    # discount: 1.0001 x 0.5 = 0.50005 -> 5,001 bps -> 20,000 x 0.5001 = 10,002
    await commit(gw, a.account_id, amount_micros=1_000_000, discount_bps=5000)
    # overage: 1.0001 x 1.2 = 1.20012 -> 12,002 bps -> 20,000 x 1.2002 = 24,004
    await commit(gw, b.account_id, amount_micros=1000, on_exhausted="overage", overage_bps=2000)
    client = openai_client(gw, a.key)
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=2000, messages=[{"role": "user", "content": prompt}]
    )
    done = raw.parse()
    assert done.usage is not None and done.usage.model_extra is not None
    header = int(raw.headers["x-meterway-cost-micros"])
    assert (header, done.usage.model_extra["cost_micros"]) == (10_002, 10_002)
    status, cost, body = await chat(gw, b.key, model="gpt-4o", prompt=prompt, max_tokens=2000)
    assert status == 200 and cost == 24_004, (status, cost, body)
    (row_a,) = await debit_rows(gw, a.account_id)
    (row_b,) = await debit_rows(gw, b.account_id)
    assert (row_a["amount_micros"], row_b["amount_micros"]) == (-10_002, -24_004)
    assert (await commitment(gw, a.account_id))["current_period"]["drawn_micros"] == 10_002


async def test_new_terms_apply_at_once_and_a_new_amount_from_the_next_period(
    world: tuple[Gateway, Provider],
) -> None:
    """commitments.md: New terms apply their rates and policy at once and a new amount from
    the next period."""
    gw, _ = world
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    await commit(gw, t.account_id, amount_micros=500, discount_bps=1000)
    assert (await chat(gw, t.key))[1] == 405
    await commit(gw, t.account_id, amount_micros=1_000_000, discount_bps=2000)
    period = (await commitment(gw, t.account_id))["current_period"]
    assert period["allowance_micros"] == 500, period  # the new amount waits
    status, _, body = await chat(gw, t.key)
    assert is_commitment_refusal(status, body), (status, body)
    assert await balance(gw, t.account_id) == 1_000_000 + 500 - 405  # no second prepayment
    await commit(
        gw, t.account_id, amount_micros=1_000_000, discount_bps=2000, on_exhausted="overage"
    )
    status, cost, body = await chat(gw, t.key)
    assert status == 200 and cost == 450, (status, cost, body)  # overage at 0 bps: own price


async def test_prepayment_is_credited_once_when_the_commitment_is_set_concurrently(
    world: tuple[Gateway, Provider],
) -> None:
    """commitments.md: `prepaid`: each period's commitment is credited to the balance at its
    open; the keeper writes each entry once however often it runs; each entry has the
    idempotency key `commitment:<id>:<period start>:<what>`."""
    gw, _ = world
    t = await tenant(gw, credit=0, scopes=SCOPES)
    path = f"/admin/v1/accounts/{t.account_id}/commitment"
    answers = await asyncio.gather(
        *(gw.admin("PUT", path, terms(amount_micros=7000)) for _ in range(6))
    )
    assert all(s in (200, 201) for s, _ in answers), answers
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 7000
    rows = [r for r in await ledger(gw, t.account_id) if r["amount_micros"] > 0]
    assert len(rows) == 1 and rows[0]["amount_micros"] == 7000, rows
    key = str(rows[0]["idempotency_key"])
    assert key.startswith("commitment:"), rows
    # The keeper's own key, replayed by an operator, is refused: no second prepayment.
    s, b = await gw.admin(
        "POST",
        f"/admin/v1/accounts/{t.account_id}/credits",
        {"amount_micros": 7000, "idempotency_key": key, "reason": "replay"},
    )
    assert s == 400, b
    assert await balance(gw, t.account_id) == 7000


@pytest.mark.parametrize("route", ["credits", "adjustments"])
async def test_operator_money_with_a_keepers_key_is_refused(
    world: tuple[Gateway, Provider], route: str
) -> None:
    """commitments.md: an operator's credit or adjustment whose key starts with
    `commitment:` is refused (400)."""
    gw, _ = world
    t = await tenant(gw, credit=100_000, scopes=SCOPES)
    for key in ("commitment:", "commitment:1:2026-11-01:prepay", "commitment:x" + "y" * 100):
        for amount in (5, -5):
            s, b = await gw.admin(
                "POST",
                f"/admin/v1/accounts/{t.account_id}/{route}",
                {"amount_micros": amount, "idempotency_key": key, "reason": "attack"},
            )
            assert s == 400, (key, amount, b)
    assert await balance(gw, t.account_id) == 100_000


async def test_arrears_needs_a_postpaid_account(world: tuple[Gateway, Provider]) -> None:
    """commitments.md: `arrears`: nothing up front ... (postpaid accounts only: 409
    otherwise)."""
    gw, _ = world
    t = await tenant(gw, credit=20_000, scopes=SCOPES)
    path = f"/admin/v1/accounts/{t.account_id}/commitment"
    status, body = await gw.admin("PUT", path, terms(billing="arrears"))
    assert status == 409, body
    assert (await commitment(gw, t.account_id))["active"] is False
    assert await balance(gw, t.account_id) == 20_000


async def test_customer_reads_its_own_commitment_and_no_one_elses(
    world: tuple[Gateway, Provider],
) -> None:
    """commitments.md: The customer reads the same answer for its own account with
    `GET /v1/account/commitment` (any key or person with `account:read`); an account
    without a commitment answers `"active": false`."""
    gw, _ = world
    a = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    b = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    narrow = await tenant(gw, credit=1_000_000, scopes=["chat"])
    await commit(gw, a.account_id, amount_micros=3000, discount_bps=1000)
    assert (await chat(gw, a.key))[1] == 405
    await gw.settle_all()
    s, mine = await customer(gw, a.key, "/v1/account/commitment")
    assert s == 200, mine
    theirs = await commitment(gw, a.account_id)
    assert mine == theirs, (mine, theirs)
    assert mine["current_period"]["drawn_micros"] == 405
    s, other = await customer(gw, b.key, "/v1/account/commitment")
    assert s == 200 and other["active"] is False and other["account_id"] == b.account_id, other
    s, denied = await customer(gw, narrow.key, "/v1/account/commitment")
    assert s == 403, denied
    s, spoof = await customer(gw, b.key, f"/v1/account/commitment?account_id={a.account_id}")
    assert s == 200 and spoof["account_id"] == b.account_id and spoof["active"] is False, spoof


# ------------------------------------------------------------------ price books


def ahead(s: float = 1.5) -> str:
    return (datetime.now(UTC) + timedelta(seconds=s)).isoformat()


async def propose(gw: Gateway, change: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, body = await gw.admin(
        "POST", "/admin/v1/prices/changes", {**change, "effective_at": ahead()}
    )
    return status, dict(body)


async def in_force(gw: Gateway, change: dict[str, Any]) -> None:
    async def proposed(ahead_s: float) -> dict[str, Any]:
        status, body = await gw.admin(
            "POST", "/admin/v1/prices/changes", {**change, "effective_at": ahead(ahead_s)}
        )
        assert status == 201, body
        return dict(body)

    await until_effective(await approved_in_time(gw, proposed))
    await asyncio.sleep(0.5)  # PRICE_CHANGE_POLL_S 0.2: every process installed it


async def test_a_book_that_makes_a_rate_fractional_is_refused_by_name(
    world: tuple[Gateway, Provider],
) -> None:
    """price-books.md: A book whose rule or default would make any served model's rate
    fractional is refused when proposed ..., naming the book, the model, the dimension and
    the list rate. Nothing is rounded."""
    gw, _ = world
    name = f"frac{secrets.token_hex(3)}"
    status, body = await propose(
        gw, {"books": {name: {"rules": [{"model": "gpt-4o-mini", "adjust_bps": -1}]}}}
    )
    assert status == 400, body
    msg = body["error"]["message"]
    for part in (f"book {name}@0", "gpt-4o-mini", "cached_input", "75000"):
        assert part in msg, msg
    # the same through a book-wide default
    status, body = await propose(gw, {"books": {name: {"adjust_bps": -1}}})
    assert status == 400, body
    assert f"book {name}@0" in body["error"]["message"], body


@pytest.mark.parametrize(
    "rules, position",
    [
        ([{"model": "gpt-4o-mini", "dimension": "request", "rate": "0.01"}], 1),
        ([{"model": "no-such-model-anyone-serves", "rate": "1.00", "dimension": "input"}], 1),
        (
            [
                {"model": "gpt-4o-search-preview", "dimension": "request", "rate": "0.02"},
                {"family": "gpt-4o-search-preview", "dimension": "request", "rate": "0.03"},
            ],
            2,
        ),
    ],
    ids=["fee-on-a-model-without-one", "model-no-one-serves", "always-beaten"],
)
async def test_a_rule_that_prices_no_call_is_refused(
    world: tuple[Gateway, Provider], rules: list[dict[str, Any]], position: int
) -> None:
    """price-books.md: A rule must change a price: one that would price no call is refused
    when proposed ..., naming the book and the rule's position: a rule naming a model no one
    serves, a dimension the list cards of the models it names lack, or a rule a more
    specific one of the same book always beats."""
    gw, _ = world
    name = f"dead{secrets.token_hex(3)}"
    status, body = await propose(gw, {"books": {name: {"rules": rules}}})
    assert status == 400, body
    msg = body["error"]["message"]
    assert f"book {name}@0: rule {position}" in msg and "prices no call" in msg, msg


async def test_a_price_change_in_the_past_is_refused(world: tuple[Gateway, Provider]) -> None:
    """price-books.md: in force from its effective time, always ahead of the clock."""
    gw, _ = world
    t = await tenant(gw, credit=0, scopes=SCOPES)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    book = {"rules": [{"model": "gpt-4o-mini", "dimension": "output", "rate": "0.01"}]}
    change = {"books": {"past": book}, "assign": {"accounts": {t.account_id: "past"}}}
    status, body = await gw.admin(
        "POST", "/admin/v1/prices/changes", {**change, "effective_at": past}
    )
    assert status == 400, body


@pytest.fixture(scope="module")
async def booked(world: tuple[Gateway, Provider]) -> dict[str, Tenant]:
    """One reviewed change: books P (parent: gpt-4o family 20% off), C (child of P: rules of
    its own), F (a per-call fee's own rate), O (an account's own, output only), S (the
    starter plan's: 50% off the gpt-4o family); accounts: chain -> C, fee -> F, own -> O
    (on starter); list: no book (pro, which has none)."""
    gw, _ = world
    who = {
        "chain": await tenant(gw, credit=10_000_000, scopes=SCOPES),
        "fee": await tenant(gw, credit=10_000_000, scopes=SCOPES),
        "own": await tenant(gw, credit=10_000_000, scopes=SCOPES, plan="starter"),
        "plan": await tenant(gw, credit=10_000_000, scopes=SCOPES, plan="starter"),
        "list": await tenant(gw, credit=10_000_000, scopes=SCOPES),
    }
    books = {
        "atk-p": {"rules": [{"family": "gpt-4o", "adjust_bps": -2000}]},
        "atk-c": {
            "parent": "atk-p",
            "rules": [
                {"model": "gpt-4o-mini", "dimension": "output", "rate": "0.50"},
                {"family": "gpt-4o-mini", "dimension": "input", "rate": "0.10"},
                {"family": "gpt-4o", "dimension": "input", "rate": "2.00"},
            ],
        },
        "atk-f": {
            "rules": [{"model": "gpt-4o-search-preview", "dimension": "request", "rate": "0.02"}]
        },
        "atk-o": {"rules": [{"model": "gpt-4o-mini", "dimension": "output", "rate": "0.50"}]},
        "atk-s": {"rules": [{"family": "gpt-4o", "adjust_bps": -5000}]},
    }
    assign = {
        "accounts": {
            who["chain"].account_id: "atk-c",
            who["fee"].account_id: "atk-f",
            who["own"].account_id: "atk-o",
        },
        "plans": {"starter": "atk-s"},
    }
    await in_force(gw, {"books": books, "assign": assign})
    return who


async def test_the_most_specific_rule_of_the_chain_prices_each_dimension(
    world: tuple[Gateway, Provider], booked: dict[str, Tenant]
) -> None:
    """price-books.md: a rule naming the model beats any family rule, a longer family beats a
    shorter one, a rule naming the dimension beats one for every dimension; else its parent's
    rule; ... A book that reaches no rate of a model leaves that model at its list price."""
    gw, _ = world
    key = booked["chain"].key
    # gpt-4o-mini, 1,000 in / 500 out: input by family gpt-4o-mini 0.10 (100), output by the
    # model rule 0.50 (250)
    assert (await chat(gw, key))[:2] == (200, 350)
    # gpt-4o: input by C's family gpt-4o rule 2.00 (2,000), output by P's family rule 20% off
    # 10.00 (4,000)
    assert (await chat(gw, key, model="gpt-4o"))[:2] == (200, 6000)
    # gpt-4.1-nano: no rule of the chain reaches it: its list price, as a bookless account pays
    status, listed, body = await chat(gw, booked["list"].key, model="gpt-4.1-nano")
    assert status == 200, body
    assert (await chat(gw, key, model="gpt-4.1-nano"))[:2] == (200, listed)
    # the list account pays list prices
    assert (await chat(gw, booked["list"].key))[:2] == (200, 450)


async def test_a_book_prices_the_per_call_fee_exactly(
    world: tuple[Gateway, Provider], booked: dict[str, Tenant]
) -> None:
    """price-books.md: a rate of its own for any price dimension ... `request` (the per-call
    fee). Money is the exact sum rounded up once."""
    gw, _ = world
    # gpt-4o-search-preview, 1,000 in / 500 out: 2,500 + 5,000 + the fee
    list_status, list_cost, body = await chat(gw, booked["list"].key, model="gpt-4o-search-preview")
    assert (list_status, list_cost) == (200, 2500 + 5000 + 25_000), body
    status, cost, body = await chat(gw, booked["fee"].key, model="gpt-4o-search-preview")
    assert (status, cost) == (200, 2500 + 5000 + 20_000), body


async def test_the_accounts_own_book_beats_its_plans_and_null_falls_back(
    world: tuple[Gateway, Provider], booked: dict[str, Tenant]
) -> None:
    """price-books.md: 1. The account's own book, if one is assigned to it; 2. else the book
    assigned to the account's plan; `"acct_123" = ""` ... (`null` in JSON) removes the
    account's own book (it falls back to its plan's)."""
    gw, _ = world
    own, plan = booked["own"], booked["plan"]
    # the starter plan's book: gpt-4o family at 50%: 75 + 150
    assert (await chat(gw, plan.key))[:2] == (200, 225)
    # its own book only: input at list (150, its book reaches no input rate), output 0.50 (250)
    assert (await chat(gw, own.key))[:2] == (200, 400)
    await in_force(gw, {"assign": {"accounts": {own.account_id: None}}})
    assert (await chat(gw, own.key))[:2] == (200, 225)


async def test_customer_surfaces_never_show_provider_cost_margin_or_book(
    world: tuple[Gateway, Provider], booked: dict[str, Tenant]
) -> None:
    """price-books.md: The customer's answer, receipts, ledger, usage, ... and exports show its
    price, never the provider's cost, the margin, the markup or which book priced the call:
    its FOCUS export has no `x_ProviderCost`, and its `ListCost` is what it was charged. The
    operator's ledger shows ... `provider_cost_micros`, `charged_micros`,
    `gross_margin_micros`; a debit's `usage_detail.book` names the book."""
    gw, _ = world
    t = booked["chain"]
    status, cost, body = await chat(gw, t.key, prompt=f"surfaces {secrets.token_hex(3)}")
    assert (status, cost) == (200, 350), body
    await gw.settle_all()
    op = next(r for r in await ledger(gw, t.account_id) if r["kind"] == "debit")
    assert op["provider_cost_micros"] == 450 and op["charged_micros"] == 350, op
    assert op["gross_margin_micros"] == -100, op
    assert str((op.get("usage_detail") or {}).get("book")).startswith("atk-c"), op
    secret_words = ("provider_cost", "gross_margin", "margin", "markup", "atk-c", "atk-p")
    s, led = await customer(gw, t.key, "/v1/account/ledger")
    assert s == 200, led
    s, req = await customer(gw, t.key, f"/v1/account/requests/{op['request_id']}")
    assert s == 200, req
    s, usage = await customer(gw, t.key, "/v1/account/usage?group_by=model")
    assert s == 200, usage
    for surface in (led, req, usage):
        text = json.dumps(surface)
        for word in secret_words:
            assert word not in text, (word, text[:2000])
    month = datetime.now(UTC).strftime("%Y-%m")
    s, focus = await customer(gw, t.key, f"/v1/account/exports/focus?month={month}")
    assert s == 200, focus
    rows = list(csv.DictReader(io.StringIO(str(focus))))
    assert rows and "x_ProviderCost" not in rows[0], list(rows[0])
    for row in rows:
        assert row["ListCost"] == row["BilledCost"], row
    assert "atk-c" not in str(focus)


async def test_operator_key_is_needed_to_propose_books(world: tuple[Gateway, Provider]) -> None:
    """price-books.md: A book is created, changed, assigned or unassigned only as a price
    change (an operator's): a customer's key, whatever its scopes, cannot."""
    gw, _ = world
    t = await tenant(gw, credit=0, scopes=SCOPES)
    book = {"rules": [{"model": "gpt-4o-mini", "dimension": "output", "rate": "0.01"}]}
    body = {
        "books": {"mine": book},
        "assign": {"accounts": {t.account_id: "mine"}},
        "effective_at": ahead(),
    }
    async with gw.http.post(
        gw.url + "/admin/v1/prices/changes", headers={"Authorization": f"Bearer {t.key}"}, json=body
    ) as r:
        assert r.status in (401, 403), await r.text()
