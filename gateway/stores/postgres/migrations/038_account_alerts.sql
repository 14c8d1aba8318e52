-- Alerts people set on their own account (balance below, spend above), delivered to their
-- own e-mail address or webhook rather than the operator's. The notifier checks them with
-- the operator's alerts and queues each crossing in notify_outbox with the alert's id, so a
-- row for a person's alert goes to that person's target only.
CREATE TABLE account_alerts (
    id             text PRIMARY KEY,
    account_id     text NOT NULL REFERENCES accounts (id),
    kind           text NOT NULL CHECK (kind IN ('balance_below', 'spend_above')),
    amount_micros  bigint NOT NULL CHECK (amount_micros > 0),
    -- spend_above only: the UTC day or calendar month the spend is summed over
    period         text CHECK (period IN ('day', 'month')),
    email          text,
    webhook_url    text,
    -- signs the webhook's deliveries (Meterway-Signature); shown once, when created
    webhook_secret text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (email IS NOT NULL OR webhook_url IS NOT NULL),
    CHECK ((kind = 'spend_above') = (period IS NOT NULL)),
    CHECK ((webhook_url IS NULL) = (webhook_secret IS NULL))
);
CREATE INDEX account_alerts_account ON account_alerts (account_id, created_at);

ALTER TABLE notify_outbox ADD COLUMN alert_id text;
