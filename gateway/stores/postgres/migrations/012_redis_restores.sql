-- Every time Redis was restored from the ledger: by a `serve` that found it empty at start,
-- by a serving gateway's watcher that found its ready markers gone (a FLUSHALL, a Redis
-- restarted without its data), or by `meterway rebuild`. Restores run under a PostgreSQL
-- advisory lock, so gateways starting together restore once; this table shows it did.
CREATE TABLE redis_restores (
    id           bigserial PRIMARY KEY,
    redis_prefix text NOT NULL,
    trigger      text NOT NULL CHECK (trigger IN ('start', 'watcher', 'command')),
    host         text NOT NULL,
    pid          integer NOT NULL,
    accounts     integer NOT NULL,
    keys         integer NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX redis_restores_prefix ON redis_restores (redis_prefix, id);
