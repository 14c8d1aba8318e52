"""Payment provider adapters behind services/payment/port.py: Stripe and the local one."""
