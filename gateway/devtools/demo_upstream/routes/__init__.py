"""The demo provider's routes, one module per provider wire."""
