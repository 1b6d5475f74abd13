"""Tables for OpenID Connect single sign-on: identity providers, login flows, identities.

* ``oidc_providers``: a tenant's registered IdP. The client secret is stored
  only sealed (envelope-encrypted under the tenant's key, bound to the
  provider row), never in plaintext.
* ``oidc_login_flows``: the server-side half of an authorization request.
  The row is keyed by a SHA-256 of ``state`` (a database reader cannot
  complete someone's login), is deleted when used (single use) and expires.
  ``binding_hash`` is the digest of the cookie set in the browser that
  started the login: only that browser may complete it (login CSRF).
* ``oidc_identities``: the link from an IdP account ``(issuer, subject)``
  to a principal of the tenant. Linking by ``sub`` — never by email alone —
  means an IdP that reassigns an email cannot take over another account.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from qplane.store.models import HASH, ID, NAME, Base

URL = String(2048)


class OidcProviderRow(Base):
    __tablename__ = "oidc_providers"
    __table_args__ = (UniqueConstraint("tenant_id", "name"), UniqueConstraint("tenant_id", "id"))

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(NAME)
    issuer: Mapped[str] = mapped_column(URL)
    client_id: Mapped[str] = mapped_column(String(255))
    token_auth_method: Mapped[str | None] = mapped_column(String(32))
    secret_kek_ring: Mapped[str] = mapped_column(String(160))
    secret_kek_version: Mapped[int] = mapped_column(Integer)
    secret_wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    secret_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON)
    role_mappings: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    project_mappings: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OidcLoginFlowRow(Base):
    __tablename__ = "oidc_login_flows"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "provider_id"],
            ["oidc_providers.tenant_id", "oidc_providers.id"],
            ondelete="CASCADE",
        ),
    )

    state_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    provider_id: Mapped[str] = mapped_column(ID)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(URL)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    binding_hash: Mapped[str] = mapped_column(HASH)
    browser_session: Mapped[str | None] = mapped_column(HASH)


class OidcIdentityRow(Base):
    __tablename__ = "oidc_identities"
    __table_args__ = (UniqueConstraint("tenant_id", "issuer", "subject"),)

    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    issuer: Mapped[str] = mapped_column(URL)
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))
    project_ids: Mapped[list[str]] = mapped_column(JSON)
    last_login_at: Mapped[datetime]
