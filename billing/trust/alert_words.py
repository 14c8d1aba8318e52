"""What a notification says to a person: a title and a sentence per event, from its data.

E-mails carry these (text and HTML) instead of the raw JSON, which rides along as an
attachment for programs. Amounts are written by billing.money.display like everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from billing.money.display import quota_amount, quota_label, usd

Words = Callable[[Mapping[str, Any]], tuple[str, str]]


def _money(data: Mapping[str, Any], name: str) -> str:
    return usd(int(data.get(name) or 0))


def _balance_low(d: Mapping[str, Any]) -> tuple[str, str]:
    return "Your balance is low", (
        f"The available balance is {_money(d, 'balance_micros')}, under "
        f"{_money(d, 'threshold_micros')}. Add credit to keep your requests going."
    )


def _runway(d: Mapping[str, Any]) -> tuple[str, str]:
    return "Your credit runs out soon", f"{d.get('words')} Add credit to keep your requests going."


def _spend_above(d: Mapping[str, Any]) -> tuple[str, str]:
    period = "today" if d.get("period") == "day" else "this month"
    return "Your spend passed your alert", (
        f"You have spent {_money(d, 'spend_micros')} {period}, at or over the "
        f"{_money(d, 'threshold_micros')} you set."
    )


def _budget(d: Mapping[str, Any]) -> tuple[str, str]:
    window = quota_label(str(d.get("window")), "spend_micros")
    return f"{d.get('level_pct')}% of a spend limit used", (
        f"{_money(d, 'used_micros')} of the {_money(d, 'limit_micros')} limit on {window} is used."
    )


def _quota(d: Mapping[str, Any]) -> tuple[str, str]:
    metric = str(d.get("metric"))
    label = quota_label(str(d.get("window")), metric)
    used, limit = (quota_amount(metric, int(d.get(n) or 0)) for n in ("used", "limit"))
    return "A quota is used up", f"The quota of {label} is used up ({used} of {limit})."


def _payment_failed(d: Mapping[str, Any]) -> tuple[str, str]:
    why = f" ({d['failure']})" if d.get("failure") else ""
    what = "A plan payment" if d.get("purpose") == "subscription" else "A payment"
    return "A payment failed", f"{what} failed{why}. Update your payment method."


def _refunded(d: Mapping[str, Any]) -> tuple[str, str]:
    back = _money(d, "amount_micros")
    paid = f"{_money(d, 'payment_micros')} " if d.get("payment_micros") else ""
    return f"{back} was refunded", (
        f"{back} of your {paid}payment {d.get('payment_id')} was refunded to the card or "
        "account it came from; your balance is lowered by as much."
    )


def _receipt(d: Mapping[str, Any]) -> tuple[str, str]:
    lines = "; ".join(f"{what} {amount}" for what, amount in d.get("lines") or [])
    card = f" Paid with {d['paid_with']}." if d.get("paid_with") else ""
    link = f" Your receipt: {d['url']}" if d.get("url") else " Your receipt is under Billing."
    return f"Receipt {d.get('receipt')} for your {_money(d, 'amount_micros')} payment", (
        f"Thank you: {lines}.{card}{link}"
    )


def _grace(d: Mapping[str, Any]) -> tuple[str, str]:
    return "Your plan ends soon", (
        f"A plan payment failed; the plan ends at {d.get('ends_at')} unless it is paid."
    )


def _auto_off(d: Mapping[str, Any]) -> tuple[str, str]:
    return "Auto top-up was turned off", (
        f"{d.get('failures')} automatic charges in a row failed, so auto top-up is off. "
        "Check your card and turn it on again."
    )


def _reconciliation(d: Mapping[str, Any]) -> tuple[str, str]:
    cls = str(d.get("class", "")).replace("_", " ")
    return f"Provider reconciliation: {cls}", (
        f"{d.get('credential')} on {d.get('day')}, {d.get('model')} {d.get('kind')}: the provider"
        f" reports {d.get('provider_tokens')} tokens, the ledger {d.get('ledger_tokens')};"
        f" the provider's cost less Meterway's is {_money(d, 'delta_micros')}. {d.get('note')}"
    )


def _anomaly(d: Mapping[str, Any]) -> tuple[str, str]:
    scope = f"{d.get('scope')} {d.get('scope_id')}"
    ids = ", ".join(d.get("request_ids") or ()) or "none yet"
    then = (
        " The key is paused: lift the pause on the dashboard's API keys page, or with"
        f" POST /v1/account/keys/{d.get('key_id')}/resume."
        if d.get("paused")
        else ""
    )
    return f"Unusual spend on {scope}", (
        f"Between {d.get('window_start')} and {d.get('window_end')}: {d.get('summary')}"
        f" (example requests: {ids}).{then}"
    )


def _byok_rejected(d: Mapping[str, Any]) -> tuple[str, str]:
    return f"Your own {d.get('upstream')} key was refused", (
        f"{d.get('upstream')} refused your own API key {d.get('key_hint')}: calls to it are"
        " refused (and not billed) until you replace it (PUT /v1/account/byok/"
        f"{d.get('upstream')}, or the dashboard's Own keys page) or remove it to use the"
        " gateway's key."
    )


def _trial_withheld(d: Mapping[str, Any]) -> tuple[str, str]:
    return "A sign-up's trial credit was withheld", (
        f"The {d.get('check')} check withheld the trial of {d.get('signup_account_id')}"
        f" (network {d.get('network') or 'unknown'}); suspected farms are on the Sign-ups page."
    )


WORDS: dict[str, Words] = {
    "signup.trial_withheld": _trial_withheld,
    "spend.anomaly": _anomaly,
    "byok.rejected": _byok_rejected,
    "balance.low": _balance_low,
    "balance.runway": _runway,
    "alert.balance_below": _balance_low,
    "alert.spend_above": _spend_above,
    "budget.threshold": _budget,
    "quota.exhausted": _quota,
    "payment.failed": _payment_failed,
    "payment.refunded": _refunded,
    "payment.receipt": _receipt,
    "grace_period.ending": _grace,
    "auto_topup.disabled": _auto_off,
    "provider.reconciliation": _reconciliation,
}


def describe(event: str, data: Mapping[str, Any]) -> tuple[str, str]:
    """(title, sentence); a `.resolved` event says the condition is over."""
    base = event.removesuffix(".resolved")
    words = WORDS.get(base)
    title, sentence = words(data) if words else (base.replace("_", " "), "")
    if event.endswith(".resolved"):
        return f"Resolved: {title[0].lower()}{title[1:]}", "This is no longer the case."
    return title, sentence
