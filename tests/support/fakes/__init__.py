"""Fakes of outside services, each a local server speaking the real wire format
(Stripe, Lago, OpenAI Realtime, SMTP, webhooks, OTLP, OpenID Connect, JWKS, MCP)."""
