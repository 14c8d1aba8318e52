"""Invoices in PostgreSQL (migration 100): the customer's invoicing details, the period's
ledger in groups, and issuing, all in one transaction per issue.

Kept whole: an issue is one transaction over details, groups, numbering and lines; the
arithmetic is billing/contracts/invoices.py.

Issuing takes the series' next number by updating its counter row (`invoice_counters`),
which locks the row until the transaction ends: issues of one series run one after the
other, and one that fails rolls its number back with everything else, so numbers have no
gaps (a sequence would lose the number of a rolled-back transaction). After the lock, the
period's start is read (the end of the account's last invoice in that month, else the
month's start), then the ledger's entries of the period are summed, and the invoice the
caller builds from them (billing/contracts/invoices.py) is written with its lines. Triggers refuse
any later change to either.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing.contracts.commitments import ENTRY_KEY_PREFIX
from billing.contracts.invoices import InvalidInvoice, Invoice, LedgerGroup, Line, Party
from billing.money.tax import Tax
from gateway.stores.ports.contracts.invoices import Build, BuildCredit, OpenDraw
from gateway.stores.postgres.contracts.invoice_applied import applied_groups
from gateway.stores.postgres.errors import map_postgres_errors, read_once_more
from gateway.stores.postgres.usage import id_bound
from gateway.stores.records import Row

CUSTOMER_FIELDS = (
    "legal_name", "address", "country", "tax_id", "currency", "rate", "rate_source", "group_by",
    "email",
)  # fmt: skip
_DELIVERY = (
    "SELECT d.* FROM invoice_deliveries d JOIN invoices i ON i.id = d.invoice_id"
    " WHERE i.series = $1 AND i.number = $2"
)

# The usage key of a debit by grouping ($6: the tag's name for tag:NAME).
_KEYS = {
    "model": ("coalesce(l.model, '')", "coalesce(l.model, '')"),
    "team": ("coalesce(t.id, '')", "coalesce(t.name, t.id, '')"),
    "key": ("coalesce(l.key_id, '')", "coalesce(k.name, l.key_id, '')"),
    "tag": ("coalesce(l.tags->>$6, '')", "coalesce(l.tags->>$6, '')"),
}
# A prepaid commitment's credit at a period's open (its key, services/contracts/commitments.py) is
# what the customer buys: charged, so its amount is counted with the sign of a debit.
_PREPAID = f"(l.kind = 'credit' AND l.idempotency_key LIKE '{ENTRY_KEY_PREFIX}%:prepaid')"
_SECTION = (
    f"CASE WHEN {_PREPAID} THEN 'commitment' ELSE CASE l.kind WHEN 'debit' THEN 'usage'"
    " WHEN 'adjustment' THEN 'adjustment' WHEN 'credit' THEN 'credit'"
    " WHEN 'true_up' THEN 'commitment' WHEN 'refund' THEN 'refund' ELSE 'expired' END END"
)
_AMOUNT = f"CASE WHEN {_PREPAID} THEN -l.amount_micros ELSE l.amount_micros END"
_OTHER_LABEL = f"CASE WHEN {_PREPAID} THEN 'commitment prepaid' ELSE l.kind END"
# The period's entries ($2 to $3), and the late ones: written after an earlier invoice of the
# account covered the time they happened ($5: the highest ledger id those invoices covered),
# each line of those marked with the month it happened in. Only ids at or below $4 count: every
# id up to it has committed or never will (id_bound.py), so the next invoice starts there.
_GROUPS = """
WITH e AS (
    SELECT l.*, CASE WHEN l.occurred_at < $2
        THEN ' (late, ' || to_char(l.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM') || ')'
        ELSE '' END AS late
    FROM ledger_entries l
    WHERE l.account_id = $1 AND l.id <= $4
      AND l.kind IN ('debit', 'adjustment', 'credit', 'refund', 'true_up', 'expire',
                     'commitment_expire')
      AND ((l.occurred_at >= $2 AND l.occurred_at < $3)
           OR (l.id > $5 AND l.occurred_at < $2 AND EXISTS (
               SELECT 1 FROM invoices i WHERE i.account_id = $1 AND i.kind = 'invoice'
                 AND l.occurred_at >= i.period_start AND l.occurred_at < i.period_end)))
)
SELECT {section} AS section,
       CASE WHEN l.kind = 'debit' THEN {key} || CASE WHEN l.meter IS NULL THEN ''
            ELSE ' / meter ' || l.meter END ELSE '' END || l.late AS key,
       CASE WHEN l.kind = 'debit' THEN {label} || CASE WHEN l.meter IS NULL THEN ''
            ELSE ' / meter ' || l.meter END ELSE {other_label} END || l.late AS label,
       count(*)::bigint AS entries,
       (count(*) FILTER (WHERE l.kind = 'debit' AND l.meter IS NULL))::bigint AS requests,
       sum({amount})::bigint AS amount_micros,
       {quantities}
