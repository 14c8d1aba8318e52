"""The words of each audit action (billing/proof/audit_words.py makes the sentence): what a
record's before and after say, in dollars and names, from its `Said`.

Kept whole: a table, one short phrase per audit action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing.dates import human
from billing.money.display import quota_amount, quota_label, usd_exact

Names = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Said:
    """What the words of one action read: the record's states and its names."""

    record: Mapping[str, Any]
    names: Names

    @property
    def before(self) -> Mapping[str, Any]:
        return self.record.get("before") or {}

    @property
    def after(self) -> Mapping[str, Any]:
        return self.record.get("after") or {}

    @property
    def state(self) -> Mapping[str, Any]:
        """The target as the change left it, else as it was (a removal)."""
        return self.after or self.before

    def name(self, some_id: object, fallback: str = "") -> str:
        text = str(some_id) if some_id not in (None, "") else ""
        return self.names.get(text) or fallback or text

    @property
    def account(self) -> str:
        return self.name(self.record.get("account_id"), "the gateway")

    @property
    def target(self) -> str:
        return self.name(self.record.get("target_id"))

    def money(self, field: str, state: Mapping[str, Any] | None = None) -> str:
        return usd_exact(int((self.after if state is None else state).get(field) or 0))


Words = Callable[[Said], str]


def quoted(text: str) -> str:
    return f"“{text}”"


def _anomaly_pause(s: Said) -> str:
    """An opt-in to pausing keys on a spend anomaly: the account's, or one key's."""
    chosen = s.after.get("pause") or {}
    key = s.record.get("target_id") if s.record.get("target_kind") == "key" else ""
    choice = chosen.get(key) if isinstance(chosen, dict) else None
    what = {"True": "to pause", "False": "not to pause"}.get(
        str(choice), "to let the account decide for"
    )
    whose = f"key {s.name(key)}" if key else "every key of the account"
    return f"chose {what} {whose} on a spend anomaly"


def _key(s: Said) -> str:
    state = s.state
    name = state.get("name") or s.name(s.record.get("target_id"))
    prefix = f" ({state['prefix']}…)" if state.get("prefix") else ""
    return f"key {quoted(str(name))}{prefix}"


def _limits(quotas: object) -> str:
    rows = quotas if isinstance(quotas, list) else []
    said = [
        f"{quota_amount(q['metric'], int(q['limit']))} {quota_label(q['window'], q['metric'])}"
        for q in rows
    ]
    return ", ".join(said) or "none"


def _tags(tags: object) -> str:
    said = [f"{k}={v}" for k, v in tags.items()] if isinstance(tags, dict) else []
    return ", ".join(said) or "none"


def _when(value: object) -> str:
    if not value:
        return "never"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return human(moment)


def _ms(value: object) -> str:
    return human(datetime.fromtimestamp(int(str(value or 0)) / 1000, UTC))


def _key_change(s: Said) -> str:
    """What a key narrowing changed: its scopes, models, limits or expiry."""
    parts = []
    for field, label in (("scopes", "scopes"), ("models", "models")):
        if s.before.get(field) != s.after.get(field):
            parts.append(f"{label} {', '.join(s.after.get(field) or []) or 'none'}")
    if s.before.get("quotas") != s.after.get("quotas"):
        parts.append(f"limits {_limits(s.after.get('quotas'))}")
    if s.before.get("expires_at") != s.after.get("expires_at"):
        parts.append(f"expiry {_when(s.after.get('expires_at'))}")
    return f"narrowed {_key(s)}: " + ("; ".join(parts) or "no change")


def _grant(grant: object) -> str:
    if not isinstance(grant, Mapping):
        return ""
    ends = f", expiring {_when(grant['expires_at'])}" if grant.get("expires_at") else ""
    return f" as a {grant.get('kind', 'paid')} grant{ends}"


def _reason(s: Said) -> str:
    return f" ({s.after['reason']})" if s.after.get("reason") else ""


def _credit(s: Said) -> str:
    if s.after.get("payment_id"):
        paid = s.name(s.after["payment_id"])
        return f"credited {s.money('amount_micros')} to {s.account} for payment {paid}"
    grant = _grant(s.after.get("grant"))
    return f"credited {s.money('amount_micros')} to {s.account}{grant}{_reason(s)}"


