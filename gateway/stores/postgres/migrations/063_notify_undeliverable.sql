-- A notification nobody can receive (e-mail with no operator address and no owner or
-- billing member to write to) is recorded once as 'undeliverable' and never retried.
ALTER TABLE notify_outbox DROP CONSTRAINT notify_outbox_status_check;
ALTER TABLE notify_outbox ADD CONSTRAINT notify_outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'undeliverable'));
DROP INDEX notify_outbox_due;
CREATE INDEX notify_outbox_due ON notify_outbox (next_at) WHERE status IN ('pending', 'failed');
