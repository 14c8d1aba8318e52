-- Credit grants: every credit funds a grant (paid, promotional, trial or an operator's own
-- kind, maybe expiring), each debit records which grants paid it, and an expired or revoked
-- grant's rest leaves the balance through its own ledger entry, kind `expire`.

-- First, so every writer of ledger rows has committed before the balances are read below.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('credit', 'debit', 'void', 'adjustment', 'refund', 'expire'));
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_expire_negative
    CHECK (kind <> 'expire' OR amount_micros < 0);

CREATE TABLE credit_grants (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id),
    -- the ledger entry that brought its money; NULL for a balance opened by this migration
    credit_entry_id  bigint UNIQUE,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$'),
    amount_micros    bigint NOT NULL CHECK (amount_micros >= 0),
    remaining_micros bigint NOT NULL CHECK (remaining_micros >= 0),
    priority         integer NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 1000),
    expires_at       timestamptz,
    revoked_at       timestamptz,
    -- set once an ended (expired or revoked) grant's rest is all written off or spent
    closed_at        timestamptz,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_grants_account ON credit_grants (account_id, id);
CREATE INDEX credit_grants_funded ON credit_grants (account_id) WHERE remaining_micros > 0;
CREATE INDEX credit_grants_ending ON credit_grants (least(expires_at, revoked_at))
    WHERE closed_at IS NULL AND (expires_at IS NOT NULL OR revoked_at IS NOT NULL);

-- What each ledger entry took from each grant; grant_id NULL is the account's debt (positive:
-- spent with no grant left to pay it; negative: repaid by money that came in).
CREATE TABLE grant_draws (
    entry_id      bigint NOT NULL,
    grant_id      bigint REFERENCES credit_grants (id),
    account_id    text NOT NULL REFERENCES accounts (id),
    amount_micros bigint NOT NULL CHECK (amount_micros <> 0)
);
CREATE INDEX grant_draws_entry ON grant_draws (entry_id);
CREATE INDEX grant_draws_grant ON grant_draws (grant_id, entry_id);

-- The grant a refund returns to (written with the refund's entry).
CREATE TABLE grant_refunds (
    entry_id bigint PRIMARY KEY,
    grant_id bigint NOT NULL REFERENCES credit_grants (id)
);

-- Per account: the last ledger entry allocated to grants, the debt, and the balance as of
-- that entry (an account whose balance moved since has entries to allocate).
CREATE TABLE grant_books (
    account_id     text PRIMARY KEY REFERENCES accounts (id),
    through_id     bigint NOT NULL,
    debt_micros    bigint NOT NULL DEFAULT 0 CHECK (debt_micros >= 0),
    balance_micros bigint NOT NULL DEFAULT 0
);

-- Today's balances become one paid grant each (a negative one, debt); every entry so far is
-- allocated by that.
INSERT INTO credit_grants (account_id, kind, amount_micros, remaining_micros, reason)
SELECT id, 'paid', balance_micros, balance_micros, 'balance before credit grants'
FROM accounts WHERE balance_micros > 0;
INSERT INTO grant_books (account_id, through_id, debt_micros, balance_micros)
SELECT id,
       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ledger_entries_id_seq),
       greatest(-balance_micros, 0), balance_micros
FROM accounts;
