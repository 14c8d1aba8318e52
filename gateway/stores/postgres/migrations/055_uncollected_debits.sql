-- The operator's receivables: the part of a debit an account could not pay (settle.lua took
-- only what its balance and spend windows had free; a provider reported more than was held).
-- Not a ledger entry: the account never paid it, so `ledger sum == balance` is untouched and
-- the customer's balance never goes below its floor. One row per request id (the settler
-- writes it in the transaction of its batch, idempotent by this key).
CREATE TABLE uncollected_debits (
    request_id    text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id),
    key_id        text,
    model         text,
    provider      text,
    amount_micros bigint NOT NULL CHECK (amount_micros > 0),
    why           text NOT NULL CHECK (why IN ('balance', 'window')),
    occurred_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uncollected_debits_account ON uncollected_debits (account_id, occurred_at);
