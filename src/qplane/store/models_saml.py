"""Tables for SAML 2.0 single sign-on: per-tenant SAML identity providers, replay protection.

* ``saml_providers`` — a tenant's registered IdPs (metadata, mapping rules).
* ``saml_login_requests`` — AuthnRequests awaiting their response, keyed by
  the SHA-256 of the RelayState we handed out (single use, short-lived), and
  bound to the browser that started them (``binding_hash``, a cookie's digest).
* ``saml_seen_assertions`` — digests of accepted assertion ids, kept until
  the assertion expires, so a replay is refused by every API server.
* ``saml_identities`` — (tenant, IdP entity id, NameID) → principal links
  made by just-in-time provisioning.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import ID, Base

DIGEST = String(64)  # hex SHA-256
ENTITY = String(1024)  # SAML entity ids and NameIDs are URIs or opaque strings


class SamlProviderRow(Base):
    __tablename__ = "saml_providers"
    __table_args__ = (UniqueConstraint("tenant_id", "entity_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    entity_id: Mapped[str] = mapped_column(ENTITY)
    metadata_xml: Mapped[str] = mapped_column(Text)
    metadata_url: Mapped[str | None] = mapped_column(Text)
    email_attribute: Mapped[str] = mapped_column(String(255))
    allowed_domains: Mapped[list[str]] = mapped_column(JSON)
    role_rules: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    project_rules: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SamlLoginRequestRow(Base):
    __tablename__ = "saml_login_requests"

    relay_state_hash: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    provider_id: Mapped[str] = mapped_column(ID)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    binding_hash: Mapped[str] = mapped_column(DIGEST)
    browser_session: Mapped[str | None] = mapped_column(DIGEST)


class SamlSeenAssertionRow(Base):
    __tablename__ = "saml_seen_assertions"

    assertion_hash: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SamlIdentityRow(Base):
    __tablename__ = "saml_identities"

    subject_hash: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    idp_entity_id: Mapped[str] = mapped_column(ENTITY)
    name_id: Mapped[str] = mapped_column(ENTITY)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), unique=True)
    project_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