FROM e l
LEFT JOIN api_keys k ON k.id = l.key_id
LEFT JOIN teams t ON t.id = k.team_id
WHERE {tag_ok}
GROUP BY 1, 2, 3
"""
# A month retention detached: its entries are not in ledger_entries any more.
_ARCHIVED = "SELECT true FROM ledger_archived_sums WHERE account_id = $1 AND month = $2 LIMIT 1"
_QUANTITIES = ("input", "cached_input", "cache_write", "output", "reasoning", "units")
# Tokens by kind for calls to models; a meter's debit counts its units only.
_TOKENS = {
    "input": "input_tokens",
    "cached_input": "cached_input_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
    "reasoning": "reasoning_tokens",
}
_SUMS = ",\n       ".join(
    [
        *(f"coalesce(sum(l.{c}) FILTER (WHERE l.meter IS NULL), 0)::bigint AS {k}"
          for k, c in _TOKENS.items()),
        "coalesce(sum(l.quantity) FILTER (WHERE l.meter IS NOT NULL), 0)::bigint AS units",
    ]
)  # fmt: skip


def _groups_sql(group_by: str) -> str:
    kind = "tag" if group_by.startswith("tag:") else group_by
    key, label = _KEYS[kind]
    return _GROUPS.format(
        quantities=_SUMS,
        section=_SECTION,
        amount=_AMOUNT,
        other_label=_OTHER_LABEL,
        key=key,
        label=label,
        tag_ok="$6::text IS NOT NULL" if kind == "tag" else "true",
    )


async def ledger_groups(
    conn: asyncpg.Connection,
    account_id: str,
    start: datetime,
    end: datetime,
    group_by: str,
    through: int,
) -> list[LedgerGroup]:
    """The period's debits, adjustments, credits and refunds in groups (debits by the key),
    and the late ones of periods invoiced earlier (_GROUPS), up to ledger id `through`."""
    covered = await conn.fetchval(
        "SELECT coalesce(max(entries_through), 0) FROM invoices WHERE account_id = $1"
        " AND kind = 'invoice'",
        account_id,
    )
    args: list[Any] = [account_id, start, end, through, covered]
    if group_by.startswith("tag:"):
        args.append(group_by[4:])
    rows = await conn.fetch(_groups_sql(group_by), *args)
    return [
        LedgerGroup(
            r["section"],
            r["key"],
            r["label"] or "(none)",
            r["entries"],
            r["requests"],
            r["amount_micros"],
            {q: r[q] for q in _QUANTITIES if r[q]},
        )
        for r in rows
    ]


def _party_json(p: Party) -> str:
    return json.dumps(
        {"name": p.name, "address": list(p.address), "country": p.country, "tax_id": p.tax_id}
    )


def _party(raw: str | Mapping[str, Any]) -> Party:
    d = json.loads(raw) if isinstance(raw, str) else raw
    return Party(d["name"], tuple(d["address"]), d["country"], d["tax_id"])


# The positions of an invoice's lines its credit notes cancelled.
_CREDITED = """
SELECT l.credits_position FROM invoice_lines l JOIN invoices c ON c.id = l.invoice_id
WHERE c.credits = (SELECT id FROM invoices WHERE series = $1 AND number = $2)
"""
_INSERT = """
INSERT INTO invoices (series, number, kind, account_id, credits, month, period_start,
    period_end, issued_at, currency, rate, rate_source, group_by, issuer, customer, tax_name,
    tax_percent, tax_mention, usage_micros, subtotal_minor, tax_minor, total_minor, reason,
    entries_through, tax_source)
