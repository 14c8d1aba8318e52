-- Accounts findable by the identity provider's user id and by name; key rotation lineage.
ALTER TABLE accounts ADD COLUMN external_id text;
CREATE UNIQUE INDEX accounts_external_id ON accounts (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX accounts_name_lower ON accounts (lower(name) text_pattern_ops);
CREATE INDEX accounts_plan ON accounts (plan, id);

ALTER TABLE api_keys ADD COLUMN rotated_from text REFERENCES api_keys (id);
