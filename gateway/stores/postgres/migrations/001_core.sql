-- Accounts, API keys and the immutable ledger.
CREATE TABLE accounts (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    plan           text NOT NULL,
    mode           text NOT NULL CHECK (mode IN ('prepaid', 'postpaid')),
    billing_ready  boolean NOT NULL DEFAULT false,
    balance_micros bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    scopes      text[] NOT NULL DEFAULT '{}',
    models      text[] NOT NULL DEFAULT '{}',
    quotas      jsonb NOT NULL DEFAULT '[]',
    on_insufficient text CHECK (on_insufficient IN ('refuse', 'clamp')),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- amount_micros is signed: credits positive, debits negative, voids zero.
CREATE TABLE ledger_entries (
    id                  bigserial PRIMARY KEY,
    account_id          text NOT NULL REFERENCES accounts (id),
    kind                text NOT NULL CHECK (kind IN ('credit', 'debit', 'void', 'adjustment')),
    amount_micros       bigint NOT NULL,
    request_id          text,
    idempotency_key     text,
    key_id              text,
    model               text,
    provider            text,
    input_tokens        bigint NOT NULL DEFAULT 0,
    cached_input_tokens bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    reasoning_tokens    bigint NOT NULL DEFAULT 0,
    usage_source        text CHECK (usage_source IN ('provider', 'counted')),
    reason              text,
    occurred_at         timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'credit') = (amount_micros > 0) OR kind = 'adjustment'),
    CHECK (kind NOT IN ('debit', 'void') OR request_id IS NOT NULL)
);
CREATE UNIQUE INDEX ledger_request ON ledger_entries (request_id) WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_idempotency ON ledger_entries (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX ledger_account_time ON ledger_entries (account_id, id DESC);
CREATE INDEX ledger_occurred ON ledger_entries (occurred_at);

-- The ledger is append-only: history is corrected by new entries, never by edits.
CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END $$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
