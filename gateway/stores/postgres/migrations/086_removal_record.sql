-- The removal record keeps every removal (issue 69): by address as well as by the identity
-- bound then (none: ''), so a person removed before they ever signed in is not joined back
-- by their first sign-in; only an invitation or their directory lifts it.
ALTER TABLE removed_members DROP CONSTRAINT removed_members_pkey;
ALTER TABLE removed_members ALTER COLUMN issuer SET DEFAULT '';
ALTER TABLE removed_members ALTER COLUMN subject SET DEFAULT '';
ALTER TABLE removed_members ADD PRIMARY KEY (account_id, email, issuer, subject);
CREATE INDEX removed_members_identity ON removed_members (account_id, issuer, subject);
