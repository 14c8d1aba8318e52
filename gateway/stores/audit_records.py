"""The values the audit log and the idempotency check cross their store ports as: an
idempotency key's first use, an audit record as written, and which records a page reads.
Moved out of records.py, unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class FirstUse:
    """What an idempotency key was first used for: the operation, a hash of its normalized
    request (services/metering/idempotency.py makes it) and the use in words, for a refusal."""

    operation: str
    fingerprint: str
    summary: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit-log record as written (services/audit.py builds it): who, what, to which
    target, before and after (JSON-ready, no secrets), and where the request came from."""

    account_id: str | None
    actor_kind: str
    actor_id: str
    actor_via: str | None
    action: str
    target_kind: str
    target_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    request_id: str | None
    client_address: str | None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit records a page reads (None: any): an account, an action, a target kind
    and id, [since, until) of the time; `before_id` continues a page; `actor` a person's
    e-mail or an actor's id; `heads` the first parts of the actions kept (a kind of action,
    billing/proof/audit_words.py KINDS; empty: any)."""

    account_id: str | None = None
    action: str | None = None
    target_kind: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100
    actor: str | None = None
    heads: tuple[str, ...] = ()
