"""Payment provider adapters behind services/payments_port.py: Stripe and the local one."""
