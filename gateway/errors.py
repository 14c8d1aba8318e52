"""Every client-visible failure, one class each, with its status and error type.

Kept whole: the one exception tree, drawn below and declared after it, one short class per
client-visible error: a reader sees every status and type at once.

    MeterwayError
    ├── InvalidRequest         400 invalid_request_error
    │   ├── VerificationFailed 400 verification_failed (a sign-up's code or link is wrong)
    │   ├── DevicePending      400 authorization_pending (`meterway login`: not approved yet)
    │   ├── DeviceRefused      400 access_denied (the device code was denied or expired)
    │   ├── ScimInvalid        400 invalid_scim_request (a SCIM request; `scimType` says why)
    │   ├── DomainOutside      400 domain_outside (a directory's address outside its proven domains)
    │   ├── PriceChangeTooSoon 400 effective_time_too_soon (a price change too near or past)
    │   ├── BookInexact        400 price_book_inexact (a book's rate no longer whole)
    │   └── ConfirmationRequired 400 confirmation_required (a price change's move not named)
    ├── InvalidApiKey          401 invalid_api_key
    │   └── SigninFailed       401 signin_failed (identity provider or e-mailed link)
    │       └── MemberRemoved  401 member_removed (removed: a sign-in does not join them back)
    ├── BillingRequired        402 billing_required
    ├── PermissionDenied       403 permission_denied
    │   ├── AccountPending     403 account_pending_approval (signed up, not approved yet)
    │   ├── TrialWithheld      403 trial_withheld (a sign-up's trial credit was not given)
    │   ├── AccountRejected    403 account_rejected (its sign-up was declined)
    │   ├── KeyPaused          403 key_paused (paused after a spend anomaly; its owner lifts it)
    │   ├── ByokKeyRejected    403 byok_key_rejected (the provider refused the account's own key)
    │   └── SecondApproverRequired 403 second_approver_required (a price change's own proposer)
    ├── NotFound               404 not_found
    │   └── ModelNotFound      404 model_not_found
    ├── MethodNotAllowed       405 method_not_allowed
    ├── Conflict               409 conflict
    │   ├── ScimUniqueness     409 scim_uniqueness (a userName or displayName taken)
    │   ├── RequestInFlight    409 duplicate_request
    │   ├── IdempotencyConflict 409 idempotency_conflict (a key reused otherwise)
    │   ├── FormAlreadySubmitted 409 form_already_submitted (a dashboard form's second submit)
    │   ├── MonthNotItemized   409 month_not_itemized (its archive table was dropped)
    │   ├── DomainNotProven    409 domain_not_proven (its TXT record does not hold the claim)
    │   ├── DomainClaimed      409 domain_claimed (another organization proved the domain)
    │   ├── MemberConflict     409 member_conflict (the address is another identity's member)
    │   ├── LastOwner          409 last_owner (the organization's only owner removed or demoted)
    │   ├── PriceChangeDecided 409 price_change_decided (approved or rejected already)
    │   ├── PriceChangeTooLate 409 price_change_too_late (its time came too near to approve)
    │   └── MarkupChangeScheduled 409 markup_change_scheduled (one is due for the account)
    ├── PreconditionFailed     412 precondition_failed (If-Match names an older version)
    ├── PayloadTooLarge        413 request_too_large
    ├── QuotaExceeded          429 quota_exceeded
    │   ├── SigninRateLimited  429 signin_rate_limited (e-mailed sign-in links asked too often)
    │   ├── SignupRateLimited  429 signup_rate_limited (sign-ups asked too often)
    │   └── InvitationsRateLimited 429 invitations_rate_limited (one organization's invitations)
    ├── InternalError          500 internal_error
    │   └── StatementUnbalanced 500 statement_unbalanced (a statement's sums do not add up)
    ├── UpstreamError          502 upstream_error
    │   └── UpstreamUnreachable 502 upstream_unreachable (nothing reached the provider)
    ├── MalformedRequest       400 malformed_request (not valid HTTP)
    ├── ServiceUnavailable     503 service_unavailable (a store away: `store` names it, store_down)
    │   ├── IdentityProviderUnavailable 503 identity_provider_unavailable
    │   ├── DomainLookupFailed 503 domain_lookup_failed (DNS did not answer for a claim)
    │   ├── PaymentsNotSetUp   503 payments_not_set_up (no payment provider is configured)
    │   ├── RateSourceUnavailable 503 rate_source_unavailable (FX_RATES_URL gave no rate)
    │   ├── ByokNotSetUp       503 byok_not_set_up (no BYOK_ENCRYPTION_KEY is set)
    │   ├── ByokKeysLoading    503 byok_keys_loading (an own key's change not read yet)
    │   └── UpstreamsCoolingDown 503 upstreams_cooling_down (every deployment of the model)
    ├── UpstreamTimeout        504 upstream_timeout
    ├── RequestTimeout         408 request_timeout
    └── PaymentProviderError   502 payment_provider_error

The middleware in gateway/http/middleware.py renders them; nothing else picks a status. Under
/scim/v2 the body is RFC 7644's error (`scim_body`): `status` as a string and `scimType`.
Each class also declares its retry policy (`should_retry`, sent as x-should-retry): a
request refused for what it is (400, 402, 403, 404, 413) fails the same way when retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
STORE_NAMES = {"redis": "Redis", "postgres": "PostgreSQL", "clickhouse": "ClickHouse"}


class MeterwayError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"
    code: ClassVar[str] = "internal_error"
    anthropic_type: ClassVar[str] = "api_error"
    # None: no x-should-retry header (the SDKs' own rules apply); an instance may override.
    should_retry: bool | None = None
    scim_type: str | None = None  # RFC 7644 §3.12's scimType, where one names the error

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after_s: int | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        self.retry_after_s = retry_after_s
        if should_retry is not None:
            self.should_retry = should_retry

    def openai_body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "code": self.code, "param": self.param}
        return {"error": {**error, **self.extra}}

    def scim_body(self) -> dict[str, Any]:
        body = {"schemas": [SCIM_ERROR], "status": str(self.status), "detail": self.message}
        return body | ({"scimType": self.scim_type} if self.scim_type else {})

    def anthropic_body(self) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": self.anthropic_type, "message": self.message, **self.extra},
        }


class InvalidRequest(MeterwayError):
    status, type, code, anthropic_type = (
        400,
        "invalid_request_error",
        "invalid_request",
        "invalid_request_error",
    )
    should_retry = False


class InvalidApiKey(MeterwayError):
    status, type, code, anthropic_type = (
        401,
        "invalid_request_error",
        "invalid_api_key",
        "authentication_error",
    )


class BillingRequired(MeterwayError):
    status, type, code, anthropic_type = (
        402,
        "billing_required",
        "billing_required",
        "billing_error",
    )
    should_retry = False


class PermissionDenied(MeterwayError):
    status, type, code, anthropic_type = (
        403,
        "permission_denied",
        "permission_denied",
        "permission_error",
    )
    should_retry = False
    # The scope the credential lacks, when that is the reason: the API's message names it,
    # the dashboard names the person's role instead (gateway/http/dashboard/error_page.py).
    # One class and one code either way; None: a rule that says its own reason.
    scope: str | None = None

    @classmethod
    def lacking(cls, scope: str, message: str) -> PermissionDenied:
        denied = cls(message)
        denied.scope = scope
        return denied


class NotFound(MeterwayError):
    status, type, code, anthropic_type = (
        404,
        "invalid_request_error",
        "not_found",
        "not_found_error",
    )
    should_retry = False


class ModelNotFound(NotFound):
    code = "model_not_found"


class BookInexact(InvalidRequest):
    """The account's price book cannot price this model exactly (a list rate changed under
    it): refused by name, never rounded; the operator's log says which rate."""

    code = "price_book_inexact"