VALUES ($1, $2, $3, $4, (SELECT id FROM invoices WHERE series = $1 AND number = $5), $6, $7,
    $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, $16, $17, $18, $19, $20, $21, $22, $23,
    $24, $25)
RETURNING id
"""
_LINE = """
INSERT INTO invoice_lines (invoice_id, position, section, key, label, entries, requests,
    quantities, unit_price, amount_micros, amount_minor, credits_position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12)
"""


async def _write(
    conn: asyncpg.Connection, inv: Invoice, credits_number: int | None, through: int = 0
) -> None:
    invoice_id = await conn.fetchval(
        _INSERT,
        inv.series, inv.sequence, inv.kind, inv.account_id, credits_number, inv.month,
        inv.period_start, inv.period_end, inv.issued_at, inv.currency, inv.rate,
        inv.rate_source, inv.group_by, _party_json(inv.issuer), _party_json(inv.customer),
        inv.tax.name, inv.tax.percent, inv.tax.mention, inv.usage_micros, inv.subtotal_minor,
        inv.tax_minor, inv.total_minor, inv.reason, through, inv.tax.source,
    )  # fmt: skip
    await conn.executemany(
        _LINE,
        [
            (
                invoice_id,
                ln.position,
                ln.section,
                ln.key,
                ln.label,
                ln.entries,
                ln.requests,
                json.dumps(dict(ln.quantities)),
                None if ln.unit_price is None else Decimal(ln.unit_price),
                ln.amount_micros,
                ln.amount_minor,
                ln.credits_position,
            )
            for ln in inv.lines
        ],
    )


async def _next_number(conn: asyncpg.Connection, series: str) -> int:
    """The series' next number, its counter row locked until this transaction ends."""
    await conn.execute(
        "INSERT INTO invoice_counters (series) VALUES ($1) ON CONFLICT DO NOTHING", series
    )
    return int(
        await conn.fetchval(
            "UPDATE invoice_counters SET last_number = last_number + 1 WHERE series = $1"
            " RETURNING last_number",
            series,
        )
    )


_SELECT = (
    "SELECT i.*, c.number AS credits_number FROM invoices i"
    " LEFT JOIN invoices c ON c.id = i.credits"
)


