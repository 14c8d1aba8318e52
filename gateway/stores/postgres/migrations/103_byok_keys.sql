-- Bring your own key (docs/guides/byok.md): a customer's own provider key per upstream,
-- stored only as AES-GCM ciphertext under the operator's BYOK_ENCRYPTION_KEY (12-byte nonce
-- then ciphertext and tag), with the last four characters as the one thing shown again.
CREATE TABLE byok_keys (
    account_id    text NOT NULL REFERENCES accounts (id),
    upstream      text NOT NULL CHECK (upstream <> ''),
    ciphertext    bytea NOT NULL,
    hint          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- The provider refused the key (401/403): set on the first refusal, cleared when the
    -- key is replaced; notified_at bounds its `byok.rejected` notification to one a window.
    failing_since timestamptz,
    notified_at   timestamptz,
    PRIMARY KEY (account_id, upstream)
);

-- Each account's BYOK version: the milliseconds of its last change (at least one more than
-- the one before), also written to its hot record (`bk`) so a process whose copy of the
-- keys is older refuses the call instead of using the operator's key (services/byok.py).
CREATE TABLE byok_versions (
    account_id text PRIMARY KEY REFERENCES accounts (id),
    version    bigint NOT NULL CHECK (version > 0)
);

-- The platform fee of a BYOK call: one row, the operator's.
CREATE TABLE byok_fee (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    percent_bps  integer NOT NULL CHECK (percent_bps BETWEEN 0 AND 10000),
    fixed_micros bigint NOT NULL CHECK (fixed_micros BETWEEN 0 AND 1000000000),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
