-- Payments: what the provider knows about each account, each payment it took, and every
-- provider event already applied (recorded in the same transaction as its effect).

-- Refunds and disputes are new negative entries; history is never edited.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('credit', 'debit', 'void', 'adjustment', 'refund'));
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_refund_negative
    CHECK (kind <> 'refund' OR amount_micros < 0);

CREATE TABLE billing_profiles (
    account_id          text PRIMARY KEY REFERENCES accounts (id),
    provider            text NOT NULL,
    customer_id         text NOT NULL,
    method_on_file      boolean NOT NULL DEFAULT false,
    subscription_id     text,
    subscription_status text,
    period_end          timestamptz,
    pending_plan        text,
    grace_until         timestamptz,
    auto_threshold      bigint CHECK (auto_threshold >= 0),
    auto_amount         bigint CHECK (auto_amount > 0),
    auto_monthly_cap    bigint CHECK (auto_monthly_cap > 0),
    auto_failures       integer NOT NULL DEFAULT 0,
    auto_off_reason     text,
    -- set while an off-session charge is in flight: one charge per account at a time
    auto_in_flight_at   timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, customer_id)
);

-- One row per provider payment; id is the provider's payment id (and the credit's
-- idempotency key), recorded once its outcome is known.
CREATE TABLE payments (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id),
    purpose       text NOT NULL CHECK (purpose IN ('topup', 'auto_topup')),
    amount_micros bigint NOT NULL CHECK (amount_micros > 0),
    status        text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    failure       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_account ON payments (account_id, created_at DESC);

CREATE TABLE provider_events (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    type        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