def _adjustment(s: Said) -> str:
    amount = int(s.after.get("amount_micros") or 0)
    verb, where = ("took", "from") if amount < 0 else ("added", "to")
    return f"{verb} {usd_exact(abs(amount))} {where} {s.account}{_reason(s)}"


def _grant_revoke(s: Said) -> str:
    g = s.before
    left = usd_exact(int(g.get("remaining_micros") or 0))
    return (
        f"revoked {s.account}'s {g.get('kind', '')} grant #{s.record.get('target_id')}"
        f" ({left} left of {s.money('amount_micros', g)})"
    )


def _refund(s: Said) -> str:
    paid = s.name(s.after.get("payment_id"))
    return f"refunded {s.money('amount_micros')} of payment {paid} to {s.account}"


def _member(s: Said) -> str:
    return str(s.state.get("email") or s.target)


def _plan(s: Said) -> str:
    was = s.before.get("plan")
    change = f"from {was} to {s.after.get('plan')}" if was else f"to {s.after.get('plan')}"
    return f"changed the plan of {s.account} {change}"


def _markup(s: Said) -> str:
    """A markup is proposed as a price change (its id and effective time in `after`);
    records from before reviewed markups set it at once."""
    bps, change = s.after.get("markup_bps"), s.after.get("price_change")
    if change is None:
        if bps is None:
            return f"removed the markup of {s.account}"
        return f"set the markup of {s.account} to {int(bps) / 100:g}%"
    what = "its plan's" if bps is None else f"{int(bps) / 100:g}%"
    when = s.after.get("effective_at")
    return f"proposed a markup of {what} for {s.account} from {when} (price change {change})"


def _byok_fee(s: Said) -> str:
    bps = int(s.after.get("percent_bps") or 0)
    return (
        f"set the platform fee of calls made with own provider keys to {bps / 100:g}% of"
        f" the list price plus {s.money('fixed_micros')} a call"
    )


def _commitment_set(s: Said) -> str:
    a = s.after
    return (
        f"committed {s.account} to {s.money('amount_micros')} a {a.get('period')}"
        f" ({a.get('billing')}, {int(a.get('discount_bps') or 0) / 100:g}% off,"
        f" then {a.get('on_exhausted')})"
    )


def _commitment_end(s: Said) -> str:
    return f"ended the commitment of {s.account} at {s.after.get('ends_at')}"


def _price_change(verb: str) -> Callable[[Said], str]:
    def words(s: Said) -> str:
        markup = s.after.get("markup")
        models = ", ".join(sorted(s.after.get("models") or {})) or (
            f"markup of {markup.get('account_id')}" if isinstance(markup, dict) else "no model"
        )
        when = s.after.get("effective_at")
        return f"{verb} price change {s.target} ({models}) from {when}"

    return words


def _credit_line(s: Said) -> str:
    now, was = s.money("credit_line_micros"), s.money("credit_line_micros", s.before)
    return f"set the credit line of {s.account} to {now} (was {was})"


def _external_id(s: Said) -> str:
    now = s.after.get("external_id")
    if not now:
        return f"removed the external id of {s.account}"
    return f"set the external id of {s.account} to {now}"


EXPORT_IDS = {"stripe_customer_id": "Stripe customer", "lago_subscription_id": "Lago subscription"}


def _export_ids(s: Said) -> str:
    ids = ", ".join(
        f"{EXPORT_IDS.get(k, k.replace('_', ' '))} {v or 'none'}"
        for k, v in sorted(s.after.items())
    )
    return f"set where the usage of {s.account} is exported: {ids}"


def _alerts(s: Said) -> str:
    low = s.after.get("balance_low_micros")
    if not low:
        return f"turned off the low-balance alert of {s.account}"
    return f"set the low-balance alert of {s.account} at {s.money('balance_low_micros')}"


def _alert(s: Said) -> str:
    a = s.after
    to = a.get("email") or a.get("webhook_url") or "the account"
    if a.get("kind") == "spend_above":
        what = f"spend passes {s.money('amount_micros')} a {a.get('period') or 'month'}"
    else:
        what = f"balance falls below {s.money('amount_micros')}"
    return f"added an alert to {to} when the {what}"


def _auto_topup(s: Said) -> str:
    setting = s.after.get("auto_topup")
    if not isinstance(setting, Mapping) or not setting.get("threshold_micros"):
        return f"turned off auto top-up for {s.account}"
    amount, below = s.money("amount_micros", setting), s.money("threshold_micros", setting)
    return f"set auto top-up for {s.account}: {amount} when the balance falls below {below}"


