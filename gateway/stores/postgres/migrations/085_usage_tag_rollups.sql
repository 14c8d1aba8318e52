-- Per day, the usage of each tag's values (issue 63's chargeback), beside usage_rollups (the
-- same columns, then the tag's name and value): one row per tag a debit carries, so a report
-- groups by one tag without reading the ledger. Kept by the settler in the transaction of the
-- rows it sums. Debits before migration 084 carry no tags.
CREATE TABLE usage_tag_rollups (LIKE usage_rollups INCLUDING DEFAULTS);
ALTER TABLE usage_tag_rollups ADD COLUMN tag_name text NOT NULL,
    ADD COLUMN tag_value text NOT NULL,
    ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE usage_tag_rollups
    ADD PRIMARY KEY (account_id, tag_name, day, tag_value, model, key_id, meter);
