"""Payment provider adapters behind services/money/payment/port.py: Stripe and the local one."""
