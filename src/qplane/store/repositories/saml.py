"""SAML identity providers registered by tenant admins; every call is tenant-scoped."""

from __future__ import annotations

from sqlalchemy import delete, select

from qplane.domain.errors import NotFound
from qplane.domain.saml import AttributeRule, SamlProvider
from qplane.store.models_saml import SamlLoginRequestRow, SamlProviderRow
from qplane.store.repositories._base import Repository


class SqlSamlProviderRepository(Repository):
    def add(self, provider: SamlProvider) -> None:
        """Raises `Conflict` when the tenant already registered this IdP entity id."""
        with self._guarded(
            conflict="this identity provider is already registered", missing="tenant not found"
        ):
            self._session.add(
                SamlProviderRow(
                    id=provider.id,
                    tenant_id=provider.tenant_id,
                    entity_id=provider.entity_id,
                    metadata_xml=provider.metadata_xml,
                    metadata_url=provider.metadata_url,
                    email_attribute=provider.email_attribute,
                    allowed_domains=list(provider.allowed_domains),
                    role_rules=[_rule_out(rule) for rule in provider.role_rules],
                    project_rules=[_rule_out(rule) for rule in provider.project_rules],
                    created_at=provider.created_at,
                )
            )

    def get(self, tenant_id: str, provider_id: str) -> SamlProvider:
        """Raises `NotFound` for a missing provider and for another tenant's."""
        row = self._first(
            select(SamlProviderRow).where(
                SamlProviderRow.tenant_id == tenant_id, SamlProviderRow.id == provider_id
            )
        )
        if row is None:
            raise NotFound("SAML identity provider not found")
        return _provider(row)

    def for_tenant(self, tenant_id: str) -> list[SamlProvider]:
        rows = self._all(
            select(SamlProviderRow)
            .where(SamlProviderRow.tenant_id == tenant_id)
            .order_by(SamlProviderRow.created_at, SamlProviderRow.id)
        )
        return [_provider(row) for row in rows]

    def delete(self, tenant_id: str, provider_id: str) -> None:
        """Remove the provider and its pending logins; `NotFound` as for `get`."""
        removed = self._rowcount(
            delete(SamlProviderRow).where(
                SamlProviderRow.tenant_id == tenant_id, SamlProviderRow.id == provider_id
            )
        )
        if removed == 0:
            raise NotFound("SAML identity provider not found")
        self._rowcount(
            delete(SamlLoginRequestRow).where(
                SamlLoginRequestRow.tenant_id == tenant_id,
                SamlLoginRequestRow.provider_id == provider_id,
            )
        )


def _rule_out(rule: AttributeRule) -> dict[str, str]:
    return {"attribute": rule.attribute, "value": rule.value, "grant": rule.grant}


def _rules(raw: list[dict[str, str]]) -> tuple[AttributeRule, ...]:
    return tuple(AttributeRule(r["attribute"], r["value"], r["grant"]) for r in raw)


def _provider(row: SamlProviderRow) -> SamlProvider:
    return SamlProvider(
        id=row.id,
        tenant_id=row.tenant_id,
        entity_id=row.entity_id,
        metadata_xml=row.metadata_xml,
        metadata_url=row.metadata_url,
        email_attribute=row.email_attribute,
        allowed_domains=tuple(row.allowed_domains),
        role_rules=_rules(row.role_rules),
        project_rules=_rules(row.project_rules),
        created_at=row.created_at,
    )