class MethodNotAllowed(MeterwayError):
    status, type, code, anthropic_type = (
        405,
        "invalid_request_error",
        "method_not_allowed",
        "invalid_request_error",
    )


class Conflict(MeterwayError):
    status, type, code, anthropic_type = (
        409,
        "invalid_request_error",
        "conflict",
        "invalid_request_error",
    )


class DomainNotProven(Conflict):
    """The domain's TXT record does not hold this claim's value (yet: DNS takes a while)."""

    code = "domain_not_proven"


class DomainClaimed(Conflict):
    """Another organization has proven this domain: its people join that one only."""

    code = "domain_claimed"


class MemberConflict(Conflict):
    """The organization has a member of this address bound to another sign-in identity,
    which this one may not stand for."""

    code = "member_conflict"


class LastOwner(Conflict):
    """Removing or demoting the organization's only owner would leave it with none."""

    code = "last_owner"


class PayloadTooLarge(MeterwayError):
    status, type, code, anthropic_type = (
        413,
        "invalid_request_error",
        "request_too_large",
        "request_too_large",
    )
    should_retry = False


class QuotaExceeded(MeterwayError):
    status, type, code, anthropic_type = 429, "quota_exceeded", "quota_exceeded", "rate_limit_error"


class SigninRateLimited(QuotaExceeded):
    """Sign-in links asked for too often, for one address or from one client address; the
    answer is the same whether or not the address may sign in."""

    code = "signin_rate_limited"


