"""The alerts people set on their own account (migration 038), and the spend they watch.

Spend is read from the usage rollups (kept by the settler with the ledger rows they sum), so
checking a spend alert never scans the ledger.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date

import asyncpg

from billing.trust.alerts import UserAlert
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

COLUMNS = "id, account_id, kind, amount_micros, period, email, webhook_url, created_at"


class AccountAlerts:
    """Implements `stores.ports.AccountAlertsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self,
        account_id: str,
        alert: UserAlert,
        email: str | None,
        webhook_url: str | None,
    ) -> tuple[Row, str | None]:
        """The new alert, and its webhook's signing secret (shown once) when it has one."""
        secret = "whsec_" + secrets.token_hex(24) if webhook_url else None
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "INSERT INTO account_alerts (id, account_id, kind, amount_micros, period,"
                f" email, webhook_url, webhook_secret) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
                f" RETURNING {COLUMNS}",
                alert.id, account_id, alert.kind, alert.amount_micros, alert.period,
                email, webhook_url, secret,
            )  # fmt: skip
        return dict(row), secret

    async def of_account(self, account_id: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {COLUMNS} FROM account_alerts WHERE account_id = $1 ORDER BY created_at",
                account_id,
            )
        return [dict(r) for r in rows]

    async def delete(self, account_id: str, alert_id: str) -> bool:
        with map_postgres_errors():
            done = await self.pool.execute(
                "DELETE FROM account_alerts WHERE id = $1 AND account_id = $2",
                alert_id,
                account_id,
            )
        return bool(done.endswith(" 1"))

    async def target(self, alert_id: str) -> Row | None:
        """Where an alert's deliveries go (with the webhook's secret); None once deleted."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "SELECT email, webhook_url, webhook_secret FROM account_alerts WHERE id = $1",
                alert_id,
            )
        return None if row is None else dict(row)

    async def of_accounts(self, account_ids: Sequence[str]) -> dict[str, list[UserAlert]]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT id, account_id, kind, amount_micros, period FROM account_alerts"
                " WHERE account_id = ANY($1::text[])",
                list(account_ids),
            )
        out: dict[str, list[UserAlert]] = {}
        for r in rows:
            alert = UserAlert(r["id"], r["kind"], int(r["amount_micros"]), r["period"])
            out.setdefault(r["account_id"], []).append(alert)
        return out

    async def spend(self, account_id: str, today: date) -> dict[str, int]:
        """The account's spend in today's UTC day and calendar month, from the rollups."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "SELECT coalesce(sum(spend_micros) FILTER (WHERE day = $2), 0) AS day,"
                " coalesce(sum(spend_micros), 0) AS month FROM usage_rollups"
                " WHERE account_id = $1 AND day >= $3",
                account_id,
                today,
                today.replace(day=1),
            )
        return {"day": int(row["day"]), "month": int(row["month"])}
