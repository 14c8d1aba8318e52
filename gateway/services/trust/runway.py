"""An account's runway as every surface shows it (GET /v1/account/runway, the dashboard's
overview, `meterway billing status`): the last whole days' spend from the usage rollups,
its credit grants and their ends, and its auto top-up, read off the request path and
reckoned by billing/trust/runway.py. A prepaid commitment's open period counts too: its
allowance left (the hot store's draw, as the commitment's own answer reads it), its end and
its terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from billing.contracts import allowance, terms_from
from billing.money.credit_grants import Grant
from billing.money.quotas import Quota
from billing.trust.runway import (
    BASIS_DAYS,
    BudgetRunway,
    Committed,
    Runway,
    TopUp,
    budget_runway,
    daily_rate,
    runway,
)
from gateway.stores.ports.contracts.commitments import (
    CommitmentHotPort,
    CommitmentLedgerPort,
    tranches_of,
)
from gateway.stores.ports.hot import shard_of
from gateway.stores.ports.money.payments import Profile
from gateway.stores.records import Row, WindowCount


class DailySpend(Protocol):
    async def usage_series(
        self, account_id: str, start: date, end: date, by: Sequence[str], filters: Mapping[str, str]
    ) -> Sequence[Mapping[str, Any]]: ...


class AccountGrants(Protocol):
    async def of_account(self, account_id: str) -> list[Row]: ...


async def last_days(usage: DailySpend, account_id: str, today: date) -> list[int]:
    """The spend of each of the BASIS_DAYS whole UTC days before today, oldest first."""
    start = today - timedelta(days=BASIS_DAYS)
    rows = await usage.usage_series(account_id, start, today, ("day",), {})
    spent = {str(r["day"]): int(r["spend_micros"]) for r in rows}
    return [spent.get(str(start + timedelta(days=i)), 0) for i in range(BASIS_DAYS)]


def open_grants(rows: Sequence[Row]) -> list[Grant]:
    """The grants still holding money, each ending at its expiry or revocation."""
    out = []
    for r in rows:
        if r.get("closed_at") is not None or int(r["remaining_micros"]) <= 0:
            continue
        ends = [t for t in (r.get("expires_at"), r.get("revoked_at")) if t is not None]
        out.append(
            Grant(
                r["id"],
                r["kind"],
                int(r["remaining_micros"]),
                int(r["priority"]),
                min(ends, default=None),
            )
        )
    return out


def top_up_of(profile: Profile | None) -> TopUp | None:
    setting = profile.auto_topup if profile is not None else None
    if setting is None or profile is None or profile.auto_off_reason is not None:
        return None
    return TopUp(setting.threshold_micros, setting.amount_micros)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def committed(found: tuple[Row, Row | None] | None, hot: Mapping[str, str]) -> Committed | None:
    """A prepaid commitment's open period as the runway walks it (None: no commitment, in
    arrears, or no period open); `hot` the account's commitment fields, whose draw and holds
    count while they are this period's."""
    row, period = found or ({}, None)
    if period is None or row["billing"] != "prepaid":
        return None
    terms, ends_ms = terms_from(row), _ms(period["ends_at"])
    left = allowance(period["committed_micros"], tranches_of(period.get("rolled_in")))
    if hot.get("cme") == str(ends_ms):
        left -= int(hot.get("cmu", "0")) + int(hot.get("cmh", "0"))
    left = max(0, left)
    return Committed(
        left, min(left, int(period["committed_micros"])), ends_ms, terms.period,
        terms.amount_micros, terms.rollover_bps, terms.rollover_cap_micros,
        terms.on_exhausted == "refuse", _ms(row["ends_at"]) if row.get("ends_at") else None,
    )  # fmt: skip


async def account_runway(
    usage: DailySpend,
    grants: AccountGrants,
    account_id: str,
    available_micros: int,
    now: datetime,
    profile: Profile | None = None,
    commitment: Committed | None = None,
) -> Runway:
    days = await last_days(usage, account_id, now.date())
    held = open_grants(await grants.of_account(account_id))
    return runway(now, available_micros, days, held, top_up_of(profile), commitment)


class AccountRows(Protocol):
    async def get_account(self, account_id: str) -> Row | None: ...


class Windows(Protocol):
    """The hot store's clock and an account's quota windows."""

    async def now_ms(self) -> int: ...

    async def account_quotas(self, account_id: str) -> tuple[Quota, ...]: ...

    async def window_counts(
        self, shard: int, scope: str, owner_id: str, quotas: tuple[Quota, ...]
    ) -> list[WindowCount]: ...


class Profiles(Protocol):
    async def profile(self, account_id: str) -> Profile | None: ...


@dataclass(frozen=True)
class Runways:
    """Every prepaid account's runway, as the API, the dashboard and the notifier read it."""

    accounts: AccountRows
    clock: Windows
    usage: DailySpend
    grants: AccountGrants
    profiles: Profiles | None = None
    commitments: tuple[CommitmentLedgerPort, CommitmentHotPort] | None = None

    async def of(self, account_id: str, available_micros: int) -> Runway | None:
        """The account's runway; None for a postpaid account (or none at all)."""
        row = await self.accounts.get_account(account_id)
        if row is None or row["mode"] != "prepaid":
            return None
        return await self.prepaid(account_id, available_micros)

    async def prepaid(self, account_id: str, available_micros: int) -> Runway:
        """The runway of an account the caller already knows is prepaid."""
        now = datetime.fromtimestamp(await self.clock.now_ms() / 1000, UTC)
        profile = await self.profiles.profile(account_id) if self.profiles else None
        return await account_runway(
            self.usage, self.grants, account_id, available_micros, now, profile,
            await self._committed(account_id),
        )  # fmt: skip

    async def _committed(self, account_id: str) -> Committed | None:
        if self.commitments is None:
            return None
        rows, hot = self.commitments
        found = await rows.get(account_id)
        return committed(found, await hot.fields(account_id) if found else {})

    async def budgets(self, account_id: str) -> list[BudgetRunway]:
        """Each spend window of the account at the same rate: when its limit is used up,
        and whether that comes before it resets."""
        now_ms = await self.clock.now_ms()
        today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
        rate = daily_rate(await last_days(self.usage, account_id, today))
        quotas = tuple(
            q for q in await self.clock.account_quotas(account_id) if q.metric == "spend_micros"
        )
        counts = await self.clock.window_counts(shard_of(account_id), "a", account_id, quotas)
        return [
            budget_runway(
                q.window,
                q.limit,
                c.used,
                rate,
                None if c.resets_at_ms is None else c.resets_at_ms - now_ms,
            )
            for q, c in zip(quotas, counts, strict=True)
        ]