class InternalError(MeterwayError):
    pass


class StatementUnbalanced(InternalError):
    """A month's statement whose opening balance and lines do not make its closing balance:
    never shown wrong; a fault to report (the ledger itself is unchanged)."""

    code = "statement_unbalanced"


class UpstreamError(MeterwayError):
    status, type, code, anthropic_type = 502, "upstream_error", "upstream_error", "api_error"


class ServiceUnavailable(MeterwayError):
    status, type, code, anthropic_type = (
        503,
        "service_unavailable",
        "service_unavailable",
        "overloaded_error",
    )


class TrialWithheld(PermissionDenied):
    """A sign-up's trial credit was not given, or waits for a card: one class and one
    message whichever trial check (services/trust/trial_gate.py) held it, so the answer never
    tells a farm which check it tripped. Carried in verify's answer, not raised: the
    account is opened either way."""

    code = "trial_withheld"
    CARD = (
        "No trial credit was given to this sign-up yet. Trials go to sign-ups that pass our"
        " checks, one per card: add a card (Billing, Add a card) to ask for it, or top up"
        " your balance to start now."
    )
    NO_CARD = (
        "No trial credit was given to this sign-up: it did not pass our checks. Top up your"
        " balance to start."
    )


class SignupRateLimited(QuotaExceeded):
    """Sign-ups asked for too often from one client address or at one e-mail domain; the
    answer is the same whether or not the address is known."""

    code = "signup_rate_limited"


class InvitationsRateLimited(QuotaExceeded):
    """An organization sent more invitations than SIGNIN_INVITE_LIMIT_ACCOUNT allows in the
    window (SIGNIN_LINK_LIMIT_WINDOW_S): each one e-mails someone outside it."""

    code = "invitations_rate_limited"


class VerificationFailed(InvalidRequest):
    """A sign-up's one-time code or link that is wrong, used or expired."""

    code = "verification_failed"


class DevicePending(InvalidRequest):
    """RFC 8628's authorization_pending: the person has not approved the code yet; poll on."""

    code = "authorization_pending"
    should_retry = True


class DeviceRefused(InvalidRequest):
    """RFC 8628's access_denied or expired_token: this device code will never give a token."""

    code = "access_denied"


class AccountPending(PermissionDenied):
    """An account that signed itself up and waits for an operator's approval: its keys are
    valid (not a 401) and paying would not help (not a 402); only the approval will."""

    code = "account_pending_approval"


