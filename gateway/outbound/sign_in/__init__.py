"""Signing people in through their identity provider: OpenID Connect, SAML 2.0, the JWKS keys and
user tokens."""
