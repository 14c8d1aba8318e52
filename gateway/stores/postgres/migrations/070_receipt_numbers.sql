-- A receipt's number, "R-1001": one sequence across the gateway, given to a payment (a
-- top-up or a paid subscription invoice) the first time its receipt is drawn or e-mailed,
-- and the same number every time after.
CREATE SEQUENCE receipt_numbers START 1001;
CREATE TABLE receipt_numbers_given (
    payment_id text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    number     bigint NOT NULL UNIQUE DEFAULT nextval('receipt_numbers'),
    given_at   timestamptz NOT NULL DEFAULT now()
);
