-- What an idempotency key was first used for (issue 45): the operation and a hash of its
-- normalized request, so a key reused for another operation or body is refused (409) instead
-- of replaying the first answer. One namespace per account, shared by the operator's money
-- routes (credits, adjustments, refunds, grant revocations, plan changes) on the API and the
-- dashboard. `summary` says the first use in words for the refusal.
CREATE TABLE idempotency_keys (
    account_id      text NOT NULL,
    idempotency_key text NOT NULL,
    operation       text NOT NULL,
    fingerprint     text NOT NULL,
    summary         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, idempotency_key)
);
