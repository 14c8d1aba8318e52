-- Creating an account is idempotent by a client-supplied key: a retry after a failure (the
-- answer lost, a store down mid-call) names the same account instead of making a second one.
ALTER TABLE accounts ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX accounts_idempotency ON accounts (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
