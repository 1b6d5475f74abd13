"""Tables for sAML 2.0 single sign-on: per-tenant SAML identity providers, replay protection."""

from __future__ import annotations
