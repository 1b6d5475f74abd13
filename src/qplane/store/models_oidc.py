"""Tables for OpenID Connect single sign-on: identity providers, login flows, identities."""

from __future__ import annotations
