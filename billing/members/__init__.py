"""Members: sign-up's rules (who may join, what one e-mail address is), domains an
organization proves, and SCIM's filters and patches.

The face below is what another capability may use; the modules are this room's own.
"""

from billing.members.signup import Address

__all__ = ["Address"]
