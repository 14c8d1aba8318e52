"""The audit log: one append-only record per change of authority or money.

Who (an operator, a member with how they signed in, a user token's subject, or an API key),
what (an action name from ACTIONS), the target (kind and id), before and after (JSON, never a
secret: SECRET_FIELDS are dropped at any depth), the request id, the client's address and
the time. The HTTP layer says who and where (http/audited.py); each change site is one line
naming the action, the target and the two states. Records are written right after the
change they describe commits (the changes span PostgreSQL, Redis and payment providers, so
one transaction cannot hold both); a failed write of the record fails the request with the
change made, which the store error's 503 says, rather than letting it pass unrecorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billing.proof.audit_words import ACTOR_KINDS
from gateway.stores.audit_records import AuditRecord
from gateway.stores.ports.proof.audit import AuditLogPort

# Every action the log names, by the surface-independent name (the API, the dashboard and
# the CLI write the same one).
ACTIONS = (
    "key.create",
    "key.rotate",
    "key.revoke",
    "key.resume",
    "key.quotas",
    "key.narrow",
    "key.fitted",
    "key.team",
    "key.tags",
    "team.create",
    "team.quotas",
    "team.tags",
    "end_user_budget.set",
    "member.invite",
    "member.role",
    "member.remove",
    "member.join",
    "member.accept",
    "domain.claim",
    "domain.verify",
    "domain.remove",
    "account.create",
    "user.tokens_revoke",
    "account.plan",
    "account.markup",
    "price_change.propose",
    "price_change.approve",
    "price_change.reject",
    "account.credit_line",
    "account.external_id",
    "account.export_ids",
    "account.alerts",
    "account.anomaly_pause",
    "byok.store",
    "byok.remove",
    "byok.fee",
    "commitment.set",
    "commitment.end",
    "service.create",
    "service.revoke",
    "token.revoke",
    "alert.create",
    "alert.delete",
    "credit.create",
    "adjustment.create",
    "grant.revoke",
    "refund.create",
    "invoice.customer",
    "invoice.issue",
    "invoice.credit_note",
    "invoice.send",
    "payment.auto_topup",
    "payment.receipt_header",
    "payment.method",
    "payment.setup",
    "payment.subscription",
    "payment.subscription_cancel",
    "signup.verify",
    "signup.approve",
    "signup.reject",
    "signup.trial",
    "device.approve",
    "device.deny",
    "auth.logout",
    "scim.token",
    "scim.user_create",
    "scim.user_update",
    "scim.user_deactivate",
    "scim.user_reactivate",
    "scim.user_delete",
    "scim.group_create",
    "scim.group_update",
    "scim.group_delete",
)
SECRET_FIELDS = frozenset(
    {"key", "secret", "api_key", "key_hash", "token", "password", "client_secret", "csrf"}
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: `kind` one of ACTOR_KINDS (operator, member, user: a token
    without a member, key, directory: a SCIM token, system); `via` how they proved it
    (admin key, jwt, oidc, e-mailed link, dashboard session)."""

    kind: str
    id: str
    via: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a change came from: the request's id and the client's address."""

    request_id: str | None = None
    client_address: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What changed: the action, its target, the account it belongs to, before and after."""

    action: str
    target_kind: str
    target_id: str
    account_id: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


def scrub(value: Any) -> Any:
    """`value` without any field named as a secret, at any depth."""
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items() if str(k) not in SECRET_FIELDS}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _state(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else dict(scrub(value))


def build(actor: Actor, event: AuditEvent, origin: Origin) -> AuditRecord:
    """The record as written: secrets dropped from both states."""
    if event.action not in ACTIONS:
        raise ValueError(f"unknown audit action {event.action!r}")
    if actor.kind not in ACTOR_KINDS:
        raise ValueError(f"unknown audit actor kind {actor.kind!r}")
    return AuditRecord(
        account_id=event.account_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_via=actor.via,
        action=event.action,
        target_kind=event.target_kind,
        target_id=event.target_id,
        before=_state(event.before),
        after=_state(event.after),
        request_id=origin.request_id,
        client_address=origin.client_address,
    )


async def record(port: AuditLogPort, actor: Actor, event: AuditEvent, origin: Origin) -> int:
    """Append the record of one change; its id."""
    return await port.append(build(actor, event, origin))


async def record_system(
    port: AuditLogPort | None, via: str, event: AuditEvent, request_id: str | None = None
) -> None:
    """Append the record of a change no person asked for in a request: a payment provider's
    event (`via` the provider) or a time-driven one (`via` "grace"); nothing without a log."""
    if port is not None:
        await record(port, Actor("system", "payments", via), event, Origin(request_id))
