-- An account's credit line: how far below zero the operator lets its balance go (micros;
-- 0 = none). Reservations are admitted, and debits collected, down to minus it; what a
-- debit cannot take above that floor is the operator's receivable (migration 055). Rebuild
-- and the self-restore copy it to the account's hot hash (`cl`).
ALTER TABLE accounts ADD COLUMN credit_line_micros bigint NOT NULL DEFAULT 0
    CHECK (credit_line_micros >= 0);
