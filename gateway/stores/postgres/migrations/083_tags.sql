-- Tags for chargeback (issue 63): a flat map of name to value on keys and teams, set by an
-- operator or an organization's admin (billing/tags.py holds the bounds). A key's effective
-- tags are its team's overlaid by its own.
ALTER TABLE api_keys ADD COLUMN tags jsonb NOT NULL DEFAULT '{}';
ALTER TABLE teams ADD COLUMN tags jsonb NOT NULL DEFAULT '{}';
