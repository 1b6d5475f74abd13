"""OpenID Connect single sign-on: providers, pending login flows and linked identities.

Every read and write of a provider is scoped by tenant (another tenant's
provider answers `NotFound`, exactly like a missing one). The client secret
only ever crosses this boundary sealed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from qplane.domain.errors import NotFound
from qplane.domain.oidc import (
    IdentityProvider,
    LinkedIdentity,
    LoginFlow,
    ProjectMapping,
    RoleMapping,
)
from qplane.domain.ports import SealedArtifact, StaleSeal
from qplane.store.models import PrincipalRow
from qplane.store.models_oidc import OidcIdentityRow, OidcLoginFlowRow, OidcProviderRow
from qplane.store.repositories import _sealed
from qplane.store.repositories._base import Repository

#: Mirrors `qplane.identity.oidc.sealing`: a secret's binding is (tenant, "-", provider, kind).
_SECRET = _sealed.SealedColumns(
    model=OidcProviderRow,
    keys=(OidcProviderRow.id,),
    ring=OidcProviderRow.secret_kek_ring,
    version=OidcProviderRow.secret_kek_version,
    wrapped_key=OidcProviderRow.secret_wrapped_key,
    nonce=OidcProviderRow.secret_nonce,
    ciphertext=OidcProviderRow.secret_ciphertext,
    binding=lambda row: (row.tenant_id, "-", row.id, "idp.client_secret"),
    extra=(OidcProviderRow.tenant_id,),
)

_MISSING = "identity provider not found"


class SqlOidcProviderRepository(Repository):
    def add(self, provider: IdentityProvider, secret: SealedArtifact) -> None:
        """Raises `Conflict` when the tenant already has a provider of that name."""
        with self._guarded(
            conflict="an identity provider with this name already exists",
            missing="tenant not found",
        ):
            row = OidcProviderRow(id=provider.id, created_at=provider.created_at)
            _fill(row, provider)
            _seal(row, secret)
            self._session.add(row)

    def get(self, tenant_id: str, provider_id: str) -> IdentityProvider:
        return _provider(self._row(tenant_id, provider_id))

    def by_name(self, tenant_id: str, name: str) -> IdentityProvider | None:
        row = self._first(
            select(OidcProviderRow).where(
                OidcProviderRow.tenant_id == tenant_id, OidcProviderRow.name == name
            )
        )
        return None if row is None else _provider(row)

    def for_tenant(self, tenant_id: str) -> list[IdentityProvider]:
        rows = self._all(
            select(OidcProviderRow)
            .where(OidcProviderRow.tenant_id == tenant_id)
            .order_by(OidcProviderRow.name)
        )
        return [_provider(row) for row in rows]

    def update(self, provider: IdentityProvider, secret: SealedArtifact | None) -> None:
        row = self._row(provider.tenant_id, provider.id)
        with self._guarded(conflict="an identity provider with this name already exists"):
            _fill(row, provider)
            if secret is not None:
                _seal(row, secret)

    def delete(self, tenant_id: str, provider_id: str) -> None:
        self._session.execute(
            delete(OidcLoginFlowRow).where(
                OidcLoginFlowRow.tenant_id == tenant_id,
                OidcLoginFlowRow.provider_id == provider_id,
            )
        )
        removed = self._rowcount(
            delete(OidcProviderRow).where(
                OidcProviderRow.tenant_id == tenant_id, OidcProviderRow.id == provider_id
            )
        )
        if removed == 0:
            raise NotFound(_MISSING)

    def sealed_secret(self, tenant_id: str, provider_id: str) -> SealedArtifact:
        row = self._row(tenant_id, provider_id)
        return SealedArtifact(
            kek_version=row.secret_kek_version,
            wrapped_key=row.secret_wrapped_key,
            nonce=row.secret_nonce,
            ciphertext=row.secret_ciphertext,
            kek_ring=row.secret_kek_ring,
        )

    def stale(self, ring: str, below_version: int, limit: int) -> list[StaleSeal]:
        return _sealed.stale(self._session, _SECRET, ring, below_version, limit)

    def count_under(self, ring: str, below_version: int) -> int:
        return _sealed.count_under(self._session, _SECRET, ring, below_version)

    def rewrap(self, seal: StaleSeal, version: int, wrapped_key: bytes) -> bool:
        return _sealed.rewrap(self._session, _SECRET, seal, version, wrapped_key)

    def _row(self, tenant_id: str, provider_id: str) -> OidcProviderRow:
        row = self._first(
            select(OidcProviderRow).where(
                OidcProviderRow.tenant_id == tenant_id, OidcProviderRow.id == provider_id
            )
        )
        if row is None:
            raise NotFound(_MISSING)
        return row


class SqlOidcLoginFlowRepository(Repository):
    def add(self, flow: LoginFlow) -> None:
        with self._guarded(conflict="login flow already exists", missing=_MISSING):
            self._session.add(
                OidcLoginFlowRow(
                    state_hash=flow.state_hash,
                    tenant_id=flow.tenant_id,
                    provider_id=flow.provider_id,
                    nonce=flow.nonce,
                    code_verifier=flow.code_verifier,
                    redirect_uri=flow.redirect_uri,
                    expires_at=flow.expires_at,
                    binding_hash=flow.binding_hash,
                    browser_session=flow.browser_session,
                )
            )

    def take(self, state_hash: str) -> LoginFlow | None:
        """Delete-then-return: of two concurrent callbacks with one state, one gets None."""
        row = self._first(select(OidcLoginFlowRow).where(OidcLoginFlowRow.state_hash == state_hash))
        if row is None:
            return None
        flow = LoginFlow(
            state_hash=row.state_hash,
            tenant_id=row.tenant_id,
            provider_id=row.provider_id,
            nonce=row.nonce,
            code_verifier=row.code_verifier,
            redirect_uri=row.redirect_uri,
            expires_at=row.expires_at,
            binding_hash=row.binding_hash,
            browser_session=row.browser_session,
        )
        taken = self._rowcount(
            delete(OidcLoginFlowRow).where(OidcLoginFlowRow.state_hash == state_hash)
        )
        return flow if taken == 1 else None

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        return self._delete_where(OidcLoginFlowRow, OidcLoginFlowRow.expires_at < now, limit)


class SqlOidcIdentityRepository(Repository):
    def by_subject(self, tenant_id: str, issuer: str, subject: str) -> LinkedIdentity | None:
        row = self._first(
            select(OidcIdentityRow).where(
                OidcIdentityRow.tenant_id == tenant_id,
                OidcIdentityRow.issuer == issuer,
                OidcIdentityRow.subject == subject,
            )
        )
        return None if row is None else _identity(row)

    def add(self, identity: LinkedIdentity) -> None:
        with self._guarded(conflict="this IdP account is already linked", missing="not found"):
            self._session.add(
                OidcIdentityRow(
                    principal_id=identity.principal_id,
                    tenant_id=identity.tenant_id,
                    issuer=identity.issuer,
                    subject=identity.subject,
                    email=identity.email,
                    project_ids=list(identity.project_ids),
                    last_login_at=identity.last_login_at,
                )
            )

    def record_login(self, identity: LinkedIdentity, roles: frozenset[str]) -> None:
        """The IdP is the source of truth for an SSO user's roles: they are replaced, not merged."""
        changed = self._rowcount(
            update(OidcIdentityRow)
            .where(
                OidcIdentityRow.tenant_id == identity.tenant_id,
                OidcIdentityRow.principal_id == identity.principal_id,
            )
            .values(
                email=identity.email,
                project_ids=list(identity.project_ids),
                last_login_at=identity.last_login_at,
            )
        )
        if changed == 0:
            raise NotFound("linked identity not found")
        self._rowcount(
            update(PrincipalRow)
            .where(
                PrincipalRow.tenant_id == identity.tenant_id,
                PrincipalRow.id == identity.principal_id,
            )
            .values(roles=sorted(roles))
        )