def _invoice(row: asyncpg.Record, lines: list[asyncpg.Record]) -> Invoice:
    credits = (
        "" if row["credits_number"] is None else f"{row['series']}-{row['credits_number']:06d}"
    )
    return Invoice(
        kind=row["kind"],
        series=row["series"],
        sequence=row["number"],
        account_id=row["account_id"],
        month=row["month"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        issued_at=row["issued_at"],
        currency=row["currency"],
        rate=row["rate"],
        rate_source=row["rate_source"],
        group_by=row["group_by"],
        issuer=_party(row["issuer"]),
        customer=_party(row["customer"]),
        tax=Tax(row["tax_percent"], row["tax_name"], row["tax_mention"], row["tax_source"]),
        lines=tuple(
            Line(
                ln["position"],
                ln["section"],
                ln["key"],
                ln["label"],
                ln["entries"],
                ln["requests"],
                json.loads(ln["quantities"]),
                None if ln["unit_price"] is None else format(ln["unit_price"].normalize(), "f"),
                ln["amount_micros"],
                ln["amount_minor"],
                ln["credits_position"],
            )
            for ln in lines
        ),
        usage_micros=row["usage_micros"],
        credits=credits,
        reason=row["reason"],
    )


async def _load(conn: asyncpg.Connection, where: str, *args: Any) -> list[Invoice]:
    rows = await conn.fetch(f"{_SELECT} WHERE {where} ORDER BY i.series, i.number", *args)
    lines = await conn.fetch(
        "SELECT * FROM invoice_lines WHERE invoice_id = ANY($1) ORDER BY invoice_id, position",
        [r["id"] for r in rows],
    )
    by_id: dict[int, list[asyncpg.Record]] = {}
    for ln in lines:
        by_id.setdefault(ln["invoice_id"], []).append(ln)
    return [_invoice(r, by_id.get(r["id"], [])) for r in rows]


async def settled_through(pool: asyncpg.Pool, wait_s: float = 10.0) -> int:
    """The highest ledger id below which no entry can still commit (id_bound.py): the
    transactions holding an id when asked have ended. Raises InvalidInvoice when they do not
    end within `wait_s`, or when the sequence hands ids out in blocks (the rule fails)."""
    async with pool.acquire() as conn:
        if await conn.fetchval(id_bound.SEQUENCE_CACHE) != 1:
            raise InvalidInvoice("The ledger's id sequence caches ids: no invoice can be exact.")
        upto = int(await conn.fetchval(id_bound.LAST_GIVEN))
        holding = await conn.fetchval(id_bound.HOLDING_IDS)
        deadline = asyncio.get_running_loop().time() + wait_s
        while holding and await conn.fetchval(id_bound.STILL_OPEN, holding):
            if asyncio.get_running_loop().time() > deadline:
                raise InvalidInvoice("Ledger writes did not finish in time: issue it again.")
            await asyncio.sleep(0.02)
    return upto


class Invoices:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def customer(self, account_id: str) -> Row | None:
        """The account's invoicing details; None when none were set."""

        async def read() -> Row | None:
            row = await self.pool.fetchrow(
                "SELECT * FROM invoice_customers WHERE account_id = $1", account_id
            )
            return None if row is None else dict(row)

        return await read_once_more(self.pool, read)

    async def set_customer(self, account_id: str, fields: Mapping[str, Any]) -> Row:
        """Write the given details (the rest keep their values), created on first use."""
        names = [n for n in CUSTOMER_FIELDS if n in fields]
        cols = ", ".join(["account_id", *names])
        marks = ", ".join(f"${i}" for i in range(1, len(names) + 2))
        sets = ", ".join([*(f"{n} = EXCLUDED.{n}" for n in names), "updated_at = now()"])
        sql = (
            f"INSERT INTO invoice_customers ({cols}) VALUES ({marks})"
            f" ON CONFLICT (account_id) DO UPDATE SET {sets} RETURNING *"
        )
        with map_postgres_errors():
            row = await self.pool.fetchrow(sql, account_id, *(fields[n] for n in names))
        return dict(row)

    async def issue(
        self,
        series: str,
        account_id: str,
        month_start: datetime,
        period_end: datetime,
        group_by: str,
        build: Build,
        open_drawn: OpenDraw | None = None,
    ) -> Invoice:
        """Issue the account's invoice for the month up to `period_end`, from the end of its
        last invoice in that month (or the month's start); `build` makes it from its number,
        the period's start and the ledger's groups (with the commitment's `applied_groups`),
        and may refuse by raising: nothing is written then and the number is not used."""
        with map_postgres_errors():
            through = await settled_through(self.pool)
            async with self.pool.acquire() as conn, conn.transaction():
                number = await _next_number(conn, series)
                if await conn.fetchval(_ARCHIVED, account_id, month_start.date()):
                    raise InvalidInvoice(
                        f"The ledger of {month_start:%Y-%m} is archived (meterway ledger"
                        " retention): an invoice reads only the live ledger."
                    )
                start = await conn.fetchval(
                    "SELECT max(period_end) FROM invoices WHERE account_id = $1 AND kind ="
                    " 'invoice' AND period_start >= $2 AND period_start < $3",
                    account_id, month_start, period_end,
                )  # fmt: skip
                start = month_start if start is None else start
                groups = await ledger_groups(conn, account_id, start, period_end, group_by, through)
                groups += await applied_groups(conn, account_id, through, open_drawn)
                invoice = build(number, start, groups)
                await _write(conn, invoice, None, through)
        return invoice

    async def credit_note(self, series: str, number: int, build: BuildCredit) -> Invoice | None:
        """Issue a credit note for the series' invoice `number` (None if there is none);
        `build` makes it from its own number, the invoice and the positions of its lines
        already credited, read under the series' lock so two notes cannot credit one line."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                own = await _next_number(conn, series)
                found = await _load(conn, "i.series = $1 AND i.number = $2", series, number)
                if not found:
                    return None
                credited = await conn.fetch(_CREDITED, series, number)
                note = build(own, found[0], frozenset(r[0] for r in credited))
                await _write(conn, note, number)
        return note

    async def of_account(self, account_id: str | None) -> list[Invoice]:
        """The account's invoices and credit notes (every account's for None), by number."""

        async def read() -> list[Invoice]:
            async with self.pool.acquire() as conn:
                if account_id is None:
                    return await _load(conn, "true")
                return await _load(conn, "i.account_id = $1", account_id)

        return await read_once_more(self.pool, read)

    async def one(self, series: str, number: int) -> Invoice | None:
        async def read() -> Invoice | None:
            async with self.pool.acquire() as conn:
                found = await _load(conn, "i.series = $1 AND i.number = $2", series, number)
            return found[0] if found else None

        return await read_once_more(self.pool, read)

    async def delivery(self, series: str, number: int) -> Row | None:
        """Where the invoice was sent and whether it is paid; None when it was not sent."""

        async def read() -> Row | None:
            row = await self.pool.fetchrow(_DELIVERY, series, number)
            return None if row is None else dict(row)

        return await read_once_more(self.pool, read)

    async def deliveries(self, account_id: str | None) -> dict[str, Row]:
        """The deliveries of an account's invoices (every account's for None), by number."""

        async def read() -> dict[str, Row]:
            rows = await self.pool.fetch(
                "SELECT i.series, i.number, d.* FROM invoice_deliveries d JOIN invoices i ON"
                " i.id = d.invoice_id WHERE $1::text IS NULL OR i.account_id = $1",
                account_id,
            )
            return {f"{r['series']}-{r['number']:06d}": dict(r) for r in rows}

        return await read_once_more(self.pool, read)

    async def record_delivery(
        self, series: str, number: int, provider: str, provider_id: str, url: str | None,
        sent_at: datetime,
    ) -> Row:  # fmt: skip
        """The invoice's delivery, written once: a second send of it keeps the first row."""
        with map_postgres_errors():
            await self.pool.execute(
                "INSERT INTO invoice_deliveries (invoice_id, provider, provider_invoice_id, url,"
                " sent_at) SELECT id, $3, $4, $5, $6 FROM invoices WHERE series = $1 AND"
                " number = $2 ON CONFLICT (invoice_id) DO NOTHING",
                series, number, provider, provider_id, url, sent_at,
            )  # fmt: skip
            row = await self.pool.fetchrow(_DELIVERY, series, number)
        return dict(row)

    async def mark_paid(self, provider_id: str, paid_at: datetime) -> str | None:
        """The invoice sent as `provider_id` is paid: its number, the first time only (a
        replayed event changes nothing and gets None)."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE invoice_deliveries d SET paid_at = $2 FROM invoices i"
                " WHERE i.id = d.invoice_id AND d.provider_invoice_id = $1 AND d.paid_at IS NULL"
                " RETURNING i.series, i.number",
                provider_id, paid_at,
            )  # fmt: skip
        return None if row is None else f"{row['series']}-{row['number']:06d}"
