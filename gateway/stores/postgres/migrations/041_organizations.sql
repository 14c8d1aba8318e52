-- Organizations (issue 35): end-user budgets, teams and members' roles.

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

-- Teams: an organization's keys (and members) grouped under shared budgets. A key belongs
-- to at most one team; the team's quotas are checked beside the key's and the account's.
CREATE TABLE teams (
    id         text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    name       text NOT NULL,
    quotas     jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);
ALTER TABLE api_keys ADD COLUMN team_id text REFERENCES teams (id);

-- Members' roles: members invited before roles existed could do everything, so they are
-- owners; a member invited from now on is a plain member unless a role is given.
ALTER TABLE account_members ADD COLUMN role text NOT NULL DEFAULT 'owner'
    CHECK (role IN ('owner', 'admin', 'billing', 'member', 'viewer'));
ALTER TABLE account_members ALTER COLUMN role SET DEFAULT 'member';
ALTER TABLE account_members ADD COLUMN team_id text REFERENCES teams (id);
-- The member who created a key through the dashboard or account API (NULL: the operator or
-- a key did): a `member` role manages and sees only its own keys.
ALTER TABLE api_keys ADD COLUMN member_id text REFERENCES account_members (id) ON DELETE SET NULL;
