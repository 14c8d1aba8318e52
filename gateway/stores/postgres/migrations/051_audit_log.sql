-- The audit log (issue 45): one append-only record per change of authority or money. Who
-- (principal kind and id, and how a member signed in), what (action), the target, before and
-- after (JSON without secrets), the request id, the client address and the time.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    account_id     text,
    actor_kind     text NOT NULL,
    actor_id       text NOT NULL,
    actor_via      text,
    action         text NOT NULL,
    target_kind    text NOT NULL,
    target_id      text NOT NULL,
    before         jsonb,
    after          jsonb,
    request_id     text,
    client_address text
);
CREATE INDEX audit_log_account ON audit_log (account_id, id DESC);
CREATE INDEX audit_log_time ON audit_log (occurred_at);

-- Append-only: no row is changed or removed, not even by the gateway's own role.
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();
