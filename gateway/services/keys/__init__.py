"""Keys: the one mint, issuing, rotating and revoking API keys, teams of keys, service keys,
device login.

The face below is what another capability may use; the modules are this room's own.
"""

from gateway.services.keys.life_cycle import grant_of_key, revoke_key, set_key_grant
from gateway.services.keys.mint import Creator, scim_token
from gateway.services.keys.teams import assign_key

__all__ = ["Creator", "assign_key", "grant_of_key", "revoke_key", "scim_token", "set_key_grant"]
