-- Which senders (webhook, smtp) have delivered each outbox row: a retry after one of them
-- failed goes only to the others, so a mail server's hiccup does not repeat the webhook.
ALTER TABLE notify_outbox ADD COLUMN delivered_to text[] NOT NULL DEFAULT '{}';
