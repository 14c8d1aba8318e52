-- The people who may sign in to an account's dashboard: invited by e-mail, bound on their
-- first sign-in to the identity provider's (issuer, subject), or signing in by e-mailed link.
CREATE TABLE account_members (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    email       text NOT NULL CHECK (email = lower(email)),
    issuer      text,
    subject     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    signed_in_at timestamptz,
    UNIQUE (account_id, email),
    UNIQUE (issuer, subject),
    CHECK ((issuer IS NULL) = (subject IS NULL))
);
CREATE INDEX account_members_email ON account_members (email);
