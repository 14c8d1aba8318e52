"""People getting in: signing in (OpenID Connect, SAML, a key), the session, where a sign-in goes
next, invitations, signing up."""
