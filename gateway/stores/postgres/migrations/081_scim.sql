-- SCIM 2.0 provisioning (issue 62): an organization's directory (Okta, Entra ID, Google
-- Workspace) creates, changes and deactivates its people and groups through /scim/v2.
-- One bearer token per organization, kept as its SHA-256; minting another replaces it, so
-- the old one stops working at once.
CREATE TABLE scim_tokens (
    account_id text PRIMARY KEY REFERENCES accounts (id),
    id         text NOT NULL UNIQUE,
    token_hash text NOT NULL UNIQUE,
    prefix     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A SCIM User is a member of the organization while active (`member_id`); deactivating it
-- removes the member (and revokes their keys), re-activating adds them back. `attributes`
-- keeps what the directory sent (name, e-mails, ...), echoed back on every read.
CREATE TABLE scim_users (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    user_name   text NOT NULL,
    external_id text,
    active      boolean NOT NULL DEFAULT true,
    member_id   text UNIQUE REFERENCES account_members (id) ON DELETE SET NULL,
    email       text NOT NULL,
    attributes  jsonb NOT NULL DEFAULT '{}',
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (account_id, lower(user_name));

-- A SCIM Group is a team of the organization; where the operator maps its name to a role
-- (SCIM_GROUP_ROLES), its members hold that role.
CREATE TABLE scim_groups (
    id           text PRIMARY KEY,
    account_id   text NOT NULL REFERENCES accounts (id),
    display_name text NOT NULL,
    external_id  text,
    team_id      text REFERENCES teams (id),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, display_name)
);

CREATE TABLE scim_group_members (
    group_id  text NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    user_id   text NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members (user_id);
