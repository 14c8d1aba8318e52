-- Invitations belong to the person, by acceptance (issue 45): an invitation is a member row
-- no one has accepted yet (`accepted_at` NULL). It binds to an identity provider's user, or
-- lets an e-mailed link in, only once the invited person accepts it: from its accept link
-- (a one-use secret, kept as its SHA-256 in `accept_digest`) or on the sign-in page that
-- lists a person's invitations. Before this, the first sign-in bound the oldest invitation
-- to its e-mail, so whichever organization invited a person first captured them.
ALTER TABLE account_members ADD COLUMN accepted_at timestamptz;
ALTER TABLE account_members ADD COLUMN accept_digest text UNIQUE;
-- Members who have signed in, or are bound to an identity, accepted by doing so; the
-- invitations nobody used stay pending and are listed at their person's next sign-in.
UPDATE account_members SET accepted_at = coalesce(signed_in_at, created_at)
    WHERE subject IS NOT NULL OR signed_in_at IS NOT NULL;
