-- People removed from an organization (issue 45). A user token whose role claim names an
-- (issuer, subject) removed here is refused on the account API, rather than adding the
-- person back on first sight; inviting their e-mail again lifts it.
CREATE TABLE removed_members (
    account_id  text NOT NULL REFERENCES accounts (id),
    issuer      text NOT NULL,
    subject     text NOT NULL,
    email       text NOT NULL,
    removed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, issuer, subject)
);