class SecondApproverRequired(PermissionDenied):
    """With PRICE_CHANGE_APPROVERS=2, a price change approved by the operator who proposed it."""

    code = "second_approver_required"


class AccountRejected(PermissionDenied):
    """An account whose sign-up an operator declined: its keys are refused for good."""

    code = "account_rejected"


class KeyPaused(PermissionDenied):
    """A key paused after a spend anomaly (docs/guides/anomalies.md): valid (not a 401),
    paying would not help (not a 402); its owner lifts the pause with one action."""

    code = "key_paused"


class ByokKeyRejected(PermissionDenied):
    """The provider refused the account's own key (401 or 403) for this upstream: nothing
    was billed, and its owner is told (`byok.rejected`). Retrying does not help until the
    key is replaced or removed."""

    code = "byok_key_rejected"


class SigninFailed(InvalidApiKey):
    """A sign-in by identity provider or e-mailed link that did not prove who is signing in."""

    code = "signin_failed"


class MemberRemoved(SigninFailed):
    """The person was removed from the organization (by an owner, the operator or its
    directory): no sign-in or token joins them back; an invitation or the directory does."""

    code = "member_removed"


def store_down(store: str) -> ServiceUnavailable:
    """A store this request needs did not answer: nothing was carried out (a billable call
    was not forwarded). The body's `store` names it (`redis`, `postgres`, `clickhouse`), so
    an operator reading a client's error knows where to look; retry after a second. The
    error is ServiceUnavailable's own (its status and code), with the store named."""
    name = STORE_NAMES.get(store, "A backing store")
    return ServiceUnavailable(
        f"{name} is unavailable; the request was not carried out.",
        extra={"store": store},
        retry_after_s=1,
    )


class IdentityProviderUnavailable(ServiceUnavailable):
    """The OpenID Connect issuer could not be reached or answered nonsense."""

    code = "identity_provider_unavailable"


class DomainLookupFailed(ServiceUnavailable):
    """DNS did not answer for a domain claim's TXT record; retrying later may help."""

    code = "domain_lookup_failed"


class PaymentsNotSetUp(ServiceUnavailable):
    """No payment provider is configured: nothing can be paid for here (an operator's
    credits still work). Retrying does not help until the operator sets one up."""

    code = "payments_not_set_up"
    should_retry = False


class RateSourceUnavailable(ServiceUnavailable):
    """The exchange-rate source the operator configured (FX_RATES_URL) could not be read:
    no invoice was issued and no number used; retry, or give the rate yourself."""

    code = "rate_source_unavailable"


class ByokNotSetUp(ServiceUnavailable):
    """No BYOK_ENCRYPTION_KEY is set: a customer's own provider key cannot be stored (it
    is kept only encrypted). Retrying does not help until the operator sets one."""

    code = "byok_not_set_up"
    should_retry = False


class ByokKeysLoading(ServiceUnavailable):
    """The account changed its own provider keys and this gateway process has not read the
    change yet (within BYOK_REFRESH_S): nothing was sent, rather than sent with the wrong
    key or billed at the wrong price. Retry after a second."""

    code = "byok_keys_loading"
    should_retry = True


class UpstreamsCoolingDown(ServiceUnavailable):
    """Every upstream of a model with several deployments is cooling down after a 429,
    5xx or failed connection: nothing was sent; retry after the soonest cool-down ends."""

    code = "upstreams_cooling_down"


class UpstreamTimeout(MeterwayError):
    status, type, code, anthropic_type = 504, "upstream_timeout", "upstream_timeout", "api_error"


class RequestTimeout(MeterwayError):
    """The client did not send its body in time (CLIENT_BODY_TIMEOUT_S)."""

    status, type, code, anthropic_type = (
        408,
        "invalid_request_error",
        "request_timeout",
        "timeout_error",
    )


class RequestInFlight(Conflict):
    code = "duplicate_request"


