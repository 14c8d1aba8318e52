-- The local payments provider's own state: an offline stand-in for a hosted provider.
-- Kept apart from Meterway's tables, as a real provider's records would be.
CREATE TABLE local_provider_objects (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    account_id  text,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX local_provider_objects_kind ON local_provider_objects (kind, created_at);

CREATE TABLE local_provider_events (
    seq         bigserial PRIMARY KEY,
    id          text NOT NULL UNIQUE,
    type        text NOT NULL,
    object_id   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
