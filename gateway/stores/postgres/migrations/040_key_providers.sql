-- A key may pin the providers its calls go to (data residency), as a plan may: empty, any.
ALTER TABLE api_keys ADD COLUMN providers text[] NOT NULL DEFAULT '{}';
