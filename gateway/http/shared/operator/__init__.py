"""The operator's own: who may operate, account actions, key rotation, search, the gateway's
state."""
