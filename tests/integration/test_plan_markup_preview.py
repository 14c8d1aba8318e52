"""A plan markup change's preview re-prices the accounts that follow the plan's markup at its
effective time: not an account whose own markup is in force by then, folded into
`markup_bps` or still scheduled (the price desk's clock folds it later; CI saw such an
account in a preview, depending on whether the clock had run before a restart)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from gateway.stores.connect import Stores

NOW = datetime.now(UTC)


async def test_the_preview_leaves_out_accounts_whose_own_markup_is_in_force(
    stores: Stores,
) -> None:
    plan, tag = f"p{secrets.token_hex(4)}", secrets.token_hex(4)
    # (own markup, scheduled own markup, from when): who follows the plan at NOW + 1 day?
    accounts = {
        "follows": (None, None, None),
        "own": (500, None, None),
        "scheduled_in_force": (None, 500, NOW - timedelta(hours=1)),
        "scheduled_after": (None, 500, NOW + timedelta(days=2)),
        "back_to_plan": (500, None, NOW - timedelta(hours=1)),  # its own markup ends
    }
    async with stores.pool.acquire() as conn, conn.transaction():
        change = await conn.fetchval(  # what a scheduled markup names (next_markup_dated)
            "INSERT INTO price_changes (document, effective_at, diff, preview,"
            " largest_move_permille, proposed_by) VALUES ('{}', now(), '[]', '{}', 0, 't')"
            " RETURNING id"
        )
        for name, (bps, next_bps, next_at) in accounts.items():
            account = f"{name}-{tag}"
            await conn.execute(
                "INSERT INTO accounts (id, name, plan, mode, balance_micros, markup_bps,"
                " next_markup_bps, next_markup_at, next_markup_change)"
                " VALUES ($1, $1, $2, 'prepaid', 4000, $3, $4, $5, $6)",
                account, plan, bps, next_bps, next_at, change if next_at else None,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO ledger_request_ids (request_id, kind) VALUES ($1, 'debit')",
                f"r-{account}",
            )
            await conn.execute(
                "INSERT INTO ledger_entries (account_id, kind, amount_micros, request_id,"
                " idempotency_key, model, occurred_at) VALUES"
                " ($1, 'credit', 5000, NULL, $2, NULL, $3),"
                " ($1, 'debit', -1000, $2, NULL, 'gpt-4o-mini', $3)",
                account, f"r-{account}", NOW,
            )  # fmt: skip
    rows = await stores.plan_markups().usage_since(
        plan, NOW - timedelta(days=1), NOW + timedelta(days=1)
    )
    following = sorted(str(r["account_id"]).removesuffix(f"-{tag}") for r in rows)
    assert following == ["back_to_plan", "follows", "scheduled_after"]
