"""A caller's own billing (/v1/account/billing, `routes.py`), the payment providers' webhooks
and the local provider's hosted pages."""
