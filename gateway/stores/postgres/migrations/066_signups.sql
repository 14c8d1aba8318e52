-- People who signed themselves up (SIGNUP_POLICY open or approval). One row per normalized
-- address (billing/signup.py: lower case, no +tag, Gmail's dots): the primary key is what
-- makes a second verification of one address, however spelt and however concurrent, find
-- the first one's account instead of opening another; `trial_at` marks the trial given
-- (posted once per account under a fixed idempotency key).
-- `accounts.signup_status` is the account's side: pending (no paid API access until an
-- operator approves), active, rejected; NULL for accounts an operator opened. Rebuild and
-- the self-restore copy `pending` to the account's hot hash (`pend`).
ALTER TABLE accounts ADD COLUMN signup_status text
    CHECK (signup_status IN ('pending', 'active', 'rejected'));

CREATE TABLE signups (
    address     text PRIMARY KEY,
    email       text NOT NULL,
    account_id  text REFERENCES accounts (id),
    via         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz,
    decided_by  text,
    trial_at    timestamptz
);
CREATE INDEX signups_account ON signups (account_id);
