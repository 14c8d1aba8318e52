-- Usage exports: each account's id at Stripe and Lago, and per ledger row what was sent.
CREATE TABLE export_customers (
    account_id           text PRIMARY KEY REFERENCES accounts (id),
    stripe_customer_id   text,
    lago_subscription_id text
);

CREATE TABLE usage_exports (
    target      text NOT NULL CHECK (target IN ('stripe', 'lago')),
    entry_id    bigint NOT NULL REFERENCES ledger_entries (id),
    status      text NOT NULL CHECK (status IN ('sent', 'failed', 'expired')),
    attempts    integer NOT NULL DEFAULT 1,
    next_at     timestamptz,
    last_error  text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, entry_id)
);
CREATE INDEX usage_exports_retry ON usage_exports (target, next_at) WHERE status = 'failed';

-- Notifications: per-account thresholds, the state of each alert (so it fires once per
-- crossing), and the outbox the deliverer sends from (so a delivery survives a restart).
CREATE TABLE notify_thresholds (
    account_id          text PRIMARY KEY REFERENCES accounts (id),
    balance_low_micros  bigint NOT NULL CHECK (balance_low_micros >= 0)
);

CREATE TABLE notify_state (
    account_id  text NOT NULL REFERENCES accounts (id),
    alert       text NOT NULL,
    active      boolean NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, alert)
);

CREATE TABLE notify_outbox (
    id           bigserial PRIMARY KEY,
    delivery_id  text NOT NULL UNIQUE,
    account_id   text NOT NULL,
    event        text NOT NULL,
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX notify_outbox_due ON notify_outbox (next_at) WHERE status <> 'sent';

CREATE TABLE worker_cursors (
    name   text PRIMARY KEY,
    value  bigint NOT NULL
);
