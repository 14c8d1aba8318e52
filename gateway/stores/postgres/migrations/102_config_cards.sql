-- The cards a gateway's configuration (config/pricing.toml and the catalogue) bills, as each
-- start loaded them (PRICE_CHANGES_AT_START=review): model -> service tier -> card, and a
-- digest of their rates. A row without a change is the first start's baseline; one with a
-- change is the card that change (proposed by `config`) moves to. The approved card is the
-- newest row that is the baseline or whose change is approved and in force: a start that
-- loads another bills that one until its own change is.
CREATE TABLE config_cards (
    id          bigserial PRIMARY KEY,
    digest      text NOT NULL,
    cards       jsonb NOT NULL,
    change_id   bigint UNIQUE REFERENCES price_changes (id),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX config_cards_digest ON config_cards (digest);