def _fill(row: OidcProviderRow, provider: IdentityProvider) -> None:
    row.tenant_id = provider.tenant_id
    row.name = provider.name
    row.issuer = provider.issuer
    row.client_id = provider.client_id
    row.token_auth_method = provider.token_auth_method
    row.allowed_domains = list(provider.allowed_domains)
    row.role_mappings = [
        {"claim": m.claim, "value": m.value, "roles": sorted(m.roles)}
        for m in provider.role_mappings
    ]
    row.project_mappings = [
        {"claim": m.claim, "value": m.value, "project_id": m.project_id}
        for m in provider.project_mappings
    ]
    row.updated_at = provider.updated_at


def _seal(row: OidcProviderRow, secret: SealedArtifact) -> None:
    row.secret_kek_ring = secret.kek_ring
    row.secret_kek_version = secret.kek_version
    row.secret_wrapped_key = secret.wrapped_key
    row.secret_nonce = secret.nonce
    row.secret_ciphertext = secret.ciphertext


def _provider(row: OidcProviderRow) -> IdentityProvider:
    return IdentityProvider(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        issuer=row.issuer,
        client_id=row.client_id,
        allowed_domains=tuple(row.allowed_domains),
        role_mappings=tuple(
            RoleMapping(str(m["claim"]), str(m["value"]), frozenset(_strings(m["roles"])))
            for m in row.role_mappings
        ),
        project_mappings=tuple(
            ProjectMapping(str(m["claim"]), str(m["value"]), str(m["project_id"]))
            for m in row.project_mappings
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        token_auth_method=row.token_auth_method,
    )


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _identity(row: OidcIdentityRow) -> LinkedIdentity:
    return LinkedIdentity(
        principal_id=row.principal_id,
        tenant_id=row.tenant_id,
        issuer=row.issuer,
        subject=row.subject,
        email=row.email,
        project_ids=tuple(row.project_ids),
        last_login_at=row.last_login_at,
    )