def _subscription(s: Said) -> str:
    plan, status = s.after.get("plan"), s.after.get("status")
    if status == "checkout":
        return f"opened the checkout to pay for the {plan} plan"
    if status == "scheduled":
        then = s.after.get("effective_at")
        return f"scheduled a move to the {plan} plan " + (
            f"on {_when(then)}" if then else "at the end of the period"
        )
    if status == "unchanged":
        return f"kept the {plan} plan"
    return f"switched {s.account} to the {plan} plan"


def _cancel(s: Said) -> str:
    ends = s.after.get("effective_at")
    then = f" on {_when(ends)}" if ends else ""
    plan = s.after.get("plan")
    return f"cancelled the subscription of {s.account}: it moves to the {plan} plan{then}"


def _signup(s: Said) -> str:
    waiting = "; it waits for approval" if s.after.get("status") == "pending" else ""
    return f"signed up as {s.after.get('email')} (by {s.after.get('via', 'e-mail')}){waiting}"


def _team(s: Said) -> str:
    return f"team {quoted(str(s.state.get('name') or s.target))}"


def _budget(s: Said) -> str:
    who_for = "every end user" if s.after.get("end_user") is None else s.after["end_user"]
    return f"set the budget of {who_for} to {_limits(s.after.get('quotas'))}"


def _key_team(s: Said) -> str:
    team = s.after.get("team_id")
    if not team:
        return f"took {_key(s)} out of its team"
    return f"put {_key(s)} in team {quoted(s.name(team))}"


def _service(s: Said) -> str:
    meters = ", ".join(s.state.get("meters") or []) or "no meters"
    return f"metering service {quoted(str(s.state.get('name') or s.target))} ({meters})"


def _person(s: Said) -> str:
    return f"directory user {quoted(str(s.state.get('userName') or s.target))}"


def _group(s: Said) -> str:
    return f"directory group {quoted(str(s.state.get('displayName') or s.target))}"


def _group_change(s: Said) -> str:
    joined, left = s.after.get("joined") or [], s.after.get("left") or []
    said = [f"{len(joined)} joined"] if joined else []
    said += [f"{len(left)} left"] if left else []
    renamed = s.before.get("displayName") != s.after.get("displayName")
    said += [f"renamed from {quoted(str(s.before.get('displayName')))}"] if renamed else []
    return f"changed {_group(s)}: {', '.join(said) or 'no change of people'}"


