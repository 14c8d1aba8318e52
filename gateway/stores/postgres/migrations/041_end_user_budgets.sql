-- End-user budgets (issue 35): quotas on each end user an organization's keys serve, the
-- end user named by the request. One row per owner: the account's default for every end
-- user (key_id = '', end_user = ''), a key's default for its end users (end_user = ''),
-- or one end user's own (key_id = ''). Redis holds the same specs for the reserve script;
-- `meterway rebuild` writes them back from here.
CREATE TABLE end_user_budgets (
    account_id text NOT NULL REFERENCES accounts (id),
    key_id     text NOT NULL DEFAULT '',
    end_user   text NOT NULL DEFAULT '',
    quotas     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key_id, end_user),
    CHECK (key_id = '' OR end_user = '')
);
