"""Driving /v1/account/billing and the local provider's pages the way a user's browser would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.cli.main import _parser
from gateway.cli.server import COMMANDS
from gateway.http.appkeys import AUTO_TOPUPS, PAYMENTS
from gateway.payments.local_objects import DECLINED, NEEDS_AUTH, SUCCEEDS
from gateway.services.money.grace import tick
from tests.support.factories import Tenant, tenant
from tests.support.harness import Gateway

__all__ = ["DECLINED", "NEEDS_AUTH", "SUCCEEDS"]


@dataclass
class Biller:
    gw: Gateway
    t: Tenant

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.t.key}"}

    async def call(self, method: str, path: str, body: Any = ...) -> tuple[int, Any]:
        """`body` is sent as JSON (None as `null`); left out, the request has no body."""
        url = f"{self.gw.url}/v1/account/billing{path}"
        data = None if body is ... else json.dumps(body)
        async with self.gw.http.request(method, url, data=data, headers=self.auth) as r:
            return r.status, await r.json()

    async def ok(self, method: str, path: str, body: Any = ...) -> Any:
        status, doc = await self.call(method, path, body)
        assert status in (200, 201), (status, doc)
        return doc

    async def state(self) -> dict[str, Any]:
        doc: dict[str, Any] = await self.ok("GET", "")
        return doc

    async def page(self, url: str, **form: str) -> tuple[int, str, str]:
        """POST a hosted page's form (following its redirect): (status, final path and
        query, html)."""
        target = url if url.startswith("http") else self.gw.url + url
        async with self.gw.http.post(target, data=form) as r:
            return r.status, r.url.path_qs, await r.text()

    async def pay(self, url: str, card: str = SUCCEEDS, action: str = "pay") -> str:
        status, _, html = await self.page(url, action=action, card=card)
        assert status == 200, html
        return html

    async def save_card(self, card: str = SUCCEEDS) -> None:
        setup = await self.ok("POST", "/setup")
        await self.pay(setup["url"], card)

    async def topup(self, amount: int, card: str = SUCCEEDS) -> str:
        page = await self.ok("POST", "/topups", {"amount_micros": amount})
        await self.pay(page["url"], card)
        return str(page["id"])


async def biller(gw: Gateway, *, credit: int = 0, plan: str = "free", **kw: Any) -> Biller:
    kw.setdefault("scopes", ["chat", "billing"])
    return Biller(gw, await tenant(gw, credit=credit, plan=plan, **kw))


async def books_balance(gw: Gateway, account_id: str) -> int:
    """Ledger sum == PostgreSQL balance == Redis balance (nothing held); returns it."""
    await gw.settle_all()
    await gw.app[AUTO_TOPUPS].drain()
    await gw.settle_all()
    pool = gw.stores().pool
    row = await pool.fetchrow(
        "SELECT a.balance_micros AS bal, coalesce(sum(l.amount_micros), 0)::bigint AS total"
        " FROM accounts a LEFT JOIN ledger_kind_sums l ON l.account_id = a.id"
        " AND l.account_id = $1 WHERE a.id = $1"
        " GROUP BY a.id",
        account_id,
    )
    hot = await gw.store.balance(account_id)
    assert row["bal"] == row["total"], "accounts.balance != sum(ledger)"
    assert hot == (row["total"], 0), f"redis {hot} != ledger {row['total']}"
    return int(row["total"])


async def credits(gw: Gateway, account_id: str, kind: str = "credit") -> list[Any]:
    pool = gw.stores().pool
    return list(
        await pool.fetch(
            "SELECT * FROM ledger_entries WHERE account_id = $1 AND kind = $2 ORDER BY id",
            account_id,
            kind,
        )
    )


async def run_clock(gw: Gateway, advance_ms: int = 0, account_id: str = "") -> list[str]:
    """Move the gateway's clock and run what falls due then (no sleeping); with
    `account_id`, what it did to that account only (the worker's database is shared by
    the tests it runs, and a month on falls due for their accounts too)."""
    if advance_ms:
        await gw.advance_clock(advance_ms)
    payments = gw.app[PAYMENTS]
    done = await tick(payments, await payments.now())
    return [d for d in done if d.startswith(f"{account_id}:")] if account_id else done


async def payments_cli(
    gw: Gateway, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[str]]:
    """Run `meterway payments ...` against this gateway's stores and provider."""
    capsys.readouterr()
    code = await COMMANDS["payments"](gw.settings, _parser().parse_args(["payments", *argv]))
    return code, capsys.readouterr().out.splitlines()