WORDS: dict[str, Words] = {
    "key.create": lambda s: f"created {_key(s)}",
    "key.rotate": lambda s: (
        f"rotated key {quoted(str(s.before.get('name') or s.target))}:"
        f" its new secret is {s.after.get('prefix')}…"
    ),
    "key.revoke": lambda s: f"revoked {_key(s)}",
    "key.resume": lambda s: f"lifted the pause of {_key(s)} after a spend anomaly",
    "key.quotas": lambda s: f"set the limits of {_key(s)} to {_limits(s.after.get('quotas'))}",
    "key.narrow": _key_change,
    "key.fitted": lambda s: f"narrowed {_key(s)} to what its creator may do",
    "key.team": _key_team,
    "key.tags": lambda s: f"set the tags of {_key(s)} to {_tags(s.after.get('tags'))}",
    "team.create": lambda s: f"created {_team(s)}",
    "team.quotas": lambda s: f"set the limits of {_team(s)} to {_limits(s.after.get('quotas'))}",
    "team.tags": lambda s: f"set the tags of {_team(s)} to {_tags(s.after.get('tags'))}",
    "end_user_budget.set": _budget,
    "member.invite": lambda s: f"invited {_member(s)} as {s.after.get('role')}",
    "member.role": lambda s: (
        f"changed the role of {_member(s)} from {s.before.get('role')} to {s.after.get('role')}"
    ),
    "member.remove": lambda s: f"removed {_member(s)} ({s.before.get('role')})",
    "member.accept": lambda s: f"accepted the invitation to {s.account} as {s.after.get('role')}",
    "member.join": lambda s: (
        f"joined {s.account} as {s.after.get('role')}, by the proven domain {s.after.get('domain')}"
    ),
    "domain.claim": lambda s: f"claimed the domain {s.target} for {s.account}",
    "domain.verify": lambda s: f"proved the domain {s.target} for {s.account} by DNS",
    "domain.remove": lambda s: f"gave up the domain {s.target} of {s.account}",
    "account.create": lambda s: f"opened {s.account} on the {s.after.get('plan')} plan",
    "user.tokens_revoke": lambda s: (
        f"revoked every sign-in token of user {s.target} issued"
        f" before {_ms(s.after.get('revoked_before_ms'))}"
    ),
    "account.plan": _plan,
    "account.markup": _markup,
    "price_change.propose": _price_change("proposed"),
    "price_change.approve": _price_change("approved"),
    "price_change.reject": _price_change("rejected"),
    "account.credit_line": _credit_line,
    "account.external_id": _external_id,
    "account.export_ids": _export_ids,
    "account.alerts": _alerts,
    "account.anomaly_pause": _anomaly_pause,
    "byok.store": lambda s: (
        f"stored {s.account}'s own {s.target} key ({s.after.get('hint')})"
        + (f" in place of {s.before.get('hint')}" if s.before.get("hint") else "")
    ),
    "byok.remove": lambda s: (
        f"removed {s.account}'s own {s.target} key ({s.before.get('hint')}); its calls"
        " use the gateway's key again"
    ),
    "byok.fee": _byok_fee,
    "commitment.set": _commitment_set,
    "commitment.end": _commitment_end,
    "service.create": lambda s: f"created {_service(s)}",
    "service.revoke": lambda s: f"revoked {_service(s)}",
    "token.revoke": lambda s: f"revoked a sign-in token of {s.after.get('subject') or s.target}",
    "alert.create": _alert,
    "alert.delete": lambda s: f"removed alert {s.target}",
    "credit.create": _credit,
    "adjustment.create": _adjustment,
    "grant.revoke": _grant_revoke,
    "refund.create": _refund,
    "invoice.customer": lambda s: f"changed the invoicing details of {s.account}",
    "invoice.issue": lambda s: (
        f"issued invoice {s.target} to {s.account} for {s.after.get('month')}"
        f" ({s.after.get('total')})"
    ),
    "invoice.credit_note": lambda s: (
        f"issued credit note {s.target} cancelling invoice {s.after.get('credits')}"
        f" ({s.after.get('total')})"
    ),
    "invoice.send": lambda s: f"sent invoice {s.target} to {s.account} ({s.after.get('provider')})",
    "payment.auto_topup": _auto_topup,
    "payment.receipt_header": lambda s: (
        f"turned {'on' if s.after.get('receipt_header') else 'off'} the receipt on each"
        f" answer for {s.account}"
    ),
    "payment.method": lambda s: (
        f"saved a payment method for {s.account}"
        if s.after.get("method_on_file")
        else f"removed the payment method of {s.account}"
    ),
    "payment.setup": lambda s: "opened the payment provider's page to save a card",
    "payment.subscription": _subscription,
    "payment.subscription_cancel": _cancel,
    "signup.verify": _signup,
    "signup.approve": lambda s: f"approved the sign-up of {s.account}",
    "signup.reject": lambda s: f"rejected the sign-up of {s.account}",
    "signup.trial": lambda s: f"gave {s.account} a trial credit of {s.money('amount_micros')}",
    "device.approve": lambda s: f"approved a terminal's sign-in (code {s.target})",
    "device.deny": lambda s: f"denied a terminal's sign-in (code {s.target})",
    "auth.logout": lambda s: "signed out: the key it used is revoked",
    "scim.token": lambda s: (
        f"minted the SCIM token of {s.account} ({s.after.get('prefix')}…);"
        " any token before it stopped working"
    ),
    "scim.user_create": lambda s: f"provisioned {_person(s)} as a member",
    "scim.user_update": lambda s: f"updated {_person(s)}",
    "scim.user_deactivate": lambda s: (
        f"deactivated {_person(s)}: their membership ended and their keys were revoked"
    ),
    "scim.user_reactivate": lambda s: f"reactivated {_person(s)} as a member",
    "scim.user_delete": lambda s: (
        f"deleted {_person(s)}: their membership ended and their keys were revoked"
    ),
    "scim.group_create": lambda s: f"created {_group(s)} (team {s.name(s.after.get('team_id'))})",
    "scim.group_update": _group_change,
    "scim.group_delete": lambda s: f"deleted {_group(s)}; its team stays",
}
