-- The networks each key was used from (its client's /24, or /48 for IPv6), written in
-- batches by every gateway process (services/network_sightings.py), never on a call's path;
-- the anomaly detector's new-network rule reads them (billing/anomalies.py).
CREATE TABLE key_networks (
    key_id           text NOT NULL,
    account_id       text NOT NULL,
    network          text NOT NULL,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    calls            bigint NOT NULL CHECK (calls > 0),
    first_request_id text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, network)
);
CREATE INDEX key_networks_recorded ON key_networks (recorded_at);

-- Requests a key sent more than once, byte for byte the same prompt, within one batch of one
-- gateway process: summed per hour for the detector's repeated-request rule (an agent loop).
CREATE TABLE key_repeats (
    key_id           text NOT NULL,
    account_id       text NOT NULL,
    digest           text NOT NULL,
    hour             timestamptz NOT NULL,
    calls            bigint NOT NULL CHECK (calls > 0),
    first_request_id text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, digest, hour)
);
CREATE INDEX key_repeats_recorded ON key_repeats (recorded_at);
