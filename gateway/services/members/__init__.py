"""Members: joining and leaving, who signs in, domain claims, sign-up, SCIM (scim/).

The face below is what another capability may use; the modules are this room's own.
"""

from gateway.services.members.signup import TRIAL_REASON, Desk, grant_trial

__all__ = ["TRIAL_REASON", "Desk", "grant_trial"]
