-- Who minted each key (issue 45): the operator, a person (their member id, or `sub:` and a
-- user token's subject when they are no member), or a key (its id). A key is never wider
-- than its minter; rotation copies the minter with every other attribute of the key.
-- Keys made before this migration: a member's keys are that member's, the rest the operator's.
ALTER TABLE api_keys ADD COLUMN minter_kind text NOT NULL DEFAULT 'operator'
    CHECK (minter_kind IN ('operator', 'person', 'key'));
ALTER TABLE api_keys ADD COLUMN minter_id text;
UPDATE api_keys SET minter_kind = 'person', minter_id = member_id WHERE member_id IS NOT NULL;
CREATE INDEX api_keys_member ON api_keys (member_id) WHERE member_id IS NOT NULL;
-- Revoking a key revokes the keys it minted: found by their minter.
CREATE INDEX api_keys_minter ON api_keys (minter_id) WHERE minter_kind = 'key';
