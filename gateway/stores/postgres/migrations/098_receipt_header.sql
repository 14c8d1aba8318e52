-- An account that asks for each call's signed receipt on its answer (x-meterway-receipt).
ALTER TABLE accounts ADD COLUMN receipt_header boolean NOT NULL DEFAULT false;
CREATE INDEX accounts_receipt_header ON accounts (id) WHERE receipt_header;
