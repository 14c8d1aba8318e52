-- A key paused after a spend anomaly: refused with a 403 (KeyPaused) until its owner lifts
-- it. Its own table, not a column of api_keys: a rotation copies a key's columns, and a
-- pause belongs to the secret that ran away. The hot store's key hash carries the same
-- state (`st` = 'p'); `meterway rebuild` reads it from here.
CREATE TABLE key_pauses (
    key_id     text PRIMARY KEY REFERENCES api_keys (id),
    account_id text NOT NULL REFERENCES accounts (id),
    anomaly_id bigint REFERENCES spend_anomalies (id),
    paused_at  timestamptz NOT NULL DEFAULT now()
);

-- Who opted in to pausing a key automatically on a flag: an account (every key of it), or
-- one key (true or false overriding its account's choice).
CREATE TABLE anomaly_pause_opt_ins (
    account_id text NOT NULL REFERENCES accounts (id),
    key_id     text NOT NULL DEFAULT '',  -- '' the account's own choice
    pause      boolean NOT NULL,
    PRIMARY KEY (account_id, key_id)
);
