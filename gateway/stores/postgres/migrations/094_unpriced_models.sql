-- Calls refused because no price serves their model (issue 71), by model and account:
-- counted in each gateway process and added here by its price desk's clock, so an operator
-- sees the demand behind a new model (calls, accounts) and prices it as a price change.
CREATE TABLE unpriced_models (
    model      text NOT NULL,
    account_id text NOT NULL,
    calls      bigint NOT NULL CHECK (calls > 0),
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, account_id)
);