class IdempotencyConflict(Conflict):
    """An idempotency key already used for another operation or body: the message names the
    key and its first use, `extra` carries both (`idempotency_key`, `first_use`)."""

    code = "idempotency_conflict"

    def __init__(self, key: str, first: str, this: str) -> None:
        super().__init__(
            f"This idempotency_key ('{key}') was already used for {first};"
            f" this request asks for {this}. Use a new key for a new operation.",
            param="idempotency_key",
            extra={"idempotency_key": key, "first_use": first},
            should_retry=False,
        )


class PriceChangeTooSoon(InvalidRequest):
    """A price change whose effective time is not far enough ahead for every gateway to
    install it first (PRICE_CHANGE_LEAD_S): prices never change in the past."""

    code = "effective_time_too_soon"


class ConfirmationRequired(InvalidRequest):
    """A price change moving an account's spend past the operator's threshold, approved
    without naming the move (`confirm`)."""

    code = "confirmation_required"


class PriceChangeDecided(Conflict):
    """A price change already approved or rejected: it is decided once."""

    code = "price_change_decided"


class PriceChangeTooLate(Conflict):
    """A pending price change whose effective time has come nearer than the lead
    (PRICE_CHANGE_LEAD_S): it can no longer be approved, whatever the request says; propose
    it again with a later time."""

    code = "price_change_too_late"


class MarkupChangeScheduled(Conflict):
    """A markup change approved while another of the same account is scheduled and not in
    force yet: an account has one scheduled markup at a time (approve this one after)."""

    code = "markup_change_scheduled"


class MonthNotItemized(Conflict):
    """A month retention archived and whose archive table was then dropped: only its sums
    per kind remain, so an export entry by entry (FOCUS) cannot be made; its statement
    still can."""

    code = "month_not_itemized"


class FormAlreadySubmitted(Conflict):
    """A dashboard money form submitted a second time (Back, a double click, an old copy):
    its single-use token was spent by the first submit; `result` is where that one led."""

    code = "form_already_submitted"

    def __init__(self, result: str) -> None:
        super().__init__(
            "Already recorded: this form was already submitted, so nothing moved again.",
            extra={"result": result},
            should_retry=False,
        )
        self.result = result


class UpstreamUnreachable(UpstreamError):
    """The provider could not be connected to: nothing was sent, so nothing counts."""

    code = "upstream_unreachable"


class MalformedRequest(MeterwayError):
    """Bytes that are not valid HTTP (bare LF, an oversized head): answered before routing."""

    status, type, code, anthropic_type = (
        400,
        "invalid_request_error",
        "malformed_request",
        "invalid_request_error",
    )


class PaymentProviderError(MeterwayError):
    """The payment provider failed or could not be reached; nothing was charged or credited."""

    status, type, code, anthropic_type = (
        502,
        "payment_provider_error",
        "payment_provider_error",
        "api_error",
    )


class ScimInvalid(InvalidRequest):
    """A SCIM request the RFC refuses: a filter, path, value or syntax it does not allow;
    the instance names which (`scim_type`: invalidFilter, invalidPath, noTarget,
    invalidValue, invalidSyntax, mutability, tooMany)."""

    code = "invalid_scim_request"

    def __init__(self, message: str, scim_type: str) -> None:
        super().__init__(message)
        self.scim_type = scim_type


class DomainOutside(InvalidRequest):
    """A directory's person whose address is in none of its organization's proven domains
    (an organization that proved domains takes only their people)."""

    code = "domain_outside"
    scim_type = "invalidValue"


class ScimUniqueness(Conflict):
    code = "scim_uniqueness"
    scim_type = "uniqueness"


class PreconditionFailed(MeterwayError):
    """If-Match named a version the resource has moved on from."""

    status, type, code, anthropic_type = (
        412,
        "precondition_failed",
        "precondition_failed",
        "invalid_request_error",
    )
    should_retry = False
