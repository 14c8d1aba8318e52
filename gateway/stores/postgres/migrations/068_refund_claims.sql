-- An operator's refund of a payment, claimed before the provider is asked: under the
-- payment's advisory lock the claim is checked against what the payment has left (its amount
-- minus every claim and every booked refund of it), so two refunds, however concurrent, never
-- add up to more than the payment. `refund_id` is the provider's refund once it answered; a
-- claim whose provider call had no answer keeps counting until a retry of its key finds it.
CREATE TABLE refund_claims (
    account_id      text NOT NULL REFERENCES accounts (id),
    idempotency_key text NOT NULL,
    payment_id      text NOT NULL,
    amount_micros   bigint NOT NULL CHECK (amount_micros > 0),
    refund_id       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, idempotency_key)
);
CREATE INDEX refund_claims_payment ON refund_claims (account_id, payment_id);
