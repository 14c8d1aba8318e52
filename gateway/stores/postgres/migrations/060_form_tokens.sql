-- Single-use tokens of the dashboard's money forms (issue 48): minted when a form is drawn,
-- bound to the session that drew it and the path the form posts to, spent by the first
-- submit (an UPDATE that only one statement can win), and refused after. `result` is where
-- the first submit led, so a repeat can link to it. Rows are dropped a day after they expire.
CREATE TABLE form_tokens (
    token      text PRIMARY KEY,
    holder     text NOT NULL,
    action     text NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz,
    result     text
);
CREATE INDEX form_tokens_expires_at ON form_tokens (expires_at);
